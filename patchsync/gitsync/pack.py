"""The pieces of git's pack format that sync writes: entry headers and deltas.

Everything here follows Documentation/gitformat-pack.txt ("pack-*.pack
files have the following format", "Deltified representation"); it is pure
byte work, no I/O.
"""

from __future__ import annotations

import struct

#: Object type numbers of pack entries ("Object types").
OBJ_COMMIT, OBJ_TREE, OBJ_BLOB, OBJ_TAG = 1, 2, 3, 4
#: A delta whose base is named by its object id, in this pack or (in a thin
#: pack) in the receiving repository.
OBJ_REF_DELTA = 7

TYPE_CODES = {b"commit": OBJ_COMMIT, b"tree": OBJ_TREE, b"blob": OBJ_BLOB, b"tag": OBJ_TAG}
TYPE_NAMES = {code: name for name, code in TYPE_CODES.items()}

#: The largest copy one delta instruction can express (three size bytes).
_MAX_COPY = 0xFFFFFF
#: The longest literal one insert instruction carries (its opcode is the length).
_MAX_INSERT = 0x7F


def pack_header(count: int) -> bytes:
    """The 12 bytes that open a version 2 pack of ``count`` objects.

    >>> pack_header(3).hex()
    '5041434b0000000200000003'
    """
    return b"PACK" + struct.pack(">II", 2, count)


def entry_header(type_code: int, size: int) -> bytes:
    """An entry's type and (uncompressed) size: 3 type bits, then 4 + 7n size bits.

    >>> entry_header(OBJ_BLOB, 5).hex()
    '35'
    >>> entry_header(OBJ_TREE, 300).hex()
    'ac12'
    """
    out = bytearray([(type_code << 4) | (size & 0x0F)])
    size >>= 4
    while size:
        out[-1] |= 0x80
        out.append(size & 0x7F)
        size >>= 7
    return bytes(out)


def parse_entry_header(data: bytes) -> tuple[int, int, int]:
    """(type, size, header length) of the entry that starts ``data``.

    >>> parse_entry_header(entry_header(OBJ_TREE, 300) + b"rest")
    (2, 300, 2)
    """
    byte = data[0]
    type_code = (byte >> 4) & 0x07
    size = byte & 0x0F
    shift, pos = 4, 1
    while byte & 0x80:
        byte = data[pos]
        size |= (byte & 0x7F) << shift
        shift += 7
        pos += 1
    return type_code, size, pos


def _varint(n: int) -> bytes:
    """A delta's size field: 7 bits a byte, least significant first."""
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


class DeltaWriter:
    """Builds a delta from copies of the base and new bytes, in result order."""

    def __init__(self) -> None:
        self._ops = bytearray()
        self.result_size = 0

    def copy(self, offset: int, length: int) -> None:
        self.result_size += length
        while length > 0:
            step = min(length, _MAX_COPY)
            op = 0x80
            args = bytearray()
            for i in range(4):
                byte = (offset >> (8 * i)) & 0xFF
                if byte:
                    op |= 1 << i
                    args.append(byte)
            for i in range(3):
                byte = (step >> (8 * i)) & 0xFF
                if byte:
                    op |= 0x10 << i
                    args.append(byte)
            self._ops.append(op)
            self._ops += args
            offset += step
            length -= step

    def insert(self, data: bytes) -> None:
        self.result_size += len(data)
        for at in range(0, len(data), _MAX_INSERT):
            piece = data[at : at + _MAX_INSERT]
            self._ops.append(len(piece))
            self._ops += piece

    def finish(self, base_size: int) -> bytes:
        return _varint(base_size) + _varint(self.result_size) + bytes(self._ops)


def apply_delta(base: bytes, delta: bytes) -> bytes:
    """The object ``delta`` makes of ``base``; ValueError where they do not fit.

    >>> w = DeltaWriter(); w.copy(0, 3); w.insert(b"XY"); w.copy(4, 2)
    >>> apply_delta(b"abcdef", w.finish(6))
    b'abcXYef'
    """
    pos = 0

    def varint() -> int:
        nonlocal pos
        n = shift = 0
        while True:
            byte = delta[pos]
            pos += 1
            n |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return n

    if varint() != len(base):
        raise ValueError("delta base size mismatch")
    size = varint()
    out = bytearray()
    end = len(delta)
    while pos < end:
        op = delta[pos]
        pos += 1
        if op & 0x80:
            offset = length = 0
            for i in range(4):
                if op & (1 << i):
                    offset |= delta[pos] << (8 * i)
                    pos += 1
            for i in range(3):
                if op & (0x10 << i):
                    length |= delta[pos] << (8 * i)
                    pos += 1
            length = length or 0x10000
            if offset + length > len(base):
                raise ValueError("delta copies past its base")
            out += base[offset : offset + length]
        elif op:
            out += delta[pos : pos + op]
            pos += op
        else:
            raise ValueError("delta opcode 0 is reserved")
    if len(out) != size:
        raise ValueError("delta result size mismatch")
    return bytes(out)
