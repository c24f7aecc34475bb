"""Read a target tree's patch files straight from git objects.

The files come from the branch's commit, never from a checkout: the working
tree may be dirty, another branch may be checked out, the repository may be
bare.  The files are read in one ``git cat-file --batch``, so a thousand
patches cost one process, not a thousand.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

from ..config import TargetConfig
from ..errors import GitError
from ..model import SERIES_FILE, TreePatches
from .access import commit_of, is_ancestor, kind_at
from .repo import check_repository, read_objects, run_git

log = logging.getLogger(__name__)


def read_patches(repo: str, branch: str, patches_dir: str) -> TreePatches:
    """The patch files under ``patches_dir`` at ``branch``'s commit, and their order.

    The order is ``<patches_dir>/series`` where the tree has one, else the
    order in which the branch's commits added the files (one ``git log``).
    """
    repo = os.fspath(repo)
    commit = _branch_folder(repo, branch, patches_dir)
    return _read(repo, commit, patches_dir, since=None)


def _branch_folder(repo: str, branch: str, patches_dir: str) -> str:
    """``branch``'s commit, once ``patches_dir`` is known to be a folder there; else a :class:`GitError`."""
    where = f"{repo} {branch}"
    check_repository(repo)
    commit = commit_of(repo, branch)
    if commit is None:
        raise GitError(f"no branch or commit {branch!r}", where=repo)
    kind = kind_at(repo, commit, patches_dir.strip("/"))
    if kind is None:
        raise GitError(f"{patches_dir} does not exist at {commit[:12]}", where=where)
    if kind != "tree":
        raise GitError(f"{patches_dir} is not a folder at {commit[:12]}", where=where)
    return commit


def _read(repo: str, commit: str, patches_dir: str, *, since: str | None) -> TreePatches:
    """The patches at ``commit``; without a series file ordered by ``since..commit`` (all history if None)."""
    folder = patches_dir.strip("/")
    # Recursive: with strip = 0 the tree keeps patches.xen/<name> below patches_dir.
    listing = run_git(repo, ["ls-tree", "-r", "-z", f"{commit}:{folder}"]).stdout
    blobs: dict[str, str] = {}
    for record in listing.split(b"\0"):
        info, _, path = record.partition(b"\t")
        fields = info.split()
        if len(fields) == 3 and fields[1] == b"blob":
            blobs[path.decode("utf-8", "surrogateescape")] = fields[2].decode()
    # Every file in one cat-file run: a thousand patches cost one process.
    # Without a series file the order comes from a git log, whose diff of
    # the folder at every commit takes as long as reading the files: the
    # two git processes run side by side.
    with ThreadPoolExecutor(max_workers=1) as pool:
        history = None if SERIES_FILE in blobs else pool.submit(_added_in_history, repo, commit, patches_dir, since)
        content = read_objects(repo, blobs.values())
    files: dict[str, bytes] = {}
    series: bytes | None = None
    for name, sha in blobs.items():
        data = content[sha][1]
        if name == SERIES_FILE:
            series = data
        else:
            files[name] = data
    warnings: list[str] = []
    if series is not None:
        order = _order_from_series(series, files, patches_dir, warnings)
    else:
        assert history is not None
        order = _order_from_history(history.result(), patches_dir, files)
    return TreePatches(commit=commit, files=files, order=order, warnings=tuple(warnings))


def read_target(target: TargetConfig) -> TreePatches:
    """The patches ``target``'s branch carries, once its ``base`` is known to exist."""
    # With a remote, the server's branch and base as the cycle just fetched them.
    repo = os.fspath(target.repo)
    commit = _branch_folder(repo, target.branch_ref if target.remote else target.branch, target.patches_dir)
    since = None
    if target.base:
        base = commit_of(repo, target.base_rev)
        if base is None:
            # Found here, not first in sync: check must not call a target that
            # cannot be synced "drift" (exit 1).
            raise GitError(
                f"base {target.base!r} does not exist: fetch it, or set 'base' to the upstream ref "
                "the patch commits sit on",
                where=target.repo,
            )
        # A kernel tree holds the kernel's whole history (a million commits):
        # where the patches folder does not exist at base and base is an
        # ancestor, every patch at the branch was (last) added after it, and
        # the history order walks base..branch only.
        if kind_at(repo, base, target.patches_dir.strip("/")) is None and is_ancestor(repo, base, commit):
            since = base
    return _read(repo, commit, target.patches_dir, since=since)


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


def _added_in_history(repo: str, commit: str, patches_dir: str, since: str | None) -> str:
    """``git log`` of the files ``since..commit`` (all history if None) added under ``patches_dir``, oldest first."""
    prefix = patches_dir.strip("/") + "/"
    revs = f"{since}..{commit}" if since else commit
    args = ["log", "--reverse", "--format=", "--name-status", "--no-renames", "--diff-filter=A", "-z", revs]
    return run_git(repo, [*args, "--", prefix]).stdout.decode("utf-8", "surrogateescape")


def _order_from_history(out: str, patches_dir: str, files: dict[str, bytes]) -> list[str]:
    """Names in the order the history (oldest first) added them, from :func:`_added_in_history`."""
    prefix = patches_dir.strip("/") + "/"
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
