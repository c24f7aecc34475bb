"""File locks: exclusive across processes, and the error says who holds them."""

from __future__ import annotations

from pathlib import Path

import pytest

from patchsync import lock
from patchsync.errors import LockError
from patchsync.statedir import StateDir

from .lockholder import held


def test_lock_is_exclusive_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "cycle.lock"
    with held(path, "daemon cycle") as holder:
        with pytest.raises(LockError) as info, lock.hold(path, wait=0.3):
            pass
        assert f"held by pid {holder.pid} daemon cycle" in str(info.value)
        assert str(path) in str(info.value)
    # Released when the holder exits, even without cleanup.
    with lock.hold(path, wait=1):
        pass


def test_repo_lock_path_is_per_repository(tmp_path: Path) -> None:
    a = StateDir(tmp_path).repo_lock("/srv/a")
    assert a == StateDir(tmp_path).repo_lock("/srv/a/")
    assert a != StateDir(tmp_path).repo_lock("/srv/b")
    assert a.parent == tmp_path / "locks"
