"""What a sync will need of a repository, asked without writing to it (``patchsync doctor``)."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitError
from .objects import run_git


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


def branch_commit(repo: str, branch: str) -> str | None:
    """The commit of the branch ``refs/heads/<branch>`` (never a tag or a sha of that name)."""
    proc = run_git(
        repo, ["rev-parse", "--verify", "--quiet", "--end-of-options", f"refs/heads/{branch}^{{commit}}"], check=False
    )
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def kind_at(repo: str, commit: str, path: str) -> str | None:
    """``tree``, ``blob``... for ``path`` in ``commit``; None where it does not exist."""
    proc = run_git(repo, ["cat-file", "-t", f"{commit}:{path.strip('/')}"], check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None
