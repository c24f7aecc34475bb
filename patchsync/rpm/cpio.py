"""A push parser for the cpio archive inside an RPM payload.

Format: SVR4 "new ASCII" cpio, as written by rpm (lib/cpio.c) and described
in cpio(5) (libarchive's cpio.5, "New ASCII Format") and the kernel's
Documentation/driver-api/early-userspace/buffer-format.rst::

    header (110 bytes: 6-byte magic + 13 fields of 8 hex digits)
    name (namesize bytes, NUL included), padded to a multiple of 4
    data (filesize bytes), padded to a multiple of 4
    ... and a last entry named "TRAILER!!!".

The walker is fed decompressed bytes as they come and keeps only the members
it is asked for; everything else is skipped by counting, never copied.  It
never keeps a reference to the buffer it is fed (callers may reuse it).
"""

from __future__ import annotations

import hashlib
import stat
from collections.abc import Mapping
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
#: rpm's "stripped" cpio for packages with files of 4 GB or more (lib/cpio.c, rpm >= 4.12).
MAGIC_STRIPPED = b"07070X"
#: Fixed header length: 6-byte magic + 13 eight-digit hex fields.
HEADER_SIZE = 110
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


class CpioWalker:
    """Collect the wanted members of a cpio stream; ``done`` once all are in or the trailer is reached.

    ``wanted`` maps member names (see :func:`member_key`) to the RPM header's
    entry, whose size and digest every collected member must match.
    """

    def __init__(self, wanted: Mapping[str, RpmFileEntry], *, where: str, max_member: int) -> None:
        self.where = where
        self.max_member = max_member
        self.wanted = dict(wanted)
        self.found: dict[str, bytes] = {}
        self.done = not self.wanted
        self.offset = 0
        self._buf = bytearray()
        self._need = HEADER_SIZE
        self._skip = 0
        self._name = ""
        self._left = 0
        self._parts: list[bytes] = []
        self._hash: _Hash | None = None
        self._fields: list[int] = []

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
                take = min(self._need - len(self._buf), end - pos)
                self._buf += view[pos : pos + take]
                pos += take
                if len(self._buf) == self._need:
                    self._header()
        self.offset += pos
        return self.done

    def _header(self) -> None:
        buf = self._buf
        if len(buf) == HEADER_SIZE:
            magic = bytes(buf[:6])
            if magic == MAGIC_STRIPPED:
                raise RpmError(
                    "payload uses rpm's stripped cpio format (files over 4 GB); not supported", where=self.where
                )
            if magic not in (MAGIC_NEWC, MAGIC_CRC):
                raise RpmError(f"corrupt payload: no cpio header at offset {self.offset}", where=self.where)
            try:
                fields = [int(buf[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
            except ValueError:
                raise RpmError(f"corrupt payload: bad cpio header at offset {self.offset}", where=self.where) from None
            namesize = fields[_FIELD_NAMESIZE]
            if not 1 < namesize <= MAX_NAME:
                raise RpmError(f"corrupt payload: cpio name of {namesize} bytes", where=self.where)
            self._fields = fields
            self._need = HEADER_SIZE + namesize + _pad(HEADER_SIZE + namesize)
            return
        fields = self._fields
        namesize = fields[_FIELD_NAMESIZE]
        raw = bytes(buf[HEADER_SIZE : HEADER_SIZE + namesize])
        if raw[-1:] != b"\0":
            raise RpmError("corrupt payload: cpio name is not NUL-terminated", where=self.where)
        name = raw[:-1].decode("utf-8", "surrogateescape")
        self._buf = bytearray()
        self._need = HEADER_SIZE
        size = fields[_FIELD_FILESIZE]
        if name == TRAILER:
            self.done = True
            return
        key = member_key(name)
        entry = self.wanted.get(key)
        if entry is None:
            self._skip = size + _pad(size)
            return
        if not stat.S_ISREG(fields[_FIELD_MODE]):
            raise RpmError(f"payload member {key} is not a regular file", where=self.where)
        if size != entry.size:
            raise IntegrityError(
                f"payload member {key} has {size} bytes, the header declares {entry.size}", where=self.where
            )
        if size > self.max_member:
            raise RpmError(f"payload member {key} has {size} bytes, over the {self.max_member} limit", where=self.where)
        self._name = key
        self._parts = []
        self._hash = hashlib.new(entry.hash_name) if entry.hash_name and entry.digest else None
        if entry.digest and self._hash is None:
            raise RpmError(f"unknown file digest algorithm {entry.algo} for {key}", where=self.where)
        self._left = size
        if not size:
            self._finish_member()

    def _finish_member(self) -> None:
        name = self._name
        entry = self.wanted.pop(name)
        data = b"".join(self._parts)
        self._parts = []
        if self._hash is not None:
            actual = self._hash.hexdigest()
            if actual != entry.digest:
                raise IntegrityError(
                    f"{name} does not match the header's {entry.hash_name.upper()} digest: "
                    f"declared {entry.digest}, actual {actual}",
                    where=self.where,
                )
        self._hash = None
        self.found[name] = data
        self._skip = _pad(entry.size)
        if not self.wanted:
            self.done = True
