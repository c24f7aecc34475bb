"""Real git repositories shaped like a patchsync target, for tests: the one builder.

``base`` holds plain sources; on top sit one commit per Xen patch (adding
``<patches_dir>/<name>`` and applying it) and, between them, config and
SAUCE commits, the way the Ubuntu EC2 trees looked.  Repositories are built
with the git command line (not GitPython), so the code under test reads
repositories made by the real tool.

:func:`commit_files` commits on a branch through a temporary index, so it
works in bare repositories and never touches a working tree;
:class:`TargetRepo` is a non-bare repository whose checkout follows the
commits it makes, for the tests that prove patchsync leaves a user's
checkout alone.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from patchsync.config import TargetConfig
from patchsync.model import PatchDelta, PatchSet, SourceInfo, Status, TargetDrift

PATCHES_DIR = "debian.ec2/patches"
_PERSON = re.compile(r"^(.*?)\s*<([^>]*)>$")


def git(repo: Path, *args: str, input: bytes | None = None, env: Mapping[str, str] | None = None) -> str:
    """Run git in ``repo``; its stdout as is (a failure is an AssertionError with git's stderr)."""
    full = dict(os.environ)
    if env:
        full.update(env)
    proc = subprocess.run(["git", "-C", str(repo), *args], input=input, capture_output=True, env=full, check=False)
    if proc.returncode:
        raise AssertionError(f"git {' '.join(args)}: {proc.stderr.decode()}")
    return proc.stdout.decode("utf-8", "surrogateescape")


def init(repo: Path, *, bare: bool = False, branch: str = "main") -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", branch, *(["--bare"] if bare else []))
    return repo


def commit_files(
    repo: Path,
    files: Mapping[str, bytes | None],
    message: str,
    *,
    branch: str = "main",
    author: str | None = None,
    env: Mapping[str, str] | None = None,
) -> str:
    """Commit ``files`` (path -> bytes, ``None`` deletes) on ``branch``, without a checkout; the new sha.

    Uses a temporary index, so it works in bare repositories and never
    touches a working tree.  ``author`` is ``Name <email>``; ``env`` adds
    to git's environment (dates).
    """
    fd, index_name = tempfile.mkstemp(prefix="test-index-")
    os.close(fd)
    index = Path(index_name)
    index.unlink()
    run_env = {**(env or {}), "GIT_INDEX_FILE": str(index)}
    if author:
        match = _PERSON.match(author)
        assert match, author
        run_env.update(GIT_AUTHOR_NAME=match.group(1), GIT_AUTHOR_EMAIL=match.group(2))
    try:
        parent = ref(repo, f"refs/heads/{branch}")
        git(repo, "read-tree", *([parent] if parent else ["--empty"]), env=run_env)
        for path, data in files.items():
            if data is None:
                git(repo, "update-index", "--force-remove", "--", path, env=run_env)
                continue
            blob = git(repo, "hash-object", "-w", "--stdin", input=data).strip()
            git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=run_env)
        tree = git(repo, "write-tree", env=run_env).strip()
    finally:
        index.unlink(missing_ok=True)
    sha = git(repo, "commit-tree", tree, "-m", message, *(["-p", parent] if parent else []), env=run_env).strip()
    git(repo, "update-ref", f"refs/heads/{branch}", sha)
    return sha


def source_lines(tag: str, count: int = 40) -> str:
    return "".join(f"{tag} line {i}\n" for i in range(1, count + 1))


def make_patch(
    files: Mapping[str, tuple[str | None, str | None]], *, subject: str = "xen: change", context: int = 3
) -> bytes:
    """A quilt-style patch with a SUSE header: path -> (old text, new text)."""
    out = [f"From: SUSE Xen team <xen@suse.example>\nSubject: {subject}\nPatch-mainline: n/a\n\n---\n"]
    for path, (old, new) in files.items():
        a = f"a/{path}" if old is not None else "/dev/null"
        b = f"b/{path}" if new is not None else "/dev/null"
        out.append(
            "".join(
                difflib.unified_diff(
                    (old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True), a, b, n=context
                )
            )
        )
    return "".join(out).encode()


class TargetRepo:
    """A non-bare repository on ``ec2`` whose checkout follows every commit it makes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True)
        init(path, branch="ec2")
        git(path, "config", "user.name", "Tree Builder")
        git(path, "config", "user.email", "builder@example.org")
        self.tick = 1_600_000_000

    def git(self, *args: str, input: bytes | None = None) -> str:
        return git(self.path, *args, input=input)

    def _env(self) -> dict[str, str]:
        self.tick += 60
        date = f"{self.tick} +0000"
        return {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}

    def commit(self, message: str, files: Mapping[str, bytes | None], *, author: str | None = None) -> str:
        sha = commit_files(self.path, files, message, branch="ec2", author=author, env=self._env())
        # As `git commit` would leave it: index and working tree at the new commit.
        git(self.path, "reset", "-q", "--hard")
        return sha

    def commit_patch(self, name: str, patch: bytes, *, extra: Mapping[str, bytes] | None = None) -> str:
        """One commit that adds the patch file and applies it (like the EC2 trees)."""
        dest = self.path / PATCHES_DIR / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(patch)
        git(self.path, "apply", "-p1", "-", input=patch)
        for rel, data in (extra or {}).items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_bytes(data)
        git(self.path, "add", "-A")
        git(self.path, "commit", "-q", "-m", f"UBUNTU: [Xen] {name}", env=self._env())
        return self.head()

    def head(self) -> str:
        return git(self.path, "rev-parse", "HEAD").strip()


def ref(repo: Path, name: str) -> str | None:
    proc = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--verify", "-q", name], capture_output=True, check=False
    )
    return proc.stdout.decode().strip() or None


def all_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)")


def object_files(repo: Path) -> list[str]:
    """Every file under the repository's object directory (loose objects, packs)."""
    objects = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-path", "objects").strip())
    return sorted(str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file())


def snapshot(repo: Path) -> dict[str, str]:
    """What a user of a non-bare repository would check is untouched."""
    index = Path(git(repo, "rev-parse", "--path-format=absolute", "--git-path", "index").strip())
    return {
        "status": git(repo, "status", "--porcelain", "--untracked-files=all"),
        "HEAD": git(repo, "rev-parse", "HEAD"),
        "symbolic": git(repo, "symbolic-ref", "-q", "HEAD"),
        "index": hashlib.sha256(index.read_bytes()).hexdigest() if index.exists() else "",
        "diff": git(repo, "diff"),
    }


def source_info(sha: str = "ab" * 32) -> SourceInfo:
    return SourceInfo(
        url="https://kotd.example/src/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
        file="kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
        version="2.6.32.10",
        release="0.0.3.bbbb222",
        tarball="patches.xen.tar.bz2",
        tarball_sha256=sha,
    )


def patchset(kotd: Mapping[str, bytes], order: Sequence[str], sha: str = "ab" * 32) -> PatchSet:
    series = "".join(f"\tpatches.xen/{n}\n" for n in order).encode()
    return PatchSet(source_info(sha), "patches.xen", {f"patches.xen/{n}": b for n, b in kotd.items()}, series)


def drift(
    target: TargetConfig,
    branch_commit: str,
    *,
    tree: Mapping[str, bytes],
    kotd: Mapping[str, bytes],
    kotd_order: Sequence[str],
    tree_order: Sequence[str],
    statuses: Mapping[str, Status],
    renames: Mapping[str, str] | None = None,
) -> TargetDrift:
    """A TargetDrift as compare would build it, with the statuses given explicitly."""
    renames = dict(renames or {})
    patches: list[PatchDelta] = []
    for name in kotd_order:
        prev = renames.get(name)
        status = statuses.get(name, "unchanged")
        patches.append(PatchDelta(name, status, tree.get(prev or name), kotd[name], prev))
    gone = set(tree) - set(kotd_order) - set(renames.values())
    for name in sorted(gone):
        patches.append(PatchDelta(name, "removed", tree[name], None))
    order_changes: tuple[str, ...] = ()
    return TargetDrift(
        target.name, target.mode, branch_commit, tuple(patches), tuple(kotd_order), tuple(tree_order), order_changes
    )


def expected_tree(
    repo: Path,
    scratch: Path,
    base: str,
    others: Iterable[str],
    series: Sequence[tuple[str, bytes]],
) -> str:
    """The invariant, computed with git itself: base + the non-patch commits'
    changes + the series applied in order (``git apply``) + the patch files."""
    git(scratch.parent, "clone", "-q", "--no-checkout", str(repo), str(scratch))
    git(scratch, "checkout", "-q", "--detach", base)
    for commit in others:
        diff = git(scratch, "diff", "--binary", f"{commit}^", commit).encode()
        git(scratch, "apply", "--index", "-", input=diff)
    for name, data in series:
        git(scratch, "apply", "--index", "-p1", "-", input=data)
        (scratch / PATCHES_DIR).mkdir(parents=True, exist_ok=True)
        (scratch / PATCHES_DIR / name).write_bytes(data)
        git(scratch, "add", f"{PATCHES_DIR}/{name}")
    return git(scratch, "write-tree").strip()
