"""Write the KOTD's patches into a target's git branch (``patchsync sync``).

:func:`sync_target` is the one entry point: it computes the new commits in
memory and in a quarantine object directory, then writes the review branch
(and, when asked, the branch itself) last, in one ref transaction.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import lock
from ..config import TargetConfig
from ..errors import GitError, PatchsyncError
from ..model import PatchDelta, PatchSet, TargetDrift
from . import development, message, refs, released
from .context import Context, NewCommit
from .objects import ObjectStore, stale_quarantines
from .treeapply import Conflict

log = logging.getLogger(__name__)

#: Target statuses (JSON ``targets[].status``).
UPDATED, UP_TO_DATE, CONFLICT, ERROR = "updated", "up-to-date", "conflict", "error"

#: Test hook: ``PATH:STAGE`` makes a sync create PATH and stall at STAGE
#: (``before-migrate`` or ``before-refs``) so a test can kill it there.
STALL_ENV = "PATCHSYNC_TEST_STALL"

_ACTIONABLE = frozenset({"metadata", "refreshed", "modified", "renamed", "added", "removed"})


@dataclass(frozen=True)
class ConflictInfo:
    patch: str | None
    commit: str | None
    files: tuple[str, ...]
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"patch": self.patch, "commit": self.commit, "files": list(self.files), "message": self.message}


@dataclass
class SyncResult:
    """What sync did for one target (JSON ``targets[]``)."""

    target: str
    mode: str
    status: str = UP_TO_DATE
    ref: str = ""
    head: str | None = None
    commits: list[NewCommit] = field(default_factory=list)
    conflicts: list[ConflictInfo] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False
    branch_updated: bool = False
    backup: str | None = None
    pushed: bool = False
    applied: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.target,
            "mode": self.mode,
            "status": self.status,
            "ref": self.ref,
            "head": self.head,
            "commits": [c.to_json() for c in self.commits],
            "conflicts": [c.to_json() for c in self.conflicts],
            "applied": dict(self.applied),
            "branch_updated": self.branch_updated,
            "backup": self.backup,
            "pushed": self.pushed,
            "dry_run": self.dry_run,
            "error": self.error,
        }


def _stall(stage: str) -> None:
    spec = os.environ.get(STALL_ENV, "")
    path, _, when = spec.rpartition(":")
    if path and when == stage:
        Path(path).write_text(stage)
        time.sleep(3600)


def sync_target(
    patchset: PatchSet,
    target: TargetConfig,
    drift: TargetDrift,
    *,
    state_dir: Path,
    dry_run: bool = False,
    retain_backups: int = 10,
    lock_wait: float = 10.0,
) -> SyncResult:
    """Sync one target; never raises for a target-level problem (see ``status``)."""
    result = SyncResult(target.name, target.mode, ref=target.review_ref, dry_run=dry_run)
    try:
        lock_path = lock.repo_lock_path(state_dir, target.repo)
        with lock.hold(lock_path, wait=lock_wait, what=f"sync {target.name}"):
            _sync(
                patchset=patchset,
                target=target,
                drift=drift,
                state_dir=Path(state_dir),
                result=result,
                retain=retain_backups,
            )
    except Conflict as exc:
        result.status = CONFLICT
        result.head = None
        result.commits = []
        result.conflicts = [ConflictInfo(exc.patch, exc.commit, tuple(exc.files), exc.message)]
        log.warning("%s: conflict: %s", target.name, exc.message)
    except PatchsyncError as exc:
        result.status = ERROR
        result.error = str(exc)
        log.error("%s: %s", target.name, exc)
    return result


def _sync(
    *, patchset: PatchSet, target: TargetConfig, drift: TargetDrift, state_dir: Path, result: SyncResult, retain: int
) -> None:
    repo = target.repo
    if not os.path.isdir(repo):
        raise GitError("no such repository", where=repo)
    # Keyed like the lock, so the stale ones below are this repository's.
    parent = state_dir / "tmp" / lock.repo_lock_path(state_dir, repo).stem
    for stale in stale_quarantines(parent):
        # Left by a killed run; we hold the repository's lock, so no live run owns it.
        shutil.rmtree(stale, ignore_errors=True)
    with ObjectStore(repo, parent) as store:
        branch_ref = "refs/heads/" + target.branch
        current = store.resolve(branch_ref)
        if current is None:
            raise GitError(f"branch {target.branch} does not exist", where=repo)
        if current != drift.branch_commit:
            raise GitError(f"branch {target.branch} moved during the run; run sync again", where=repo)
        result.head = current
        if drift.in_sync:
            return
        now = time.time()
        ctx = Context(
            store=store,
            target=target,
            source=patchset.source,
            package=message.package_name(patchset.source),
            ids=message.identities(target, now),
            scratch=store.quarantine,
            kotd_order=drift.kotd_order,
        )
        # SUSE does not apply a guarded-out patch, so neither does sync.
        skip = set(target.hold) | set(drift.guarded_out)
        deltas = [d for d in drift.patches if d.status in _ACTIONABLE and d.name not in skip]
        head, commits = _plan(ctx, drift, deltas)
        result.applied = dict(ctx.methods)
        if head == current:
            return
        review_ref = target.review_ref
        review = refs.read(repo, review_ref)
        last = refs.read(repo, refs.LAST_PREFIX + target.name)
        written = review is not None and _same(store, review, head, commits)
        if written:
            assert review is not None
            result.head = head = review
            if not target.update_branch or current == review:
                return
            # The review branch already holds this result; only the branch
            # itself may still have to follow (it was checked out last time).
            commits = []
        worktrees = refs.checked_out(repo)
        if review_ref in worktrees and not written:
            raise GitError(f"{review_ref} is checked out in {worktrees[review_ref]}; not moving it", where=repo)
        if review is not None and review != last and not written:
            raise GitError(
                f"{review_ref} has commits patchsync did not write (head {review[:12]}); "
                "rename or delete it to let sync write there",
                where=repo,
            )
        result.head = head
        result.commits = commits
        branch_error = None
        move_branch = target.update_branch
        if move_branch and branch_ref in worktrees:
            written_what = f"only {review_ref} was written" if not written else f"{review_ref} is up to date"
            branch_error = f"{repo}: {target.branch} is checked out in {worktrees[branch_ref]}; {written_what}"
            move_branch = False
        if written and not move_branch:
            if branch_error:
                raise GitError(branch_error)
            return
        result.status = UPDATED
        if result.dry_run:
            result.branch_updated = move_branch
            return
        _stall("before-migrate")
        store.migrate()
        _stall("before-refs")
        updates = []
        if not written:
            updates += [
                refs.RefUpdate(review_ref, head, review),
                refs.RefUpdate(refs.LAST_PREFIX + target.name, head, last),
            ]
        if move_branch:
            updates.append(refs.RefUpdate(branch_ref, head, current))
            if target.mode == "development":
                result.backup = refs.backup_ref(target.name, now)
                updates.append(refs.RefUpdate(result.backup, current, None))
                old = refs.backups(repo, target.name)
                for ref, sha in old[: max(0, len(old) + 1 - retain)]:
                    updates.append(refs.RefUpdate(ref, None, sha))
        refs.transaction(repo, updates, message=f"patchsync sync {target.name}")
        result.branch_updated = move_branch
        log.info("%s: wrote %s (%d commits)", target.name, review_ref, len(commits))
        pushed_ref = refs.PUSHED_PREFIX + target.name
        pushed = refs.read(repo, pushed_ref) if target.push_remote else None
        if target.push_remote and pushed != head:
            # The lease expects what patchsync last pushed there (nothing at
            # first), so a push by anyone else to the review branch is kept.
            refs.push(repo, target.push_remote, review_ref, head, pushed)
            refs.transaction(repo, [refs.RefUpdate(pushed_ref, head, pushed)], message=f"patchsync push {target.name}")
            result.pushed = True
        if branch_error:
            raise GitError(branch_error)


def _plan(ctx: Context, drift: TargetDrift, deltas: list[PatchDelta]) -> tuple[str, list[NewCommit]]:
    target = ctx.target
    if target.mode == "development":
        rng = development.read_range(ctx, target.base, drift.branch_commit)
        return development.plan(ctx, rng, deltas)

    replayer = None
    if target.base:
        rng_cache: list[development.Range] = []

        def replayer(done: list[PatchDelta]) -> str | None:
            if not rng_cache:
                rng_cache.append(development.read_range(ctx, target.base, drift.branch_commit))
            head, _ = development.plan(ctx, rng_cache[0], done)
            return ctx.store.commit(head).tree

    commits = released.plan(ctx, drift.branch_commit, deltas, replayer)
    return (commits[-1].sha if commits else drift.branch_commit), commits


def _same(store: ObjectStore, review: str, head: str, commits: list[NewCommit]) -> bool:
    """Whether the review branch already holds this result (same trees and tarball trailers).

    Subjects are not compared: they name the KOTD release, and a KOTD
    rebuilt with a new release but the same tarball must leave the review
    branch (and so the mailed report) alone (issue 5, section 4).
    """
    if review == head:
        return True
    if not commits:
        return False
    at = review
    for new in reversed(commits):
        mine = store.commit(new.sha)
        theirs = store.commit(at)
        if (
            mine.tree != theirs.tree
            or message.trailers(mine.message).get(message.TRAILER_SHA256)
            != message.trailers(theirs.message).get(message.TRAILER_SHA256)
            or not theirs.parents
        ):
            return False
        at = theirs.parents[0]
    return at == store.commit(commits[0].sha).parents[0]


__all__ = ["CONFLICT", "ERROR", "UPDATED", "UP_TO_DATE", "ConflictInfo", "SyncResult", "sync_target"]
