"""The per-file view of a patch that the applier needs.

Until :func:`patchsync.patches.parse.parse_patch` is on main this module
parses patches itself, just enough to apply them: ``diff --git`` extended
headers, ``---``/``+++`` pairs, hunks counted by their line numbers (so a
removed line starting with ``--`` is never taken for a header),
``\\ No newline at end of file``.  Everything is bytes; nothing is decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..errors import PatchError

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DEV_NULL = b"/dev/null"


@dataclass
class Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    #: (tag, line) with tag one of b" ", b"-", b"+", b"\\"; line without the tag, with its end of line.
    lines: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class FilePatch:
    old_path: bytes | None  # None for a new file (/dev/null)
    new_path: bytes | None  # None for a deleted file
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False
    old_mode: bytes | None = None
    new_mode: bytes | None = None
    old_index: str | None = None

    @property
    def path(self) -> bytes:
        """The path the patch applies to after -p1 (the new one, unless deleted)."""
        found = self.new_path if self.new_path is not None else self.old_path
        assert found is not None
        return found

    @property
    def is_new(self) -> bool:
        return self.old_path is None

    @property
    def is_deleted(self) -> bool:
        return self.new_path is None


def split_lines(data: bytes) -> list[bytes]:
    """Lines ending in ``\\n`` (kept, with any ``\\r``); the last may lack it.

    Unlike ``bytes.splitlines`` a lone ``\\r`` stays inside its line.
    """
    parts = data.split(b"\n")
    lines = [part + b"\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _strip1(raw: bytes) -> bytes | None:
    """A ``---``/``+++`` path after -p1, without a timestamp; None for /dev/null."""
    path = raw.split(b"\t", 1)[0].rstrip(b"\r\n")
    if path.startswith(b'"') and path.endswith(b'"'):
        path = _unquote(path[1:-1])
    if path == _DEV_NULL:
        return None
    _, sep, rest = path.partition(b"/")
    return rest if sep else path


def _unquote(text: bytes) -> bytes:
    """git's C-style quoting of unusual paths (quote.c)."""
    out = bytearray()
    i = 0
    escapes = {
        ord("n"): 10,
        ord("t"): 9,
        ord('"'): 34,
        ord("\\"): 92,
        ord("a"): 7,
        ord("b"): 8,
        ord("f"): 12,
        ord("r"): 13,
        ord("v"): 11,
    }
    while i < len(text):
        c = text[i]
        if c == 92 and i + 1 < len(text):
            nxt = text[i + 1]
            if 48 <= nxt <= 55 and i + 3 < len(text) + 1:
                out.append(int(text[i + 1 : i + 4], 8))
                i += 4
                continue
            out.append(escapes.get(nxt, nxt))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def parse_files(data: bytes, where: str = "") -> list[FilePatch]:
    """The file diffs of a patch, in order; headers and trailing text are skipped."""
    lines = split_lines(data)
    files: list[FilePatch] = []
    git_meta: dict[str, bytes] = {}
    i = 0
    n = len(lines)
    while i < n:
        line = lines[i]
        if line.startswith(b"diff --git "):
            git_meta = {}
            rest = line[len(b"diff --git ") :].rstrip(b"\r\n")
            # Unambiguous only without spaces in paths; enough to name a binary diff.
            git_meta["path"] = rest.rpartition(b" ")[2]
        elif line.startswith((b"new file mode ", b"deleted file mode ", b"old mode ", b"new mode ")):
            key, _, value = line.rstrip(b"\r\n").rpartition(b" ")
            git_meta[key.decode()] = value
        elif line.startswith(b"index ") and b".." in line:
            git_meta["index"] = line.split()[1].split(b"..")[0]
        elif line.startswith((b"GIT binary patch", b"Binary files ")):
            path = _strip1(git_meta.get("path", b"/dev/null"))
            files.append(FilePatch(path, path, binary=True))
        elif line.startswith(b"--- ") and i + 1 < n and lines[i + 1].startswith(b"+++ "):
            fp = FilePatch(_strip1(line[4:]), _strip1(lines[i + 1][4:]))
            fp.old_mode = git_meta.get("old mode") or git_meta.get("deleted file mode")
            fp.new_mode = git_meta.get("new mode") or git_meta.get("new file mode")
            index = git_meta.get("index")
            fp.old_index = index.decode() if index and set(index) != {ord("0")} else None
            files.append(fp)
            i += 2
            while i < n:
                m = _HUNK.match(lines[i])
                if not m:
                    break
                hunk = Hunk(
                    int(m[1]),
                    int(m[2]) if m[2] is not None else 1,
                    int(m[3]),
                    int(m[4]) if m[4] is not None else 1,
                )
                i += 1
                old_left, new_left = hunk.old_len, hunk.new_len
                while i < n and (old_left > 0 or new_left > 0 or lines[i].startswith(b"\\")):
                    body = lines[i]
                    tag = body[:1]
                    if tag in (b"\n", b"\r"):
                        # Some tools drop the space of an empty context line.
                        tag, body = b" ", b" " + body
                    if tag == b" ":
                        old_left -= 1
                        new_left -= 1
                    elif tag == b"-":
                        old_left -= 1
                    elif tag == b"+":
                        new_left -= 1
                    elif tag != b"\\":
                        raise PatchError(f"hunk ends early at line {i + 1}", where=where or None)
                    hunk.lines.append((tag, body[1:]))
                    i += 1
                if old_left or new_left:
                    raise PatchError(f"truncated hunk before line {i + 1}", where=where or None)
                fp.hunks.append(hunk)
            continue
        i += 1
    return files
