"""Advisory file locks in the state directory.

One lock serialises whole cycles across processes (a manual ``sync`` and
the daemon); one per repository keeps two syncs from writing the same refs.
They live in ``state.dir/locks/`` (:class:`~patchsync.statedir.StateDir`
names them), never inside a repository.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import LockError, StateError

#: How often a waiting process retries a held lock.
_POLL_SECONDS = 0.1


@contextmanager
def hold(path: str | os.PathLike[str], *, wait: float = 10.0, what: str = "") -> Iterator[None]:
    """Hold an exclusive lock on ``path``, waiting up to ``wait`` seconds.

    The holder writes its pid and ``what`` into the file, so the error a
    second process gets says who holds the lock.  flock is released by the
    kernel when the process dies, so a killed run never leaves it stale.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        # Not LockError: nobody holds the lock, the machine refuses it (a
        # state.dir not writable, a full disk), and waiting will not help.
        raise StateError(f"cannot create the lock file: {exc.strerror}", where=exc.filename or path) from None
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise LockError(f"cannot lock: {exc.strerror}", where=path) from None
                if time.monotonic() >= deadline:
                    holder = _read_holder(fd) or "another process"
                    raise LockError(f"held by {holder}; waited {wait:g} s", where=path) from None
                time.sleep(_POLL_SECONDS)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} {what}".strip().encode() + b"\n", 0)
        except OSError as exc:
            raise StateError(f"cannot write the lock file: {exc.strerror}", where=path) from None
        yield
    finally:
        os.close(fd)


def holder(path: str | os.PathLike[str]) -> str | None:
    """Who holds the lock on ``path`` now (``pid N what``), or ``None`` when nobody does."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_holder(fd) or "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def _read_holder(fd: int) -> str:
    try:
        return os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
