"""File locks: exclusive across processes, and the error says who holds them."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from patchsync import lock
from patchsync.errors import LockError


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "cycle.lock"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from patchsync import lock
                with lock.hold({str(path)!r}, what="daemon cycle"):
                    print("held", flush=True)
                    sys.stdin.read()
            """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(LockError) as info, lock.hold(path, wait=0.3):
            pass
        assert f"held by pid {holder.pid} daemon cycle" in str(info.value)
        assert str(path) in str(info.value)
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(10)
    # Released when the holder exits, even without cleanup.
    with lock.hold(path, wait=1):
        pass


def test_repo_lock_path_is_per_repository(tmp_path: Path) -> None:
    a = lock.repo_lock_path(tmp_path, "/srv/a")
    assert a == lock.repo_lock_path(tmp_path, "/srv/a/")
    assert a != lock.repo_lock_path(tmp_path, "/srv/b")
    assert a.parent == tmp_path / "locks"
