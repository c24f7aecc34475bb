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
from dataclasses import replace
from pathlib import Path

from .. import lock
from ..config import TargetConfig
from ..errors import GitError, PatchsyncError
from ..model import Commit, PatchDelta, PatchSet, TargetDrift
from ..runs import TargetRun, TargetStatus
from ..statedir import StateDir
from . import development, message, refs, released
from .context import Context
from .objects import ObjectStore, stale_quarantines
from .treeapply import ConflictError

log = logging.getLogger(__name__)

#: Target statuses (JSON ``targets[].status``).
UPDATED: TargetStatus = "updated"
UP_TO_DATE: TargetStatus = "up-to-date"
CONFLICT: TargetStatus = "conflict"
ERROR: TargetStatus = "error"

#: Test hook: ``PATH:STAGE`` makes a sync create PATH and stall at STAGE
#: (``before-migrate`` or ``before-refs``) so a test can kill it there.
STALL_ENV = "PATCHSYNC_TEST_STALL"

_ACTIONABLE = frozenset({"metadata", "refreshed", "modified", "renamed", "added", "removed"})


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
) -> TargetRun:
    """Sync one target and return its run; never raises for a target-level problem (see ``status``)."""
    # The head is the branch's once sync has read it, and stays empty if it never does.
    run = replace(TargetRun.compared(drift, UP_TO_DATE, ref=target.review_ref), head="")
    try:
        lock_path = StateDir(state_dir).repo_lock(target.repo)
        with lock.hold(lock_path, wait=lock_wait, what=f"sync {target.name}"):
            return _sync(
                patchset=patchset,
                target=target,
                drift=drift,
                state_dir=Path(state_dir),
                run=run,
                dry_run=dry_run,
                retain=retain_backups,
            )
    except ConflictError as exc:
        # Nothing was written, so the run names no head and no commits.
        log.warning("%s: conflict: %s", target.name, exc.conflict.message)
        return replace(run, status=CONFLICT, conflicts=(exc.conflict,))
    except PatchsyncError as exc:
        return _failed(run, exc)


def _failed(run: TargetRun, exc: PatchsyncError) -> TargetRun:
    """``run`` as far as it got, failed with ``exc``."""
    log.error("%s: %s", run.name, exc)
    return replace(run, status=ERROR, error=str(exc))


def _sync(
    *,
    patchset: PatchSet,
    target: TargetConfig,
    drift: TargetDrift,
    state_dir: Path,
    run: TargetRun,
    dry_run: bool,
    retain: int,
) -> TargetRun:
    # ``run`` grows as the sync gets further, so a failure reports what was
    # already done (a written review branch and its commits).
    try:
        repo = target.repo
        if not os.path.isdir(repo):
            raise GitError("no such repository", where=repo)
        # Per repository, so the stale ones below are this repository's.
        parent = StateDir(state_dir).quarantines(repo)
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
            run = replace(run, head=current)
            if drift.in_sync:
                return run
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
            run = replace(run, applied=dict(ctx.methods))
            if head == current:
                return run
            review_ref = target.review_ref
            review = refs.read(repo, review_ref)
            last = refs.read(repo, refs.LAST_PREFIX + target.name)
            written = review is not None and _same(store, review, head, commits)
            if written:
                assert review is not None
                run = replace(run, head=review)
                head = review
                if not target.update_branch or current == review:
                    return run
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
            run = replace(run, head=head, commits=tuple(commits))
            branch_error = None
            move_branch = target.update_branch
            if move_branch and branch_ref in worktrees:
                written_what = f"only {review_ref} was written" if not written else f"{review_ref} is up to date"
                branch_error = f"{repo}: {target.branch} is checked out in {worktrees[branch_ref]}; {written_what}"
                move_branch = False
            if written and not move_branch:
                if branch_error:
                    raise GitError(branch_error)
                return run
            run = replace(run, status=UPDATED)
            if dry_run:
                return replace(run, branch_updated=move_branch)
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
                    run = replace(run, backup=refs.backup_ref(target.name, now))
                    assert run.backup is not None
                    updates.append(refs.RefUpdate(run.backup, current, None))
                    old = refs.backups(repo, target.name)
                    for ref, sha in old[: max(0, len(old) + 1 - retain)]:
                        updates.append(refs.RefUpdate(ref, None, sha))
            refs.transaction(repo, updates, message=f"patchsync sync {target.name}")
            run = replace(run, branch_updated=move_branch)
            log.info("%s: wrote %s (%d commits)", target.name, review_ref, len(commits))
            pushed_ref = refs.PUSHED_PREFIX + target.name
            pushed = refs.read(repo, pushed_ref) if target.push_remote else None
            if target.push_remote and pushed != head:
                # The lease expects what patchsync last pushed there (nothing at
                # first), so a push by anyone else to the review branch is kept.
                refs.push(repo, target.push_remote, review_ref, head, pushed)
                refs.transaction(
                    repo, [refs.RefUpdate(pushed_ref, head, pushed)], message=f"patchsync push {target.name}"
                )
                run = replace(run, pushed=True)
            if branch_error:
                raise GitError(branch_error)
            return run
    except PatchsyncError as exc:
        return _failed(run, exc)


def _plan(ctx: Context, drift: TargetDrift, deltas: list[PatchDelta]) -> tuple[str, list[Commit]]:
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


def _same(store: ObjectStore, review: str, head: str, commits: list[Commit]) -> bool:
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


__all__ = ["CONFLICT", "ERROR", "UPDATED", "UP_TO_DATE", "sync_target"]
