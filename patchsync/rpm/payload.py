"""Take members out of an RPM package's payload in one streaming pass.

The payload is decompressed chunk by chunk and walked as cpio; the walk stops
as soon as the wanted members are in.  Nothing is decompressed twice and the
payload is never held whole in memory: it is read and decompressed in small
slices through reused buffers.

Always checked, cheaply: the file size against the headers, the header
digest (in :func:`~patchsync.rpm.header.parse_headers`) and each member
against the header's per-file size and digest.  The payload digest (a hash
over the whole compressed payload) only with ``verify_payload=True``; the
bytes past the wanted members are then read and hashed, not decompressed.
A package built before rpm 4.14 has no payload digest: its signature's MD5
over header and payload stands in, with a warning that MD5 is weak.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from ..errors import IntegrityError, RpmError
from . import verify
from .cpio import CpioWalker
from .decompress import DECOMPRESSORS, Corrupt, Input
from .header import PackageHeaders, member_key, read_headers

log = logging.getLogger(__name__)

#: Largest member taken out of a payload (the patch tarball is a few MB).
MAX_MEMBER = 512 * 1024 * 1024


def _wanted(headers: PackageHeaders, names: Collection[str]) -> list[int]:
    """Indices in the header's file list of those of ``names`` it lists (spelled name, ./name or /name)."""
    by_key = {member_key(f.name): fx for fx, f in enumerate(headers.files)}
    wanted: list[int] = []
    for name in names:
        fx = by_key.get(member_key(name))
        if fx is None:
            continue
        entry = headers.files[fx]
        if not entry.is_regular:
            raise RpmError(f"{name} is not a regular file in the package", where=headers.where)
        if not entry.digest:
            raise RpmError(f"the header lists {name} without a digest; refusing it unverified", where=headers.where)
        wanted.append(fx)
    return wanted


def read_members(
    path: Path,
    names: Collection[str],
    *,
    verify_payload: bool = False,
    where: str | None = None,
    check_headers: Callable[[PackageHeaders], object] | None = None,
    headers: PackageHeaders | None = None,
) -> tuple[PackageHeaders, dict[str, bytes]]:
    """The package's headers and those of ``names`` the header lists, verified.

    The result is keyed by :func:`~patchsync.rpm.header.member_key`; names
    the header does not list are simply absent from it.
    ``check_headers`` (the signature check) runs on the headers before any
    digest they list is used or any payload byte read.  ``headers`` are the
    file's, already read (and checked) by whoever wrote it, so they are not
    parsed again.
    """
    label = where or str(path)
    try:
        fh = io.FileIO(path, "rb")
    except OSError as exc:
        raise RpmError(f"cannot read: {exc.strerror}", where=label) from None
    with fh:
        if headers is None:
            headers, _prefix = read_headers(fh, label)
        elif headers.where != label:
            headers = dataclasses.replace(headers, where=label)
        if check_headers is not None:
            check_headers(headers)
        verify.check_size(headers, os.fstat(fh.fileno()).st_size)
        if headers.payload_format != "cpio":
            raise RpmError(f"unsupported payload format {headers.payload_format!r}", where=label)
        decompress = DECOMPRESSORS.get(headers.payload_compressor)
        if decompress is None:
            raise RpmError(f"unknown payload compressor {headers.payload_compressor!r}", where=label)
        wanted = _wanted(headers, names)
        md5, payload = verify.payload_hashers(headers, payload=verify_payload)
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
    wanted: list[int],
    decompress: Callable[[Input], Iterator[bytes | memoryview]],
) -> dict[str, bytes]:
    where = headers.where
    walker = CpioWalker(headers.files, wanted, where=where, max_member=MAX_MEMBER)
    if walker.done:
        return {}
    chunks = decompress(src)
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
    missing = walker.missing
    if missing:
        if not walker.done:
            raise RpmError("corrupt payload: the cpio archive ends without a trailer", where=where)
        raise IntegrityError(f"the header lists {', '.join(missing)} but the payload lacks it", where=where)
    return walker.found
