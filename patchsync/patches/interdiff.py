"""What applying the new patch changes compared with applying the old one.

Per file, the approach of patchutils' ``interdiff``: rebuild as much of the
original file as the two patches' pre-images reveal (context and removed
lines, by line number), apply each patch to that partial original, and diff
the two results.  Lines neither patch shows are placeholders that are equal
on both sides; a hunk is only printed where every line it shows is known.

One deliberate difference: when the new patch was refreshed against a
newer tree, its hunks sit at other line numbers.  interdiff then places
both versions side by side in its reconstruction and prints each twice
(once removed, once added).  Here each new hunk is first moved by the
offset at which its pre-image matches the old patch's (as ``patch`` itself
finds an offset), so a refreshed hunk shows no difference at all.

Where no consistent original exists (the pre-images disagree on a line,
hunks overlap, binary content changed), that file falls back to a unified
diff of its two file-diff sections, marked as such.

It is the one judgement of whether a change is real
(:mod:`patchsync.patches.classify`): a file whose two versions carry the
same ordered removed and added lines (:func:`file_key`) is a refresh and
shows nothing, and a pair is ``modified`` exactly when its interdiff is
not empty.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from .parse import CONTEXT, FileDiff, Hunk, ParsedPatch

#: Context lines around each change, diff -u's default.
CONTEXT_LINES = 3
#: Shortest run of equal pre-image lines that pins a refreshed hunk's offset;
#: shorter runs ("}", blank lines) match anywhere.
_MIN_ANCHOR = 3

Kind = Literal["changed", "reverted", "only-new", "fallback"]
_Item = bytes | int  # a known line, or the line number of an unknown one


@dataclass(frozen=True)
class FileInterdiff:
    """The interdiff of one file (-p1 ``name``); ``text`` is a unified diff, empty when equal."""

    name: str
    kind: Kind
    text: bytes


#: What a "--- a/dev/null" line (quilt's spelling of a new file) reads as once -p1 stripped it.
_DEV_NULL = "dev/null"


def file_ident(f: FileDiff) -> tuple[object, ...]:
    r"""What must be equal for two versions of a file diff to do the same thing, apart from its lines.

    Names as ``-p1`` sees them, new/deleted, modes, binary payload; quilt's
    ``--- a/dev/null`` counts as ``/dev/null``.

    >>> from patchsync.patches.parse import parse_patch
    >>> one = parse_patch(b"--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n").files[0]
    >>> two = parse_patch(b"--- a/dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n").files[0]
    >>> file_ident(one) == file_ident(two)
    True
    """
    old_name, new_name, is_new, is_deleted = f.old_name, f.new_name, f.is_new, f.is_deleted
    if old_name == _DEV_NULL and all(h.old_len == 0 for h in f.hunks):
        old_name, is_new = None, True
    if new_name == _DEV_NULL and all(h.new_len == 0 for h in f.hunks):
        new_name, is_deleted = None, True
    binary = b"" if f.binary is None or f.binary.startswith(b"Binary files ") else f.binary
    return (
        old_name or "",
        new_name or "",
        is_new,
        is_deleted,
        f.old_mode or "",
        f.new_mode or "",
        f.is_binary,
        binary,
    )


def file_key(files: Sequence[FileDiff]) -> tuple[object, ...]:
    """The identities and the ordered removed and added lines of one file's diffs: equal means refreshed."""
    idents = tuple(sorted({file_ident(f) for f in files}, key=repr))
    return idents, tuple(change for f in files for h in f.hunks for change in h.changes())


def interdiff(old: ParsedPatch, new: ParsedPatch, *, context: int = CONTEXT_LINES) -> list[FileInterdiff]:
    """Per file, what ``new`` changes compared with ``old``; files with no difference are left out."""
    old_files = _by_name(old.files)
    new_files = _by_name(new.files)
    names = list(old_files) + [n for n in new_files if n not in old_files]
    out: list[FileInterdiff] = []
    for name in sorted(names):
        f1, f2 = old_files.get(name), new_files.get(name)
        item = _file(name, f1, f2, context)
        if item is not None and item.text:
            out.append(item)
    return out


def render(items: Sequence[FileInterdiff]) -> bytes:
    """The whole interdiff as text, with interdiff's ``reverted:``/``only in patch2:`` labels."""
    labels = {"reverted": b"reverted:\n", "only-new": b"only in patch2:\n", "fallback": b"", "changed": b""}
    parts: list[bytes] = []
    for item in items:
        if item.kind == "fallback":
            parts.append(f"interdiff impossible for {item.name}; diff of the two patch sections:\n".encode())
        parts.append(labels[item.kind] + item.text)
    return b"".join(parts)


def file_diff(old: bytes, new: bytes, old_label: str, new_label: str, *, context: int = CONTEXT_LINES) -> bytes:
    """A unified diff of two byte strings (the fallback: two patch files, two headers)."""
    lines = difflib.diff_bytes(
        difflib.unified_diff,
        _keep_ends(old),
        _keep_ends(new),
        old_label.encode("utf-8", "surrogateescape"),
        new_label.encode("utf-8", "surrogateescape"),
        n=context,
        lineterm=b"\n",
    )
    out: list[bytes] = []
    for line in lines:
        out.append(line)
        if not line.endswith(b"\n"):
            out.append(b"\n\\ No newline at end of file\n")
    return b"".join(out)


def _keep_ends(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True) if b"\r" not in data else _split_nl(data)


def _split_nl(data: bytes) -> list[bytes]:
    parts = data.split(b"\n")
    out = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        out.append(parts[-1])
    return out


def _by_name(files: Sequence[FileDiff]) -> dict[str, list[FileDiff]]:
    out: dict[str, list[FileDiff]] = {}
    for f in files:
        out.setdefault(f.name, []).append(f)
    return out


def _file(name: str, f1s: list[FileDiff] | None, f2s: list[FileDiff] | None, context: int) -> FileInterdiff | None:
    if f1s is None and f2s is not None:
        return FileInterdiff(name, "only-new", _section(name, _hunks(f2s), reverse=False))
    if f2s is None and f1s is not None:
        return FileInterdiff(name, "reverted", _section(name, _hunks(f1s), reverse=True))
    assert f1s is not None
    assert f2s is not None
    if file_key(f1s) == file_key(f2s):
        # The same changes, refreshed (other line numbers, context or hunk boundaries).
        return None
    bin1 = [f.binary for f in f1s]
    bin2 = [f.binary for f in f2s]
    meta1 = [file_ident(f)[:6] for f in f1s]
    meta2 = [file_ident(f)[:6] for f in f2s]
    if any(b is not None for b in bin1 + bin2) or meta1 != meta2:
        if bin1 == bin2 and meta1 == meta2:
            return None
        return _fallback(name, f1s, f2s, context)
    text = _interdiff_hunks(name, _hunks(f1s), _hunks(f2s), context)
    if text is None:
        return _fallback(name, f1s, f2s, context)
    return FileInterdiff(name, "changed", text)


def _fallback(name: str, f1s: list[FileDiff], f2s: list[FileDiff], context: int) -> FileInterdiff:
    old = b"".join(f.raw for f in f1s)
    new = b"".join(f.raw for f in f2s)
    return FileInterdiff(name, "fallback", file_diff(old, new, f"old/{name}", f"new/{name}", context=context))


def _hunks(files: list[FileDiff]) -> list[Hunk]:
    return [h for f in files for h in f.hunks]


def _first_old_line(h: Hunk) -> int:
    """1-based number of the hunk's first pre-image line ("-N,0" inserts after line N)."""
    return h.old_start if h.old_len else h.old_start + 1


def _interdiff_hunks(name: str, h1s: list[Hunk], h2s: list[Hunk], context: int) -> bytes | None:
    shifted = _align(h1s, h2s)
    for h2s_try in (shifted, h2s) if shifted != h2s else (h2s,):
        original = _reconstruct(h1s + h2s_try)
        if original is None:
            continue
        a = _apply(original, h1s)
        b = _apply(original, h2s_try)
        if a is None or b is None:
            continue
        text = _unified(name, a, b, context)
        if text is not None:
            return text
    return None


def _align(h1s: list[Hunk], h2s: list[Hunk]) -> list[Hunk]:
    """``h2s`` moved onto ``h1s``' line numbers where their pre-images match (see module doc).

    A hunk with no pre-image to match (a pure insertion without context)
    takes the offset of its nearest matched neighbour, as ``patch`` keeps
    the offset it last found.
    """
    deltas: list[int | None] = []
    for h2 in h2s:
        b = h2.old_lines()
        best_size, best_delta, best_len = 0, 0, 0
        for h1 in h1s:
            a = h1.old_lines()
            m = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
            if m.size > best_size:
                best_size, best_len = m.size, len(a)
                best_delta = (_first_old_line(h1) + m.a) - (_first_old_line(h2) + m.b)
        deltas.append(best_delta if best_size and best_size >= min(_MIN_ANCHOR, len(b), best_len) else None)
    known = [i for i, d in enumerate(deltas) if d is not None]
    out: list[Hunk] = []
    for i, h2 in enumerate(h2s):
        delta = deltas[i]
        if delta is None:
            nearest = min(known, key=lambda k: (abs(k - i), k), default=None)
            delta = deltas[nearest] if nearest is not None else 0
        assert delta is not None
        out.append(replace(h2, old_start=h2.old_start + delta) if delta else h2)
    # Shifting must keep the hunks in order and apart, as patch requires.
    for prev, cur in itertools.pairwise(out):
        if _first_old_line(cur) < _first_old_line(prev) + prev.old_len:
            return h2s
    return out


def _reconstruct(hunks: list[Hunk]) -> dict[int, _Item] | None:
    """Line number -> content of the original, from the hunks' pre-images.

    Where two pre-images disagree on a context line, the trees differ there
    and neither patch changes it: the line becomes unknown (a placeholder).
    Where a removed line disagrees, no single original exists: ``None``.
    """
    original: dict[int, _Item] = {}
    removed: set[int] = set()
    for h in hunks:
        pos = _first_old_line(h)
        for tag, line in h.marked_lines():
            if tag == "+":
                continue
            known = original.get(pos)
            if known is None:
                original[pos] = line
            elif known != line:
                if tag == "-" or pos in removed:
                    return None
                original[pos] = pos
            if tag == "-":
                removed.add(pos)
            pos += 1
    return original


def _apply(original: dict[int, _Item], hunks: list[Hunk]) -> list[_Item] | None:
    """The partial original with ``hunks`` applied; context comes from the original."""
    last = max(original, default=0)
    out: list[_Item] = []
    # A refreshed hunk may start before line 1 of the old patch's tree: the
    # new tree has lines in front.
    cur = min([1, *original])
    for h in sorted(hunks, key=_first_old_line):
        start = _first_old_line(h)
        if start < cur:
            return None
        while cur < start:
            out.append(original.get(cur, cur))
            cur += 1
        for tag, line in h.marked_lines():
            if tag == "+":
                out.append(line)
            elif tag == CONTEXT:
                out.append(original.get(cur, cur))
                cur += 1
            else:
                cur += 1
    while cur <= last:
        out.append(original.get(cur, cur))
        cur += 1
    return out


def _unified(name: str, a: list[_Item], b: list[_Item], context: int) -> bytes | None:
    """A unified diff of two partial files; None if a change touches an unknown line."""
    # (tag, a position before, b position before, item)
    entries: list[tuple[str, int, int, _Item]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            entries.extend((CONTEXT, i1 + k, j1 + k, a[i1 + k]) for k in range(i2 - i1))
            continue
        removed = a[i1:i2]
        added = b[j1:j2]
        if any(isinstance(x, int) for x in removed + added):
            return None
        entries.extend(("-", i1 + k, j1, x) for k, x in enumerate(removed))
        entries.extend(("+", i2, j1 + k, x) for k, x in enumerate(added))
    changes = [i for i, e in enumerate(entries) if e[0] != CONTEXT]
    if not changes:
        return b""
    # Group changes whose gap is short and fully known; each group is a hunk.
    groups: list[list[int]] = [[changes[0]]]
    for idx in changes[1:]:
        prev = groups[-1][-1]
        gap = entries[prev + 1 : idx]
        if len(gap) <= 2 * context and not any(isinstance(e[3], int) for e in gap):
            groups[-1].append(idx)
        else:
            groups.append([idx])
    out = [f"--- a/{name}\n+++ b/{name}\n".encode("utf-8", "surrogateescape")]
    for group in groups:
        lo, hi = group[0], group[-1]
        k = 0
        while k < context and lo - 1 >= 0 and entries[lo - 1][0] == CONTEXT and not isinstance(entries[lo - 1][3], int):
            lo -= 1
            k += 1
        k = 0
        while (
            k < context
            and hi + 1 < len(entries)
            and entries[hi + 1][0] == CONTEXT
            and not isinstance(entries[hi + 1][3], int)
        ):
            hi += 1
            k += 1
        out.append(_hunk_text(entries[lo : hi + 1]))
    return b"".join(out)


def _hunk_text(entries: list[tuple[str, int, int, _Item]]) -> bytes:
    old_len = sum(1 for e in entries if e[0] != "+")
    new_len = sum(1 for e in entries if e[0] != "-")
    first = entries[0]
    old_start = first[1] + 1 if old_len else first[1]
    new_start = first[2] + 1 if new_len else first[2]
    body: list[bytes] = [f"@@ -{old_start},{old_len} +{new_start},{new_len} @@\n".encode()]
    for tag, _, _, item in entries:
        assert isinstance(item, bytes)
        body.append(tag.encode() + item)
        if not item.endswith(b"\n"):
            body.append(b"\n\\ No newline at end of file\n")
    return b"".join(body)


def _section(name: str, hunks: list[Hunk], *, reverse: bool) -> bytes:
    """One patch's hunks of a file as a unified diff; reversed for "reverted"."""
    encoded = name.encode("utf-8", "surrogateescape")
    out = [b"--- a/" + encoded + b"\n+++ b/" + encoded + b"\n"]
    swap = {"-": "+", "+": "-"}
    for h in hunks:
        if reverse:
            out.append(f"@@ -{h.new_start},{h.new_len} +{h.old_start},{h.old_len} @@\n".encode())
        else:
            out.append(f"@@ -{h.old_start},{h.old_len} +{h.new_start},{h.new_len} @@\n".encode())
        for tag, content in h.lines:
            out.append((swap.get(tag, tag) if reverse else tag).encode() + content)
    return b"".join(out)


def header_diff(old: ParsedPatch | bytes, new: ParsedPatch | bytes) -> bytes:
    """A unified diff of two patches' headers (what a ``metadata`` change shows)."""
    old_h = old.header if isinstance(old, ParsedPatch) else old
    new_h = new.header if isinstance(new, ParsedPatch) else new
    return file_diff(old_h, new_h, "old header", "new header")
