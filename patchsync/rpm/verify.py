"""Check an RPM package against what its own headers declare.

:class:`StreamVerifier` is fed the bytes of a download as they arrive and
checks everything in that one pass: the header signature and digest (when
the headers are in), the payload digest (hashed as it streams) and the file
size (at the end).  :mod:`patchsync.rpm.payload` uses the helpers below for a file on disk.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import IntegrityError, RpmError
from . import tags as t
from .header import NeedMoreData, PackageHeaders, parse_headers

if TYPE_CHECKING:
    from hashlib import _Hash

    from ..model import SignatureInfo
    from .signature import Keyring

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnownHeaders:
    """Headers already read from a file's first bytes, so they are parsed (and signature-checked) once.

    The header probe reads them by HTTP Range before the download; the
    download's :class:`StreamVerifier` takes them instead of parsing the
    same bytes again, once it has seen that the file starts with them.
    """

    headers: PackageHeaders
    #: The bytes they were parsed from: the file's start, through the payload offset at least.
    prefix: bytes
    #: Who signed them, when a keyring checked them (``None`` otherwise).
    signature: SignatureInfo | None = None


def payload_hashers(headers: PackageHeaders, *, payload: bool) -> tuple[_Hash | None, _Hash | None]:
    """Hash objects for what must be checked over the payload: (SIGTAG_MD5, payload digest).

    The MD5 over header + payload is needed when it is the only header
    digest, and with ``payload`` when the package has no payload digest
    (built before rpm 4.14): then it is all there is, used with a warning
    that MD5 is weak.
    """
    md5_needed = not headers.header_digest_checked
    hasher = None
    if payload and headers.payload_digest is not None:
        algo = t.HASHLIB_NAMES.get(headers.payload_digest_algo or t.PGPHASHALGO_SHA256)
        if algo is None:
            raise RpmError(f"unknown payload digest algorithm {headers.payload_digest_algo}", where=headers.where)
        hasher = hashlib.new(algo)
    elif payload and headers.header_md5 is not None:
        log.warning(
            "%s: the package has no payload digest (built before rpm 4.14); "
            "checking the payload with the signature's MD5, a weak digest",
            headers.where,
        )
        md5_needed = True
    elif payload:
        log.warning("%s: the package has no payload digest and no MD5; payload not verified", headers.where)
    md5 = hashlib.md5(usedforsecurity=False) if md5_needed and headers.header_md5 is not None else None
    return md5, hasher


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


def check_md5(headers: PackageHeaders, hasher: _Hash) -> None:
    actual = hasher.hexdigest()
    if actual != headers.header_md5:
        raise IntegrityError(
            f"header+payload MD5 mismatch: declared {headers.header_md5}, actual {actual}", where=headers.where
        )


class StreamVerifier:
    """Verify a package while it downloads; no second pass over the file.

    ``feed()`` every chunk in order, then ``finish()``.  ``headers`` is set as
    soon as the prefix holds them; a header digest mismatch, a non-RPM start
    or more bytes than the package declares raise from ``feed()`` at once, so
    a download can be aborted early.  With a ``keyring``, the header
    signature is verified as soon as the headers are in, before the payload
    digest they declare is used (and ``signature`` says who signed): an
    unsigned package is refused after its first few kilobytes.  ``known``
    headers (the probe's) are taken as they are when the file starts with
    the bytes they were read from, instead of being parsed again.
    """

    def __init__(self, where: str, *, keyring: Keyring | None = None, known: KnownHeaders | None = None) -> None:
        self.where = where
        self.keyring = keyring
        self.signature: SignatureInfo | None = None
        self.headers: PackageHeaders | None = None
        self.size = 0
        self._prefix = bytearray()
        self._known = known
        self._needed = known.headers.payload_offset if known is not None else 0
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
        headers = self._reuse_known()
        if headers is None:
            try:
                headers = parse_headers(bytes(self._prefix), self.where)
            except NeedMoreData as exc:
                self._needed = exc.needed
                return
        if self.keyring is not None and self.signature is None:
            from .signature import verify_header

            self.signature = verify_header(headers, self.keyring)
        self.headers = headers
        self._md5, self._payload = payload_hashers(headers, payload=True)
        if self._md5 is not None:
            self._md5.update(self._prefix[headers.header_start : headers.payload_offset])
        rest = bytes(self._prefix[headers.payload_offset :])
        self._prefix = bytearray()
        self._update(rest)

    def _reuse_known(self) -> PackageHeaders | None:
        """The known headers when the file starts with the very bytes they were parsed from."""
        known, self._known = self._known, None
        if known is None:
            return None
        end = known.headers.payload_offset
        if self._prefix[:end] != known.prefix[:end]:
            # Another file than the one probed (a .part left by an older build): read its own headers.
            return None
        self.signature = known.signature
        return known.headers

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
