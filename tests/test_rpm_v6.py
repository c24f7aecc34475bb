"""rpm 6's v6 packages (rpm's own test packages) and the region checks every header gets."""

from __future__ import annotations

import hashlib
import struct
import subprocess
from pathlib import Path

import pytest

from patchsync.errors import IntegrityError, RpmError
from patchsync.rpm import tags
from patchsync.rpm.header import parse_headers
from tests import rpmtools
from tests.conftest import DATA, require_tool

ATTRTEST = "attrtest-1.0-1.noarch-rpmv6.rpm"
LIBHELLO = "libhello-1.0.1-1.x86_64-rpmv6.rpm"
V4 = DATA / "srpms" / "gzip" / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"


def rpm_dump(path: Path) -> list[tuple[str, int, str]]:
    """(name, size, digest) per file as ``rpm -qpl --dump`` lists them (digest empty for non-files)."""
    rpm = require_tool("rpm")
    out = subprocess.run(
        [rpm, "-qpl", "--dump", "--nosignature", "--nodigest", str(path)], check=True, capture_output=True, text=True
    ).stdout
    rows = []
    for line in out.splitlines():
        name, size, _mtime, digest, *_rest = line.split(" ")
        rows.append((name, int(size), "" if set(digest) == {"0"} else digest))
    return rows


@pytest.mark.parametrize("sample", [ATTRTEST, LIBHELLO])
def test_v6_headers_match_rpm(rpm_samples: Path, sample: str) -> None:
    path = rpm_samples / sample
    data = path.read_bytes()
    h = parse_headers(data, sample)
    assert h.rpm_format == tags.RPMFORMAT_V6
    assert h.total_size == len(data)
    assert [(f.name, f.size, f.digest) for f in h.files] == rpm_dump(path)
    assert h.header_blob == data[h.header_start : h.payload_offset]
    assert h.digests.sha256 == hashlib.sha256(h.header_blob).hexdigest()


def test_v6_strongest_digests_are_chosen(rpm_samples: Path) -> None:
    data = (rpm_samples / LIBHELLO).read_bytes()
    h = parse_headers(data, LIBHELLO)
    assert h.header_digest_checked == "sha3_256"
    assert h.digests.sha3_256 == hashlib.sha3_256(h.header_blob).hexdigest()
    assert (h.payload_digest, h.payload_digest_algo) == (
        hashlib.sha3_256(data[h.payload_offset :]).hexdigest(),
        tags.PGPHASHALGO_SHA3_256,
    )
    assert h.payload_compressor == "zstd"
    # The OpenPGP signature is exposed raw, for the signature module to check.
    assert len(h.header_signatures) == 1
    # The older sample has SHA-256 only (rpm 6 before SHA3-256 header digests).
    old = parse_headers((rpm_samples / ATTRTEST).read_bytes(), ATTRTEST)
    assert old.header_digest_checked == "sha256"
    assert old.payload_digest_algo == tags.PGPHASHALGO_SHA256
    assert old.header_signatures == ()


def test_v6_sha3_header_mismatch(rpm_samples: Path) -> None:
    data = bytearray((rpm_samples / LIBHELLO).read_bytes())
    h = parse_headers(bytes(data), LIBHELLO)
    pos = data.index(b"libhello", h.header_start)
    data[pos] ^= 0x20
    with pytest.raises(IntegrityError, match="main header SHA3-256 mismatch"):
        parse_headers(bytes(data), LIBHELLO)


def test_v6_without_payload_size_is_refused(rpm_samples: Path) -> None:
    data = (rpm_samples / ATTRTEST).read_bytes()
    # Rename the tag: the header digests are refreshed, so only the missing size is wrong.
    start = rpmtools.main_header_start(data)
    index, store, _end = rpmtools.header_span(data, start)
    for i in range((store - index) // 16):
        tag, typ, off, count = struct.unpack_from(">iiii", data, index + 16 * i)
        if tag == tags.TAG_PAYLOADSIZE:
            entry = struct.pack(">iiii", tag, typ, off, count)
            renamed = struct.pack(">iiii", tags.TAG_PAYLOADSIZE + 50000, typ, off, count)
            break
    bad = rpmtools.patch_main_header(data, entry, renamed)
    with pytest.raises(RpmError, match="declares no payload size"):
        parse_headers(bad, ATTRTEST)


def test_v6_signature_with_v3_tags_is_refused(rpm_samples: Path) -> None:
    data = (rpm_samples / ATTRTEST).read_bytes()
    index, _store, _end = rpmtools.header_span(data, rpmtools.LEAD)
    bad = bytearray(data)
    # The SHA256 entry (second) renamed to the v3 MD5 tag number.
    struct.pack_into(">i", bad, index + 16, tags.SIGTAG_MD5)
    with pytest.raises(RpmError, match=r"v6 signature header carries v3 tags \[1004\]"):
        parse_headers(bytes(bad), ATTRTEST)


def _trailer(data: bytes, start: int) -> int:
    """Absolute offset of the region trailer of the header structure at ``start``."""
    index, store, _end = rpmtools.header_span(data, start)
    _tag, _typ, offset, _count = struct.unpack_from(">iiii", data, index)
    return store + offset


def _flip(data: bytes, pos: int) -> bytes:
    bad = bytearray(data)
    bad[pos] ^= 0x01
    return bytes(bad)


@pytest.mark.parametrize("byte", [3, 7, 8, 11, 15], ids=["tag", "type", "offset-high", "offset-low", "count"])
def test_a_flipped_signature_region_trailer_is_refused(byte: int) -> None:
    """rpm says ``signature region ... BAD``; so do we, before any digest is trusted."""
    data = V4.read_bytes()
    bad = _flip(data, _trailer(data, rpmtools.LEAD) + byte)
    with pytest.raises(RpmError, match=r"signature header region (trailer|size): BAD"):
        parse_headers(bad, "k.src.rpm")


def test_a_flipped_main_region_trailer_is_refused() -> None:
    data = V4.read_bytes()
    # The main header's digests no longer match either; the region is checked first, as rpm does.
    bad = _flip(data, _trailer(data, rpmtools.main_header_start(data)) + 11)
    with pytest.raises(RpmError, match="main header region size: BAD"):
        parse_headers(bad, "k.src.rpm")


def test_a_region_tag_of_the_wrong_type_is_refused() -> None:
    data = V4.read_bytes()
    index, _store, _end = rpmtools.header_span(data, rpmtools.LEAD)
    bad = bytearray(data)
    struct.pack_into(">i", bad, index + 4, tags.TYPE_CHAR)
    with pytest.raises(RpmError, match="region tag: BAD"):
        parse_headers(bytes(bad), "k.src.rpm")


def test_rpm_agrees_about_the_flipped_trailer(tmp_path: Path) -> None:
    """The oracle: rpm itself refuses the package we refuse."""
    rpm = require_tool("rpm")
    data = V4.read_bytes()
    bad = tmp_path / "bad.src.rpm"
    bad.write_bytes(_flip(data, _trailer(data, rpmtools.LEAD) + 11))
    result = subprocess.run([rpm, "-qp", "--nosignature", str(bad)], check=False, capture_output=True, text=True)
    assert result.returncode != 0
    assert "region" in result.stderr
    assert "BAD" in result.stderr
