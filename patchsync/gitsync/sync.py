"""Sync one target: plan the new commits, check the refs, write.

:func:`sync_target` computes the new commits in memory and in a quarantine
object directory (:func:`_plan`), checks that every ref it is to move is
patchsync's to move (:func:`_check_refs`), then writes the objects and the
review branch (and, when asked, the branch itself) last, in one ref
transaction.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .. import lock
from ..config import TargetConfig
from ..errors import GitError, PatchsyncError, as_error
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

#: Called with the name of each write step as a sync reaches it.
Checkpoint = Callable[[str], None]

_ACTIONABLE = frozenset({"metadata", "refreshed", "modified", "renamed", "added", "removed"})


def _no_checkpoint(stage: str) -> None:
    pass


def sync_target(
    patchset: PatchSet,
    target: TargetConfig,
    drift: TargetDrift,
    *,
    state_dir: Path,
    dry_run: bool = False,
    retain_backups: int = 10,
    lock_wait: float = 10.0,
    checkpoint: Checkpoint = _no_checkpoint,
) -> TargetRun:
    """Sync one target and return its run; never raises for a target-level problem (see ``status``).

    ``checkpoint`` is called with ``"before-migrate"`` and ``"before-refs"``
    as the write reaches each step (where a caller kills the sync to show
    that nothing is half-written).
    """
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
                checkpoint=checkpoint,
            )
    except ConflictError as exc:
        # Nothing was written, so the run names no head and no commits.
        log.warning("%s: conflict: %s", target.name, exc.conflict.message)
        return replace(run, status=CONFLICT, conflicts=(exc.conflict,))
    except PatchsyncError as exc:
        return _failed(run, exc)


def _failed(run: TargetRun, exc: PatchsyncError | OSError) -> TargetRun:
    """``run`` as far as it got, failed with ``exc`` (the machine's refusals too: a read-only repository)."""
    error = as_error(exc)
    log.error("%s: %s", run.name, error)
    return replace(run, status=ERROR, error=str(error))


def _sync(
    *,
    patchset: PatchSet,
    target: TargetConfig,
    drift: TargetDrift,
    state_dir: Path,
    run: TargetRun,
    dry_run: bool,
    retain: int,
    checkpoint: Checkpoint,
) -> TargetRun:
    # ``run`` grows as the sync gets further, so a failure reports what was
    # already done (a written review branch and its commits).
    try:
        repo = target.repo
        if not os.path.isdir(repo):
            raise GitError("no such repository", where=repo)
        with ObjectStore(repo, _quarantine_parent(state_dir, repo)) as store:
            current = store.resolve(target.branch_ref)
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
                parses=drift.parses,
            )
            # SUSE does not apply a guarded-out patch, so neither does sync.
            skip = set(target.hold) | set(drift.guarded_out)
            deltas = [d for d in drift.patches if d.status in _ACTIONABLE and d.name not in skip]
            head, commits = _plan(ctx, drift, deltas)
            run = replace(run, applied=dict(ctx.methods), dropped=tuple(ctx.dropped))
            if head == current:
                return run
            plan = _check_refs(store, target, current, head, commits)
            run = replace(run, head=plan.head, commits=tuple(plan.commits))
            if plan.written and not plan.move_branch:
                if plan.branch_error:
                    raise GitError(plan.branch_error)
                return run
            run = replace(run, status=UPDATED)
            if dry_run:
                return replace(run, branch_updated=plan.move_branch)
            updates, backup = _ref_updates(target, plan, current, now, retain)
            try:
                checkpoint("before-migrate")
                if not plan.written:
                    # Where the review branch already holds the result, the
                    # repository has every object the refs need: the commits
                    # made again here (with today's dates) would only be garbage.
                    store.migrate(plan.head)
                checkpoint("before-refs")
                refs.transaction(repo, updates, message=f"patchsync sync {target.name}")
            except (PatchsyncError, OSError) as exc:
                # Nothing was written (the refs move together or not at all):
                # the run must not claim commits, a backup or a moved branch.
                return _failed(replace(run, head=current, commits=()), exc)
            run = replace(run, backup=backup, branch_updated=plan.move_branch)
            log.info("%s: wrote %s (%d commits)", target.name, target.review_ref, len(plan.commits))
            run = replace(run, pushed=_push(target, plan.head))
            if plan.branch_error:
                raise GitError(plan.branch_error)
            return run
    except (PatchsyncError, OSError) as exc:
        return _failed(run, exc)


def _quarantine_parent(state_dir: Path, repo: str) -> Path:
    """Where this repository's quarantines live, emptied of the ones killed runs left."""
    # Per repository, so the stale ones below are this repository's.
    parent = StateDir(state_dir).quarantines(repo)
    for stale in stale_quarantines(parent):
        # Left by a killed run; we hold the repository's lock, so no live run owns it.
        shutil.rmtree(stale, ignore_errors=True)
    return parent


@dataclass(frozen=True)
class _RefPlan:
    """Which refs a sync moves, checked against what the repository holds now."""

    head: str  # the review branch's new head
    commits: list[Commit]
    review: str | None  # the review branch's head now
    last: str | None  # what patchsync last wrote there
    written: bool  # the review branch already holds this result
    move_branch: bool  # the branch itself follows
    branch_error: str | None  # why the branch could not follow, as asked


def _check_refs(store: ObjectStore, target: TargetConfig, current: str, head: str, commits: list[Commit]) -> _RefPlan:
    """What to write, or :class:`GitError` where a ref is not patchsync's to move."""
    repo = target.repo
    review_ref = target.review_ref
    held = refs.read_many(repo, [review_ref, refs.LAST_PREFIX + target.name])
    review, last = held[review_ref], held[refs.LAST_PREFIX + target.name]
    written = review is not None and _same(store, review, head, commits)
    if written:
        assert review is not None
        if not target.update_branch or current == review:
            return _RefPlan(review, [], review, last, written=True, move_branch=False, branch_error=None)
        # The review branch already holds this result; only the branch
        # itself may still have to follow (it was checked out last time).
        head, commits = review, []
    busy = refs.busy_branches(repo, store.common_dir)
    if review_ref in busy and not written:
        raise GitError(f"{review_ref} is {busy[review_ref]}; not moving it", where=repo)
    if review is not None and review != last and not written:
        raise GitError(
            f"{review_ref} has commits patchsync did not write (head {review[:12]}); "
            "rename or delete it to let sync write there",
            where=repo,
        )
    branch_error = None
    move_branch = target.update_branch
    branch_ref = "refs/heads/" + target.branch
    if move_branch and branch_ref in busy:
        written_what = f"only {review_ref} was written" if not written else f"{review_ref} is up to date"
        branch_error = f"{repo}: {target.branch} is {busy[branch_ref]}; {written_what}"
        move_branch = False
    return _RefPlan(head, commits, review, last, written, move_branch, branch_error)


def _ref_updates(
    target: TargetConfig, plan: _RefPlan, current: str, now: float, retain: int
) -> tuple[list[refs.RefUpdate], str | None]:
    """The one transaction a sync writes, and the backup ref it creates (development mode)."""
    updates = []
    if not plan.written:
        updates += [
            refs.RefUpdate(target.review_ref, plan.head, plan.review),
            refs.RefUpdate(refs.LAST_PREFIX + target.name, plan.head, plan.last),
        ]
    backup = None
    if plan.move_branch:
        updates.append(refs.RefUpdate("refs/heads/" + target.branch, plan.head, current))
        if target.mode == "development":
            backup = refs.backup_ref(target.name, now)
            updates.append(refs.RefUpdate(backup, current, None))
            old = refs.backups(target.repo, target.name)
            for ref, sha in old[: max(0, len(old) + 1 - retain)]:
                updates.append(refs.RefUpdate(ref, None, sha))
    return updates, backup


def _push(target: TargetConfig, head: str) -> bool:
    """Push the review branch to ``push_remote`` where it is not there yet; whether it was pushed."""
    if not target.push_remote:
        return False
    pushed_ref = refs.PUSHED_PREFIX + target.name
    pushed = refs.read(target.repo, pushed_ref)
    if pushed == head:
        return False
    # The lease expects what patchsync last pushed there (nothing at
    # first), so a push by anyone else to the review branch is kept.
    refs.push(target.repo, target.push_remote, target.review_ref, head, pushed)
    refs.transaction(target.repo, [refs.RefUpdate(pushed_ref, head, pushed)], message=f"patchsync push {target.name}")
    return True


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
