"""Conflicts, refusals, the lock and a kill: nothing half-written, ever."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from patchsync.errors import GitError
from patchsync.gitsync import refs, sync_target
from patchsync.gitsync.objects import ObjectStore
from patchsync.model import PatchDelta
from patchsync.statedir import StateDir

from .conftest import REPO_ROOT
from .gittarget import all_refs, git, make_patch, object_files, ref, snapshot, source_lines
from .lockholder import held
from .syncscenario import BASE_FILES, C_P03, KOTD_ORDER, TREE_PATCHES, Scenario, build

REVIEW = "refs/heads/patchsync/lucid-ec2"


def _with_delta(sc: Scenario, delta: PatchDelta, *, order: list[str] | None = None) -> Scenario:
    patches = [p for p in sc.drift.patches if p.name != delta.name] + [delta]
    drift = replace(sc.drift, patches=tuple(patches), kotd_order=tuple(order or sc.drift.kotd_order))
    return replace(sc, drift=drift)


def _repo_files(repo: Path) -> list[str]:
    """Every file of the repository except its objects: refs, locks, temp files."""
    gitdir = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-dir").strip())
    return sorted(str(p.relative_to(gitdir)) for p in gitdir.rglob("*") if p.is_file() and "objects" not in p.parts)


def _assert_nothing_written(sc: Scenario, refs_before: str, objects_before: list[str]) -> None:
    assert all_refs(sc.repo) == refs_before
    assert object_files(sc.repo) == objects_before
    # The quarantine is gone too.
    assert not [p for p in (sc.state_dir / "tmp").rglob("*") if p.is_file()]


@pytest.mark.parametrize("mode", ["released", "development"])
def test_patch_that_does_not_apply_is_a_conflict(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    bad = make_patch({"src/g.c": (source_lines("q"), source_lines("q").replace("q line 7", "q seven"))})
    sc = _with_delta(sc, PatchDelta("xen3-p09.diff", "added", None, bad), order=[*KOTD_ORDER, "xen3-p09.diff"])
    sc = replace(sc, patchset=replace(sc.patchset, files={**sc.patchset.files, "patches.xen/xen3-p09.diff": bad}))
    refs_before, objects_before = all_refs(sc.repo), object_files(sc.repo)

    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)

    assert result.status == "conflict"
    (conflict,) = result.conflicts
    assert conflict.patch == "xen3-p09.diff"
    assert conflict.commit is None
    assert conflict.files == ("src/g.c",)
    assert conflict.message == "src/g.c: hunk #1 (@@ -4,7 +4,7 @@) does not apply"
    assert result.to_json()["conflicts"] == [
        {"patch": "xen3-p09.diff", "commit": None, "files": ["src/g.c"], "message": conflict.message}
    ]
    assert result.commits == ()
    _assert_nothing_written(sc, refs_before, objects_before)


def test_replayed_commit_that_conflicts_names_the_commit(tmp_path: Path) -> None:
    sc = build(tmp_path, "development")
    # The new p03 changes the line p04 changes: p04's commit no longer replays.
    new = make_patch({"src/c.c": (BASE_FILES["src/c.c"], C_P03.replace("c line 50\n", "c line 50 by p03\n"))})
    sc = _with_delta(sc, PatchDelta("xen3-p03.diff", "modified", TREE_PATCHES["xen3-p03.diff"], new))
    sc = replace(sc, drift=replace(sc.drift, patches=tuple(p for p in sc.drift.patches if p.name != "xen3-p04.diff")))
    refs_before, objects_before = all_refs(sc.repo), object_files(sc.repo)

    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)

    assert result.status == "conflict"
    (conflict,) = result.conflicts
    assert conflict.commit == sc.commits["xen3-p04.diff"]
    assert conflict.files == ("src/c.c",)
    assert conflict.message == "src/c.c: content conflict (git merge-file)"
    _assert_nothing_written(sc, refs_before, objects_before)


@pytest.mark.allow_error_log
def test_development_refuses_merges(tmp_path: Path) -> None:
    sc = build(tmp_path, "development")
    git(sc.repo, "checkout", "-q", "-b", "side", sc.commits["xen3-p01.diff"])
    (sc.repo / "side.txt").write_text("side\n")
    git(sc.repo, "add", "side.txt")
    git(sc.repo, "commit", "-q", "-m", "side")
    git(sc.repo, "checkout", "-q", "ec2")
    git(sc.repo, "merge", "-q", "--no-edit", "side")
    merge = git(sc.repo, "rev-parse", "HEAD").strip()
    sc = replace(sc, drift=replace(sc.drift, branch_commit=merge))
    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)
    assert result.status == "error"
    assert result.error == (
        f"{sc.repo}: v2.6.32..ec2 has merge commits ({merge[:12]}); development mode needs a linear range"
    )
    assert ref(sc.repo, REVIEW) is None


@pytest.mark.allow_error_log
def test_development_refuses_two_commits_on_one_patch(tmp_path: Path) -> None:
    sc = build(tmp_path, "development")
    path = sc.repo / "debian.ec2/patches/xen3-p02.diff"
    path.write_bytes(path.read_bytes() + b"\n")
    git(sc.repo, "commit", "-q", "-am", "touch p02 again")
    head = git(sc.repo, "rev-parse", "HEAD").strip()
    sc = replace(sc, drift=replace(sc.drift, branch_commit=head))
    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)
    assert result.status == "error"
    assert result.error == (
        f"{sc.repo}: several commits in v2.6.32..ec2 touch xen3-p02.diff "
        f"({sc.commits['xen3-p02.diff'][:12]}, {head[:12]}); development mode needs one commit per patch"
    )


@pytest.mark.allow_error_log
def test_branch_moved_since_compare(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    git(sc.repo, "commit", "-q", "--allow-empty", "-m", "new work")
    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)
    assert result.status == "error"
    assert result.error == f"{sc.repo}: branch ec2 moved during the run; run sync again"


@pytest.mark.allow_error_log
def test_concurrent_sync_waits_then_fails_clearly(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    path = StateDir(sc.state_dir).repo_lock(sc.repo)
    with held(path, "sync other") as holder:
        result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir, lock_wait=0.2)
        assert result.status == "error"
        assert result.error == f"{path}: held by pid {holder.pid} sync other; waited 0.2 s"
        assert ref(sc.repo, REVIEW) is None
    assert sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir).status == "updated"


@pytest.mark.parametrize("stage", ["before-migrate", "before-refs"])
def test_kill_mid_sync_then_clean_rerun(tmp_path: Path, stage: str) -> None:
    sc = build(tmp_path, "development")
    before = snapshot(sc.repo)
    refs_before = all_refs(sc.repo)
    files_before = _repo_files(sc.repo)
    stall = tmp_path / "stalled"
    code = (
        "from tests.syncscenario import sync_in_subprocess; "
        f"sync_in_subprocess({str(sc.repo)!r}, 'development', {str(sc.state_dir)!r}, {str(stall)!r}, {stage!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT)
    try:
        # Wait for the stall point (the child writes the file, then sleeps).
        for _ in range(600):
            if stall.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert stall.read_text() == stage
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    # No ref moved, no lock or temporary file left in the repository.
    assert all_refs(sc.repo) == refs_before
    assert _repo_files(sc.repo) == files_before
    assert snapshot(sc.repo) == before
    assert git(sc.repo, "fsck", "--no-dangling") == ""
    # The quarantine a killed run leaves lives in state.dir; the rerun clears it.
    assert list((sc.state_dir / "tmp").rglob("quarantine-*"))

    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)

    assert result.status == "updated"
    assert git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip() == sc.expected(tmp_path / "oracle")
    assert not list((sc.state_dir / "tmp").rglob("quarantine-*"))
    leftovers = [f for f in _repo_files(sc.repo) if f.endswith(".lock") or "tmp" in f]
    assert leftovers == []


def test_state_dir_on_another_filesystem(tmp_path: Path) -> None:
    """The pack is copied in under git's temporary name when it cannot be renamed."""
    import shutil
    import tempfile

    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) to put state.dir on")
    sc = build(tmp_path, "released")
    state = Path(tempfile.mkdtemp(prefix="patchsync-state-", dir=shm))
    try:
        result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=state)
    finally:
        shutil.rmtree(state)
    assert result.status == "updated"
    assert git(sc.repo, "fsck", "--no-dangling") == ""
    assert git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip() == sc.expected(tmp_path / "oracle")
    assert not [f for f in object_files(sc.repo) if "tmp" in f]


def test_a_sha256_repository_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    repo = tmp_path / "sha256.git"
    subprocess.run(["git", "init", "-q", "--bare", "--object-format=sha256", str(repo)], check=True)
    with pytest.raises(GitError) as info:
        ObjectStore(repo, tmp_path / "state")
    assert str(info.value) == f"{repo}: object format sha256 is not supported (sha1 only)"
    # No quarantine was made for it.
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())


def test_refs_are_read_by_their_exact_names(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    head = git(sc.repo, "rev-parse", "HEAD").strip()
    # for-each-ref's pattern refs/heads/patchsync/t also matches the ref below it.
    git(sc.repo, "update-ref", "refs/heads/patchsync/t/x", head)
    git(sc.repo, "update-ref", "refs/patchsync/last/t", head)
    assert refs.read_many(str(sc.repo), ["refs/heads/patchsync/t", "refs/patchsync/last/t"]) == {
        "refs/heads/patchsync/t": None,
        "refs/patchsync/last/t": head,
    }


def test_a_repository_path_with_a_newline_is_refused_not_misread(tmp_path: Path) -> None:
    # git prints the paths it is asked for one per line: a newline in one
    # would shift every answer after it.
    repo = tmp_path / "odd\nname.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    with pytest.raises(GitError) as info:
        ObjectStore(repo, tmp_path / "state")
    assert str(info.value) == f"{repo}: cannot read where the repository keeps its objects (a newline in its path?)"
    assert not (tmp_path / "state").exists() or not any((tmp_path / "state").iterdir())
