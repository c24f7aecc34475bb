"""How one patch changed: ``unchanged``, ``metadata``, ``refreshed`` or ``modified``.

The rules (issue "Compare the KOTD patches", section 2; every one is pinned
in tests/test_classify.py):

* ``unchanged``: identical bytes.  Decided by one ``bytes`` comparison; such
  a pair never reaches the parser, which is what keeps a day with 95 % of
  the patches untouched cheap.
* ``metadata``: everything after the header is identical; the header (From,
  Subject, References, the description, a ``---`` separator, a diffstat)
  differs.
* ``refreshed``: the change is the same, only re-diffed.  Fast path: the
  same files (compared as ``-p1`` sees them, quilt's ``a/dev/null`` as
  ``/dev/null``) and, per file, the same ordered removed and added lines;
  line numbers, context, hunk boundaries, path prefixes, timestamps,
  ``Index:``/``====``/``diff``/``index`` lines, the order of the files and
  a trailing ``-- `` signature may differ, and so may the header.  Where
  the line lists differ (diff lined identical lines up differently, a hunk
  moved with the tree and was cut otherwise) but every file gains and
  loses the same lines (:func:`net_changes`), the semantic comparison
  decides: the relocating interdiff (:mod:`patchsync.patches.interdiff`)
  is empty.
* ``modified``: the interdiff is not empty, so ``check -v`` always shows
  what changed under an ``M``; also a patch that cannot be parsed (with a
  warning: its bytes differ, which is all that is known).

Classification and interdiff are one judgement: a pair is ``modified``
exactly when its interdiff shows something.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Literal

from ..errors import PatchError
from .interdiff import file_ident, interdiff
from .parse import CONTEXT, ParseCache, ParsedPatch, parse_patch

Level = Literal["unchanged", "metadata", "refreshed", "modified"]

#: SUSE's patch header tags (kernel-source, "Patch headers" in README):
#: the upstream commit a backport comes from, and the subject.
_GIT_COMMIT_RE = re.compile(rb"^Git-commit:[ \t]*([0-9a-fA-F]{7,40})", re.MULTILINE)
_SUBJECT_RE = re.compile(rb"^Subject:[ \t]*(.*?)\r?$", re.MULTILINE)


@dataclass(frozen=True)
class Classification:
    """The level of change from ``old`` to ``new``, the parses, and a warning if one failed."""

    status: Level
    old: ParsedPatch | None = None
    new: ParsedPatch | None = None
    warning: str = ""


def refresh_key(parsed: ParsedPatch) -> Hashable:
    """What must be equal for two patches to be ``refreshed`` versions of each other.

    Per file (old and new -p1 names, new/deleted, modes, binary payload): the
    ordered removed and added lines of all its hunks.  The files form a set:
    their order in the patch does not matter.
    """
    per_file: dict[tuple[object, ...], list[tuple[str, bytes]]] = {}
    for f in parsed.files:
        changes = per_file.setdefault(file_ident(f), [])
        for hunk in f.hunks:
            changes.extend(hunk.changes())
    return tuple(sorted((ident, tuple(changes)) for ident, changes in per_file.items()))


def classify(old: bytes, new: bytes, *, name: str = "", parses: ParseCache | None = None) -> Classification:
    """Classify the change from ``old`` to ``new`` (both whole patch files), parsing through ``parses``."""
    if old == new:
        return Classification("unchanged")
    parse: Callable[..., ParsedPatch] = parses.parse if parses is not None else parse_patch
    try:
        old_p = parse(old, where=f"{name} (tree)" if name else "")
        new_p = parse(new, where=f"{name} (KOTD)" if name else "")
    except PatchError as exc:
        return Classification("modified", warning=f"{exc}; compared by bytes")
    return Classification(level(old_p, new_p), old_p, new_p)


def level(old: ParsedPatch, new: ParsedPatch) -> Level:
    """The classification of two parsed, byte-different patches."""
    if old.data == new.data:
        return "unchanged"
    if old.diff_part == new.diff_part:
        return "metadata"
    if refresh_key(old) == refresh_key(new):
        return "refreshed"
    if net_changes(old) != net_changes(new):
        # The files end up with other lines: the interdiff cannot be empty.
        return "modified"
    # Lined up another way: whether the change is real is what the interdiff shows.
    return "modified" if interdiff(old, new) else "refreshed"


def net_changes(parsed: ParsedPatch) -> Hashable:
    """Per file, how often each line is added minus how often it is removed.

    Two patches that leave a file with the same lines have equal net
    changes, however diff lined them up; unequal ones leave different files.
    """
    per_file: dict[tuple[object, ...], Counter[bytes]] = {}
    for f in parsed.files:
        counts = per_file.setdefault(file_ident(f), Counter())
        for hunk in f.hunks:
            for tag, line in hunk.changes():
                counts[line] += 1 if tag == "+" else -1
    return frozenset((ident, frozenset(c for c in counts.items() if c[1])) for ident, counts in per_file.items())


def header_ids(parsed: ParsedPatch | bytes) -> tuple[bytes | None, bytes | None]:
    """The ``Git-commit:`` and ``Subject:`` of a patch header, for telling renames apart."""
    header = parsed.header if isinstance(parsed, ParsedPatch) else parsed
    commit = _GIT_COMMIT_RE.search(header)
    subject = _SUBJECT_RE.search(header)
    return (
        commit.group(1).lower() if commit else None,
        subject.group(1).strip() if subject and subject.group(1).strip() else None,
    )


def has_changes(parsed: ParsedPatch) -> bool:
    """Whether the patch changes anything at all (an empty patch is never a rename partner)."""
    return any(
        f.is_binary
        or f.is_new
        or f.is_deleted
        or f.is_rename
        or f.old_mode != f.new_mode
        or any(t != CONTEXT for h in f.hunks for t, _ in h.lines)
        for f in parsed.files
    )
