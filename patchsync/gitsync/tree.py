"""Read a target tree's patch files straight from git objects.

The files come from the branch's commit, never from a checkout: the working
tree may be dirty, another branch may be checked out, the repository may be
bare.  GitPython reads blobs through one long-lived ``git cat-file --batch``
process, so a thousand patches cost one process, not a thousand.
"""

from __future__ import annotations

import logging
import os

import git
from git.exc import BadName, BadObject

from ..config import TargetConfig
from ..errors import GitError
from ..model import SERIES_FILE, TreePatches
from .access import commit_of
from .repo import run_git

log = logging.getLogger(__name__)


def open_repo(path: str) -> git.Repo:
    """The repository at ``path`` (bare or not); :class:`GitError` if there is none."""
    try:
        repo = git.Repo(path)
    except git.NoSuchPathError:
        raise GitError("no such repository", where=path) from None
    except git.InvalidGitRepositoryError:
        raise GitError("not a git repository", where=path) from None
    # GitPython finds the repository without running git; git itself may
    # still refuse it (dubious ownership, an unsupported extension), and
    # then GitPython's reader dies with a bare broken pipe.  Ask git once,
    # so its own message reaches the user.
    try:
        run_git(path, ["rev-parse", "--git-dir"])
    except GitError:
        repo.close()
        raise
    return repo


def resolve_commit(repo: git.Repo, ref: str, where: str) -> git.Commit:
    """The commit ``ref`` names, preferring the branch ``refs/heads/<ref>``."""
    for candidate in (f"refs/heads/{ref}", ref):
        try:
            obj = repo.rev_parse(f"{candidate}^{{commit}}")
        except (BadName, BadObject, ValueError, IndexError):
            continue
        if isinstance(obj, git.Commit):
            return obj
    raise GitError(f"no branch or commit {ref!r}", where=where)


def read_patches(repo: str, branch: str, patches_dir: str) -> TreePatches:
    """The patch files under ``patches_dir`` at ``branch``'s commit, and their order.

    The order is ``<patches_dir>/series`` where the tree has one, else the
    order in which the branch's commits added the files (one ``git log``).
    """
    where = f"{os.fspath(repo)} {branch}"
    r = open_repo(repo)
    try:
        commit = resolve_commit(r, branch, os.fspath(repo))
        try:
            tree = commit.tree / patches_dir.strip("/")
        except KeyError:
            raise GitError(f"{patches_dir} does not exist at {commit.hexsha[:12]}", where=where) from None
        if tree.type != "tree":
            raise GitError(f"{patches_dir} is not a folder at {commit.hexsha[:12]}", where=where)
        files: dict[str, bytes] = {}
        series: bytes | None = None
        prefix_len = len(str(tree.path)) + 1
        # Recursive: with strip = 0 the tree keeps patches.xen/<name> below patches_dir.
        for item in tree.traverse():
            if not isinstance(item, git.Blob):
                continue
            name = str(item.path)[prefix_len:]
            data = item.data_stream.read()
            if name == SERIES_FILE:
                series = data
            else:
                files[name] = data
        warnings: list[str] = []
        if series is not None:
            order = _order_from_series(series, files, patches_dir, warnings)
            order_from = "series"
        else:
            order = _order_from_history(r, commit.hexsha, patches_dir, files)
            order_from = "history"
        return TreePatches(
            commit=commit.hexsha, files=files, order=order, warnings=tuple(warnings), order_from=order_from
        )
    except git.GitCommandError as exc:
        raise GitError(f"git failed: {' '.join(str(exc.stderr).split()) or exc.status}", where=where) from None
    finally:
        r.close()


def read_target(target: TargetConfig) -> TreePatches:
    """The patches ``target``'s branch carries, once its ``base`` is known to exist."""
    # With a remote, the server's branch and base as the cycle just fetched them.
    tree = read_patches(target.repo, target.branch_ref if target.remote else target.branch, target.patches_dir)
    if target.base and commit_of(target.repo, target.base_rev) is None:
        # Found here, not first in sync: check must not call a target that
        # cannot be synced "drift" (exit 1).
        raise GitError(
            f"base {target.base!r} does not exist: fetch it, or set 'base' to the upstream ref "
            "the patch commits sit on",
            where=target.repo,
        )
    return tree


def parse_quilt_series(data: bytes) -> list[str]:
    """Patch names of a quilt series file, in order.

    >>> parse_quilt_series(b"# c\\n\\na.patch -p1\\n  b.diff # note\\n")
    ['a.patch', 'b.diff']
    """
    names: list[str] = []
    for raw in data.splitlines():
        line = raw.split(b"#", 1)[0].strip()
        if line:
            names.append(line.split()[0].decode("utf-8", "surrogateescape"))
    return names


def _order_from_series(series: bytes, files: dict[str, bytes], patches_dir: str, warnings: list[str]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()
    for name in parse_quilt_series(series):
        if name in seen:
            continue
        seen.add(name)
        if name not in files:
            warnings.append(f"{patches_dir}/series names {name}, which the tree does not have")
            continue
        order.append(name)
    missing = sorted(set(files) - seen)
    for name in missing:
        warnings.append(f"{patches_dir}/{name} is not in {patches_dir}/series; ordered last")
    return order + missing


def _order_from_history(repo: git.Repo, commit: str, patches_dir: str, files: dict[str, bytes]) -> list[str]:
    """Names in the order the history (oldest first) added them; one git process."""
    prefix = patches_dir.strip("/") + "/"
    raw = repo.git.log(
        "--reverse",
        "--format=",
        "--name-status",
        "--no-renames",
        "--diff-filter=A",
        "-z",
        commit,
        "--",
        prefix,
        stdout_as_string=False,
    )
    out = raw.decode("utf-8", "surrogateescape") if isinstance(raw, bytes) else str(raw)
    added: dict[str, int] = {}
    tokens = [t for t in out.split("\0") if t.strip()]
    # -z output: "A\0path\0" pairs (the empty --format adds newlines only).
    pos = 0
    for i in range(0, len(tokens) - 1, 2):
        status, path = tokens[i].strip(), tokens[i + 1]
        if status != "A" or not path.startswith(prefix):
            continue
        name = path[len(prefix) :]
        if name not in files:
            continue
        # A file deleted and added again sits where it was last added.
        added.pop(name, None)
        added[name] = pos
        pos += 1
    order = sorted(added, key=added.__getitem__)
    return order + sorted(set(files) - set(added))
