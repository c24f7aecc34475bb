"""A target's ``remote``: fetch the server's refs before compare, push after sync.

The fetch writes only ``refs/remotes/<remote>/...`` (never a local branch,
the working tree or the index); compare and sync then read the fetched
branch (:attr:`~patchsync.config.TargetConfig.branch_ref`).  The review
branch is pushed with ``--force-with-lease`` expecting what was fetched,
so a review branch someone moved on the server is never overwritten, and
``branch`` (``update_branch``, released mode) only as a fast-forward.
"""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass

from ..config import TargetConfig
from ..errors import GitError
from . import refs
from .repo import git_message, run_git

log = logging.getLogger(__name__)

#: Seconds a fetch or push may take: a hung server must not hold the cycle
#: lock (and with it the other machine of a pair) for long.
NETWORK_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class Fetched:
    """What the server had when the cycle fetched: the lease's expectations."""

    branch: str
    review: str | None


def fetch(target: TargetConfig) -> Fetched:
    """Fetch ``branch``, ``base`` and the review branch into ``refs/remotes/<remote>/``."""
    repo, remote = target.repo, target.remote
    review_on_server = _remote_has(target, target.review_ref)
    specs = [f"+refs/heads/{target.branch}:{target.branch_ref}"]
    if target.base_rev != target.base:
        specs.append(f"+{target.base}:{target.base_rev}")
    if review_on_server:
        specs.append(f"+{target.review_ref}:{target.tracking_ref(target.review_ref)}")
    _network(target, ["fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--end-of-options", remote, *specs])
    tracking_review = target.tracking_ref(target.review_ref)
    if not review_on_server:
        stale = refs.read(repo, tracking_review)
        if stale is not None:
            # Deleted on the server: so is our picture of it.
            refs.transaction(repo, [refs.RefUpdate(tracking_review, None, stale)], message="patchsync fetch")
    branch = refs.read(repo, target.branch_ref)
    if branch is None:
        raise GitError(f"fetched {target.branch} from {remote} but cannot read {target.branch_ref}", where=repo)
    return Fetched(branch=branch, review=refs.read(repo, tracking_review))


def adopt(target: TargetConfig, fetched: Fetched, written: str | None) -> None:
    """Make the local review branch and caches start from the server's state.

    The local review branch follows the server's when it is patchsync's own
    (absent, or what patchsync last wrote here); the cache of what
    patchsync last wrote becomes ``written`` (the shared record); the
    push lease expects what was fetched.  Sync's own checks then see the
    server's review branch: a result already there is not written again,
    and commits nobody recorded as patchsync's stop the sync.
    """
    repo = target.repo
    review_ref = target.review_ref
    last_ref = refs.LAST_PREFIX + target.name
    pushed_ref = refs.PUSHED_PREFIX + target.name
    local = refs.read(repo, review_ref)
    last = refs.read(repo, last_ref)
    updates: list[refs.RefUpdate] = []
    if local != fetched.review and local in (None, last):
        updates.append(refs.RefUpdate(review_ref, fetched.review, local))
    if written is not None and written != last:
        updates.append(refs.RefUpdate(last_ref, written, last))
    pushed = refs.read(repo, pushed_ref)
    if pushed != fetched.review:
        updates.append(refs.RefUpdate(pushed_ref, fetched.review, pushed))
    if updates:
        refs.transaction(repo, updates, message=f"patchsync fetch {target.name}")


def push_branch(target: TargetConfig, head: str) -> None:
    """Move the server's ``branch`` to ``head`` as a fast-forward, or fail.

    No lease and no force: the server itself refuses anything but a
    fast-forward, so a commit someone pushed meanwhile is never lost.
    """
    refs.push(target.repo, target.remote, "refs/heads/" + target.branch, head, None, lease=False)


def server_branch(target: TargetConfig) -> str | None:
    """What ``branch`` is on the server now (``None``: no such branch); fetches nothing."""
    found = _ls_remote(target, "refs/heads/" + target.branch)
    return found.split()[0] if found else None


def _remote_has(target: TargetConfig, ref: str) -> bool:
    return _ls_remote(target, ref) is not None


def _ls_remote(target: TargetConfig, ref: str) -> str | None:
    """The server's ``<sha> <ref>`` line for ``ref``, or ``None``; an unreachable server is a GitError."""
    proc = _network(target, ["ls-remote", "--exit-code", "--end-of-options", target.remote, ref], check=False)
    if proc.returncode == 0:
        return proc.stdout.decode("utf-8", "replace").splitlines()[0]
    if proc.returncode == 2:  # git ls-remote --exit-code: no matching ref
        return None
    detail = git_message(proc.stderr, proc.returncode)
    raise GitError(f"cannot reach remote {target.remote}: {detail}", where=target.repo)


def _network(
    target: TargetConfig, args: list[str], *, check: bool = True, what: str = ""
) -> subprocess.CompletedProcess[bytes]:
    try:
        return run_git(target.repo, args, check=check, timeout=NETWORK_TIMEOUT_SECONDS)
    except GitError as exc:
        label = what or f"{args[0]} from {target.remote}"
        raise GitError(
            f"{label} failed: {exc.message.removeprefix(f'git {args[0]} failed: ')}", where=target.repo
        ) from None
