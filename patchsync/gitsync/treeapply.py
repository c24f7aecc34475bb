"""Patches and commits applied to git trees in memory.

Both return a :class:`~patchsync.gitsync.trees.Draft`: the new file
versions are written as blobs, the trees only once the commit's last step
is done; only the blobs and trees on the touched paths are read.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import PatchError
from ..model import Conflict
from ..names import path_bytes_problem
from ..patches.parse import FileDiff, ParseCache, parse_patch
from . import trees
from .apply import ApplyError, FileState, apply_file, fspath, merge3, old_blob, paths, worst
from .objects import MODE_BLOB, ObjectStore, TreeEntry
from .trees import Draft


class ConflictError(Exception):
    """A patch or a replayed commit does not apply; ``conflict`` says which and why.

    Not a :class:`~patchsync.errors.PatchsyncError`: a conflict is an outcome
    sync reports (exit 1), not a failure.
    """

    def __init__(self, message: str, *, patch: str | None = None, commit: str | None = None, files: list[str]) -> None:
        super().__init__(message)
        self.conflict = Conflict(patch, commit, tuple(files), message)


@dataclass(frozen=True)
class Applied:
    tree: Draft
    method: str
    files: tuple[bytes, ...]


def _decode(paths: list[bytes]) -> list[str]:
    return [p.decode("utf-8", "surrogateescape") for p in paths]


def apply_patch(
    store: ObjectStore,
    tree: Draft,
    data: bytes,
    *,
    name: str,
    scratch: Path,
    reverse: bool = False,
    preimage_tree: Draft | None = None,
    commit: str | None = None,
    parses: ParseCache | None = None,
) -> Applied:
    """``tree`` with the patch ``data`` applied (-p1), parsed through ``parses``; raises :class:`ConflictError`."""
    state: dict[bytes, FileState] = {}
    methods: list[str] = []
    failed: list[bytes] = []
    messages: list[str] = []

    def current(path: bytes) -> FileState:
        if path in state:
            return state[path]
        entry = tree.lookup(store, path)
        if entry is None or entry.is_tree:
            return FileState(None)
        return FileState(store.blob(entry.sha), entry.mode)

    def preimages(fp: FileDiff) -> list[bytes]:
        found: list[bytes] = []
        path = fspath(fp.name)
        if preimage_tree is not None and path is not None:
            pre = preimage_tree.read_file(store, path)
            if pre is not None:
                found.append(pre)
        index = old_blob(fp)
        if index and not reverse:
            obj = store.read(index)
            if obj is not None and obj[0] == "blob":
                found.append(obj[1])
        return found

    try:
        parsed = parses.parse(data, where=name) if parses is not None else parse_patch(data, where=name)
    except PatchError as exc:
        raise ConflictError(str(exc), patch=name, commit=commit, files=[]) from None
    for fp in parsed.files:
        old_path, new_path = paths(fp)
        for touched in (old_path, new_path):
            problem = path_bytes_problem(touched) if touched is not None else None
            if problem:
                # Hostile input, not a conflict: exit 2, nothing written.
                raise PatchError(f"patch refused: {problem}", where=name)
        source, dest = (new_path, old_path) if reverse else (old_path, new_path)
        path = dest if dest is not None else source
        assert path is not None
        before = current(source) if source is not None else FileState(None)
        try:
            after, method = apply_file(fp, before, reverse=reverse, preimages=preimages, scratch=scratch)
        except ApplyError as exc:
            failed += exc.files
            messages.append(exc.message)
            continue
        if source is not None and dest is not None and source != dest:
            # A git rename: the old path goes away.
            state[source] = FileState(None)
        state[path] = after
        methods.append(method)
    if failed:
        raise ConflictError("; ".join(messages), patch=name, commit=commit, files=_decode(failed))
    changes: dict[bytes, TreeEntry | None] = {}
    for path, st in state.items():
        changes[path] = None if st.content is None else TreeEntry(st.mode or MODE_BLOB, store.write_blob(st.content))
    return Applied(tree.edit(changes), worst(methods), tuple(state))


def replay(
    store: ObjectStore,
    onto: str,
    changes: dict[bytes, tuple[TreeEntry | None, TreeEntry | None]],
    *,
    scratch: Path,
    commit: str,
) -> Draft:
    """``onto`` with a commit's changes (old entry -> new entry per path), merged per file."""
    out: dict[bytes, TreeEntry | None] = {}
    failed: list[bytes] = []
    why: list[str] = []
    for path, (old, new) in changes.items():
        cur = trees.lookup(store, onto, path)
        if cur is not None and cur.is_tree:
            failed.append(path)
            why.append(f"{path.decode('utf-8', 'replace')}: a folder in the new parent")
        elif cur == old:
            out[path] = new
        elif cur == new:
            continue
        elif old is not None and new is not None and cur is not None:
            merged = merge3(store.blob(old.sha), store.blob(cur.sha), store.blob(new.sha), scratch)
            if merged is None:
                failed.append(path)
                why.append(f"{path.decode('utf-8', 'replace')}: content conflict (git merge-file)")
                continue
            mode = new.mode if old.mode != new.mode else cur.mode
            out[path] = TreeEntry(mode, store.write_blob(merged))
        else:
            failed.append(path)
            state = "missing" if cur is None else "changed"
            why.append(f"{path.decode('utf-8', 'replace')}: {state} in the new parent")
    if failed:
        raise ConflictError("; ".join(why), commit=commit, files=_decode(failed))
    return Draft(onto, out)
