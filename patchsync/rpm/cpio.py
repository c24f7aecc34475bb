"""A push parser for the cpio archive inside an RPM payload.

Format: SVR4 "new ASCII" cpio, as written by rpm (lib/cpio.c) and described
in cpio(5) (libarchive's cpio.5, "New ASCII Format") and the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst::

    header (110 bytes: 6-byte magic + 13 fields of 8 hex digits)
    name (namesize bytes, NUL included), padded to a multiple of 4
    data (filesize bytes), padded to a multiple of 4
    ... and a last entry named "TRAILER!!!".

rpm's "stripped" variant (``07070X``; every v6 payload, and v4 packages
with files of 4 GB or more) replaces the header and name by the file's
index in the RPM header (rpm's ``docs/manual/format_v6.md`` "Payload",
``lib/cpio.c`` rpmcpioStrippedHeaderWrite)::

    "07070X" + 8 hex digits (file index), padded to a multiple of 4
    data, its size taken from the RPM header, padded to a multiple of 4

and ends with the same newc trailer.  In both, the data of a set of hard
links is stored once, with the last file of the set in header order
(``lib/rpmfi.c`` rpmfiArchiveHasContent); the others carry none.

The walker is fed decompressed bytes as they come and keeps only the members
it is asked for; everything else is skipped by counting, never copied.  It
never keeps a reference to the buffer it is fed (callers may reuse it).
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

from ..errors import IntegrityError, RpmError
from .header import RpmFileEntry, member_key

if TYPE_CHECKING:
    from hashlib import _Hash

#: "newc" magic (cpio(5): New ASCII Format).
MAGIC_NEWC = b"070701"
#: "crc" magic: newc plus a 32-bit byte sum of the data in the check field.  The sum
#: is not verified: members we keep are checked against the RPM header's digest.
MAGIC_CRC = b"070702"
#: rpm's "stripped" cpio (lib/cpio.c CPIO_STRIPPED_MAGIC): v6 payloads, v4 ones with files of 4 GB or more.
MAGIC_STRIPPED = b"07070X"
#: Every magic is six bytes.
MAGIC_SIZE = 6
#: Fixed newc header length: 6-byte magic + 13 eight-digit hex fields.
HEADER_SIZE = 110
#: Stripped header length: 6-byte magic + the file index in 8 hex digits (lib/cpio.c).
STRIPPED_HEADER_SIZE = 14
#: A stripped file index of all ones ends the archive like the trailer (lib/cpio.c rpmcpioHeaderRead).
STRIPPED_END = 0xFFFFFFFF
#: Headers, names and data are padded to this boundary.
ALIGN = 4
#: The name of the entry that ends the archive.
TRAILER = "TRAILER!!!"
#: Longest member name accepted (Linux PATH_MAX); rpm's own limit is the same.
MAX_NAME = 4096

_FIELD_MODE = 1
_FIELD_FILESIZE = 6
_FIELD_NAMESIZE = 11


def _pad(n: int) -> int:
    return -n % ALIGN


def hardlink_sets(files: Sequence[RpmFileEntry]) -> dict[int, int]:
    """File index -> the index whose payload entry carries the data, for hard-linked files only.

    rpm groups the regular, non-ghost files of equal (device, inode) and
    stores the data with the set's last file (lib/rpmfi.c).

    >>> f = [RpmFileEntry(n, 3, "d", 8, 0o100644, 0, "", (1, i)) for n, i in (("a", 7), ("b", 8), ("c", 7))]
    >>> hardlink_sets(f)
    {0: 2, 2: 2}
    """
    sets: dict[tuple[int, int], list[int]] = {}
    for fx, entry in enumerate(files):
        if entry.is_regular and not entry.is_ghost and entry.inode[1] > 0:
            sets.setdefault(entry.inode, []).append(fx)
    return {fx: members[-1] for members in sets.values() if len(members) > 1 for fx in members}


class CpioWalker:
    """Collect the data of the wanted files of a cpio stream; ``done`` once all are in or the trailer is reached.

    ``files`` is the RPM header's file list; ``wanted`` the indices in it of
    the files to keep.  Each collected member must match its header entry's
    size and digest; ``found`` maps their :func:`member_key` to the bytes.
    """

    def __init__(self, files: Sequence[RpmFileEntry], wanted: Collection[int], *, where: str, max_member: int) -> None:
        self.where = where
        self.max_member = max_member
        self.files = files
        self._by_key = {member_key(f.name): fx for fx, f in enumerate(files)}
        self._carrier = hardlink_sets(files)
        #: data-carrying file index -> the wanted indices it satisfies.
        self._need: dict[int, list[int]] = {}
        for fx in wanted:
            self._need.setdefault(self._carrier.get(fx, fx), []).append(fx)
        self.found: dict[str, bytes] = {}
        self.done = not self._need
        self.offset = 0
        self._buf = bytearray()
        self._need_bytes = MAGIC_SIZE
        self._skip = 0
        self._fx = -1
        self._carried = -1
        self._left = 0
        self._parts: list[bytes] = []
        self._hash: _Hash | None = None
        self._fields: list[int] = []

    @property
    def missing(self) -> list[str]:
        """Names of the wanted files not (yet) collected."""
        return sorted(member_key(self.files[fx].name) for fxs in self._need.values() for fx in fxs)

    def feed(self, data: bytes | bytearray | memoryview) -> bool:
        """Consume decompressed bytes; True once nothing more is needed."""
        view = memoryview(data)
        pos = 0
        end = len(view)
        while pos < end and not self.done:
            if self._skip:
                take = min(self._skip, end - pos)
                self._skip -= take
                pos += take
            elif self._left:
                take = min(self._left, end - pos)
                piece = bytes(view[pos : pos + take])
                self._parts.append(piece)
                if self._hash is not None:
                    self._hash.update(piece)
                self._left -= take
                pos += take
                if not self._left:
                    self._finish_member()
            else:
                take = min(self._need_bytes - len(self._buf), end - pos)
                self._buf += view[pos : pos + take]
                pos += take
                if len(self._buf) == self._need_bytes:
                    self._header(self.offset + pos - len(self._buf))
        self.offset += pos
        return self.done

    def _header(self, at: int) -> None:
        """A complete piece of header is in ``_buf`` (which started at stream offset ``at``)."""
        buf = self._buf
        if len(buf) == MAGIC_SIZE:
            magic = bytes(buf)
            if magic == MAGIC_STRIPPED:
                self._need_bytes = STRIPPED_HEADER_SIZE + _pad(STRIPPED_HEADER_SIZE)
            elif magic in (MAGIC_NEWC, MAGIC_CRC):
                self._need_bytes = HEADER_SIZE
            else:
                raise RpmError(f"corrupt payload: no cpio header at offset {at}", where=self.where)
            return
        if bytes(buf[:MAGIC_SIZE]) == MAGIC_STRIPPED:
            self._stripped(at)
            return
        if len(buf) == HEADER_SIZE:
            try:
                fields = [int(buf[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
            except ValueError:
                raise RpmError(f"corrupt payload: bad cpio header at offset {at}", where=self.where) from None
            namesize = fields[_FIELD_NAMESIZE]
            if not 1 < namesize <= MAX_NAME:
                raise RpmError(f"corrupt payload: cpio name of {namesize} bytes", where=self.where)
            self._fields = fields
            self._need_bytes = HEADER_SIZE + namesize + _pad(HEADER_SIZE + namesize)
            return
        fields = self._fields
        namesize = fields[_FIELD_NAMESIZE]
        raw = bytes(buf[HEADER_SIZE : HEADER_SIZE + namesize])
        if raw[-1:] != b"\0":
            raise RpmError("corrupt payload: cpio name is not NUL-terminated", where=self.where)
        name = raw[:-1].decode("utf-8", "surrogateescape")
        self._reset()
        size = fields[_FIELD_FILESIZE]
        if name == TRAILER:
            self.done = True
            return
        fx = self._by_key.get(member_key(name), -1)
        self._entry(fx, size, regular=stat.S_ISREG(fields[_FIELD_MODE]))

    def _stripped(self, at: int) -> None:
        try:
            fx = int(self._buf[MAGIC_SIZE:STRIPPED_HEADER_SIZE], 16)
        except ValueError:
            raise RpmError(f"corrupt payload: bad stripped cpio header at offset {at}", where=self.where) from None
        self._reset()
        if fx == STRIPPED_END:
            self.done = True
            return
        if fx >= len(self.files):
            raise RpmError(
                f"corrupt payload: cpio entry for file {fx}, the header lists {len(self.files)}", where=self.where
            )
        entry = self.files[fx]
        # The size is not in the archive: rpm takes it from the header (lib/rpmfi.c iterReadArchiveNext).
        if entry.is_regular:
            size = entry.size if self._carrier.get(fx, fx) == fx else 0
        elif stat.S_ISLNK(entry.mode):
            size = entry.size  # the link target, inline
        else:
            size = 0
        self._entry(fx, size, regular=entry.is_regular)

    def _reset(self) -> None:
        self._buf = bytearray()
        self._need_bytes = MAGIC_SIZE

    def _entry(self, fx: int, size: int, *, regular: bool) -> None:
        """An archive entry for header file ``fx`` (-1: not in the header) with ``size`` bytes of data."""
        carrier = self._carrier.get(fx, fx)
        if fx < 0 or carrier not in self._need or (not size and carrier != fx):
            # Not wanted, or a hard link whose data comes with another entry of its set.
            self._skip = size + _pad(size)
            return
        entry = self.files[fx]
        key = member_key(entry.name)
        if not regular:
            raise RpmError(f"payload member {key} is not a regular file", where=self.where)
        if size != entry.size:
            raise IntegrityError(
                f"payload member {key} has {size} bytes, the header declares {entry.size}", where=self.where
            )
        if size > self.max_member:
            raise RpmError(f"payload member {key} has {size} bytes, over the {self.max_member} limit", where=self.where)
        self._fx = fx
        self._carried = carrier
        self._parts = []
        self._hash = hashlib.new(entry.hash_name) if entry.hash_name and entry.digest else None
        if entry.digest and self._hash is None:
            raise RpmError(f"unknown file digest algorithm {entry.algo} for {key}", where=self.where)
        self._left = size
        if not size:
            self._finish_member()

    def _finish_member(self) -> None:
        fx = self._fx
        entry = self.files[fx]
        data = b"".join(self._parts)
        self._parts = []
        if self._hash is not None:
            actual = self._hash.hexdigest()
            if actual != entry.digest:
                raise IntegrityError(
                    f"{member_key(entry.name)} does not match the header's {entry.hash_name.upper()} digest: "
                    f"declared {entry.digest}, actual {actual}",
                    where=self.where,
                )
        self._hash = None
        for wanted in self._need.pop(self._carried):
            self.found[member_key(self.files[wanted].name)] = data
        self._skip = _pad(entry.size)
        if not self._need:
            self.done = True
