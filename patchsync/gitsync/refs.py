"""Refs: read, check against worktrees, write in one transaction, push.

Refs are the last thing a sync writes, all of a target's together, each
with the value it is expected to have: ``git update-ref --stdin`` with
``start``/``prepare``/``commit`` either moves every ref or none, and a
ref someone else moved meanwhile fails the whole transaction.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitError
from ..names import refname_problem
from .objects import ZERO_OID
from .repo import run_git

#: Where development mode keeps a branch's old head before moving it.
BACKUP_PREFIX = "refs/patchsync/backup/"
#: What patchsync last wrote to a target's review branch.
LAST_PREFIX = "refs/patchsync/last/"
#: What patchsync last pushed to a target's ``push_remote`` (the lease's expectation).
PUSHED_PREFIX = "refs/patchsync/pushed/"


@dataclass(frozen=True)
class RefUpdate:
    ref: str
    new: str | None  # None deletes
    old: str | None  # None: must not exist


def read(repo: str, ref: str) -> str | None:
    proc = run_git(repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", ref], check=False)
    return proc.stdout.decode().strip() or None if proc.returncode == 0 else None


def read_many(repo: str, names: Sequence[str]) -> dict[str, str | None]:
    """Each full ref name in ``names`` -> the id it holds, or None where it does not exist; one git process."""
    out = run_git(repo, ["for-each-ref", "--format=%(objectname) %(refname)", "--", *names]).stdout
    found: dict[str, str] = {}
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        sha, _, name = line.partition(" ")
        found[name] = sha
    # A pattern also matches the refs below it (refs/a matches refs/a/b): only exact names count.
    return {name: found.get(name) for name in names}


def busy_branches(repo: str, common_dir: Path) -> dict[str, str]:
    """Branches git itself refuses to move (``git branch -f``): ref -> why, e.g. ``checked out in /wt``.

    That is a branch checked out in any worktree, or one being rebased or
    bisected in any worktree (git's ``find_shared_symref``).  While a
    rebase or bisect runs, HEAD is detached, so ``worktree list`` does not
    show the branch: its name sits in the worktree's private git dir, and
    moving it under the rebase means ``git rebase --abort`` silently puts
    back the old head, undoing the sync.  ``common_dir`` is the git dir
    the worktrees share (:attr:`.objects.ObjectStore.common_dir`).
    """
    out = run_git(repo, ["worktree", "list", "--porcelain"]).stdout.decode("utf-8", "surrogateescape")
    found: dict[str, str] = {}
    paths: list[str] = []
    for line in out.splitlines():
        if line.startswith("worktree "):
            paths.append(line[len("worktree ") :])
        elif line.startswith("branch ") and paths:
            found[line[len("branch ") :]] = f"checked out in {paths[-1]}"
    for admin, path in _admin_dirs(common_dir, paths[0] if paths else repo):
        for state in ("rebase-merge", "rebase-apply"):
            head = _first_line(admin / state / "head-name")
            if head.startswith("refs/heads/"):
                found.setdefault(head, f"being rebased in {path}")
        # BISECT_START holds the branch bisect started from, short name (or
        # a commit id when it started on a detached HEAD).
        start = _first_line(admin / "BISECT_START")
        if start and not refname_problem("refs/heads/" + start):
            found.setdefault("refs/heads/" + start, f"being bisected in {path}")
    return found


def _admin_dirs(common: Path, main: str) -> list[tuple[Path, str]]:
    """Each worktree's private git dir and its path: the main one, then the linked ones."""
    dirs = [(common, main)]
    try:
        linked = sorted((common / "worktrees").iterdir())
    except FileNotFoundError:
        linked = []
    for admin in linked:
        # <admin>/gitdir names the worktree's ".git" file.
        gitdir = _first_line(admin / "gitdir")
        dirs.append((admin, os.path.dirname(gitdir) if gitdir else str(admin)))
    return dirs


def _first_line(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", "surrogateescape").strip()
    except (FileNotFoundError, NotADirectoryError):
        return ""


def transaction(repo: str, updates: Sequence[RefUpdate], *, message: str) -> None:
    """Write every update or none; each checks the ref's current value first.

    The commands go to git NUL-terminated (``--stdin -z``): no ref name or
    value can split one command into two, and a ref git would refuse is
    refused here before git sees any of the transaction.
    """
    commands = [b"start"]
    for u in updates:
        problem = refname_problem(u.ref)
        if problem:
            raise GitError(f"refusing to write: {problem}", where=repo)
        old = (u.old or ZERO_OID).encode()
        ref = u.ref.encode()
        if u.new is None:
            commands.append(b"delete " + ref + b"\0" + old)
        else:
            commands.append(b"update " + ref + b"\0" + u.new.encode() + b"\0" + old)
    commands += [b"prepare", b"commit"]
    data = b"".join(c + b"\0" for c in commands)
    run_git(repo, ["update-ref", "-m", message, "--stdin", "-z"], input=data)


def backup_ref(target: str, now: float) -> str:
    return BACKUP_PREFIX + f"{target}/" + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def backups(repo: str, target: str) -> list[tuple[str, str]]:
    """(ref, sha) of a target's backup refs, oldest first (their names sort by time)."""
    out = run_git(repo, ["for-each-ref", "--format=%(refname) %(objectname)", BACKUP_PREFIX + target + "/"])
    pairs = [tuple(line.split(" ", 1)) for line in out.stdout.decode().splitlines() if line]
    return sorted((ref, sha) for ref, sha in pairs)


#: Seconds a push may take: a hung server must not hold the cycle lock for long.
PUSH_TIMEOUT_SECONDS = 300.0


def push(repo: str, remote: str, ref: str, new: str, expected: str | None, *, lease: bool = True) -> None:
    """Push ``new`` to ``remote``'s ``ref`` if it still is ``expected`` there (``lease=False``: a fast-forward).

    A refusal names git's reason (``stale info``: someone moved the ref
    since it was fetched; ``non-fast-forward``), never forces.
    """
    args = ["push", "--porcelain"]
    if lease:
        args.append(f"--force-with-lease={ref}:{expected or ''}")
    proc = run_git(repo, [*args, "--end-of-options", remote, f"{new}:{ref}"], check=False, timeout=PUSH_TIMEOUT_SECONDS)
    if proc.returncode == 0:
        return
    # --porcelain: "!<TAB>from:to<TAB>[rejected] (reason)" per refused ref.
    for line in proc.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("!"):
            status = line.split("\t")[-1]
            reason = re.search(r"\(([^)]*)\)", status)
            raise GitError(f"push of {ref} to {remote} refused: {reason[1] if reason else status}", where=repo)
    detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    raise GitError(
        f"push of {ref} to {remote} failed: {detail[-1] if detail else f'exit status {proc.returncode}'}", where=repo
    )
