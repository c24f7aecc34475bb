"""A lossless, byte-level parser for quilt/SUSE/git patches.

A patch is split into its *header* (everything before the first file diff:
From/Subject/References, the description, a ``---`` separator, a diffstat,
an ``# HG changeset`` preamble) and one :class:`FileDiff` per file, each
holding its raw bytes and its hunks.  Nothing is decoded: patch content is
whatever bytes the patch carries (non-UTF-8, CRLF, a missing final newline),
and ``header + b"".join(f.raw for f in files) + trailer`` is always the
input, byte for byte.

Why a parser of its own rather than unidiff: patchsync needs the exact
bytes of every file section (``FileDiff.raw``) and of the header before
them.  A patch whose header changed but whose diff did not is "metadata"
rather than "refreshed" because ``diff_part`` compares equal byte for
byte, and an interdiff that cannot be computed hunk by hunk falls back to
a diff of the two versions' raw file sections.  unidiff reads decoded
text (``surrogateescape`` decoding works for non-UTF-8 bytes) and keeps
lines and hunks, but exposes no file section as the bytes it was read
from, so those bytes could not be recovered from it.  unidiff stays in
the tests as an independent oracle: for every corpus patch both must find
the same files with the same numbers of added and removed lines.

Where a file diff starts (GNU patch and git apply agree on these):

* ``diff --git a/X b/Y``;
* ``Index: X`` followed by a ``====`` line or a ``---``/``+++`` pair (quilt);
* ``diff <options> X Y`` followed by a ``---``/``+++`` pair (``diff -urNp``,
  ``diff -r`` from Mercurial);
* a ``--- X`` line directly followed by ``+++ Y`` and a ``@@`` hunk line.

A ``---`` line in a header is followed by a diffstat or text, never by
``+++`` and ``@@``, so it is never taken for a file diff.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field

from ..errors import PatchError

#: Hunk header of the unified format (POSIX diff, "Unified Format"): the
#: lengths default to 1 when omitted.
_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*?)\r?\n?$", re.DOTALL)

#: A timestamp diff(1) appends to ---/+++ names when no tab separates them
#: (some tools use spaces): ``2006-02-17 10:14:38.000000000 +0100``.
_TRAILING_DATE_RE = re.compile(rb"\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?(?: [+-]\d{4})?$")

#: git's extended header lines (git-diff(1), "generating patches with -p").
_GIT_EXTENDED = (
    b"old mode ",
    b"new mode ",
    b"deleted file mode ",
    b"new file mode ",
    b"copy from ",
    b"copy to ",
    b"rename from ",
    b"rename to ",
    b"rename old ",
    b"rename new ",
    b"similarity index ",
    b"dissimilarity index ",
    b"index ",
)

#: Escapes git uses in quoted paths (quote.c, sq_quote/quote_c_style).
_C_ESCAPES = {
    ord("a"): 7,
    ord("b"): 8,
    ord("t"): 9,
    ord("n"): 10,
    ord("v"): 11,
    ord("f"): 12,
    ord("r"): 13,
    ord('"'): 34,
    ord("\\"): 92,
}

DEV_NULL = "/dev/null"

#: Hunk line tags: context, removed, added, and the "\ No newline" marker.
CONTEXT, REMOVED, ADDED, NO_NEWLINE = " ", "-", "+", "\\"
_SPACE, _MINUS, _PLUS, _BACKSLASH = ord(" "), ord("-"), ord("+"), ord("\\")


@dataclass(frozen=True)
class Hunk:
    """One ``@@`` hunk.

    ``lines`` are ``(tag, content)`` pairs: ``tag`` is one of `` -+\\``
    and ``content`` the bytes after the tag, line ending included (an empty
    line inside a hunk, which GNU patch reads as empty context, has tag
    ``" "`` and content ``b"\\n"``).  A ``"\\"`` line marks that the line
    before it has no newline at end of file.
    """

    old_start: int
    old_len: int
    new_start: int
    new_len: int
    section: bytes = b""
    lines: tuple[tuple[str, bytes], ...] = ()

    def old_lines(self) -> list[bytes]:
        """The pre-image lines (context and removed), with their real line endings."""
        return self._side(REMOVED)

    def new_lines(self) -> list[bytes]:
        """The post-image lines (context and added), with their real line endings."""
        return self._side(ADDED)

    def _side(self, change: str) -> list[bytes]:
        out: list[bytes] = []
        last_kept = False
        for tag, content in self.lines:
            if tag == NO_NEWLINE:
                if last_kept and out:
                    out[-1] = _chomp(out[-1])
                continue
            last_kept = tag in (CONTEXT, change)
            if last_kept:
                out.append(content)
        return out

    @property
    def removed(self) -> list[bytes]:
        """Removed lines, as the old file has them."""
        return [c for t, c in self.marked_lines() if t == REMOVED]

    @property
    def added(self) -> list[bytes]:
        """Added lines, as the new file has them."""
        return [c for t, c in self.marked_lines() if t == ADDED]

    def marked_lines(self) -> list[tuple[str, bytes]]:
        """Lines without the ``\\`` markers, the line before one chomped."""
        out: list[tuple[str, bytes]] = []
        for tag, content in self.lines:
            if tag == NO_NEWLINE:
                if out:
                    out[-1] = (out[-1][0], _chomp(out[-1][1]))
                continue
            out.append((tag, content))
        return out

    def changes(self) -> list[tuple[str, bytes]]:
        """The removed and added lines in order; what ``refreshed`` compares."""
        return [(t, c) for t, c in self.marked_lines() if t != CONTEXT]


@dataclass(frozen=True)
class FileDiff:
    """The diff of one file.

    ``old_path``/``new_path`` are the names as written (``None`` for
    ``/dev/null``), ``old_name``/``new_name`` the same with their first
    component dropped, as ``patch -p1`` does.  ``raw`` is the exact bytes of
    this file diff (including any junk lines before it); ``preamble`` the
    lines before the first hunk (``Index:``, ``====``, ``diff``, ``index``,
    ``---``/``+++``).  ``binary`` holds a ``GIT binary patch`` block or a
    ``Binary files ... differ`` line.
    """

    raw: bytes
    old_path: str | None
    new_path: str | None
    old_name: str | None
    new_name: str | None
    preamble: bytes = b""
    hunks: tuple[Hunk, ...] = ()
    binary: bytes | None = None
    is_new: bool = False
    is_deleted: bool = False
    old_mode: str | None = None
    new_mode: str | None = None
    git: bool = False

    @property
    def name(self) -> str:
        """The -p1 path this diff is about (the new name, or the old one for a deletion)."""
        name = self.new_name if self.new_name is not None else self.old_name
        return name if name is not None else ""

    @property
    def is_binary(self) -> bool:
        return self.binary is not None

    @property
    def is_rename(self) -> bool:
        return (
            self.old_name is not None
            and self.new_name is not None
            and self.old_name != self.new_name
            and not self.is_new
            and not self.is_deleted
        )


@dataclass(frozen=True)
class ParsedPatch:
    """A whole patch: ``header``, per-file diffs and a ``trailer``.

    ``trailer`` is what follows the last hunk (a ``-- `` signature, blank
    lines).  ``diff_part`` is everything after the header.
    """

    data: bytes
    header: bytes
    files: tuple[FileDiff, ...] = field(default_factory=tuple)
    trailer: bytes = b""

    @property
    def diff_part(self) -> bytes:
        return self.data[len(self.header) :]

    def file(self, name: str) -> FileDiff | None:
        """The diff of the file with -p1 path ``name``, if any."""
        for f in self.files:
            if f.name == name:
                return f
        return None


def split_lines(data: bytes) -> list[bytes]:
    r"""Lines split on ``\n`` only, each keeping its ending (``\r\n`` stays whole).

    >>> split_lines(b"a\r\nb\rc\nd")
    [b'a\r\n', b'b\rc\n', b'd']
    """
    lines = data.split(b"\n")
    out = [line + b"\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def _chomp(line: bytes) -> bytes:
    if line.endswith(b"\r\n"):
        return line[:-2]
    if line.endswith(b"\n"):
        return line[:-1]
    return line


def _eol_strip(line: bytes) -> bytes:
    return line.rstrip(b"\r\n")


def _decode(name: bytes) -> str:
    # surrogateescape keeps any byte: the path round-trips with os.fsencode.
    return name.decode("utf-8", "surrogateescape")


def unquote_c(text: bytes) -> bytes:
    r"""Undo git's C-style quoting of a path (``"a/t\303\244b"``).

    >>> unquote_c(rb'"a/sp ace\t\303\244"')
    b'a/sp ace\t\xc3\xa4'
    """
    if not (len(text) >= 2 and text.startswith(b'"') and text.endswith(b'"')):
        return text
    body = text[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != ord("\\"):
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(body):
            raise PatchError(f"bad quoted path {_decode(text)!r}")
        nxt = body[i + 1]
        if nxt in _C_ESCAPES:
            out.append(_C_ESCAPES[nxt])
            i += 2
        elif 0x30 <= nxt <= 0x37:
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(0x30 <= d <= 0x37 for d in digits):
                raise PatchError(f"bad octal escape in quoted path {_decode(text)!r}")
            out.append(int(digits, 8) & 0xFF)
            i += 4
        else:
            raise PatchError(f"bad escape in quoted path {_decode(text)!r}")
    return bytes(out)


def _take_quoted(text: bytes) -> tuple[bytes, bytes]:
    """Split a leading C-quoted string off ``text``: (quoted, rest)."""
    i = 1
    while i < len(text):
        if text[i] == ord("\\"):
            i += 2
            continue
        if text[i] == ord('"'):
            return text[: i + 1], text[i + 1 :]
        i += 1
    raise PatchError(f"unterminated quoted path {_decode(text)!r}")


def parse_name_line(line: bytes) -> str | None:
    r"""The path of a ``--- X`` / ``+++ Y`` line; ``None`` for /dev/null.

    A tab ends the name (diff -u, git for names with spaces); otherwise a
    trailing timestamp is dropped.

    >>> parse_name_line(b"--- a/x y.c\t2006-02-17 10:14:38.000000000 +0100\n")
    'a/x y.c'
    >>> parse_name_line(b'+++ "b/t\\303\\244b"\n')
    'b/t\xe4b'
    >>> parse_name_line(b"--- /dev/null\n") is None
    True
    """
    rest = _eol_strip(line[4:])
    if rest.startswith(b'"'):
        quoted, _ = _take_quoted(rest)
        name = unquote_c(quoted)
    elif b"\t" in rest:
        name = rest.split(b"\t", 1)[0]
    else:
        name = _TRAILING_DATE_RE.sub(b"", rest).rstrip(b" ")
    decoded = _decode(name)
    return None if decoded == DEV_NULL else decoded


def strip_path(path: str | None, strip: int = 1) -> str | None:
    """``path`` without its first ``strip`` components, as ``patch -pN`` does.

    A path with fewer components keeps its last one (GNU patch would fail;
    comparing by the name is the useful fallback).

    >>> strip_path("linux-2.6.32.orig/arch/x86/Kconfig")
    'arch/x86/Kconfig'
    >>> strip_path("a//b/c", 1)
    'b/c'
    """
    if path is None:
        return None
    parts = [p for p in path.split("/") if p]
    if len(parts) <= strip:
        return parts[-1] if parts else path
    return "/".join(parts[strip:])


def _git_names(line: bytes) -> tuple[str | None, str | None]:
    """Old and new names of a ``diff --git`` line (with their a/ b/ prefixes)."""
    rest = _eol_strip(line[len(b"diff --git ") :])
    if rest.startswith(b'"'):
        first, tail = _take_quoted(rest)
        old = unquote_c(first)
        tail = tail.lstrip(b" ")
        new = unquote_c(tail) if tail.startswith(b'"') else tail
        return _decode(old), _decode(new)
    if rest.endswith(b'"'):
        idx = rest.rfind(b' "')
        if idx >= 0:
            return _decode(rest[:idx]), _decode(unquote_c(rest[idx + 1 :]))
    # Unquoted names may contain spaces: git itself only trusts the split
    # where both halves name the same file ("a/P b/P").
    half = (len(rest) - 1) // 2
    if len(rest) % 2 == 1 and rest[half : half + 1] == b" ":
        old_b, new_b = rest[:half], rest[half + 1 :]
        if strip_path(_decode(old_b)) == strip_path(_decode(new_b)):
            return _decode(old_b), _decode(new_b)
    parts = rest.split(b" ")
    if len(parts) == 2:
        return _decode(parts[0]), _decode(parts[1])
    return None, None


class _Lines:
    """A cursor over the patch's lines that knows their byte offsets."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.lines = split_lines(data)
        self.offsets: list[int] = [0, *itertools.accumulate(map(len, self.lines))]

    def __len__(self) -> int:
        return len(self.lines)

    def get(self, i: int) -> bytes:
        return self.lines[i] if 0 <= i < len(self.lines) else b""


def _is_pair(lines: _Lines, i: int) -> bool:
    return lines.get(i).startswith(b"--- ") and lines.get(i + 1).startswith(b"+++ ")


def is_file_start(lines: _Lines, i: int) -> bool:
    """Whether line ``i`` starts a file diff (see the module docstring)."""
    line = lines.get(i)
    if line.startswith(b"diff --git "):
        return True
    if line.startswith(b"Index: "):
        nxt = lines.get(i + 1)
        return nxt.startswith(b"====") or _is_pair(lines, i + 1)
    if line.startswith(b"diff "):
        return _is_pair(lines, i + 1)
    if _is_pair(lines, i):
        return lines.get(i + 2).startswith(b"@@ ")
    return False


def _looks_like_diff(lines: _Lines) -> int | None:
    """The first line that only a diff would have, for a patch with no file start."""
    for i, line in enumerate(lines.lines):
        if line.startswith((b"@@ -", b"+++ ", b"GIT binary patch")):
            return i
    return None


def parse_patch(data: bytes, *, where: str = "") -> ParsedPatch:
    """Parse ``data`` losslessly; :class:`PatchError` where it is not a sound patch.

    ``where`` (a file name) prefixes the error, so the caller's warning
    names the patch.  A patch with no file diff at all (an empty patch, a
    description only) has every byte in ``header``.
    """
    try:
        return _parse(data, where)
    except PatchError as exc:
        if exc.where is None and where:
            raise PatchError(exc.message, where=where) from None
        raise


class ParseCache:
    """Each distinct patch parsed at most once: what the comparison parsed, sync reuses.

    One cache serves a whole cycle (:mod:`patchsync.cycle`): a KOTD patch
    compared with several targets, a rename candidate classified again, a
    patch sync reverts and applies (in released mode perhaps in a replay
    too) are each parsed once.  Failures are remembered as well and raised
    again naming the caller's ``where``.  It keeps every parse until it is
    dropped, so ``check`` (which never syncs) does without one.
    """

    def __init__(self) -> None:
        # A failure is kept as its message: an exception would keep the
        # parser's frames (and their line lists) alive through its traceback.
        self._done: dict[bytes, ParsedPatch | str] = {}

    def parse(self, data: bytes, *, where: str = "") -> ParsedPatch:
        """:func:`parse_patch`, remembered."""
        found = self._done.get(data)
        if found is None:
            try:
                found = _parse(data, "")
            except PatchError as exc:
                found = exc.message
            self._done[data] = found
        if isinstance(found, str):
            raise PatchError(found, where=where or None)
        return found


def _parse(data: bytes, where: str) -> ParsedPatch:
    lines = _Lines(data)
    n = len(lines)
    first = next((i for i in range(n) if is_file_start(lines, i)), None)
    if first is None:
        bad = _looks_like_diff(lines)
        if bad is not None:
            raise PatchError(f"line {bad + 1}: diff content without a file header", where=where or None)
        return ParsedPatch(data=data, header=data)
    header = data[: lines.offsets[first]]
    files: list[FileDiff] = []
    i = first
    junk_start = first
    while i < n:
        fd, i = _parse_file(lines, i, junk_start, where)
        files.append(fd)
        # Lines up to the next file start are kept with that file's raw
        # bytes (or in the trailer after the last one).
        junk_start = i
        while i < n and not is_file_start(lines, i):
            if lines.get(i).startswith(b"@@ -"):
                raise PatchError(f"line {i + 1}: hunk outside a file diff", where=where or None)
            i += 1
    trailer = data[lines.offsets[junk_start] :]
    parsed = ParsedPatch(data=data, header=header, files=tuple(files), trailer=trailer)
    if parsed.header + b"".join(f.raw for f in parsed.files) + parsed.trailer != data:
        raise AssertionError("parse_patch lost bytes")  # pragma: no cover - invariant
    return parsed


def _parse_file(  # noqa: PLR0912, PLR0915  one state machine over the extended header lines
    lines: _Lines, start: int, raw_start: int, where: str
) -> tuple[FileDiff, int]:
    """Parse the file diff starting at line ``start``; returns it and the next line."""
    i = start
    git = False
    old_path = new_path = None
    git_old = git_new = None
    rename_old = rename_new = None
    old_mode = new_mode = None
    is_new = is_deleted = False
    binary: bytes | None = None
    line = lines.get(i)
    if line.startswith(b"Index: "):
        i += 1
        if lines.get(i).startswith(b"===="):
            i += 1
        line = lines.get(i)
    if line.startswith(b"diff --git "):
        git = True
        git_old, git_new = _git_names(line)
        i += 1
        while lines.get(i).startswith(_GIT_EXTENDED):
            ext = lines.get(i)
            value = _eol_strip(ext.split(b" ", 2)[-1]) if not ext.startswith(b"index ") else b""
            if ext.startswith((b"rename from ", b"copy from ", b"rename old ")):
                rename_old = _decode(unquote_c(_eol_strip(ext.split(b" ", 2)[2])))
            elif ext.startswith((b"rename to ", b"copy to ", b"rename new ")):
                rename_new = _decode(unquote_c(_eol_strip(ext.split(b" ", 2)[2])))
            elif ext.startswith(b"new file mode "):
                is_new, new_mode = True, _decode(_eol_strip(ext.split(b" ")[-1]))
            elif ext.startswith(b"deleted file mode "):
                is_deleted, old_mode = True, _decode(_eol_strip(ext.split(b" ")[-1]))
            elif ext.startswith(b"old mode "):
                old_mode = _decode(value.split(b" ")[-1])
            elif ext.startswith(b"new mode "):
                new_mode = _decode(value.split(b" ")[-1])
            i += 1
    elif line.startswith(b"diff ") and not line.startswith(b"diff --git "):
        i += 1
    if _is_pair(lines, i):
        old_path = parse_name_line(lines.get(i))
        new_path = parse_name_line(lines.get(i + 1))
        is_new = is_new or old_path is None
        is_deleted = is_deleted or new_path is None
        i += 2
    elif git:
        old_path = None if is_new else git_old
        new_path = None if is_deleted else git_new
    if git and lines.get(i).startswith(b"GIT binary patch"):
        j = _skip_git_binary(lines, i, where)
        binary = lines_bytes(lines, i, j)
        i = j
    elif git and lines.get(i).startswith(b"Binary files "):
        binary = lines.get(i)
        i += 1
    preamble_end = i
    hunks: list[Hunk] = []
    while lines.get(i).startswith(b"@@ "):
        hunk, i = _parse_hunk(lines, i, where)
        hunks.append(hunk)
    if old_path is None and new_path is None and not git:
        raise PatchError(f"line {start + 1}: file diff without ---/+++ names", where=where or None)
    old_name = strip_path(old_path)
    new_name = strip_path(new_path)
    if rename_old is not None:
        old_name = rename_old
    if rename_new is not None:
        new_name = rename_new
    if not hunks and binary is None and not git:
        raise PatchError(f"line {start + 1}: file diff without hunks", where=where or None)
    fd = FileDiff(
        raw=lines_bytes(lines, raw_start, i),
        old_path=old_path,
        new_path=new_path,
        old_name=None if is_new else old_name,
        new_name=None if is_deleted else new_name,
        preamble=lines_bytes(lines, start, preamble_end),
        hunks=tuple(hunks),
        binary=binary,
        is_new=is_new,
        is_deleted=is_deleted,
        old_mode=old_mode,
        new_mode=new_mode,
        git=git,
    )
    return fd, i


def lines_bytes(lines: _Lines, start: int, end: int) -> bytes:
    return lines.data[lines.offsets[start] : lines.offsets[end]]


def _skip_git_binary(lines: _Lines, i: int, where: str) -> int:
    """The line after a ``GIT binary patch`` block (forward and reverse parts)."""
    i += 1
    blocks = 0
    while re.match(rb"^(literal|delta) \d+\r?\n?$", lines.get(i)):
        i += 1
        while i < len(lines) and _eol_strip(lines.get(i)):
            i += 1
        if i < len(lines):
            i += 1  # the blank line ending the block
        blocks += 1
    if blocks == 0:
        raise PatchError(f"line {i + 1}: GIT binary patch without literal/delta data", where=where or None)
    return i


def _parse_hunk(lines: _Lines, i: int, where: str) -> tuple[Hunk, int]:
    match = _HUNK_RE.match(lines.get(i))
    if match is None:
        raise PatchError(f"line {i + 1}: malformed hunk header", where=where or None)
    old_start, old_len_s, new_start, new_len_s, section = match.groups()
    old_len = 1 if old_len_s is None else int(old_len_s)
    new_len = 1 if new_len_s is None else int(new_len_s)
    first = i
    i += 1
    old_left, new_left = old_len, new_len
    body: list[tuple[str, bytes]] = []
    # The hot loop of every comparison: plain list access and byte codes.
    seq = lines.lines
    n = len(seq)
    while old_left > 0 or new_left > 0:
        if i >= n:
            raise PatchError(f"line {first + 1}: hunk ends early (patch truncated)", where=where or None)
        line = seq[i]
        code = line[0]
        if code == _SPACE or line in (b"\n", b"\r\n"):
            # An empty line is empty context: GNU patch accepts what
            # whitespace-stripping mailers make of " \n".
            if old_left == 0 or new_left == 0:
                break
            body.append((CONTEXT, line[1:] if code == _SPACE else line))
            old_left -= 1
            new_left -= 1
        elif code == _MINUS and old_left > 0:
            body.append((REMOVED, line[1:]))
            old_left -= 1
        elif code == _PLUS and new_left > 0:
            body.append((ADDED, line[1:]))
            new_left -= 1
        elif code == _BACKSLASH and body:
            body.append((NO_NEWLINE, line[1:]))
        else:
            break
        i += 1
    if old_left or new_left:
        raise PatchError(
            f"line {first + 1}: hunk promises {old_len} old and {new_len} new lines, "
            f"has {old_len - old_left} and {new_len - new_left}",
            where=where or None,
        )
    if lines.get(i).startswith(b"\\"):
        body.append((NO_NEWLINE, lines.get(i)[1:]))
        i += 1
    hunk = Hunk(
        old_start=int(old_start),
        old_len=old_len,
        new_start=int(new_start),
        new_len=new_len,
        section=section,
        lines=tuple(body),
    )
    return hunk, i
