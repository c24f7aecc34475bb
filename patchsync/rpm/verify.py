"""Check an RPM package against what its own headers declare.

:class:`StreamVerifier` is fed the bytes of a download as they arrive and
checks everything in that one pass: the header digest (when the headers are
in), the payload digest (hashed as it streams) and the file size (at the
end).  The helpers below do the same checks for a file already on disk.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, BinaryIO

from ..errors import IntegrityError, RpmError
from . import tags as t
from .header import NeedMoreData, PackageHeaders, parse_headers

if TYPE_CHECKING:
    from hashlib import _Hash

log = logging.getLogger(__name__)

#: Read size when hashing a file already on disk.
_READ = 1024 * 1024


def payload_hasher(headers: PackageHeaders) -> _Hash | None:
    """A hash object for the payload digest, or None (with a warning) when the package has none."""
    if headers.payload_digest is None:
        log.warning(
            "%s: the package has no payload digest (built before rpm 4.14); payload not verified", headers.where
        )
        return None
    algo = t.HASHLIB_NAMES.get(headers.payload_digest_algo or t.PGPHASHALGO_SHA256)
    if algo is None:
        raise RpmError(f"unknown payload digest algorithm {headers.payload_digest_algo}", where=headers.where)
    return hashlib.new(algo)


def check_payload_digest(headers: PackageHeaders, hasher: _Hash | None) -> None:
    if hasher is None or headers.payload_digest is None:
        return
    actual = hasher.hexdigest()
    if actual != headers.payload_digest:
        raise IntegrityError(
            f"payload digest mismatch: declared {headers.payload_digest}, actual {actual}", where=headers.where
        )


def check_size(headers: PackageHeaders, size: int) -> None:
    """A truncated or padded file is refused: its size must be what the signature declares."""
    declared = headers.total_size
    if size < declared:
        raise IntegrityError(f"truncated: {size} bytes, the package declares {declared}", where=headers.where)
    if size > declared:
        raise IntegrityError(
            f"{size - declared} bytes of trailing garbage: {size} bytes, the package declares {declared}",
            where=headers.where,
        )


def md5_needed(headers: PackageHeaders) -> bool:
    """True when the only header digest is SIGTAG_MD5, which covers the header and the payload."""
    return not headers.header_digest_checked


def check_md5(headers: PackageHeaders, hasher: _Hash) -> None:
    actual = hasher.hexdigest()
    if actual != headers.header_md5:
        raise IntegrityError(
            f"header+payload MD5 mismatch: declared {headers.header_md5}, actual {actual}", where=headers.where
        )


def verify_file(fh: BinaryIO, headers: PackageHeaders, *, payload: bool) -> None:
    """Hash a package file on disk once: its MD5 when that is its only header digest, its payload digest if asked."""
    md5 = hashlib.md5(usedforsecurity=False) if md5_needed(headers) else None
    hasher = payload_hasher(headers) if payload else None
    if md5 is None and hasher is None:
        return
    fh.seek(headers.header_start)
    if md5 is not None:
        md5.update(fh.read(headers.payload_offset - headers.header_start))
    else:
        fh.seek(headers.payload_offset)
    while chunk := fh.read(_READ):
        if md5 is not None:
            md5.update(chunk)
        if hasher is not None:
            hasher.update(chunk)
    if md5 is not None:
        check_md5(headers, md5)
    check_payload_digest(headers, hasher)


class StreamVerifier:
    """Verify a package while it downloads; no second pass over the file.

    ``feed()`` every chunk in order, then ``finish()``.  ``headers`` is set as
    soon as the prefix holds them; a header digest mismatch, a non-RPM start
    or more bytes than the package declares raise from ``feed()`` at once, so
    a download can be aborted early.
    """

    def __init__(self, where: str) -> None:
        self.where = where
        self.headers: PackageHeaders | None = None
        self.size = 0
        self._prefix = bytearray()
        self._needed = 0
        self._payload: _Hash | None = None
        self._md5: _Hash | None = None

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.headers is not None:
            self._update(chunk)
            return
        self._prefix += chunk
        if len(self._prefix) < self._needed:
            return
        try:
            headers = parse_headers(bytes(self._prefix), self.where)
        except NeedMoreData as exc:
            self._needed = exc.needed
            return
        self.headers = headers
        self._payload = payload_hasher(headers)
        if md5_needed(headers):
            self._md5 = hashlib.md5(usedforsecurity=False)
            self._md5.update(self._prefix[headers.header_start : headers.payload_offset])
        rest = bytes(self._prefix[headers.payload_offset :])
        self._prefix = bytearray()
        self._update(rest)

    def _update(self, chunk: bytes) -> None:
        headers = self.headers
        assert headers is not None
        if self.size > headers.total_size:
            check_size(headers, self.size)
        if self._payload is not None:
            self._payload.update(chunk)
        if self._md5 is not None:
            self._md5.update(chunk)

    def finish(self) -> PackageHeaders:
        """All bytes are in: check size and digests; the headers of a sound package."""
        if self.headers is None:
            if not self._prefix:
                raise RpmError("empty file, not an RPM package", where=self.where)
            # Raises the precise problem (truncated headers, bad magic, ...).
            parse_headers(bytes(self._prefix), self.where)
            raise AssertionError("parse_headers succeeded in finish() but not in feed()")  # pragma: no cover
        check_size(self.headers, self.size)
        if self._md5 is not None:
            check_md5(self.headers, self._md5)
        check_payload_digest(self.headers, self._payload)
        return self.headers
