"""Read an RPM package's lead, signature header and main header from bytes.

Works on any prefix of the file, so a caller fetching by HTTP Range can ask
for what the headers declare (:class:`NeedMoreData`).  Every size, count and
offset is checked before it is used, and what rpm itself refuses (more than
65,535 index entries, 256 MB of header data) is refused before anything is
allocated for it.

rpmfile's reader is not used: its ``_readheader`` scans for a magic byte and
trusts the counts it finds, its string decoders do not check that the NUL
terminators lie inside the data store, and importing the package alone costs
about 35 ms of the extract command's start-up.

Layout (rpm ``docs/manual/format.md``; ``format_v6.md`` for rpm 6)::

    lead (96 bytes) | signature header | pad to 8 | main header | payload

and each header is an intro (magic, reserved, entry count, data size), the
index entries (tag, type, offset, count) and the data store.  Both headers
open with a region tag whose trailer rpm checks (``hregions.md``); so do we.

A v6 package (``RPMTAG_RPMFORMAT`` 6) declares its payload size in the main
header instead of the signature, and carries SHA3-256 beside SHA-256 header
and payload digests; the strongest digest present is the one checked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from ..errors import IntegrityError, RpmError
from . import tags as t

log = logging.getLogger(__name__)

_INTRO = struct.Struct(">4s4xII")
_ENTRY = struct.Struct(">iiii")
_LEAD = struct.Struct(">4sBBhh66shh16s")
#: Accepted lead major versions (lib/rpmlead.c: 3 and 4).
_LEAD_MAJORS = (3, 4)
#: How much of a file :func:`read_headers` reads at first: headers of real
#: kernel-source src.rpms are tens of kilobytes.
FIRST_READ = 256 * 1024


class NeedMoreData(RpmError):
    """``buf`` is a prefix too short to hold the headers; ``needed`` is the prefix length they require."""

    def __init__(self, needed: int, have: int, *, where: str) -> None:
        super().__init__(
            f"truncated: the RPM headers need {needed} bytes, only {have} available",
            where=where,
        )
        self.needed = needed
        self.have = have


@dataclass(frozen=True)
class RpmFileEntry:
    """One file listed in the main header."""

    name: str
    size: int
    #: Lower-case hex digest; empty for files without one (directories, links).
    digest: str
    #: PGPHASHALGO_* of ``digest`` (see :mod:`patchsync.rpm.tags`).
    algo: int
    #: st_mode (RPMTAG_FILEMODES); 0 when the header lists no modes.
    mode: int = 0
    #: RPMFILE_* flags (RPMTAG_FILEFLAGS).
    flags: int = 0
    #: Symlink target (RPMTAG_FILELINKTOS), empty for other files.
    linkto: str = ""
    #: (device, inode) from RPMTAG_FILEDEVICES/FILEINODES: equal for the files of one hard-link set.
    inode: tuple[int, int] = (0, 0)

    @property
    def hash_name(self) -> str:
        return t.HASHLIB_NAMES.get(self.algo, "")

    @property
    def is_regular(self) -> bool:
        """A regular file; also when the header lists no modes (rpm before 3 wrote none)."""
        return not self.mode or stat.S_ISREG(self.mode)

    @property
    def is_ghost(self) -> bool:
        """%ghost: listed in the header, never in the payload."""
        return bool(self.flags & t.RPMFILE_GHOST)


@dataclass(frozen=True)
class HeaderDigests:
    """The signature header's digests, as the package carries them (hex).

    :func:`parse_headers` checks the strongest of the header-only ones.
    """

    #: Of the main header: RPMSIGTAG_SHA3_256 (v6), RPMSIGTAG_SHA256, RPMSIGTAG_SHA1.
    sha3_256: str | None = None
    sha256: str | None = None
    sha1: str | None = None
    #: RPMSIGTAG_MD5: of main header + payload; v3/v4 only.
    md5: str | None = None


@dataclass(frozen=True)
class PackageHeaders:
    """What patchsync needs from an RPM's headers."""

    where: str
    name: str
    version: str
    release: str
    #: Offset of the main header in the file (after the signature and its padding).
    header_start: int
    #: Offset of the compressed payload (end of the main header).
    payload_offset: int
    #: Main header + payload bytes: SIGTAG_SIZE or SIGTAG_LONGSIZE, or in v6 the main
    #: header's length plus its RPMTAG_PAYLOADSIZE.
    signature_size: int
    #: Uncompressed payload size when declared (SIGTAG_PAYLOADSIZE / LONGARCHIVESIZE, v6 PAYLOADSIZEALT).
    payload_size: int | None
    payload_format: str
    #: RPMTAG_PAYLOADCOMPRESSOR, "gzip" when absent (rpm's default, which also reads an
    #: uncompressed payload: see :mod:`patchsync.rpm.decompress`).
    payload_compressor: str
    #: Hex digest of the compressed payload, the strongest one present (v6: SHA3-256, then
    #: SHA512, then RPMTAG_PAYLOADDIGEST); None before rpm 4.14.
    payload_digest: str | None
    #: PGPHASHALGO_* of ``payload_digest``.
    payload_digest_algo: int | None
    #: Which header digest :func:`parse_headers` checked: "sha3_256", "sha256", "sha1", or ""
    #: when only the MD5 over header + payload is available (checked by whoever reads the payload).
    header_digest_checked: str
    files: tuple[RpmFileEntry, ...]
    #: OpenPGP signature packets over the main header: RSAHEADER, DSAHEADER and rpm 6's
    #: OPENPGP entries, in that order (see :mod:`patchsync.rpm.signature`).
    header_signatures: tuple[bytes, ...] = ()
    #: True when the package carries a legacy header+payload signature (SIGTAG_PGP/GPG).
    legacy_signature: bool = False
    #: The main header exactly as signed and digested (intro, index, data store).
    header_blob: bytes = field(default=b"", repr=False, compare=False)
    #: 4 for v3/v4 packages, 6 for rpm 6's v6 format (RPMTAG_RPMFORMAT).
    rpm_format: int = 4
    #: The signature header's digests of the main header (and its MD5 of header + payload).
    digests: HeaderDigests = field(default_factory=HeaderDigests)

    @property
    def header_md5(self) -> str | None:
        return self.digests.md5

    @property
    def total_size(self) -> int:
        """The whole file's size as the headers declare it."""
        return self.header_start + self.signature_size

    @property
    def nevr(self) -> str:
        return f"{self.name}-{self.version}-{self.release}"

    def file(self, name: str) -> RpmFileEntry | None:
        """The entry for ``name``, spelled as the header, the cpio archive or a user spells it.

        >>> h = PackageHeaders("x", "n", "1", "1", 0, 0, 0, None, "cpio", "gzip", None, None, "",
        ...                    (RpmFileEntry("/usr/bin/x", 1, "", 8), RpmFileEntry("a.tar.gz", 1, "", 8)))
        >>> [h.file(n).name for n in ("./a.tar.gz", "/a.tar.gz", "usr/bin/x", "./usr/bin/x")]
        ['a.tar.gz', 'a.tar.gz', '/usr/bin/x', '/usr/bin/x']
        """
        key = member_key(name)
        for entry in self.files:
            if member_key(entry.name) == key:
                return entry
        return None


def member_key(name: str) -> str:
    """The name as both the cpio archive and the RPM header spell it: no leading ``./`` or ``/``.

    >>> member_key("./usr/bin/x"), member_key("/usr/bin/x"), member_key("patches.xen.tar.bz2")
    ('usr/bin/x', 'usr/bin/x', 'patches.xen.tar.bz2')
    """
    if name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


@dataclass(frozen=True)
class _Entry:
    tag: int
    type: int
    offset: int
    count: int


class _Header:
    """One parsed header structure: its index and data store, bounds already checked."""

    def __init__(
        self, buf: bytes, base: int, end: int, index: dict[int, _Entry], first: _Entry, *, where: str, what: str
    ) -> None:
        self.buf = buf
        self.base = base
        self.end = end
        self.index = index
        #: The first index entry: the region tag in any header rpm wrote since 4.0.
        self.first = first
        self.where = where
        self.what = what

    @property
    def il(self) -> int:
        return len(self.index)

    @property
    def dl(self) -> int:
        return self.end - self.base

    def check_region(self, region_tag: int, *, required: bool, exact: bool) -> None:
        """Check the region tag and its trailer as rpm's hdrblobVerifyRegion does.

        The first entry must be ``region_tag`` (BIN, 16 bytes) pointing at a
        trailer entry naming the same tag, whose negated offset is the
        region's index size.  With ``exact`` the region must span the whole
        header (rpm's rule for the main header of a package file).  A header
        without a region is a legacy one: refused only when ``required``.
        """
        first = self.first
        what, where = self.what, self.where
        if first.tag != region_tag:
            if required:
                raise RpmError(f"{what} has no region (tag {region_tag}), which a v6 package requires", where=where)
            return
        if first.type != t.TYPE_BIN or first.count != t.REGION_TAG_COUNT:
            raise RpmError(
                f"{what} region tag: BAD, type {first.type} count {first.count} (expected BIN of 16 bytes)",
                where=where,
            )
        tag, typ, offset, count = _ENTRY.unpack_from(self.buf, self.base + first.offset)
        if region_tag == t.TAG_HEADERSIGNATURES and tag == t.TAG_HEADERIMAGE:
            tag = t.TAG_HEADERSIGNATURES  # what some old packages wrote; rpm fixes it up too
        if tag != region_tag or typ != t.TYPE_BIN or count != t.REGION_TAG_COUNT:
            raise RpmError(f"{what} region trailer: BAD, tag {tag} type {typ} count {count}", where=where)
        index_size = -offset
        ril, rdl = index_size // t.HEADER_ENTRY_SIZE, first.offset + t.REGION_TAG_COUNT
        if index_size % t.HEADER_ENTRY_SIZE or not 0 < ril <= self.il or rdl > self.dl:
            raise RpmError(
                f"{what} region size: BAD, ril {ril} il {self.il} rdl {rdl} dl {self.dl}",
                where=where,
            )
        if exact and (ril != self.il or rdl != self.dl):
            raise RpmError(
                f"{what} region does not span the header: ril {ril} il {self.il} rdl {rdl} dl {self.dl}",
                where=where,
            )

    def _entry(self, tag: int, types: tuple[int, ...]) -> _Entry | None:
        entry = self.index.get(tag)
        if entry is None:
            return None
        if entry.type not in types:
            raise RpmError(f"{self.what}: tag {tag} has type {entry.type}, expected one of {types}", where=self.where)
        return entry

    def strings(self, tag: int) -> list[str] | None:
        entry = self._entry(tag, (t.TYPE_STRING, t.TYPE_STRING_ARRAY, t.TYPE_I18NSTRING))
        if entry is None:
            return None
        # An i18n string holds one value per locale; the first is the C locale.
        count = entry.count if entry.type == t.TYPE_STRING_ARRAY else 1
        out: list[str] = []
        pos = self.base + entry.offset
        for _ in range(count):
            nul = self.buf.find(b"\0", pos, self.end)
            if nul < 0:
                raise RpmError(f"{self.what}: a string of tag {tag} runs past the data store", where=self.where)
            out.append(self.buf[pos:nul].decode("utf-8", "surrogateescape"))
            pos = nul + 1
        return out

    def string(self, tag: int) -> str | None:
        values = self.strings(tag)
        return values[0] if values else None

    def ints(self, tag: int) -> list[int] | None:
        entry = self._entry(tag, tuple(_INT_CODES))
        if entry is None:
            return None
        return list(struct.unpack_from(f">{entry.count}{_INT_CODES[entry.type]}", self.buf, self.base + entry.offset))

    def integer(self, tag: int) -> int | None:
        values = self.ints(tag)
        return values[0] if values else None

    def binary(self, tag: int) -> bytes | None:
        entry = self._entry(tag, (t.TYPE_BIN,))
        if entry is None:
            return None
        start = self.base + entry.offset
        return bytes(self.buf[start : start + entry.count])


#: struct codes of the integer types (unsigned, as rpm reads them).
_INT_CODES = {t.TYPE_CHAR: "B", t.TYPE_INT8: "B", t.TYPE_INT16: "H", t.TYPE_INT32: "I", t.TYPE_INT64: "Q"}


def _read_header(  # noqa: PLR0912  one check per field of the header structure, in file order
    buf: bytes, start: int, *, where: str, what: str, tags_max: int, data_max: int
) -> tuple[_Header, int]:
    """Parse the header structure at ``start``; returns it and the offset just past it."""
    if len(buf) < start + t.HEADER_INTRO_SIZE:
        raise NeedMoreData(start + t.HEADER_INTRO_SIZE, len(buf), where=where)
    magic, il, dl = _INTRO.unpack_from(buf, start)
    if magic != t.HEADER_MAGIC:
        raise RpmError(f"corrupt: no {what} magic at offset {start}", where=where)
    # Checked before anything is sized from them, as rpm's hdrblobRead does.
    if il < 1 or il > tags_max:
        raise RpmError(f"{what} declares {il} index entries (rpm accepts 1 to {tags_max})", where=where)
    if dl > data_max:
        raise RpmError(f"{what} declares {dl} bytes of data (rpm accepts at most {data_max})", where=where)
    index_start = start + t.HEADER_INTRO_SIZE
    store_start = index_start + il * t.HEADER_ENTRY_SIZE
    end = store_start + dl
    if len(buf) < end:
        raise NeedMoreData(end, len(buf), where=where)
    index: dict[int, _Entry] = {}
    first: _Entry | None = None
    for tag, typ, offset, count in _ENTRY.iter_unpack(memoryview(buf)[index_start:store_start]):
        if typ not in t.TYPE_SIZES and typ not in t.STRING_TYPES:
            raise RpmError(f"{what}: tag {tag} has unknown type {typ}", where=where)
        if offset < 0 or offset > dl or count < 0 or count > dl + 1:
            raise RpmError(f"{what}: tag {tag} points outside the data store", where=where)
        size = t.TYPE_SIZES.get(typ)
        if size is not None:
            if offset + size * count > dl:
                raise RpmError(f"{what}: tag {tag} runs past the data store", where=where)
            if size > 1 and offset % size:
                raise RpmError(f"{what}: tag {tag} is misaligned", where=where)
        elif offset >= dl:
            raise RpmError(f"{what}: tag {tag} points outside the data store", where=where)
        if tag in index:
            raise RpmError(f"{what}: tag {tag} appears twice", where=where)
        index[tag] = _Entry(tag, typ, offset, count)
        if first is None:
            first = index[tag]
    assert first is not None  # il >= 1, checked above
    return _Header(buf, store_start, end, index, first, where=where, what=what), end


def check_lead(buf: bytes, *, where: str) -> None:
    """Refuse a file that is not an RPM package as soon as its first bytes are in."""
    if not buf:
        raise NeedMoreData(t.LEAD_SIZE + t.HEADER_INTRO_SIZE, 0, where=where)
    head = bytes(buf[: len(t.LEAD_MAGIC)])
    if head != t.LEAD_MAGIC[: len(head)]:
        start = bytes(buf[:64]).lstrip().lower()
        if start.startswith((b"<!doctype html", b"<html", b"<?xml", b"<head")):
            raise RpmError("not an RPM package: it is an HTML/XML page (an error page saved as the file?)", where=where)
        raise RpmError("not an RPM package (no RPM lead magic)", where=where)
    if len(buf) < t.LEAD_SIZE:
        return
    _magic, major, _minor, _type, _arch, _name, _os, sigtype, _reserved = _LEAD.unpack_from(buf, 0)
    if major not in _LEAD_MAJORS:
        raise RpmError(f"unsupported RPM lead version {major}", where=where)
    if sigtype != t.LEAD_SIGTYPE_HEADERSIG:
        raise RpmError(f"unsupported RPM signature type {sigtype}", where=where)


def _align(offset: int, boundary: int) -> int:
    return (offset + boundary - 1) // boundary * boundary


def parse_headers(buf: bytes, where: str) -> PackageHeaders:
    """The headers of the RPM package whose first bytes are ``buf``.

    Raises :class:`NeedMoreData` when ``buf`` is a too-short prefix,
    :class:`~patchsync.errors.RpmError` when it is not a sound RPM package and
    :class:`~patchsync.errors.IntegrityError` when the main header does not
    match its SHA256 (or SHA1) digest.
    """
    if not isinstance(buf, bytes):
        buf = bytes(buf)
    check_lead(buf, where=where)
    if len(buf) < t.LEAD_SIZE:
        raise NeedMoreData(t.LEAD_SIZE + t.HEADER_INTRO_SIZE, len(buf), where=where)
    sig, sig_end = _read_header(
        buf,
        t.LEAD_SIZE,
        where=where,
        what="signature header",
        tags_max=t.SIGNATURE_TAGS_MAX,
        data_max=t.SIGNATURE_DATA_MAX,
    )
    header_start = _align(sig_end, t.SIGNATURE_ALIGN)
    main, header_end = _read_header(
        buf,
        header_start,
        where=where,
        what="main header",
        tags_max=t.HEADER_TAGS_MAX,
        data_max=t.HEADER_DATA_MAX,
    )

    rpm_format = main.integer(t.TAG_RPMFORMAT) or 4
    v6 = rpm_format >= t.RPMFORMAT_V6
    if rpm_format > t.RPMFORMAT_V6:
        raise RpmError(f"unsupported RPM package format {rpm_format}", where=where)
    # rpm reads the signature region loosely and the main header's exactly (lib/package.c).
    sig.check_region(t.TAG_HEADERSIGNATURES, required=v6, exact=False)
    main.check_region(t.TAG_HEADERIMMUTABLE, required=v6, exact=True)
    if v6:
        illegal = sorted(tag for tag in sig.index if tag > t.SIGTAG_RESERVED)
        if illegal:
            raise RpmError(f"v6 signature header carries v3 tags {illegal} (format_v6.md forbids them)", where=where)
    main_len = header_end - header_start
    size, payload_size = _sizes(sig, main, main_len, v6=v6, where=where)

    digests = _digests(sig)
    checked = _check_header_digest(memoryview(buf)[header_start:header_end], digests, where=where)

    name = main.string(t.TAG_NAME)
    version = main.string(t.TAG_VERSION)
    release = main.string(t.TAG_RELEASE)
    if name is None or version is None or release is None:
        raise RpmError("the main header has no name, version or release", where=where)
    digest, digest_algo = _payload_digest(main)
    return PackageHeaders(
        where=where,
        name=name,
        version=version,
        release=release,
        header_start=header_start,
        payload_offset=header_end,
        signature_size=size,
        payload_size=payload_size,
        payload_format=main.string(t.TAG_PAYLOADFORMAT) or "cpio",
        # rpm's default for packages that predate the tag.
        payload_compressor=main.string(t.TAG_PAYLOADCOMPRESSOR) or "gzip",
        payload_digest=digest,
        payload_digest_algo=digest_algo,
        header_digest_checked=checked,
        files=tuple(_files(main, where=where)),
        header_signatures=_header_signatures(sig, where=where),
        legacy_signature=t.SIGTAG_PGP in sig.index or t.SIGTAG_GPG in sig.index,
        header_blob=buf[header_start:header_end],
        rpm_format=rpm_format,
        digests=digests,
    )


def _header_signatures(sig: _Header, *, where: str) -> tuple[bytes, ...]:
    """The raw OpenPGP signatures over the main header the signature header carries."""
    found = [blob for tag in (t.SIGTAG_RSA, t.SIGTAG_DSA) if (blob := sig.binary(tag))]
    for text in sig.strings(t.SIGTAG_OPENPGP) or ():
        try:
            found.append(base64.b64decode(text, validate=True))
        except binascii.Error:
            raise RpmError("signature header: an OPENPGP entry is not base64", where=where) from None
    return tuple(found)


def _sizes(sig: _Header, main: _Header, main_len: int, *, v6: bool, where: str) -> tuple[int, int | None]:
    """(main header + payload bytes, uncompressed payload bytes or None) as the headers declare them."""
    if v6:
        # format_v6.md: the signature carries no sizes; the main header has PAYLOADSIZE(ALT).
        payload = main.integer(t.TAG_PAYLOADSIZE)
        if payload is None:
            raise RpmError("the v6 main header declares no payload size (RPMTAG_PAYLOADSIZE)", where=where)
        return main_len + payload, main.integer(t.TAG_PAYLOADSIZEALT)
    size = sig.integer(t.SIGTAG_LONGSIZE)
    if size is None:
        size = sig.integer(t.SIGTAG_SIZE)
    if size is None:
        raise RpmError("the signature header declares no package size (SIGTAG_SIZE)", where=where)
    if size < main_len:
        raise RpmError(f"the signature declares {size} bytes, less than the main header itself", where=where)
    payload_size = sig.integer(t.SIGTAG_LONGARCHIVESIZE)
    if payload_size is None:
        payload_size = sig.integer(t.SIGTAG_PAYLOADSIZE)
    return size, payload_size


def _digests(sig: _Header) -> HeaderDigests:
    md5 = sig.binary(t.SIGTAG_MD5)
    return HeaderDigests(
        sha3_256=sig.string(t.SIGTAG_SHA3_256),
        sha256=sig.string(t.SIGTAG_SHA256),
        sha1=sig.string(t.SIGTAG_SHA1),
        md5=md5.hex() if md5 is not None else None,
    )


def _payload_digest(main: _Header) -> tuple[str | None, int | None]:
    """The strongest payload digest and its PGPHASHALGO_*, in rpm's order of preference (lib/rpmvs.cc)."""
    for tag, algo in ((t.TAG_PAYLOADSHA3_256, t.PGPHASHALGO_SHA3_256), (t.TAG_PAYLOADSHA512, t.PGPHASHALGO_SHA512)):
        value = main.string(tag)
        if value:
            return value.lower(), algo
    digest = main.strings(t.TAG_PAYLOADDIGEST)
    if not digest:
        return None, None
    # format_v6.md: RPMTAG_PAYLOADDIGEST is always SHA256 in v6, which drops the ALGO tag.
    return digest[0].lower(), main.integer(t.TAG_PAYLOADDIGESTALGO) or t.PGPHASHALGO_SHA256


def _check_header_digest(blob: memoryview, sig: HeaderDigests, *, where: str) -> str:
    """Check the strongest header-only digest; the name of the one checked."""
    for algo, expected in (("sha3_256", sig.sha3_256), ("sha256", sig.sha256), ("sha1", sig.sha1)):
        if expected is None:
            continue
        actual = hashlib.new(algo, blob).hexdigest()
        if actual != expected.lower():
            raise IntegrityError(
                f"main header {algo.upper().replace('_', '-')} mismatch: declared {expected}, actual {actual}",
                where=where,
            )
        if algo == "sha1":
            log.warning("%s: the header has no SHA256 digest; checked with SHA1 only", where)
        return algo
    if sig.md5 is not None:
        log.warning("%s: the header has no SHA256 or SHA1 digest; only its MD5 (with the payload) is checked", where)
        return ""
    raise RpmError("the package has no header digest (SHA256, SHA1 or MD5); refusing it", where=where)


def _files(main: _Header, *, where: str) -> Iterator[RpmFileEntry]:
    basenames = main.strings(t.TAG_BASENAMES)
    if basenames is not None:
        dirindexes = main.ints(t.TAG_DIRINDEXES) or []
        dirnames = main.strings(t.TAG_DIRNAMES) or []
        if len(dirindexes) != len(basenames):
            raise RpmError("main header: BASENAMES and DIRINDEXES differ in length", where=where)
        if any(i >= len(dirnames) for i in dirindexes):
            raise RpmError("main header: a DIRINDEXES entry points past DIRNAMES", where=where)
        names = [dirnames[i] + base for i, base in zip(dirindexes, basenames, strict=True)]
    else:
        names = main.strings(t.TAG_OLDFILENAMES) or []
    if not names:
        return
    count = len(names)
    sizes = main.ints(t.TAG_LONGFILESIZES)
    if sizes is None:
        sizes = main.ints(t.TAG_FILESIZES) or []
    digests = main.strings(t.TAG_FILEDIGESTS) or []
    # rpm's default when FILEDIGESTALGO is absent (lib/rpmfi.c).
    algo = main.integer(t.TAG_FILEDIGESTALGO) or t.PGPHASHALGO_MD5
    if len(sizes) != count or len(digests) != count:
        raise RpmError("main header: file names, sizes and digests differ in count", where=where)
    modes = _per_file(main, t.TAG_FILEMODES, count, where=where)
    flags = _per_file(main, t.TAG_FILEFLAGS, count, where=where)
    devices = _per_file(main, t.TAG_FILEDEVICES, count, where=where)
    inodes = _per_file(main, t.TAG_FILEINODES, count, where=where)
    links = main.strings(t.TAG_FILELINKTOS)
    if links is not None and len(links) != count:
        raise RpmError("main header: FILELINKTOS differs in count from the file names", where=where)
    for i, (name, size, digest) in enumerate(zip(names, sizes, digests, strict=True)):
        yield RpmFileEntry(
            name=name,
            size=size,
            digest=digest.lower(),
            algo=algo,
            mode=modes[i],
            flags=flags[i],
            linkto=links[i] if links is not None else "",
            inode=(devices[i], inodes[i]),
        )


def _per_file(main: _Header, tag: int, count: int, *, where: str) -> list[int]:
    """An integer per file, zeros when the header lacks the tag."""
    values = main.ints(tag)
    if values is None:
        return [0] * count
    if len(values) != count:
        raise RpmError(f"main header: tag {tag} lists {len(values)} values for {count} files", where=where)
    return values


def read_headers(fh: BinaryIO, where: str) -> tuple[PackageHeaders, bytes]:
    """Headers of an open package file, read from its start; also returns the bytes read.

    The read grows by what the headers declare, never beyond the file.
    """
    buf = fh.read(FIRST_READ)
    while True:
        try:
            return parse_headers(buf, where), buf
        except NeedMoreData as exc:
            more = fh.read(exc.needed - len(buf))
            if not more:
                if not buf:
                    raise RpmError("empty file, not an RPM package", where=where) from None
                raise
            buf += more
