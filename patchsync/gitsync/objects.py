"""Git objects without a working tree: read through one ``cat-file`` stream,
write into a quarantine.

Nothing here touches the repository's working tree, index or HEAD.  New
objects are kept in memory while a sync computes (a conflict or a dry run
never writes one), then :meth:`ObjectStore.migrate` writes them as one pack
into a private object directory in ``state.dir`` (the scheme of git's
receive-pack: ``GIT_OBJECT_DIRECTORY`` plus the repository's objects as an
alternate), has ``git index-pack`` check and index it there, and moves the
pack into the repository right before the refs that need it are written.
A run that fails or is killed leaves its quarantine behind in ``state.dir``
only, never a file in the repository.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import shutil
import stat
import struct
import subprocess
import tempfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import GitError

log = logging.getLogger(__name__)

#: Tree entry modes (git's ``object.h``/``tree.h``), as stored in tree objects.
MODE_TREE = b"40000"
MODE_BLOB = b"100644"
MODE_EXEC = b"100755"
MODE_LINK = b"120000"
MODE_GITLINK = b"160000"

#: The all-zero object id: "no such ref" in ``update-ref`` transactions.
ZERO_OID = "0" * 40

#: zlib level for pack entries (git's core.compression default, -1 = zlib's 6,
#: costs too much for objects that are mostly small trees); 1 is git's
#: core.looseCompression default.
_ZLIB_LEVEL = 1

#: Pack object type numbers (Documentation/gitformat-pack.txt, "Object types").
_PACK_TYPES = {b"commit": 1, b"tree": 2, b"blob": 3, b"tag": 4}


def run_git(
    repo: str | os.PathLike[str],
    args: Sequence[str],
    *,
    input: bytes | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C repo args``; a failure is a one-line :class:`GitError`."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    # A sync must never be stopped by git asking for a password or an editor.
    full_env.setdefault("GIT_TERMINAL_PROMPT", "0")
    proc = subprocess.run(
        ["git", "-C", os.fspath(repo), *args],
        input=input,
        capture_output=True,
        env=full_env,
        check=False,
    )
    if check and proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = message[-1] if message else f"exit status {proc.returncode}"
        raise GitError(f"git {args[0]} failed: {detail}", where=os.fspath(repo))
    return proc


@dataclass(frozen=True)
class TreeEntry:
    mode: bytes
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE


@dataclass(frozen=True)
class Commit:
    """A parsed commit object; ``extra`` keeps headers like ``encoding``."""

    sha: str
    tree: str
    parents: tuple[str, ...]
    author: bytes
    committer: bytes
    extra: tuple[bytes, ...]
    message: bytes

    @property
    def subject(self) -> str:
        return self.message.split(b"\n", 1)[0].decode("utf-8", "replace")


def _tree_sort_key(item: tuple[bytes, TreeEntry]) -> bytes:
    # git compares a directory's name as if it ended in "/" (tree.c,
    # base_name_compare), so "foo" the tree sorts after "foo.c".
    name, entry = item
    return name + b"/" if entry.is_tree else name


class ObjectStore:
    """Reads from the repository (and the quarantine), writes to the quarantine."""

    def __init__(self, repo: str | os.PathLike[str], quarantine_parent: Path) -> None:
        self.repo = os.fspath(repo)
        out = run_git(
            self.repo,
            ["rev-parse", "--path-format=absolute", "--git-common-dir", "--git-path", "objects"],
        )
        lines = out.stdout.decode().splitlines()
        self.common_dir = Path(lines[0])
        self.repo_objects = Path(lines[1])
        fmt = run_git(self.repo, ["rev-parse", "--show-object-format"]).stdout.decode().strip()
        if fmt != "sha1":
            raise GitError(f"object format {fmt} is not supported (sha1 only)", where=self.repo)
        quarantine_parent.mkdir(parents=True, exist_ok=True)
        self.quarantine = Path(tempfile.mkdtemp(prefix="quarantine-", dir=quarantine_parent))
        self.env = {
            "GIT_OBJECT_DIRECTORY": str(self.quarantine),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(self.repo_objects),
        }
        self._written: dict[str, tuple[bytes, bytes]] = {}
        self._trees: dict[str, dict[bytes, TreeEntry]] = {}
        self._blobs: dict[str, bytes] = {}
        self._commits: dict[str, Commit] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    # -- lifetime --------------------------------------------------------

    def close(self) -> None:
        """Stop the reader and throw the quarantine away (objects not migrated are lost)."""
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        shutil.rmtree(self.quarantine, ignore_errors=True)

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def written(self) -> int:
        return len(self._written)

    # -- reading ---------------------------------------------------------

    def _reader(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            env = dict(os.environ)
            env.update(self.env)
            self._proc = subprocess.Popen(
                ["git", "-C", self.repo, "cat-file", "--batch"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=env,
            )
        return self._proc

    def read(self, name: str) -> tuple[str, bytes, str] | None:
        """(type, content, full sha) of an object name or rev expression; None if missing."""
        if name in self._written:
            kind, data = self._written[name]
            return kind.decode(), data, name
        proc = self._reader()
        assert proc.stdin is not None
        assert proc.stdout is not None
        if "\n" in name:
            raise GitError(f"bad object name {name!r}", where=self.repo)
        proc.stdin.write(name.encode() + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline()
        if not header:
            raise GitError("git cat-file --batch exited early", where=self.repo)
        parts = header.split()
        if len(parts) != 3:
            # "<name> missing" or "<name> ambiguous"
            return None
        size = int(parts[2])
        data = proc.stdout.read(size + 1)[:size]
        return parts[1].decode(), data, parts[0].decode()

    def read_kind(self, name: str, kind: str) -> bytes:
        found = self.read(name)
        if found is None or found[0] != kind:
            raise GitError(f"{name} is not a {kind}", where=self.repo)
        return found[1]

    def blob(self, sha: str) -> bytes:
        cached = self._blobs.get(sha)
        if cached is None:
            cached = self.read_kind(sha, "blob")
            self._blobs[sha] = cached
        return cached

    def tree(self, sha: str) -> dict[bytes, TreeEntry]:
        """A tree's entries by name (a copy-safe cached dict: do not mutate)."""
        cached = self._trees.get(sha)
        if cached is None:
            cached = parse_tree(self.read_kind(sha, "tree"))
            self._trees[sha] = cached
        return cached

    def commit(self, name: str) -> Commit:
        cached = self._commits.get(name)
        if cached is not None:
            return cached
        found = self.read(name)
        if found is None or found[0] != "commit":
            raise GitError(f"{name} is not a commit", where=self.repo)
        commit = parse_commit(found[2], found[1])
        self._commits[commit.sha] = commit
        return commit

    def resolve(self, rev: str) -> str | None:
        """The full sha of a commit-ish, or None where it does not exist."""
        found = self.read(rev + "^{commit}")
        return found[2] if found else None

    # -- writing ---------------------------------------------------------

    def write(self, kind: bytes, data: bytes) -> str:
        """Hash and keep one new object (it reaches disk in :meth:`migrate`); returns its sha."""
        sha = hashlib.sha1(kind + b" " + str(len(data)).encode() + b"\0" + data).hexdigest()
        if sha in self._written:
            return sha
        self._written[sha] = (kind, data)
        if kind == b"blob":
            self._blobs[sha] = data
        return sha

    def write_blob(self, data: bytes) -> str:
        return self.write(b"blob", data)

    def write_tree(self, entries: Mapping[bytes, TreeEntry]) -> str:
        body = b"".join(
            entry.mode + b" " + name + b"\0" + bytes.fromhex(entry.sha)
            for name, entry in sorted(entries.items(), key=_tree_sort_key)
        )
        sha = self.write(b"tree", body)
        self._trees.setdefault(sha, dict(entries))
        return sha

    def write_commit(
        self,
        tree: str,
        parents: Sequence[str],
        *,
        author: bytes,
        committer: bytes,
        message: bytes,
        extra: Sequence[bytes] = (),
    ) -> str:
        lines = [b"tree " + tree.encode()]
        lines += [b"parent " + p.encode() for p in parents]
        lines += [b"author " + author, b"committer " + committer, *extra]
        return self.write(b"commit", b"\n".join(lines) + b"\n\n" + message)

    # -- joining the repository -----------------------------------------

    def migrate(self) -> int:
        """Move the new objects into the repository as one pack; returns how many.

        The pack is written and indexed (``git index-pack`` verifies every
        object) in the quarantine, then renamed into ``objects/pack``: the
        ``.pack`` first, its ``.idx`` last, as git itself does, so git never
        sees a pack without its index.  This happens before any ref points
        at the objects: a kill in between leaves unreferenced objects (git
        gc removes them), never a ref to a missing object.
        """
        if not self._written:
            return 0
        pack = self.quarantine / "incoming.pack"
        checksum = _write_pack(pack, self._written.values())
        run_git(self.repo, ["index-pack", str(pack)], env=self.env)
        dest = self.repo_objects / "pack"
        dest.mkdir(exist_ok=True)
        name = f"pack-{checksum}"
        for suffix in (".pack", ".idx"):
            src = pack.with_suffix(suffix)
            _as_if_created_in(src, dest)
            try:
                os.rename(src, dest / (name + suffix))
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise GitError(f"cannot move {src.name}: {exc.strerror}", where=str(dest)) from None
                # state.dir on another filesystem: copy under git's own
                # temporary name (git gc cleans tmp_pack_*), then rename.
                fd, tmp = tempfile.mkstemp(prefix="tmp_pack_", dir=dest)
                with os.fdopen(fd, "wb") as out, open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out)
                _as_if_created_in(Path(tmp), dest)
                os.replace(tmp, dest / (name + suffix))
        return len(self._written)


def _as_if_created_in(path: Path, folder: Path) -> None:
    """Give ``path``, made elsewhere, the group and mode a file created in ``folder`` would get.

    A pack is written in the quarantine in ``state.dir`` and renamed into the
    repository, so it keeps the service user's group; in a shared repository
    (``core.sharedRepository=group``: setgid folders) the maintainers could
    not read it.  It takes the folder's group when the folder is setgid, and
    is read-only for whoever may read the folder, as git's own packs are.
    """
    st = folder.stat()
    if st.st_mode & stat.S_ISGID and path.stat().st_gid != st.st_gid:
        try:
            os.chown(path, -1, st.st_gid)
        except PermissionError:
            raise GitError(f"cannot give {path.name} the group of {folder}: not a member", where=str(folder)) from None
    os.chmod(path, 0o444 & st.st_mode)


def _write_pack(path: Path, objects: Iterable[tuple[bytes, bytes]]) -> str:
    """A version 2 pack of whole (undeltified) objects; returns its checksum (hex)."""
    items = list(objects)
    digest = hashlib.sha1()
    with open(path, "wb") as fh:

        def put(chunk: bytes) -> None:
            digest.update(chunk)
            fh.write(chunk)

        put(b"PACK" + struct.pack(">II", 2, len(items)))
        for kind, data in items:
            # Size header: type in bits 4-6 of the first byte, the size in
            # 4 bits then 7 per byte, the high bit meaning "more follows".
            size = len(data)
            header = bytearray([(_PACK_TYPES[kind] << 4) | (size & 0x0F)])
            size >>= 4
            while size:
                header[-1] |= 0x80
                header.append(size & 0x7F)
                size >>= 7
            put(bytes(header) + zlib.compress(data, _ZLIB_LEVEL))
        checksum = digest.digest()
        fh.write(checksum)
    return checksum.hex()


def parse_tree(data: bytes) -> dict[bytes, TreeEntry]:
    """Entries of a raw tree object: ``mode SP name NUL sha20`` repeated."""
    entries: dict[bytes, TreeEntry] = {}
    pos = 0
    end = len(data)
    while pos < end:
        space = data.index(b" ", pos)
        nul = data.index(b"\0", space)
        mode = data[pos:space]
        name = data[space + 1 : nul]
        entries[name] = TreeEntry(mode, data[nul + 1 : nul + 21].hex())
        pos = nul + 21
    return entries


def parse_commit(sha: str, data: bytes) -> Commit:
    head, _, message = data.partition(b"\n\n")
    tree = ""
    parents: list[str] = []
    author = committer = b""
    extra: list[bytes] = []
    lines = head.split(b"\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        # Continuation lines (gpgsig, mergetag) start with a space.
        block = [line]
        while i + 1 < len(lines) and lines[i + 1].startswith(b" "):
            i += 1
            block.append(lines[i])
        key, _, value = line.partition(b" ")
        if key == b"tree":
            tree = value.decode()
        elif key == b"parent":
            parents.append(value.decode())
        elif key == b"author":
            author = value
        elif key == b"committer":
            committer = value
        elif key not in (b"gpgsig", b"gpgsig-sha256"):
            # A signature cannot survive a rewrite; other headers
            # (encoding) describe the message and are kept.
            extra.append(b"\n".join(block))
        i += 1
    return Commit(sha, tree, tuple(parents), author, committer, tuple(extra), message)


def stale_quarantines(parent: Path) -> Iterator[Path]:
    """Quarantines a killed run left in ``parent`` (call under the repo lock)."""
    if parent.is_dir():
        yield from (p for p in parent.iterdir() if p.name.startswith("quarantine-"))
