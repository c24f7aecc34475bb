"""What both sync modes share: the target, the object store, the patch files."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..config import TargetConfig
from ..model import SERIES_FILE, Commit, PatchDelta, SourceInfo
from ..patches.parse import ParseCache
from .apply import worst
from .message import Identities
from .objects import MODE_BLOB, ObjectStore, TreeEntry
from .trees import Draft


@dataclass
class Context:
    store: ObjectStore
    target: TargetConfig
    source: SourceInfo
    package: str
    ids: Identities
    scratch: Path
    kotd_order: Sequence[str]
    #: Every patch parsed once: the comparison's parses, and those sync adds.
    parses: ParseCache
    #: patch name -> how it applied, where that was not exact (JSON ``applied``).
    methods: dict[str, str] = field(default_factory=dict)
    #: Commits of the old history development mode left out (a removed
    #: patch's commit that carried nothing else), oldest first.
    dropped: list[Commit] = field(default_factory=list)

    def patch_path(self, name: str) -> bytes:
        return f"{self.target.patches_dir.rstrip('/')}/{name}".encode()

    def note(self, name: str, method: str) -> None:
        """Remember a patch that did not apply exactly (the worst rung it needed)."""
        if method == "exact":
            return
        known = self.methods.get(name)
        if known is None or worst([known, method]) == method:
            self.methods[name] = method

    def set_patch_file(self, tree: Draft, delta: PatchDelta) -> Draft:
        """``tree`` with the patch file(s) of ``delta`` at the KOTD version (and series updated)."""
        changes: dict[bytes, TreeEntry | None] = {}
        old_name = delta.previous_name or delta.name
        old_entry = tree.lookup(self.store, self.patch_path(old_name))
        mode = old_entry.mode if old_entry is not None and not old_entry.is_tree else MODE_BLOB
        if old_name != delta.name:
            changes[self.patch_path(old_name)] = None
        if delta.status == "removed":
            changes[self.patch_path(delta.name)] = None
        else:
            assert delta.new is not None
            changes[self.patch_path(delta.name)] = TreeEntry(mode, self.store.write_blob(delta.new))
        series_path = self.patch_path(SERIES_FILE)
        series = tree.read_file(self.store, series_path)
        if series is not None:
            updated = edit_series(series, delta, self.kotd_order)
            if updated != series:
                entry = tree.lookup(self.store, series_path)
                assert entry is not None
                changes[series_path] = TreeEntry(entry.mode, self.store.write_blob(updated))
        return tree.edit(changes)


def _entry_name(line: bytes) -> bytes:
    return line.split(b"#", 1)[0].strip()


def edit_series(series: bytes, delta: PatchDelta, kotd_order: Sequence[str]) -> bytes:
    """A quilt ``series`` file with one patch added, removed or renamed.

    >>> d = PatchDelta("b", "added", new=b"")
    >>> edit_series(b"a\\nc\\n", d, ["a", "b", "c"])
    b'a\\nb\\nc\\n'
    """
    lines = series.splitlines(keepends=True)
    names = [_entry_name(line).decode("utf-8", "surrogateescape") for line in lines]
    if delta.status == "removed":
        return b"".join(line for line, n in zip(lines, names, strict=True) if n != delta.name)
    if delta.status == "renamed" and delta.previous_name in names:
        i = names.index(delta.previous_name)
        lines[i] = lines[i].replace(delta.previous_name.encode(), delta.name.encode(), 1)
        return b"".join(lines)
    if delta.status != "added" or delta.name in names:
        return series
    at = 0
    if delta.name in kotd_order:
        for before in reversed(kotd_order[: kotd_order.index(delta.name)]):
            if before in names:
                at = names.index(before) + 1
                break
    if lines and not lines[-1].endswith(b"\n") and at == len(lines):
        lines[-1] += b"\n"
    lines.insert(at, delta.name.encode() + b"\n")
    return b"".join(lines)
