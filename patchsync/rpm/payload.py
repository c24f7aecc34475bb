"""Take members out of an RPM package's payload in one streaming pass.

The payload is decompressed chunk by chunk and walked as cpio; the walk stops
as soon as the wanted members are in.  Nothing is decompressed twice and the
payload is never held whole in memory: it is read and decompressed in small
slices through reused buffers.

Always checked, cheaply: the file size against the signature, the header
digest (in :func:`~patchsync.rpm.header.parse_headers`) and each member
against the header's per-file size and digest.  The payload digest (a hash
over the whole compressed payload) only with ``verify_payload=True``; the
bytes past the wanted members are then read and hashed, not decompressed.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from ..errors import IntegrityError, RpmError
from . import verify
from .cpio import CpioWalker
from .decompress import DECOMPRESSORS, Corrupt, Input
from .header import PackageHeaders, RpmFileEntry, member_key, read_headers

log = logging.getLogger(__name__)

#: Largest member taken out of a payload (the patch tarball is a few MB).
MAX_MEMBER = 512 * 1024 * 1024


def _wanted(headers: PackageHeaders, names: Collection[str]) -> dict[str, RpmFileEntry]:
    by_key = {member_key(f.name): f for f in headers.files}
    wanted: dict[str, RpmFileEntry] = {}
    for name in names:
        entry = by_key.get(member_key(name))
        if entry is None:
            continue
        if not entry.digest:
            raise RpmError(f"the header lists {name} without a digest; refusing it unverified", where=headers.where)
        wanted[member_key(name)] = entry
    return wanted


def read_members(
    path: Path,
    names: Collection[str],
    *,
    verify_payload: bool = False,
    where: str | None = None,
    check_headers: Callable[[PackageHeaders], object] | None = None,
) -> tuple[PackageHeaders, dict[str, bytes]]:
    """The package's headers and those of ``names`` the header lists, verified.

    Names the header does not list are simply absent from the result.
    ``check_headers`` (the signature check) runs on the headers before any
    digest they list is used or any payload byte read.
    """
    label = where or str(path)
    try:
        fh = io.FileIO(path, "rb")
    except OSError as exc:
        raise RpmError(f"cannot read: {exc.strerror}", where=label) from None
    with fh:
        headers, _prefix = read_headers(fh, label)
        if check_headers is not None:
            check_headers(headers)
        verify.check_size(headers, os.fstat(fh.fileno()).st_size)
        if headers.payload_format != "cpio":
            raise RpmError(f"unsupported payload format {headers.payload_format!r}", where=label)
        decompress = DECOMPRESSORS.get(headers.payload_compressor)
        if decompress is None:
            raise RpmError(f"unknown payload compressor {headers.payload_compressor!r}", where=label)
        wanted = _wanted(headers, names)
        md5 = hashlib.md5(usedforsecurity=False) if verify.md5_needed(headers) else None
        payload = verify.payload_hasher(headers) if verify_payload else None
        if md5 is not None:
            fh.seek(headers.header_start)
            md5.update(fh.read(headers.payload_offset - headers.header_start))
        hashers = [h for h in (md5, payload) if h is not None]
        src = Input(fh, headers.payload_offset, headers.total_size, hashers)
        found = _walk(src, headers, wanted, decompress)
        src.drain()
    if md5 is not None:
        verify.check_md5(headers, md5)
    verify.check_payload_digest(headers, payload)
    return headers, found


def _walk(
    src: Input,
    headers: PackageHeaders,
    wanted: dict[str, RpmFileEntry],
    decompress: Callable[[Input, str], Iterator[bytes | memoryview]],
) -> dict[str, bytes]:
    where = headers.where
    walker = CpioWalker(wanted, where=where, max_member=MAX_MEMBER)
    if walker.done:
        return {}
    chunks = decompress(src, where)
    try:
        for chunk in chunks:
            if walker.feed(chunk):
                break
    except Corrupt as exc:
        raise RpmError(f"corrupt {headers.payload_compressor} payload: {exc}", where=where) from None
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    if not walker.done:
        raise RpmError("corrupt payload: the cpio archive ends without a trailer", where=where)
    if walker.wanted:
        missing = ", ".join(sorted(walker.wanted))
        raise IntegrityError(f"the header lists {missing} but the payload lacks it", where=where)
    return walker.found
