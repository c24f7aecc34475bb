"""Git objects without a working tree: read through one ``cat-file`` stream,
write into a quarantine.

Nothing here touches the repository's working tree, index or HEAD.  New
objects go, as they are made, into a spool of pack entries in a private
object directory in ``state.dir`` (the scheme of git's receive-pack:
``GIT_OBJECT_DIRECTORY`` plus the repository's objects as an alternate);
a conflict or a dry run never gets further.  :meth:`ObjectStore.migrate`
then packs the objects the repository lacks, has ``git index-pack`` check,
complete and index that pack there, and moves it into the repository right
before the refs that need it are written.  A run that fails or is killed
leaves its quarantine behind in ``state.dir`` only, never a file in the
repository.

What a sync costs grows with what it changes: a tree is edited entry by
entry from its cached predecessor and stored as a delta against it, and
only the trees and blobs later commits read stay in memory (bounded
caches; the spool holds the rest).
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import re
import shutil
import stat
import subprocess
import tempfile
import zlib
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Generic, NamedTuple, TypeVar

from ..errors import GitError
from .pack import (
    OBJ_REF_DELTA,
    TYPE_CODES,
    DeltaWriter,
    apply_delta,
    entry_header,
    pack_header,
    parse_entry_header,
)
from .repo import batch_objects, run_git, start_git

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

#: Longest chain of tree deltas in a pack sync writes: git's own pack.depth
#: default, so reading the newest tree never unwinds thousands of deltas.
_MAX_DELTA_DEPTH = 50

#: What the caches may hold: tree entries (about 100 bytes each, with the
#: serialised chunk) and blob bytes.  Enough for the trees on the paths a
#: run of commits keeps editing; anything evicted is read again.
_TREE_CACHE_ENTRIES = 250_000
_BLOB_CACHE_BYTES = 16 << 20

#: Up to this many objects, asking the running cat-file reader one by one
#: costs less than starting another git process to ask for all at once.
_ASK_ONE_BY_ONE = 32

_V = TypeVar("_V")


class TreeEntry(NamedTuple):
    """One entry of a tree object (a tuple: sync makes and compares millions of them)."""

    mode: bytes
    sha: str

    @property
    def is_tree(self) -> bool:
        return self.mode == MODE_TREE


@dataclass(frozen=True)
class CommitObject:
    """A commit object as git stores it, parsed; ``extra`` keeps headers like ``encoding``.

    What the git layer reads and rewrites.  A commit sync reports having
    made is :class:`patchsync.model.Commit`.
    """

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


def _sort_key(name: bytes, entry: TreeEntry) -> bytes:
    # git compares a directory's name as if it ended in "/" (tree.c,
    # base_name_compare), so "foo" the tree sorts after "foo.c".
    return name + b"/" if entry.is_tree else name


def _chunk(name: bytes, entry: TreeEntry) -> bytes:
    """One entry as a tree object stores it: ``mode SP name NUL sha20``."""
    return entry.mode + b" " + name + b"\0" + bytes.fromhex(entry.sha)


#: One tree entry: ``mode SP name NUL sha20`` (the sha is any 20 bytes).
_ENTRY = re.compile(rb"(([0-7]+) ([^\0]*)\0.{20})", re.DOTALL)


def _entry_of(chunk: bytes) -> TreeEntry:
    return TreeEntry(chunk[: chunk.index(b" ")], chunk[-20:].hex())


class _Tree:
    """A tree as one serialised chunk per entry, in git's order, with their sort keys.

    An edit copies the two lists (C-speed, no sort) and places only the
    entries that change, so a commit that adds one file to a folder of N
    entries costs a copy of N pointers, not a sort of N names; a lookup is
    a bisection.  The name -> entry dict is only built for whoever asks
    for all entries (:meth:`ObjectStore.tree`).
    """

    __slots__ = ("_entries", "canonical", "chunks", "keys", "size")

    def __init__(
        self, keys: list[bytes], chunks: list[bytes], *, canonical: bool = True, size: int | None = None
    ) -> None:
        self.keys = keys
        self.chunks = chunks
        self.size = sum(map(len, chunks)) if size is None else size
        #: Whether ``chunks`` are the stored object's bytes, so a delta against it holds.
        self.canonical = canonical
        self._entries: dict[bytes, TreeEntry] | None = None

    @classmethod
    def build(cls, entries: Mapping[bytes, TreeEntry]) -> _Tree:
        items = sorted((_sort_key(n, e), _chunk(n, e)) for n, e in entries.items())
        return cls([k for k, _ in items], [c for _, c in items])

    @classmethod
    def parse(cls, data: bytes) -> _Tree | None:
        """The tree object ``data``; None where git's own order does not hold (build one instead)."""
        found = _ENTRY.findall(data)
        chunks = [chunk for chunk, _, _ in found]
        keys = [name + b"/" if mode == MODE_TREE else name for _, mode, name in found]
        # Tiled by the matches, names unique, keys ascending (sorting sorted
        # input is one pass in C).
        if (
            sum(map(len, chunks)) != len(data)
            or len({name for _, _, name in found}) != len(found)
            or keys != sorted(keys)
        ):
            return None
        return cls(keys, chunks)

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def _find(self, name: bytes) -> int | None:
        """Where the entry called ``name`` is, as a file or as a folder."""
        for key in (name, name + b"/"):
            i = bisect_left(self.keys, key)
            if i < len(self.keys) and self.keys[i] == key:
                return i
        return None

    def get(self, name: bytes) -> TreeEntry | None:
        if self._entries is not None:
            return self._entries.get(name)
        i = self._find(name)
        return None if i is None else _entry_of(self.chunks[i])

    @property
    def entries(self) -> dict[bytes, TreeEntry]:
        if self._entries is None:
            self._entries = {
                key[:-1] if key.endswith(b"/") else key: _entry_of(chunk)
                for key, chunk in zip(self.keys, self.chunks, strict=True)
            }
        return self._entries

    def edit(self, changes: Mapping[bytes, TreeEntry | None]) -> tuple[_Tree, DeltaWriter] | None:
        """This tree with ``changes`` made, and the delta from this tree to it; None if nothing changes."""
        removed: list[int] = []
        added: list[tuple[bytes, bytes]] = []
        for name, entry in changes.items():
            at = self._find(name)
            if at is not None and entry is not None and self.chunks[at] == _chunk(name, entry):
                continue
            if at is not None:
                removed.append(at)
            if entry is not None:
                added.append((_sort_key(name, entry), _chunk(name, entry)))
        if not removed and not added:
            return None
        keys = self.keys.copy()
        chunks = self.chunks.copy()
        size = self.size
        for i in sorted(removed, reverse=True):
            size -= len(chunks[i])
            del keys[i]
            del chunks[i]
        added.sort()
        for key, chunk in added:
            i = bisect_left(keys, key)
            keys.insert(i, key)
            chunks.insert(i, chunk)
            size += len(chunk)
        # The delta, from the same edits in terms of this tree's entries:
        # where each added entry lands among them, which of them are gone.
        events = sorted(
            [(bisect_left(self.keys, key), 0, key, chunk) for key, chunk in added] + [(i, 1, b"", b"") for i in removed]
        )
        delta = DeltaWriter()
        at = offset = 0
        for index, kind, _, chunk in events:
            if index > at:
                length = sum(map(len, self.chunks[at:index]))
                delta.copy(offset, length)
                offset += length
                at = index
            if kind == 0:
                delta.insert(chunk)
            elif at == index:
                offset += len(self.chunks[index])
                at = index + 1
        if at < len(self.chunks):
            delta.copy(offset, self.size - offset)
        return _Tree(keys, chunks, size=size), delta


class _LRU(Generic[_V]):
    """A dict that forgets its least recently used values beyond a total weight."""

    def __init__(self, budget: int, weight: Callable[[_V], int]) -> None:
        self._items: OrderedDict[str, _V] = OrderedDict()
        self._budget = budget
        self._weight = weight
        self._total = 0

    def get(self, key: str) -> _V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: str, value: _V) -> None:
        if key in self._items:
            self._items.move_to_end(key)
            return
        self._items[key] = value
        self._total += self._weight(value)
        while self._total > self._budget and len(self._items) > 1:
            _, old = self._items.popitem(last=False)
            self._total -= self._weight(old)


@dataclass(frozen=True)
class _Spooled:
    """Where a new object sits in the spool, and what it needs."""

    offset: int
    length: int
    kind: bytes
    base: str | None  # the delta base's id, None for a whole object
    depth: int  # delta chain length within the spool
    #: Order of first spooling.  A delta base spooled after the delta was
    #: the repository's when the delta was made (a run can make a tree the
    #: repository has again, edited from a tree it made): read it there.
    seq: int = 0
    #: What the object points at, for :meth:`ObjectStore.migrate` to leave
    #: out what the result does not: a commit's tree and parents; a tree's
    #: entries where it was made whole, else the tree it was edited from
    #: (``origin``) and the entries that edit set or removed.
    links: tuple[str, ...] = ()
    origin: str | None = None
    changes: tuple[tuple[bytes, TreeEntry | None], ...] = ()


class ObjectStore:
    """Reads from the repository (and the spool), writes to the spool in the quarantine."""

    def __init__(self, repo: str | os.PathLike[str], quarantine_parent: Path) -> None:
        self.repo = os.fspath(repo)
        # One git process for the three answers: a one-commit sync starts
        # a handful, and each costs as much as the sync's own work there.
        out = run_git(
            self.repo,
            [
                "rev-parse",
                "--path-format=absolute",
                "--git-path",
                "objects",
                "--git-common-dir",
                "--show-object-format",
            ],
        ).stdout
        lines = out.removesuffix(b"\n").split(b"\n")
        if len(lines) != 3:
            raise GitError(
                "cannot read where the repository keeps its objects (a newline in its path?)", where=self.repo
            )
        self.repo_objects = Path(os.fsdecode(lines[0]))
        #: The git dir the repository's worktrees share (refs, worktree admin folders).
        self.common_dir = Path(os.fsdecode(lines[1]))
        fmt = lines[2].decode()
        if fmt != "sha1":
            raise GitError(f"object format {fmt} is not supported (sha1 only)", where=self.repo)
        quarantine_parent.mkdir(parents=True, exist_ok=True)
        self.quarantine = Path(tempfile.mkdtemp(prefix="quarantine-", dir=quarantine_parent))
        self.env = {
            "GIT_OBJECT_DIRECTORY": str(self.quarantine),
            "GIT_ALTERNATE_OBJECT_DIRECTORIES": str(self.repo_objects),
        }
        self._spooled: dict[str, _Spooled] = {}
        self._spool: BinaryIO | None = None
        self._spool_size = 0
        self._trees: _LRU[_Tree] = _LRU(_TREE_CACHE_ENTRIES, lambda t: len(t.keys) + 1)
        self._blobs: _LRU[bytes] = _LRU(_BLOB_CACHE_BYTES, len)
        self._commits: dict[str, CommitObject] = {}
        #: Trees read ahead by :meth:`prefetch`, raw until first used.
        self._raw_trees: dict[str, bytes] = {}
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
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        shutil.rmtree(self.quarantine, ignore_errors=True)

    def __enter__(self) -> ObjectStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading ---------------------------------------------------------

    def _reader(self) -> subprocess.Popen[bytes]:
        if self._proc is None:
            self._proc = start_git(self.repo, ["cat-file", "--batch"], env=self.env)
        return self._proc

    def read(self, name: str) -> tuple[str, bytes, str] | None:
        """(type, content, full sha) of an object name or rev expression; None if missing."""
        if name in self._spooled:
            kind, data = self._unspool(name)
            return kind.decode(), data, name
        return self._read_repository(name)

    def _read_repository(self, name: str) -> tuple[str, bytes, str] | None:
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
            self._blobs.put(sha, cached)
        return cached

    def _tree(self, sha: str) -> _Tree:
        cached = self._trees.get(sha)
        if cached is None:
            data = self._raw_trees.pop(sha, None)
            if data is None:
                data = self.read_kind(sha, "tree")
            parsed = _Tree.parse(data)
            if parsed is None:
                # Out of git's order or with a name twice (fsck would flag
                # it): usable for reading, never as a delta base.
                parsed = _Tree.build(parse_tree(data))
                parsed.canonical = False
            cached = parsed
            self._trees.put(sha, cached)
        return cached

    def tree(self, sha: str) -> Mapping[bytes, TreeEntry]:
        """A tree's entries by name (shared with the cache: do not mutate)."""
        return self._tree(sha).entries

    def entry(self, tree: str, name: bytes) -> TreeEntry | None:
        """The entry ``name`` of a tree (a bisection: no dict of a big folder is built)."""
        return self._tree(tree).get(name)

    def is_empty_tree(self, sha: str) -> bool:
        return not self._tree(sha).keys

    def commit(self, name: str) -> CommitObject:
        cached = self._commits.get(name)
        if cached is not None:
            return cached
        found = self.read(name)
        if found is None or found[0] != "commit":
            raise GitError(f"{name} is not a commit", where=self.repo)
        commit = parse_commit(found[2], found[1])
        self._commits[commit.sha] = commit
        return commit

    def prefetch(self, names: Iterable[str]) -> None:
        """Read commits and trees in one ``git cat-file --batch`` run, not one round trip each.

        A replay reads one or two trees the repository has per commit; on a
        busy machine each round trip to the reader costs milliseconds, so a
        run that knows what it will read asks for it at once.  Names that
        do not exist are skipped; blobs are not kept.
        """
        for _, sha, kind, data in batch_objects(self.repo, names, env=self.env):
            if kind == "commit":
                self._commits.setdefault(sha, parse_commit(sha, data))
            elif kind == "tree" and self._trees.get(sha) is None:
                self._raw_trees[sha] = data

    def resolve(self, rev: str) -> str | None:
        """The full sha of a commit-ish, or None where it does not exist."""
        found = self.read(rev + "^{commit}")
        return found[2] if found else None

    # -- writing ---------------------------------------------------------

    def _spool_file(self) -> BinaryIO:
        if self._spool is None:
            self._spool = open(self.quarantine / "objects.spool", "w+b")  # noqa: SIM115 (closed in close())
        return self._spool

    def _put(
        self, sha: str, kind: bytes, body: bytes, *, base: str | None = None, depth: int = 0, **links: Any
    ) -> None:
        """Append one pack entry (header, base id for a delta, zlib data) to the spool."""
        header = entry_header(OBJ_REF_DELTA if base else TYPE_CODES[kind], len(body))
        # zlib sets up its default 32 KiB window for every call; one just
        # larger than the body compresses it about as well (0.6% larger on
        # small trees) at a quarter of the cost, and most entries are
        # deltas of a few dozen bytes.
        wbits = max(9, min(15, len(body).bit_length()))
        entry = header + (bytes.fromhex(base) if base else b"") + zlib.compress(body, _ZLIB_LEVEL, wbits)
        self._spool_file().write(entry)
        old = self._spooled.get(sha)
        links["seq"] = len(self._spooled)
        if old is not None:  # stored again, as another delta: what it points at stays
            links = {"links": old.links, "origin": old.origin, "changes": old.changes, "seq": old.seq}
        self._spooled[sha] = _Spooled(self._spool_size, len(entry), kind, base, depth, **links)
        self._spool_size += len(entry)

    def _unspool(self, sha: str) -> tuple[bytes, bytes]:
        """A spooled object's type and content, rebuilt from its entry (and its base's)."""
        where = self._spooled[sha]
        spool = self._spool_file()
        spool.flush()
        entry = os.pread(spool.fileno(), where.length, where.offset)
        _, _, at = parse_entry_header(entry)
        if where.base is None:
            return where.kind, zlib.decompress(entry[at:])
        base_spooled = self._spooled.get(where.base)
        if base_spooled is not None and base_spooled.seq < where.seq:
            base = self._unspool(where.base)[1]
        else:
            found = self._read_repository(where.base)
            if found is None:
                raise GitError(f"delta base {where.base} of {sha} is missing", where=self.repo)
            base = found[1]
        return where.kind, apply_delta(base, zlib.decompress(entry[at + 20 :]))

    def write(self, kind: bytes, data: bytes, **links: Any) -> str:
        """Hash one new object and spool it (it joins the repository in :meth:`migrate`); returns its sha."""
        sha = hashlib.sha1(kind + b" " + str(len(data)).encode() + b"\0" + data).hexdigest()
        if sha not in self._spooled:
            self._put(sha, kind, data, **links)
        if kind == b"blob":
            self._blobs.put(sha, data)
        return sha

    def write_blob(self, data: bytes) -> str:
        return self.write(b"blob", data)

    def write_tree(self, entries: Mapping[bytes, TreeEntry]) -> str:
        tree = _Tree.build(entries)
        sha = self.write(b"tree", tree.data(), changes=tuple(entries.items()))
        self._trees.put(sha, tree)
        return sha

    def edit_tree(self, base: str, changes: Mapping[bytes, TreeEntry | None]) -> str:
        """``base`` with some entries replaced (None: removed); spooled as a delta against ``base``.

        Only the changed entries are placed (no sort of the folder), and the
        new tree costs the pack a few dozen bytes: a thin-pack delta where
        ``base`` is the repository's (``git index-pack --fix-thin`` adds it).
        """
        old = self._tree(base)
        edited = old.edit(changes)
        if edited is None:
            return base
        tree, delta = edited
        data = tree.data()
        sha = hashlib.sha1(b"tree " + str(len(data)).encode() + b"\0" + data).hexdigest()
        self._trees.put(sha, tree)
        if sha in self._spooled:
            return sha
        self._store_tree(sha, data, base, old, delta, origin=base, changes=tuple(changes.items()))
        return sha

    def _store_tree(self, sha: str, data: bytes, base: str, old: _Tree, delta: DeltaWriter, **links: Any) -> None:
        """Spool a tree as a delta against ``base`` where that keeps chains short and pays, else whole."""
        spooled = self._spooled.get(base)
        depth = spooled.depth + 1 if spooled is not None else 1
        ops = delta.finish(old.size)
        if not old.canonical or depth > _MAX_DELTA_DEPTH or len(ops) * 2 > len(data):
            self._put(sha, b"tree", data, **links)
        else:
            self._put(sha, b"tree", ops, base=base, depth=depth, **links)

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
        data = b"\n".join(lines) + b"\n\n" + message
        sha = self.write(b"commit", data, links=(tree, *parents))
        self._commits.setdefault(sha, parse_commit(sha, data))
        return sha

    # -- joining the repository -----------------------------------------

    def _in_repository(self) -> set[str]:
        """The spooled objects the repository has already (made again by this run).

        git is asked only about the objects it could have.  Each object it
        lacks costs it a rescan of the object folders (a quarter of a
        second for a long branch's 25,000 new trees), and a tree that holds
        an object the repository lacks cannot be there itself (git keeps
        whatever a tree points at), nor can a commit of such a tree or
        parent.  So the blobs are asked about first, and what they show
        to be new is followed through the trees' edits in the order they
        were made.  Where the repository breaks that rule (a partial
        clone), an object it has is only written again.
        """
        blobs = [sha for sha, rec in self._spooled.items() if rec.kind == b"blob"]
        have = self._present(blobs)
        new = set(blobs) - have
        #: tree -> names of its entries that are new objects.
        fresh: dict[str, frozenset[bytes]] = {}
        ask: list[str] = []
        # In the order first spooled: an edited tree's origin comes before it.
        for sha, rec in self._spooled.items():
            if rec.kind == b"tree":
                inherited = fresh.get(rec.origin, frozenset()) if rec.origin is not None else frozenset()
                names = (inherited - {name for name, _ in rec.changes}) | {
                    name for name, entry in rec.changes if entry is not None and entry.sha in new
                }
                if names:
                    new.add(sha)
                    fresh[sha] = frozenset(names)
                    continue
            elif rec.kind == b"commit":
                if any(link in new for link in rec.links):
                    new.add(sha)
                    continue
            else:
                continue
            ask.append(sha)
        return have | self._present(ask)

    def _present(self, names: Sequence[str]) -> set[str]:
        """Those of ``names`` the repository has."""
        if len(names) <= _ASK_ONE_BY_ONE:
            return {sha for sha in names if self._read_repository(sha) is not None}
        query = "".join(sha + "\n" for sha in names).encode()
        out = run_git(self.repo, ["cat-file", "--batch-check=%(objectname)"], input=query).stdout
        return {line for line in out.decode().splitlines() if " " not in line}

    def _reachable(self, head: str, have: set[str]) -> set[str]:
        """The spooled objects ``head`` reaches: what a run made and then edited further is left out.

        Walked newest first, so everything that points at an object has
        been seen when the object is (what the repository has is not
        followed: all it points at is there too).  A tree that was only edited further
        (a step of a commit's edits, not the commit's tree) is not needed
        itself, only those of its entries the later trees kept: it passes
        on the names they replaced.
        """
        full = {head} if head in self._spooled else set()
        partial: dict[str, frozenset[bytes]] = {}
        for sha in sorted(self._spooled, key=lambda sha: self._spooled[sha].seq, reverse=True):
            rec = self._spooled[sha]
            if sha in have:
                continue  # the repository has it, and so all it points at
            if sha in full:
                replaced: frozenset[bytes] = frozenset()
            elif sha in partial:
                replaced = partial[sha]
            else:
                continue
            full.update(link for link in rec.links if link in self._spooled)
            full.update(
                entry.sha
                for name, entry in rec.changes
                if entry is not None and name not in replaced and entry.sha in self._spooled
            )
            origin = rec.origin
            if origin is not None and origin in self._spooled and origin not in full:
                mine = replaced | {name for name, _ in rec.changes}
                known = partial.get(origin)
                partial[origin] = mine if known is None else known & mine
        return full

    def _rebase_deltas(self, written: list[str], have: set[str]) -> None:
        """Re-spool the trees whose delta base is not written: against the nearest that is, or whole."""
        kept = set(written)
        for sha in written:
            rec = self._spooled[sha]
            if rec.base is None or rec.base in kept or rec.base in have or rec.base not in self._spooled:
                continue
            # The edits from the nearest kept (or the repository's) tree up
            # the chain of trees this one was edited from, later ones first.
            combined: dict[bytes, TreeEntry | None] = {}
            seen = {sha}
            node = rec
            while True:
                for name, entry in node.changes:
                    combined.setdefault(name, entry)
                origin = node.origin
                if origin is None or origin in kept or origin in have or origin not in self._spooled:
                    break
                if origin in seen:  # back to a tree made earlier: no base to go by
                    origin = None
                    break
                seen.add(origin)
                node = self._spooled[origin]
            kind, data = self._unspool(sha)
            edited = self._tree(origin).edit(combined) if origin is not None else None
            if origin is None or edited is None or edited[0].data() != data:
                self._put(sha, kind, data)
            else:
                self._store_tree(sha, data, origin, self._tree(origin), edited[1])

    def migrate(self, head: str | None = None) -> int:
        """Move the new objects (those ``head`` reaches, or all) into the repository as one pack.

        Returns how many.  Objects the repository already has are left out.
        The rest go as a thin pack (trees are deltas against their
        predecessors, some of which only the repository holds) to ``git
        index-pack --stdin --fix-thin``, which checks every object, appends
        the missing delta bases and indexes the pack in the quarantine; the
        pack is then renamed into ``objects/pack``: the ``.pack`` first, its
        ``.idx`` last, as git itself does, so git never sees a pack without
        its index.  This happens before any ref points at the objects: a
        kill in between leaves unreferenced objects (git gc removes them),
        never a ref to a missing object.
        """
        if not self._spooled:
            return 0
        have = self._in_repository()
        wanted = self._reachable(head, have) if head is not None else set(self._spooled)
        missing = [sha for sha in self._spooled if sha in wanted and sha not in have]
        if not missing:
            return 0
        self._rebase_deltas(missing, have)
        spool = self._spool_file()
        spool.flush()
        pack = self.quarantine / "incoming.pack"
        digest = hashlib.sha1()
        with open(pack, "w+b") as fh:

            def put(chunk: bytes) -> None:
                digest.update(chunk)
                fh.write(chunk)

            put(pack_header(len(missing)))
            for sha in missing:
                where = self._spooled[sha]
                put(os.pread(spool.fileno(), where.length, where.offset))
            fh.write(digest.digest())
            fh.seek(0)
            out = run_git(self.repo, ["index-pack", "--stdin", "--fix-thin"], stdin=fh, env=self.env).stdout
        pack.unlink()
        kind, _, checksum = out.decode().strip().partition("\t")
        name = f"pack-{checksum}"
        made = self.quarantine / "pack"
        dest = self.repo_objects / "pack"
        dest.mkdir(exist_ok=True)
        # The .idx last: git looks for packs by their index.
        files = sorted(made.glob(name + ".*"), key=lambda p: (p.suffix == ".idx", p.suffix != ".pack"))
        if kind != "pack" or not any(f.suffix == ".idx" for f in files):
            raise GitError(f"git index-pack wrote no pack index ({out.decode().strip()!r})", where=self.repo)
        for src in files:
            _as_if_created_in(src, dest)
            try:
                os.rename(src, dest / src.name)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise GitError(f"cannot move {src.name}: {exc.strerror}", where=str(dest)) from None
                # state.dir on another filesystem: copy under git's own
                # temporary name (git gc cleans tmp_pack_*), then rename.
                fd, tmp = tempfile.mkstemp(prefix="tmp_pack_", dir=dest)
                with os.fdopen(fd, "wb") as out_fh, open(src, "rb") as inp:
                    shutil.copyfileobj(inp, out_fh)
                _as_if_created_in(Path(tmp), dest)
                os.replace(tmp, dest / src.name)
        return len(missing)


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


def parse_commit(sha: str, data: bytes) -> CommitObject:
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
    return CommitObject(sha, tree, tuple(parents), author, committer, tuple(extra), message)


def stale_quarantines(parent: Path) -> Iterator[Path]:
    """Quarantines a killed run left in ``parent`` (call under the repo lock)."""
    if parent.is_dir():
        yield from (p for p in parent.iterdir() if p.name.startswith("quarantine-"))
