"""Apply a patch to file contents in memory, as ``patch -p1`` would.

The ladder, per file, stops at the first rung that works and records it:

1. ``exact`` / ``offset``: every hunk's old side found verbatim, at its
   line number or shifted (GNU patch and ``git apply`` search outwards);
2. ``3way``: where a pre-image of the file is known (development mode: the
   file as it was under the replayed commit; a patch with ``index`` lines:
   git's blob id), apply there and merge the result into the current file
   with ``git merge-file``, as ``git am -3`` does;
3. ``fuzz1`` / ``fuzz2``: drop up to that many leading and trailing context
   lines of each hunk (SUSE's own spec applies its patches with fuzz).

Anything else is an :class:`ApplyError` naming the file and the hunk.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..patches.parse import FileDiff, Hunk, split_lines
from .repo import merge_file

#: Most context lines ignored at each end of a hunk (GNU patch's default --fuzz).
MAX_FUZZ = 2

#: The methods, best first, as reported per patch; ``replay`` is released
#: mode's last resort (the files taken from an in-memory replay of the series).
METHODS = ("exact", "offset", "3way", "fuzz1", "fuzz2", "replay")


class ApplyError(Exception):
    """A patch does not apply; ``files`` are the -p1 paths that failed."""

    def __init__(self, message: str, files: Iterable[bytes]) -> None:
        super().__init__(message)
        self.message = message
        self.files = sorted(set(files))


@dataclass(frozen=True)
class FileState:
    """A file's content and mode (None content: the file does not exist)."""

    content: bytes | None
    mode: bytes | None = None


def _sides(hunk: Hunk, reverse: bool) -> tuple[list[bytes], list[bytes], int, int]:
    """(old lines, new lines, leading context, trailing context) of a hunk."""
    old: list[bytes] = []
    new: list[bytes] = []
    last = " "
    for tag, line in hunk.lines:
        if tag == "\\":
            # "\ No newline at end of file" belongs to the line before it;
            # like git apply, only its "\n" goes (a "\r" stays).
            if last in (" ", "-") and old:
                old[-1] = old[-1].removesuffix(b"\n")
            if last in (" ", "+") and new:
                new[-1] = new[-1].removesuffix(b"\n")
            continue
        if tag in (" ", "-"):
            old.append(line)
        if tag in (" ", "+"):
            new.append(line)
        last = tag
    tags = [t for t, _ in hunk.lines if t != "\\"]
    lead = 0
    while lead < len(tags) and tags[lead] == " ":
        lead += 1
    trail = 0
    while trail < len(tags) - lead and tags[len(tags) - 1 - trail] == " ":
        trail += 1
    if reverse:
        old, new = new, old
    return old, new, lead, trail


def _find(lines: list[bytes], old: list[bytes], expected: int, low: int, anchor_start: bool) -> int | None:
    """The position nearest ``expected`` (>= low) where ``old`` matches."""
    size = len(old)
    high = len(lines) - size
    if anchor_start:
        return 0 if low == 0 and lines[:size] == old else None
    expected = min(max(expected, low), max(high, low))
    for delta in range(max(expected - low, high - expected) + 1):
        for pos in (expected - delta, expected + delta) if delta else (expected,):
            if low <= pos <= high and lines[pos : pos + size] == old:
                return pos
    return None


def apply_hunks(content: bytes, hunks: Sequence[Hunk], *, reverse: bool = False, fuzz: int = 0) -> tuple[bytes, bool]:
    """``content`` with the hunks applied; (result, whether any hunk moved).

    Raises :class:`ValueError` with the failing hunk's header.
    """
    lines = split_lines(content)
    out: list[bytes] = []
    done = 0  # lines of ``lines`` already copied or consumed
    shift = 0  # how far the hunks found so far moved from their numbers
    moved = False
    for number, hunk in enumerate(hunks, 1):
        old, new, lead, trail = _sides(hunk, reverse)
        start = hunk.new_start if reverse else hunk.old_start
        length = len(old)
        cut_lead = min(fuzz, lead)
        cut_trail = min(fuzz, trail)
        if cut_lead + cut_trail >= length and length:
            cut_lead = cut_trail = 0
        old = old[cut_lead : length - cut_trail]
        new = new[cut_lead : len(new) - cut_trail]
        # A hunk's old_start names the line after which it inserts when it
        # has no old lines, else its first old line.
        expected = (start if not length else start - 1) + cut_lead + shift
        anchor = lead == 0 and start <= 1 and length > 0 and not cut_lead
        pos = _find(lines, old, expected, done, anchor)
        if pos is None:
            raise ValueError(
                f"hunk #{number} (@@ -{hunk.old_start},{hunk.old_len} +{hunk.new_start},{hunk.new_len} @@)"
            )
        if pos != expected:
            moved = True
        shift += pos - expected
        out.extend(lines[done:pos])
        out.extend(new)
        done = pos + len(old)
    out.extend(lines[done:])
    return b"".join(out), moved


def merge3(base: bytes, ours: bytes, theirs: bytes, scratch: Path) -> bytes | None:
    """``git merge-file``: ours + (base -> theirs); None on a conflict."""
    paths = []
    try:
        for data in (ours, base, theirs):
            fd, name = tempfile.mkstemp(dir=scratch, prefix="merge-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            paths.append(name)
        return merge_file(Path(paths[0]), Path(paths[1]), Path(paths[2]))
    finally:
        for name in paths:
            os.unlink(name)


#: Known pre-images of a file for the 3-way rung: given the file diff, the
#: contents the patch may have been made against.
PreImages = Callable[[FileDiff], Iterable[bytes]]


def fspath(name: str | None) -> bytes | None:
    """A parsed (surrogateescape-decoded) -p1 path as the bytes git stores."""
    return None if name is None else name.encode("utf-8", "surrogateescape")


def paths(fp: FileDiff) -> tuple[bytes | None, bytes | None]:
    """(old, new) -p1 paths as bytes; None for the missing side of a new or deleted file."""
    return fspath(fp.old_name), fspath(fp.new_name)


def old_blob(fp: FileDiff) -> str | None:
    """The abbreviated pre-image blob id of a git diff's ``index`` line."""
    for line in fp.preamble.split(b"\n"):
        if line.startswith(b"index ") and b".." in line:
            old = line.split()[1].split(b"..")[0].decode("ascii", "replace")
            return None if set(old) == {"0"} else old
    return None


def apply_file(
    fp: FileDiff,
    current: FileState,
    *,
    reverse: bool = False,
    preimages: PreImages | None = None,
    scratch: Path,
) -> tuple[FileState, str]:
    """One file's new state and the method that worked; raises :class:`ApplyError`."""
    path = fspath(fp.name) or b""
    if fp.is_binary:
        raise ApplyError(f"{path.decode(errors='replace')}: binary patch", [path])
    creates = fp.is_deleted if reverse else fp.is_new
    deletes = fp.is_new if reverse else fp.is_deleted
    mode = fp.old_mode if reverse else fp.new_mode
    new_mode = mode.encode() if mode else None
    if creates and current.content is not None:
        raise ApplyError(f"{path.decode(errors='replace')}: already exists", [path])
    if not creates and current.content is None:
        raise ApplyError(f"{path.decode(errors='replace')}: does not exist", [path])
    content = current.content or b""

    def finish(result: bytes, method: str) -> tuple[FileState, str]:
        if deletes:
            if result:
                raise ApplyError(f"{path.decode(errors='replace')}: not empty after deleting it", [path])
            return FileState(None), method
        return FileState(result, new_mode or current.mode or b"100644"), method

    failure = ""
    try:
        result, moved = apply_hunks(content, fp.hunks, reverse=reverse)
        return finish(result, "offset" if moved else "exact")
    except ValueError as exc:
        failure = str(exc)
    if preimages is not None and not creates:
        for pre in preimages(fp):
            try:
                post, _ = apply_hunks(pre, fp.hunks, reverse=reverse)
            except ValueError:
                continue
            merged = merge3(pre, content, post, scratch)
            if merged is not None:
                return finish(merged, "3way")
    for fuzz in range(1, MAX_FUZZ + 1):
        try:
            result, _ = apply_hunks(content, fp.hunks, reverse=reverse, fuzz=fuzz)
            return finish(result, f"fuzz{fuzz}")
        except ValueError:
            continue
    raise ApplyError(f"{path.decode(errors='replace')}: {failure} does not apply", [path])


def worst(methods: Iterable[str]) -> str:
    """The least exact of several methods (what a patch as a whole needed)."""
    found = [m for m in methods if m in METHODS]
    return max(found, key=METHODS.index) if found else "exact"
