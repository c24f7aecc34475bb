"""Another process holding a patchsync lock, for the tests of who waits and what they are told."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import REPO_ROOT


@contextmanager
def held(path: Path, what: str) -> Iterator[subprocess.Popen[str]]:
    """A child process holding the lock at ``path`` as ``what`` until the block ends.

    A real process, not a thread: flock is per open file description, and
    the error a waiter gets names the holder's pid.
    """
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys
                from patchsync import lock
                with lock.hold({str(path)!r}, what={what!r}):
                    print("held", flush=True)
                    sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
