"""Numbers from the RPM file format that patchsync reads.

Sources: rpm's ``include/rpm/rpmtag.h`` (tag numbers), ``lib/header.c`` and
``lib/header_internal.h`` (limits and type sizes), ``lib/rpmlead.c`` and
``docs/manual/format.md`` (lead and header layout), ``docs/manual/format_v6.md``
(the v6 package format of rpm 6), ``docs/manual/hregions.md`` (header regions),
``include/rpm/rpmpgp.h`` (hash algorithm ids, from RFC 4880 section 9.4 and
RFC 9580 section 9.5).  rpm 4.18 is the reference for v3/v4, rpm 6.0 for v6.
"""

from __future__ import annotations

from typing import Final

# --- The lead (format.md "Lead"; lib/rpmlead.c struct rpmlead_s) ----------
#: The first four bytes of every RPM package.
LEAD_MAGIC: Final = b"\xed\xab\xee\xdb"
#: The lead is a fixed 96-byte block (magic, version, type, arch, name[66], os, sigtype, reserved[16]).
LEAD_SIZE: Final = 96
#: Lead ``signature_type`` of every package since rpm 2.1: a header-style signature (RPMSIGTYPE_HEADERSIG).
LEAD_SIGTYPE_HEADERSIG: Final = 5

# --- Header structure (format.md "Header"; lib/header.c rpm_header_magic) -
#: Header intro: magic 8e ad e8, header version 01, then four reserved bytes.
HEADER_MAGIC: Final = b"\x8e\xad\xe8\x01"
#: Intro: magic+version (4), reserved (4), index entry count (4), data size (4).
HEADER_INTRO_SIZE: Final = 16
#: One index entry: tag, type, offset, count, each a big-endian int32.
HEADER_ENTRY_SIZE: Final = 16
#: The signature header is padded to this boundary (format.md; lib/signature.c rpmReadSignature).
SIGNATURE_ALIGN: Final = 8
#: lib/header_internal.h HEADER_TAGS_MAX: rpm refuses more index entries than this.
HEADER_TAGS_MAX: Final = 0x0000FFFF
#: lib/header_internal.h HEADER_DATA_MAX: rpm refuses a data store of 256 MB or more.
HEADER_DATA_MAX: Final = 0x0FFFFFFF
#: lib/header.c hdrblobRead: the signature header is limited to 32 entries ...
SIGNATURE_TAGS_MAX: Final = 32
#: ... and 64 MB of data.
SIGNATURE_DATA_MAX: Final = 64 * 1024 * 1024

# --- Header regions (hregions.md; lib/header.c hdrblobVerifyRegion) -----
#: First tag of the signature header's region (RPMTAG_HEADERSIGNATURES).
TAG_HEADERSIGNATURES: Final = 62
#: Found instead of HEADERSIGNATURES in the region trailer of some old packages (RPMTAG_HEADERIMAGE).
TAG_HEADERIMAGE: Final = 61
#: A region tag and its trailer are BIN entries of exactly this many bytes (REGION_TAG_COUNT):
#: one index entry (tag, type, offset, count); the trailer's offset is minus the region's index size.
REGION_TAG_COUNT: Final = 16

# --- Data types (rpmtag.h rpmTagType_e; sizes from lib/header.c typeSizes) -
TYPE_NULL: Final = 0
TYPE_CHAR: Final = 1
TYPE_INT8: Final = 2
TYPE_INT16: Final = 3
TYPE_INT32: Final = 4
TYPE_INT64: Final = 5
TYPE_STRING: Final = 6
TYPE_BIN: Final = 7
TYPE_STRING_ARRAY: Final = 8
TYPE_I18NSTRING: Final = 9
#: Bytes per element of the fixed-size types (lib/header.c typeSizes).
TYPE_SIZES: Final[dict[int, int]] = {
    TYPE_NULL: 0,
    TYPE_CHAR: 1,
    TYPE_INT8: 1,
    TYPE_INT16: 2,
    TYPE_INT32: 4,
    TYPE_INT64: 8,
    TYPE_BIN: 1,
}
#: The NUL-terminated string types.
STRING_TYPES: Final = frozenset({TYPE_STRING, TYPE_STRING_ARRAY, TYPE_I18NSTRING})

# --- Signature header tags (rpmtag.h rpmSigTag_e, RPMSIGTAG_*) ------------
#: Header + payload size in bytes, int32 (RPMSIGTAG_SIZE).
SIGTAG_SIZE: Final = 1000
#: MD5 of header + payload, 16 bytes binary (RPMSIGTAG_MD5).
SIGTAG_MD5: Final = 1004
#: Uncompressed payload size, int32 (RPMSIGTAG_PAYLOADSIZE).
SIGTAG_PAYLOADSIZE: Final = 1007
#: Padding reserved for later signing (RPMSIGTAG_RESERVEDSPACE).
SIGTAG_RESERVEDSPACE: Final = 1008
#: SHA1 of the main header, hex string (RPMSIGTAG_SHA1 = RPMTAG_SHA1HEADER).
SIGTAG_SHA1: Final = 269
#: Header + payload size, int64, for packages over 4 GB (RPMSIGTAG_LONGSIZE).
SIGTAG_LONGSIZE: Final = 270
#: Uncompressed payload size, int64 (RPMSIGTAG_LONGARCHIVESIZE).
SIGTAG_LONGARCHIVESIZE: Final = 271
#: SHA256 of the main header, hex string (RPMSIGTAG_SHA256 = RPMTAG_SHA256HEADER).
SIGTAG_SHA256: Final = 273
#: OpenPGP signature (binary packet) over the main header by a DSA, ECDSA or EdDSA key
#: (RPMSIGTAG_DSA = RPMTAG_DSAHEADER).
SIGTAG_DSA: Final = 267
#: OpenPGP signature (binary packet) over the main header by an RSA key (RPMSIGTAG_RSA = RPMTAG_RSAHEADER).
SIGTAG_RSA: Final = 268
#: rpm 6: OpenPGP signatures over the main header, one base64-encoded packet per string
#: (RPMSIGTAG_OPENPGP = RPMTAG_OPENPGP, string array; rpm ``docs/manual/format_v6.md``).
SIGTAG_OPENPGP: Final = 278
#: Legacy signatures over header + payload (RPMSIGTAG_PGP, RPMSIGTAG_GPG): they cannot be
#: checked from the header alone, so patchsync does not use them.
SIGTAG_PGP: Final = 1002
SIGTAG_GPG: Final = 1005
#: SHA3-256 of the main header, hex string (RPMTAG_SHA3_256HEADER), format_v6.md.
SIGTAG_SHA3_256: Final = 279
#: v6 space reservation for signatures, zeros (RPMTAG_SIG_TOP), format_v6.md "RESERVED".
SIGTAG_RESERVED: Final = 999

# --- Main header tags (rpmtag.h rpmTag_e, RPMTAG_*) -----------------------
#: The region tag opening an immutable main header (RPMTAG_HEADERIMMUTABLE).
TAG_HEADERIMMUTABLE: Final = 63
TAG_NAME: Final = 1000
TAG_VERSION: Final = 1001
TAG_RELEASE: Final = 1002
#: Pre-rpm-4 flat file names (RPMTAG_OLDFILENAMES), used when BASENAMES is absent.
TAG_OLDFILENAMES: Final = 1027
#: int32 per file (RPMTAG_FILESIZES).
TAG_FILESIZES: Final = 1028
#: Hex digest per file, empty for non-regular files (RPMTAG_FILEDIGESTS, formerly FILEMD5S).
TAG_FILEDIGESTS: Final = 1035
#: int16 st_mode per file (RPMTAG_FILEMODES).
TAG_FILEMODES: Final = 1030
#: Symlink target per file, empty for others (RPMTAG_FILELINKTOS).
TAG_FILELINKTOS: Final = 1036
#: RPMFILE_* flags per file (RPMTAG_FILEFLAGS).
TAG_FILEFLAGS: Final = 1037
#: Device number per file; with FILEINODES it groups hard links (RPMTAG_FILEDEVICES).
TAG_FILEDEVICES: Final = 1095
#: Inode number per file (RPMTAG_FILEINODES).
TAG_FILEINODES: Final = 1096
#: RPMFILE_GHOST (rpmfiles.h): listed in the header, never in the payload.
RPMFILE_GHOST: Final = 1 << 6
#: Index into DIRNAMES per file (RPMTAG_DIRINDEXES).
TAG_DIRINDEXES: Final = 1116
#: File name without its directory (RPMTAG_BASENAMES).
TAG_BASENAMES: Final = 1117
#: Directory names, each ending in "/" in binary packages, empty in source packages (RPMTAG_DIRNAMES).
TAG_DIRNAMES: Final = 1118
#: "cpio" (RPMTAG_PAYLOADFORMAT).
TAG_PAYLOADFORMAT: Final = 1124
#: "gzip", "bzip2", "xz", "lzma" or "zstd" (RPMTAG_PAYLOADCOMPRESSOR).
TAG_PAYLOADCOMPRESSOR: Final = 1125
#: int64 per file, present instead of FILESIZES when a file is 4 GB or more (RPMTAG_LONGFILESIZES).
TAG_LONGFILESIZES: Final = 5008
#: PGPHASHALGO_* of FILEDIGESTS; MD5 when absent (RPMTAG_FILEDIGESTALGO).
TAG_FILEDIGESTALGO: Final = 5011
#: Hex digest of the compressed payload (RPMTAG_PAYLOADDIGEST), rpm >= 4.14.
TAG_PAYLOADDIGEST: Final = 5092
#: PGPHASHALGO_* of PAYLOADDIGEST (RPMTAG_PAYLOADDIGESTALGO); absent in v6, where PAYLOADDIGEST is SHA256.
TAG_PAYLOADDIGESTALGO: Final = 5093
#: Compressed payload size, int64 (RPMTAG_PAYLOADSIZE), format_v6.md: v6 has no SIGTAG_SIZE.
TAG_PAYLOADSIZE: Final = 5112
#: Uncompressed payload size, int64 (RPMTAG_PAYLOADSIZEALT).
TAG_PAYLOADSIZEALT: Final = 5113
#: Package format version, int32: 6 for v6 packages (RPMTAG_RPMFORMAT), format_v6.md.
TAG_RPMFORMAT: Final = 5114
#: SHA512 of the compressed payload, hex (RPMTAG_PAYLOADSHA512), format_v6.md.
TAG_PAYLOADSHA512: Final = 5121
#: SHA3-256 of the compressed payload, hex (RPMTAG_PAYLOADSHA3_256), format_v6.md.
TAG_PAYLOADSHA3_256: Final = 5123
#: The RPMTAG_RPMFORMAT value of a v6 package.
RPMFORMAT_V6: Final = 6

# --- Hash algorithms (rpmpgp.h pgpHashAlgo_e; RFC 4880 section 9.4) -------
PGPHASHALGO_MD5: Final = 1
PGPHASHALGO_SHA1: Final = 2
PGPHASHALGO_SHA256: Final = 8
PGPHASHALGO_SHA384: Final = 9
PGPHASHALGO_SHA512: Final = 10
PGPHASHALGO_SHA224: Final = 11
#: RFC 9580 section 9.5: SHA3-256 (rpm's RPM_HASH_SHA3_256).
PGPHASHALGO_SHA3_256: Final = 12
#: RFC 9580 section 9.5: SHA3-512 (rpm's RPM_HASH_SHA3_512).
PGPHASHALGO_SHA3_512: Final = 14
#: PGPHASHALGO_* -> hashlib name.
HASHLIB_NAMES: Final[dict[int, str]] = {
    PGPHASHALGO_MD5: "md5",
    PGPHASHALGO_SHA1: "sha1",
    PGPHASHALGO_SHA256: "sha256",
    PGPHASHALGO_SHA384: "sha384",
    PGPHASHALGO_SHA512: "sha512",
    PGPHASHALGO_SHA224: "sha224",
    PGPHASHALGO_SHA3_256: "sha3_256",
    PGPHASHALGO_SHA3_512: "sha3_512",
}
