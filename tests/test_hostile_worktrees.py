"""Branches git would refuse to move (issue 10, class 5): never moved by sync.

A branch that is checked out, being rebased or being bisected in any
worktree keeps its head; the review branch is the result.  During a rebase
or a bisect HEAD is detached, so only the worktree's own git dir says which
branch is in use: the scenario that broke an earlier version was a sync
moving a branch mid-rebase, which ``git rebase --abort`` then silently undid.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from patchsync.gitsync import sync_target

from .gittarget import git, ref
from .syncscenario import Scenario, build

REVIEW = "refs/heads/patchsync/lucid-ec2"

#: The refusals are logged as errors; that is what these tests expect.
pytestmark = pytest.mark.allow_error_log


def _worktree(tmp_path: Path, where: str) -> tuple[Scenario, Path]:
    """A development target with update_branch, and the worktree that has ec2 checked out."""
    if where == "main":
        sc = build(tmp_path, "development")
        return sc.with_target(update_branch=True), sc.repo
    sc = build(tmp_path, "development", bare=True)
    git(sc.repo, "worktree", "add", "-q", str(tmp_path / "wt"), "ec2")
    return sc.with_target(update_branch=True), tmp_path / "wt"


def _start(op: str, worktree: Path, base: str) -> None:
    if op == "rebase":
        # Stop at the first commit, as a maintainer editing history does.
        git(worktree, "-c", "sequence.editor=sed -i 1s/^pick/edit/", "rebase", "-q", "-i", "HEAD~3")
    else:
        git(worktree, "bisect", "start", "ec2", base)
    assert git(worktree, "rev-parse", "--abbrev-ref", "HEAD").strip() == "HEAD"  # detached


def _finish(op: str, worktree: Path) -> None:
    git(worktree, *(["rebase", "--abort"] if op == "rebase" else ["bisect", "reset"]))


@pytest.mark.parametrize("where", ["main", "linked"])
@pytest.mark.parametrize("op", ["rebase", "bisect"])
def test_a_branch_mid_rebase_or_bisect_is_never_moved(tmp_path: Path, op: str, where: str) -> None:
    sc, worktree = _worktree(tmp_path, where)
    branch = ref(sc.repo, "refs/heads/ec2")
    _start(op, worktree, sc.base)

    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)

    verb = "rebased" if op == "rebase" else "bisected"
    assert result.status == "error"
    assert result.error == f"{sc.repo}: ec2 is being {verb} in {worktree}; only {REVIEW} was written"
    assert not result.branch_updated
    assert result.backup is None
    assert ref(sc.repo, "refs/heads/ec2") == branch
    assert ref(sc.repo, REVIEW) == result.head
    assert git(sc.repo, "for-each-ref", "refs/patchsync/backup/") == ""
    # Ending the rebase or bisect puts the branch back where it was: the
    # review branch still holds the sync, nothing was undone.
    _finish(op, worktree)
    assert ref(sc.repo, "refs/heads/ec2") == branch
    assert ref(sc.repo, REVIEW) == result.head


def test_a_review_branch_mid_rebase_is_not_moved(tmp_path: Path) -> None:
    sc = build(tmp_path, "released", bare=True)
    first = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)
    assert first.status == "updated", first.error
    git(sc.repo, "worktree", "add", "-q", str(tmp_path / "wt"), "patchsync/lucid-ec2")
    _start("rebase", tmp_path / "wt", sc.base)
    # A newer KOTD tarball: the review branch would have to move.
    newer = replace(sc.patchset, source=replace(sc.patchset.source, tarball_sha256="cd" * 32))
    result = sync_target(newer, sc.target, sc.drift, state_dir=sc.state_dir)
    assert result.status == "error"
    assert result.error == f"{sc.repo}: {REVIEW} is being rebased in {tmp_path / 'wt'}; not moving it"
    assert ref(sc.repo, REVIEW) == first.head
