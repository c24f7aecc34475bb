"""Path-level views of git trees: look up and edit without a checkout.

Every operation descends only into the subtrees on the paths it needs, so
editing three files of an 80,000-file kernel tree reads and writes a few
dozen small tree objects, not the whole tree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import GitError
from ..names import path_bytes_problem
from .objects import MODE_TREE, ObjectStore, TreeEntry

#: A change to one path: its new entry, or None to delete it.
Changes = Mapping[bytes, TreeEntry | None]


def lookup(store: ObjectStore, tree: str, path: bytes) -> TreeEntry | None:
    """The entry at ``path`` (``a/b/c``) in ``tree``, or None."""
    entry: TreeEntry | None = TreeEntry(MODE_TREE, tree)
    for part in path.split(b"/"):
        if entry is None or not entry.is_tree:
            return None
        entry = store.entry(entry.sha, part)
    return entry


def read_file(store: ObjectStore, tree: str, path: bytes) -> bytes | None:
    """A file's bytes at ``path``, None where there is no file."""
    entry = lookup(store, tree, path)
    if entry is None or entry.is_tree:
        return None
    return store.blob(entry.sha)


#: path -> (old entry, new entry) of the files that differ.
Delta = dict[bytes, tuple[TreeEntry | None, TreeEntry | None]]


@dataclass(frozen=True)
class Draft:
    """A tree with file edits not written yet: what the steps of one commit build on.

    Reverting a patch, applying its new version and setting the patch file
    are three steps of one commit; written one by one, each step made a new
    copy of every folder on its paths (the patches folder of thousands of
    entries among them) that no commit kept.  A draft collects the steps'
    edits and :meth:`write` makes the commit's tree once.
    """

    tree: str
    changes: Mapping[bytes, TreeEntry | None] = field(default_factory=dict)

    def lookup(self, store: ObjectStore, path: bytes) -> TreeEntry | None:
        """The entry at ``path`` with the edits made (edits are of files, never of folders)."""
        if path in self.changes:
            return self.changes[path]
        parts = path.split(b"/")
        for i in range(1, len(parts)):
            if b"/".join(parts[:i]) in self.changes:
                return None  # a file, or nothing, where the path needs a folder
        return lookup(store, self.tree, path)

    def read_file(self, store: ObjectStore, path: bytes) -> bytes | None:
        entry = self.lookup(store, path)
        if entry is None or entry.is_tree:
            return None
        return store.blob(entry.sha)

    def edit(self, changes: Changes) -> Draft:
        """This draft with more edits (later edits of a path win)."""
        return Draft(self.tree, {**self.changes, **changes}) if changes else self

    def write(self, store: ObjectStore) -> str:
        """The tree with every edit made: one new tree per folder on the edited paths."""
        return edit(store, self.tree, self.changes) if self.changes else self.tree


def edit(store: ObjectStore, tree: str | None, changes: Changes) -> str:
    """A new tree: ``tree`` with ``changes`` applied; empty folders vanish as in git.

    Every tree sync writes is made here, so here is where a path git
    would refuse (``git fsck --strict``, ``git checkout``) is refused,
    whatever produced it (see :mod:`patchsync.names`).
    """
    for path, entry in changes.items():
        problem = path_bytes_problem(path) if entry is not None else None
        if problem:
            raise GitError(f"refusing to write a tree git would flag: {problem}", where=store.repo)
    return _edit(store, tree, changes)


def _edit(store: ObjectStore, tree: str | None, changes: Changes) -> str:
    if not changes:
        assert tree is not None
        return tree
    level: dict[bytes, TreeEntry | None] = {}
    nested: dict[bytes, dict[bytes, TreeEntry | None]] = {}
    for path, entry in changes.items():
        head, sep, rest = path.partition(b"/")
        if sep:
            nested.setdefault(head, {})[rest] = entry
        else:
            level[head] = entry
    for name, sub in nested.items():
        current = level[name] if name in level else store.entry(tree, name) if tree else None
        base = current.sha if current is not None and current.is_tree else None
        sha = _edit(store, base, sub)
        level[name] = None if store.is_empty_tree(sha) else TreeEntry(MODE_TREE, sha)
    if tree is None:
        return store.write_tree({name: entry for name, entry in level.items() if entry is not None})
    # Only the entries that change are touched: a folder of thousands of
    # patches costs each commit a copy, not a sort, and a small delta.
    return store.edit_tree(tree, level)
