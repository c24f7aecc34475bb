"""What a sync will need of a repository, asked without writing to it (``patchsync doctor``)."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitError
from ..model import ReviewBranch
from .repo import run_git


@dataclass(frozen=True)
class RepoDirs:
    """Where a repository keeps what sync writes: objects and refs (with their reflogs)."""

    common_dir: Path
    objects: Path

    @property
    def reftable(self) -> Path | None:
        """The reftable folder of a repository using the reftable backend."""
        folder = self.common_dir / "reftable"
        return folder if folder.is_dir() else None


def owner(path: str | os.PathLike[str]) -> str:
    """The user name owning ``path`` (its uid when the name is unknown)."""
    uid = os.stat(path).st_uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def current_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def open_dirs(repo: str) -> RepoDirs:
    """The repository's folders, if git accepts it as this user; a :class:`GitError` saying why not."""
    if not os.path.isdir(repo):
        raise GitError("no such folder", where=repo)
    proc = run_git(
        repo, ["rev-parse", "--path-format=absolute", "--git-common-dir", "--git-path", "objects"], check=False
    )
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace")
        if "dubious ownership" in text:
            # git's own message spans eight lines; the fix is one command.
            raise GitError(f"git refuses it: owned by {owner(repo)}, not {current_user()}", where=repo)
        if "not a git repository" in text:
            raise GitError("not a git repository", where=repo)
        lines = text.strip().splitlines()
        raise GitError(f"git rev-parse failed: {lines[-1] if lines else proc.returncode}", where=repo)
    common, objects = proc.stdout.decode().splitlines()[:2]
    return RepoDirs(Path(common), Path(objects))


def commit_of(repo: str, rev: str) -> str | None:
    """The commit ``rev`` names, a branch ``refs/heads/<rev>`` first (as sync resolves it)."""
    for candidate in (f"refs/heads/{rev}", rev):
        proc = run_git(
            repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", candidate + "^{commit}"], check=False
        )
        if proc.returncode == 0:
            return proc.stdout.decode().strip()
    return None


def is_ancestor(repo: str, ancestor: str, commit: str) -> bool:
    """Whether ``ancestor`` is ``commit`` or in its history."""
    return run_git(repo, ["merge-base", "--is-ancestor", ancestor, commit], check=False).returncode == 0


def branch_commit(repo: str, branch: str) -> str | None:
    """The commit of the branch ``refs/heads/<branch>`` (never a tag or a sha of that name)."""
    return ref_commit(repo, f"refs/heads/{branch}")


def kind_at(repo: str, commit: str, path: str) -> str | None:
    """``tree``, ``blob``... for ``path`` in ``commit``; None where it does not exist."""
    proc = run_git(repo, ["cat-file", "-t", f"{commit}:{path.strip('/')}"], check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def review_branch(
    repo: str, review_ref: str, branch_commit: str, tarball_sha256: str, *, rewrites: bool
) -> ReviewBranch:
    """Whether ``review_ref`` holds a sync to the KOTD whose tarball is ``tarball_sha256``.

    It does when a commit it has and the branch lacks carries that
    tarball's trailer; in released mode the branch must also still be
    under it (a branch that moved on makes the next sync write it anew).
    ``rewrites`` (development mode): the review branch replaces base..branch.
    """
    from .message import TRAILER_SHA256

    name = review_ref.removeprefix("refs/heads/")
    head = ref_commit(repo, review_ref)
    if head is None or head == branch_commit:
        return ReviewBranch(name, head, 0, False)
    span = f"{branch_commit}..{head}"
    count = int(run_git(repo, ["rev-list", "--count", span]).stdout.decode().strip() or 0)
    if not rewrites and not is_ancestor(repo, branch_commit, head):
        return ReviewBranch(name, head, count, False)
    shas = run_git(repo, ["log", f"--format=%(trailers:key={TRAILER_SHA256},valueonly)", span, "--"]).stdout.decode()
    return ReviewBranch(name, head, count, tarball_sha256 in shas.split())


def ref_commit(repo: str, ref: str) -> str | None:
    """The commit a full ref names; None where it does not exist."""
    proc = run_git(repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"], check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None
