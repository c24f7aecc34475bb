"""Streaming members out of real src.rpm payloads, every codec rpmbuild writes."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import lzma
import subprocess
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from patchsync.errors import IntegrityError, RpmError
from patchsync.rpm import cpio
from patchsync.rpm.header import RpmFileEntry, parse_headers
from patchsync.rpm.payload import read_members
from tests import rpmtools
from tests.conftest import DATA, require_tool
from tests.limits import MEMORY_LIMIT, run_limited
from tests.rpmbuild import make_tarball

KOTD = DATA / "kotd" / "2.6.32.10"
PATCHES = {p.name: p.read_bytes() for p in (KOTD / "patches.xen").iterdir()}
SERIES = (KOTD / "series.conf").read_bytes()
#: The committed fixtures were built from these with the same (reproducible) tarball writer.
TARBALL = make_tarball({f"patches.xen/{k}": v for k, v in PATCHES.items()})
WANTED = ("patches.xen.tar.bz2", "series.conf")
CODECS = ("gzip", "bzip2", "xz", "lzma", "zstd")


@pytest.fixture(scope="module")
def packages() -> dict[str, Path]:
    """The committed fixtures (tests/data/make-fixtures.py), one per codec."""
    return {c: DATA / "srpms" / c / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm" for c in CODECS}


@pytest.mark.parametrize("codec", CODECS)
@pytest.mark.parametrize("verify_payload", [False, True])
def test_members_byte_for_byte(packages: dict[str, Path], codec: str, verify_payload: bool) -> None:
    headers, found = read_members(packages[codec], WANTED, verify_payload=verify_payload)
    assert headers.payload_compressor == codec
    assert found == {"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}


def test_absent_names_are_absent(packages: dict[str, Path]) -> None:
    _headers, found = read_members(packages["gzip"], ["patches.kabi.tar.bz2"])
    assert found == {}


def _gzip_payload(pkg: bytes) -> bytes:
    return gzip.decompress(pkg[rpmtools.payload_start(pkg) :])


def test_member_digest_mismatch(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg = packages["gzip"].read_bytes()
    archive = bytearray(_gzip_payload(pkg))
    pos = archive.index(TARBALL)
    archive[pos + 20] ^= 0xFF  # same size, other bytes
    bad = tmp_path / "bad.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(bytes(archive))))
    with pytest.raises(IntegrityError, match=r"patches.xen.tar.bz2 does not match the header's SHA256 digest"):
        read_members(bad, WANTED)


def test_member_size_mismatch(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg = packages["gzip"].read_bytes()
    archive = _gzip_payload(pkg)
    size_field = f"{len(TARBALL):08x}".encode()
    pos = archive.index(b"patches.xen.tar.bz2\0") - cpio.HEADER_SIZE
    hdr = archive[pos : pos + cpio.HEADER_SIZE]
    assert size_field in hdr
    archive = archive[:pos] + hdr.replace(size_field, f"{len(TARBALL) - 4:08x}".encode()) + archive[pos + 110 :]
    bad = tmp_path / "bad.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(archive)))
    with pytest.raises(IntegrityError, match=rf"has {len(TARBALL) - 4} bytes, the header declares {len(TARBALL)}"):
        read_members(bad, WANTED)


def test_payload_digest_only_when_asked(packages: dict[str, Path], tmp_path: Path) -> None:
    """A payload re-compressed with the same content: members match, the payload digest does not."""
    pkg = packages["gzip"].read_bytes()
    bad = tmp_path / "recompressed.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(_gzip_payload(pkg), compresslevel=1)))
    _h, found = read_members(bad, WANTED)
    assert found["series.conf"] == SERIES
    with pytest.raises(IntegrityError, match="payload digest mismatch"):
        read_members(bad, WANTED, verify_payload=True)


def test_unknown_compressor(packages: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "brotli.src.rpm"
    bad.write_bytes(rpmtools.patch_main_header(packages["gzip"].read_bytes(), b"\0gzip\0", b"\0brot\0"))
    assert parse_headers(bad.read_bytes(), "x").payload_compressor == "brot"
    with pytest.raises(RpmError, match=r"unknown payload compressor 'brot'"):
        read_members(bad, WANTED)


@pytest.mark.parametrize("codec", CODECS)
def test_corrupt_stream(packages: dict[str, Path], tmp_path: Path, codec: str) -> None:
    pkg = bytearray(packages[codec].read_bytes())
    start = rpmtools.payload_start(bytes(pkg))
    for i in range(start + 12, start + 40):
        pkg[i] ^= 0x55
    bad = tmp_path / "corrupt.src.rpm"
    bad.write_bytes(bytes(pkg))
    with pytest.raises(RpmError, match="corrupt"):
        read_members(bad, WANTED)


def test_stream_ending_early(packages: dict[str, Path], tmp_path: Path) -> None:
    """A short payload whose size the signature agrees with (re-signed truncation)."""
    pkg = packages["gzip"].read_bytes()
    payload = pkg[rpmtools.payload_start(pkg) :]
    bad = tmp_path / "short.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, payload[: len(payload) // 2]))
    with pytest.raises(RpmError, match="ends early"):
        read_members(bad, WANTED)


def test_header_lists_member_the_payload_lacks(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg = packages["gzip"].read_bytes()
    archive = _gzip_payload(pkg)
    # Rename the member inside the cpio archive only.
    archive = archive.replace(b"series.conf\0", b"series.conX\0")
    bad = tmp_path / "lacks.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(archive)))
    with pytest.raises(IntegrityError, match=r"the header lists series\.conf but the payload lacks it"):
        read_members(bad, WANTED)


def test_not_cpio(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg = packages["gzip"].read_bytes()
    bad = tmp_path / "notcpio.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(b"PK\3\4" + b"\0" * 400)))
    with pytest.raises(RpmError, match="no cpio header at offset 0"):
        read_members(bad, WANTED)


def test_decompression_bomb_is_walked_in_bounded_chunks(packages: dict[str, Path], tmp_path: Path) -> None:
    """A member of 256 MB of zeros (which the header does not list) is skipped, never held.

    Read in a child under the memory limit, which is smaller than the bomb.
    """
    pkg = packages["gzip"].read_bytes()
    archive = _gzip_payload(pkg)
    big = 256 * 1024 * 1024
    assert big > MEMORY_LIMIT
    filler = (
        b"070701" + b"".join(f"{v:08X}".encode() for v in (1, 0o100644, 0, 0, 1, 0, big, 0, 0, 0, 0, 6, 0)) + b"aaaaa\0"
    )
    z = zlib.compressobj(1, zlib.DEFLATED, 31)
    stream = z.compress(filler)
    chunk = bytes(16 * 1024 * 1024)
    for _ in range(big // len(chunk)):
        stream += z.compress(chunk)
    stream += z.compress(archive) + z.flush()
    bad = tmp_path / "bomb.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, stream))
    proc = run_limited(
        "import hashlib, sys\n"
        "from pathlib import Path\n"
        "from patchsync.rpm.payload import read_members\n"
        "_h, found = read_members(Path(sys.argv[1]), tuple(sys.argv[2:]))\n"
        "for name in sorted(found):\n"
        "    print(name, hashlib.sha256(found[name]).hexdigest())\n",
        str(bad),
        *WANTED,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [
        f"{name} {hashlib.sha256(data).hexdigest()}"
        for name, data in sorted({"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}.items())
    ]


def _archive_and_headers(pkg: bytes) -> tuple[bytes, tuple[RpmFileEntry, ...], list[int]]:
    headers = parse_headers(pkg, "x")
    wanted = [fx for fx, f in enumerate(headers.files) if f.name in WANTED]
    return _gzip_payload(pkg), headers.files, wanted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=30))
def test_walker_is_indifferent_to_chunk_boundaries(packages: dict[str, Path], cuts: list[int]) -> None:
    archive, files, wanted = _archive_and_headers(packages["gzip"].read_bytes())
    walker = cpio.CpioWalker(files, wanted, where="x", max_member=1 << 20)
    points = sorted({0, len(archive), *(c % (len(archive) + 1) for c in cuts)})
    buf = bytearray(archive)
    for a, b in itertools.pairwise(points):
        piece = memoryview(buf)[a:b]
        walker.feed(piece)
        buf[a:b] = b"\xff" * (b - a)  # the caller may reuse its buffer
    assert walker.done
    assert walker.found == {"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}


def test_walker_member_cap(packages: dict[str, Path]) -> None:
    archive, files, wanted = _archive_and_headers(packages["gzip"].read_bytes())
    walker = cpio.CpioWalker(files, wanted, where="x.src.rpm", max_member=100)
    with pytest.raises(
        RpmError, match=rf"^x\.src\.rpm: payload member patches\.xen\.tar\.bz2 has {len(TARBALL)} bytes"
    ):
        walker.feed(archive)


def _xz_archive(packages: dict[str, Path]) -> tuple[bytes, bytes]:
    pkg = packages["xz"].read_bytes()
    return pkg, lzma.decompress(pkg[rpmtools.payload_start(pkg) :])


@pytest.mark.parametrize("check", ["none", "crc32", "crc64", "sha256"])
def test_xz_with_many_blocks(packages: dict[str, Path], tmp_path: Path, check: str) -> None:
    """Multi-threaded xz (many blocks, sizes in the block headers) and every check size."""
    xz = require_tool("xz")
    pkg, archive = _xz_archive(packages)
    stream = subprocess.run(
        [xz, "-T2", "--block-size=1KiB", f"--check={check}", "-c"], input=archive, capture_output=True, check=True
    ).stdout
    multi = tmp_path / "multi.src.rpm"
    multi.write_bytes(rpmtools.replace_payload(pkg, stream))
    _h, found = read_members(multi, WANTED)
    assert found == {"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}


def test_xz_with_a_bcj_filter_uses_the_checking_decoder(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg, archive = _xz_archive(packages)
    stream = lzma.compress(archive, format=lzma.FORMAT_XZ, filters=[{"id": lzma.FILTER_X86}, {"id": lzma.FILTER_LZMA2}])
    bcj = tmp_path / "bcj.src.rpm"
    bcj.write_bytes(rpmtools.replace_payload(pkg, stream))
    _h, found = read_members(bcj, WANTED)
    assert found == {"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}


def test_xz_stream_flags_are_checked(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg, archive = _xz_archive(packages)
    stream = bytearray(lzma.compress(archive, format=lzma.FORMAT_XZ))
    stream[7] ^= 0x01  # check type changed, CRC32 of the flags no longer matches
    bad = tmp_path / "flags.src.rpm"
    bad.write_bytes(rpmtools.replace_payload(pkg, bytes(stream)))
    with pytest.raises(RpmError, match="corrupt xz payload: bad xz stream flags"):
        read_members(bad, WANTED)


def test_crc_magic(packages: dict[str, Path], tmp_path: Path) -> None:
    pkg = packages["gzip"].read_bytes()
    archive = _gzip_payload(pkg).replace(b"070701", b"070702")
    other = tmp_path / "magic.src.rpm"
    other.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(archive)))
    assert read_members(other, WANTED)[1] == {"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}


def _flip_compressor_check(pkg: bytes, codec: str) -> bytes:
    """The package with one byte of the compressor's own check flipped: gzip's CRC-32, xz's block check."""
    bad = bytearray(pkg)
    if codec == "gzip":
        bad[-8] ^= 0x01  # RFC 1952 2.3: CRC32, then ISIZE, end the member
        return bytes(bad)
    # xz format 2.1.2: the stream footer's backward size gives the index; the last block's check precedes it.
    backward = int.from_bytes(pkg[-8:-4], "little")
    index = len(pkg) - 12 - (backward + 1) * 4
    bad[index - 1] ^= 0x01
    return bytes(bad)


@pytest.mark.parametrize("codec", ["gzip", "xz"])
def test_skipped_compressor_checks_are_covered(packages: dict[str, Path], tmp_path: Path, codec: str) -> None:
    """gzip's CRC-32 and xz's SHA-256 are not computed (issue 9 item 6 measured them as most of the time).

    What they would catch is caught anyway: the members kept are checked against the header's
    digests, and ``verify_payload`` checks the payload digest, which covers every compressed byte,
    the compressor's check included.  The standard library's checking decoders refuse the flip.
    """
    pkg = packages[codec].read_bytes()
    bad = _flip_compressor_check(pkg, codec)
    start = rpmtools.payload_start(pkg)
    with pytest.raises((OSError, lzma.LZMAError, zlib.error)):
        (gzip.decompress if codec == "gzip" else lzma.decompress)(bad[start:])
    path = tmp_path / f"check.{codec}.src.rpm"
    path.write_bytes(bad)
    assert read_members(path, WANTED)[1] == {"patches.xen.tar.bz2": TARBALL, "series.conf": SERIES}
    with pytest.raises(IntegrityError, match="payload digest mismatch"):
        read_members(path, WANTED, verify_payload=True)
