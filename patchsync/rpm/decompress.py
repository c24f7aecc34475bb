"""Streaming decompressors for RPM payloads: gzip, bzip2, xz, lzma and zstd.

Each takes an :class:`Input` (the compressed payload, read in small slices)
and yields decompressed chunks of bounded size; a malformed stream raises
:class:`Corrupt`.  Nothing here holds the payload whole or decompresses any
of it twice.

gzip and xz are decoded by hand around zlib's raw inflate and liblzma's raw
LZMA2 decoder, so that the compressors' own checks, gzip's CRC-32 and
ISIZE and the check of each xz block (SHA-256 in what rpm writes), are not
computed: they would hash every decompressed byte of the Linux tarball the
walk skips, which costs as much as the whole walk for gzip and twelve
times it for xz (docs/benchmarks.md, "Own gzip and xz decoders").  What
those checks would catch is caught by the RPM's own digests, which are
stronger and are checked whatever the compressor:

* every member kept (the patch tarball, series.conf) is compared with its
  FILEDIGESTS entry from the digest-checked (and, with ``source.keys``,
  signed) main header, so a stream that decodes to other bytes for a kept
  member, whatever the corruption and wherever it sits, is refused;
* the payload digest (RPMTAG_PAYLOADDIGEST, a SHA-256 over the compressed
  payload, the gzip CRC-32 and the xz block checks included) is checked on
  every download and every copy in the cache (``source.download``) before
  anything is extracted, and by ``extract --verify-payload``; a package
  built before rpm 4.14 has none, and the signature's MD5 over header and
  payload stands in, with a warning (with neither, a warning says the
  payload is not verified).

So the one thing left unchecked, on a local file read without
``--verify-payload``, is the decompressed bytes of members that are
skipped, which nothing uses.  ``tests/test_rpm_payload.py`` flips a
CRC-32 and an xz block check to prove both points.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    from hashlib import _Hash

#: Compressed bytes handed to the decompressor at a time.  Output stays near
#: this size for incompressible data (the Linux tarball), small enough for
#: malloc to reuse freed blocks instead of mapping fresh pages for each.
IN_CHUNK = 64 * 1024
#: Most bytes one decompressor call may return: bounds memory on a payload
#: that expands enormously (a decompression bomb).
OUT_CHUNK = 256 * 1024
# gzip member header (RFC 1952 section 2.3).
_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_DEFLATE = 8
_FHCRC, _FEXTRA, _FNAME, _FCOMMENT = 0x02, 0x04, 0x08, 0x10
_GZIP_FIXED = 10
_GZIP_TRAILER = 8


class _Decompressor(Protocol):
    """bz2.BZ2Decompressor and lzma.LZMADecompressor share this interface."""

    @property
    def eof(self) -> bool: ...

    @property
    def needs_input(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes | memoryview, max_length: int = ...) -> bytes: ...


class Corrupt(Exception):
    """The compressed stream is malformed (the caller turns this into an RpmError)."""


class Input:
    """The compressed payload, read in small slices into one reused buffer.

    Plain reads rather than mmap: mapped pages count against our resident
    size, and a file truncated under a mapping kills the process (SIGBUS).
    Whole-payload digests are updated here, so they see every byte once.
    """

    def __init__(self, fh: io.FileIO, start: int, end: int, hashers: list[_Hash]) -> None:
        self.fh = fh
        fh.seek(start)
        self.left = end - start
        self.hashers = hashers
        self.buf = bytearray(IN_CHUNK)
        self.view = memoryview(self.buf)

    def read_view(self) -> memoryview:
        """The next slice (empty at the end); valid until the next call."""
        want = min(IN_CHUNK, self.left)
        if not want:
            return self.view[:0]
        n = self.fh.readinto(self.view[:want]) or 0
        self.left -= n
        chunk = self.view[:n]
        for h in self.hashers:
            h.update(chunk)
        return chunk

    def read(self, size: int = -1) -> bytes:
        """File-like read for zstandard's stream reader."""
        want = self.left if size < 0 else min(size, self.left)
        data = self.fh.read(want) if want else b""
        self.left -= len(data)
        for h in self.hashers:
            h.update(data)
        return data

    def file_like(self) -> IO[bytes]:
        """Something with read() for zstandard: the file itself when nothing hashes along.

        The payload runs to the end of the file (its size was checked), so
        the file can be handed over as is, sparing a Python call per read.
        """
        if self.hashers:
            # Input has the read() the stream reader calls; zstandard's stubs ask for a full IO.
            return cast(IO[bytes], self)
        return cast(IO[bytes], self.fh)

    def drain(self) -> None:
        """Read the rest so the whole-payload digests see it (no decompression)."""
        if self.hashers:
            while self.read_view():
                pass


def _gzip_header_size(view: memoryview) -> int:
    """Length of the gzip member header at the start of ``view``."""
    if len(view) < _GZIP_FIXED or bytes(view[:2]) != _GZIP_MAGIC or view[2] != _GZIP_DEFLATE:
        raise Corrupt("not a gzip stream")
    flags = view[3]
    pos = _GZIP_FIXED
    if flags & _FEXTRA:
        if len(view) < pos + 2:
            raise Corrupt("truncated gzip header")
        pos += 2 + int.from_bytes(view[pos : pos + 2], "little")
    for flag in (_FNAME, _FCOMMENT):
        if flags & flag:
            nul = bytes(view[pos:]).find(b"\0")
            if nul < 0:
                raise Corrupt("gzip header too long")
            pos += nul + 1
    if flags & _FHCRC:
        pos += 2
    if pos > len(view):
        raise Corrupt("truncated gzip header")
    return pos


#: Every cpio magic (newc, crc, rpm's stripped) starts so; a gzip stream never does.
_CPIO_MAGIC_PREFIX = b"0707"


def _gzip(src: Input) -> Iterator[bytes | memoryview]:
    import zlib

    data = src.read_view()
    if bytes(data[: len(_CPIO_MAGIC_PREFIX)]) == _CPIO_MAGIC_PREFIX:
        # An uncompressed payload (%_binary_payload w.ufdio): rpm writes no compressor
        # tag, so "gzip" is assumed, and rpm reads it because zlib's gzread passes a
        # stream that is not gzip through unchanged.  We pass through a cpio one only.
        while data:
            yield data
            data = src.read_view()
        return
    # Raw deflate after our own header parse: zlib's gzip mode would also
    # CRC-32 every byte of the Linux tarball we skip (about half the time).
    # The RPM's digests cover what the CRC-32 would (module docstring), so
    # the trailer (CRC-32, ISIZE) is not even read.  rpm's gzdio writes a
    # single gzip member.
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    data = data[_gzip_header_size(data) :]
    try:
        while data:
            yield d.decompress(data, OUT_CHUNK)
            while d.unconsumed_tail:
                yield d.decompress(d.unconsumed_tail, OUT_CHUNK)
            if d.eof:
                return
            data = src.read_view()
    except zlib.error as exc:
        raise Corrupt(str(exc)) from None
    raise Corrupt("compressed stream ends early")


def _streaming(
    src: Input, factory: Callable[[], _Decompressor], errors: tuple[type[Exception], ...]
) -> Iterator[bytes]:
    """bzip2, xz and lzma: bounded output per call; concatenated streams are followed."""
    return _streaming_from(_Pushback(src), factory, errors)


def _streaming_from(
    rd: _Pushback, factory: Callable[[], _Decompressor], errors: tuple[type[Exception], ...]
) -> Iterator[bytes]:
    d = factory()
    pending: bytes | memoryview = b""
    try:
        while True:
            if d.needs_input:
                data = pending or rd.chunk()
                pending = b""
                if not data:
                    break
            else:
                data = b""
            yield d.decompress(data, OUT_CHUNK)
            if d.eof:
                pending = d.unused_data
                if not pending.strip(b"\0"):
                    pending = rd.chunk()
                    if not pending.strip(b"\0"):
                        return
                d = factory()
    except errors as exc:
        raise Corrupt(str(exc)) from None
    raise Corrupt("compressed stream ends early")


def _bzip2(src: Input) -> Iterator[bytes]:
    import bz2

    return _streaming(src, bz2.BZ2Decompressor, (OSError, ValueError))


# xz container (The .xz File Format 1.1.0, https://tukaani.org/xz/xz-file-format.txt).
_XZ_MAGIC = b"\xfd7zXZ\x00"
_XZ_STREAM_HEADER = 12
#: Section 2.1.1.2: check type (low 4 bits of the second flag byte) -> check size.
_XZ_CHECK_SIZES = (0, 4, 4, 4, 8, 8, 8, 16, 16, 16, 32, 32, 32, 64, 64, 64)
_XZ_FILTER_LZMA2 = 0x21
_XZ_BLOCK_COMPRESSED_SIZE = 0x40
_XZ_BLOCK_UNCOMPRESSED_SIZE = 0x80


class _Pushback:
    """Exact-length reads over :class:`Input`, with bytes pushed back for the next read."""

    def __init__(self, src: Input) -> None:
        self.src = src
        self.pending = b""

    def chunk(self) -> bytes:
        if self.pending:
            data, self.pending = self.pending, b""
            return data
        return bytes(self.src.read_view())

    def take(self, n: int) -> bytes:
        data = self.pending
        while len(data) < n:
            more = bytes(self.src.read_view())
            if not more:
                break
            data += more
        self.pending = data[n:]
        return data[:n]

    def unread(self, data: bytes) -> None:
        self.pending = data + self.pending


def _vli(buf: bytes, pos: int) -> tuple[int, int]:
    """A variable-length integer (xz format section 1.2) at ``pos``; the value and the next position."""
    value = 0
    for i in range(9):
        if pos + i >= len(buf):
            break
        byte = buf[pos + i]
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, pos + i + 1
    raise Corrupt("bad variable-length integer in an xz block header")


def _lzma2_dict_size(prop: int) -> int:
    """xz format section 5.3.1: the LZMA2 dictionary size from its one property byte."""
    if prop > 40:
        raise Corrupt("bad LZMA2 dictionary size")
    if prop == 40:
        return 0xFFFFFFFF
    return (2 | (prop & 1)) << (prop // 2 + 11)


def _xz_block_filters(header: bytes) -> list[dict[str, int]] | None:
    """The filter chain of an xz block header, or None unless it is LZMA2 alone."""
    import zlib

    if zlib.crc32(header[:-4]) != int.from_bytes(header[-4:], "little"):
        raise Corrupt("xz block header CRC mismatch")
    flags = header[1]
    pos = 2
    if flags & _XZ_BLOCK_COMPRESSED_SIZE:
        _size, pos = _vli(header, pos)
    if flags & _XZ_BLOCK_UNCOMPRESSED_SIZE:
        _size, pos = _vli(header, pos)
    if flags & 0x03:  # more than one filter (BCJ, delta, ...)
        return None
    filter_id, pos = _vli(header, pos)
    props_size, pos = _vli(header, pos)
    if filter_id != _XZ_FILTER_LZMA2 or props_size != 1:
        return None
    return [{"id": filter_id, "dict_size": _lzma2_dict_size(header[pos])}]


def _xz(src: Input) -> Iterator[bytes]:
    """xz, decoded block by block as raw LZMA2.

    rpm's xzdio writes a SHA-256 check, which liblzma would compute over the
    whole Linux tarball we skip (nine tenths of the run time); the raw decoder
    does not, and the RPM's digests cover what it would catch (module
    docstring).  The stream header's and each block header's own CRC-32 are
    checked, being a few bytes each.  Anything but plain LZMA2 blocks goes
    to the ordinary, checking decoder.
    """
    import lzma
    import zlib

    rd = _Pushback(src)
    head = rd.take(_XZ_STREAM_HEADER)
    if len(head) < _XZ_STREAM_HEADER or not head.startswith(_XZ_MAGIC):
        raise Corrupt("not an xz stream")
    if zlib.crc32(head[6:8]) != int.from_bytes(head[8:12], "little") or head[6] or head[7] & 0xF0:
        raise Corrupt("bad xz stream flags")
    check_size = _XZ_CHECK_SIZES[head[7] & 0x0F]
    consumed = head
    try:
        while True:
            first = rd.take(1)
            if not first:
                break
            if first == b"\0":  # the index: no more blocks
                return
            header = first + rd.take(first[0] * 4 + 3)
            if len(header) != (first[0] + 1) * 4:
                break
            filters = _xz_block_filters(header)
            if filters is None:
                if consumed is not head:
                    raise Corrupt("xz stream mixes block kinds")
                rd.unread(header)
                rd.unread(head)
                yield from _streaming_from(rd, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), (lzma.LZMAError,))
                return
            consumed = b""
            d = lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=filters)
            compressed = 0
            while not d.eof:
                data = rd.chunk() if d.needs_input else b""
                if d.needs_input and not data:
                    raise Corrupt("compressed stream ends early")
                compressed += len(data)
                yield d.decompress(data, OUT_CHUNK)
            rest = d.unused_data
            rd.unread(rest)
            compressed -= len(rest)
            # Block padding to a multiple of four, then the check we do not compute.
            skip = -(len(header) + compressed) % 4 + check_size
            if len(rd.take(skip)) != skip:
                break
    except lzma.LZMAError as exc:
        raise Corrupt(str(exc)) from None
    raise Corrupt("compressed stream ends early")


def _lzma(src: Input) -> Iterator[bytes]:
    import lzma

    return _streaming(src, lambda: lzma.LZMADecompressor(lzma.FORMAT_ALONE), (lzma.LZMAError,))


def _zstd(src: Input) -> Iterator[bytes | memoryview]:
    import zstandard

    buf = bytearray(OUT_CHUNK)
    out = memoryview(buf)
    reader = zstandard.ZstdDecompressor().stream_reader(src.file_like(), read_size=IN_CHUNK, read_across_frames=True)
    try:
        while n := reader.readinto(buf):
            # The walker copies what it keeps, so the buffer is reused.
            yield out[:n]
    except zstandard.ZstdError as exc:
        raise Corrupt(str(exc)) from None
    raise Corrupt("compressed stream ends early")


#: RPMTAG_PAYLOADCOMPRESSOR value -> decompressing generator.
DECOMPRESSORS: dict[str, Callable[[Input], Iterator[bytes | memoryview]]] = {
    "gzip": _gzip,
    "bzip2": _bzip2,
    "xz": _xz,
    "lzma": _lzma,
    "zstd": _zstd,
}
