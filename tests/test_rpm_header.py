"""The RPM header reader and the stream verifier, on packages built by rpmbuild."""

from __future__ import annotations

import hashlib
import logging
import struct
from pathlib import Path

import pytest

from patchsync.errors import IntegrityError, RpmError
from patchsync.rpm import tags
from patchsync.rpm.header import NeedMoreData, parse_headers
from patchsync.rpm.verify import StreamVerifier
from tests import rpmtools
from tests.conftest import DATA
from tests.rpmbuild import make_tarball

KOTD = DATA / "kotd" / "2.6.32.10"
PATCHES = {p.name: p.read_bytes() for p in (KOTD / "patches.xen").iterdir()}


@pytest.fixture(scope="module")
def pkg() -> bytes:
    """A committed fixture built by rpmbuild (tests/data/make-fixtures.py)."""
    return (DATA / "srpms" / "gzip" / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm").read_bytes()


def test_reads_what_rpm_declares(pkg: bytes) -> None:
    h = parse_headers(pkg, "k.src.rpm")
    assert (h.name, h.version, h.release) == ("kernel-source", "2.6.32.10", "0.0.3.bbbb222")
    assert h.total_size == len(pkg)
    assert h.payload_offset == rpmtools.payload_start(pkg)
    assert h.payload_compressor == "gzip"
    assert h.payload_digest == hashlib.sha256(pkg[h.payload_offset :]).hexdigest()
    assert h.payload_digest_algo == tags.PGPHASHALGO_SHA256
    assert h.digests.sha256 == hashlib.sha256(pkg[h.header_start : h.payload_offset]).hexdigest()
    assert h.header_digest_checked == "sha256"
    assert [f.name for f in h.files] == ["kernel-source.spec", "patches.xen.tar.bz2", "series.conf"]
    tarball = make_tarball({f"patches.xen/{k}": v for k, v in PATCHES.items()})
    entry = h.file("patches.xen.tar.bz2")
    assert entry is not None
    assert (entry.size, entry.digest, entry.algo) == (len(tarball), hashlib.sha256(tarball).hexdigest(), 8)
    assert h.file("nope") is None


def test_prefix_grows_by_what_the_headers_declare(pkg: bytes) -> None:
    """A Range client starting small reaches the full headers in a few steps."""
    have = 64
    steps = 0
    while True:
        try:
            h = parse_headers(pkg[:have], "u")
            break
        except NeedMoreData as exc:
            needed = exc.needed
        assert needed > have
        have = needed
        steps += 1
    assert steps <= 4
    assert have == h.payload_offset


@pytest.mark.parametrize("cut", [0, 1, 50, 96, 100, 112, 200])
def test_every_short_prefix_needs_more(pkg: bytes, cut: int) -> None:
    with pytest.raises(NeedMoreData) as exc:
        parse_headers(pkg[:cut], "u")
    assert exc.value.needed > cut
    assert "truncated" in str(exc.value)


def _sig_intro(il: int, dl: int) -> bytes:
    return struct.pack(">4s4xII", tags.HEADER_MAGIC, il, dl)


@pytest.mark.parametrize(
    ("il", "dl", "message"),
    [
        (70000, 16, "70000 index entries"),
        (33, 16, "33 index entries"),  # rpm allows 32 in a signature header
        (0, 16, "0 index entries"),
        (1, 0x7FFFFFFF, "2147483647 bytes of data"),
    ],
)
def test_absurd_signature_sizes_are_refused_before_reading_on(pkg: bytes, il: int, dl: int, message: str) -> None:
    # Only the intro is given: the refusal must not wait for (or allocate) the declared bytes.
    buf = pkg[:96] + _sig_intro(il, dl)
    with pytest.raises(RpmError, match=message) as exc:
        parse_headers(buf, "bad.rpm")
    assert not isinstance(exc.value, NeedMoreData)


@pytest.mark.parametrize(("il", "dl", "message"), [(65536, 16, "65536 index entries"), (1, 0x10000000, "268435456")])
def test_absurd_main_header_sizes_are_refused(pkg: bytes, il: int, dl: int, message: str) -> None:
    start = rpmtools.main_header_start(pkg)
    buf = pkg[:start] + _sig_intro(il, dl)
    with pytest.raises(RpmError, match=message) as exc:
        parse_headers(buf, "bad.rpm")
    assert not isinstance(exc.value, NeedMoreData)
    assert str(exc.value).startswith("bad.rpm: main header declares")


def test_offset_outside_the_store_is_refused(pkg: bytes) -> None:
    start = rpmtools.main_header_start(pkg)
    index, _store, _end = rpmtools.header_span(pkg, start)
    bad = bytearray(pkg)
    # The second entry's offset field.
    struct.pack_into(">i", bad, index + 16 + 8, 0x7FFFFF00)
    with pytest.raises(RpmError, match="points outside the data store"):
        parse_headers(bytes(bad), "bad.rpm")


def test_count_running_past_the_store_is_refused(pkg: bytes) -> None:
    start = rpmtools.main_header_start(pkg)
    index, store, end = rpmtools.header_span(pkg, start)
    bad = bytearray(pkg)
    for i in range((store - index) // 16):
        _tag, typ, _off, _count = struct.unpack_from(">iiii", bad, index + 16 * i)
        if typ == tags.TYPE_INT32:
            struct.pack_into(">i", bad, index + 16 * i + 12, end - store)
            break
    with pytest.raises(RpmError, match="runs past the data store"):
        parse_headers(bytes(bad), "bad.rpm")


def test_header_digest_mismatch(pkg: bytes) -> None:
    h = parse_headers(pkg, "x")
    bad = bytearray(pkg)
    pos = pkg.index(b"The Linux kernel sources", h.header_start)
    bad[pos] ^= 0x20
    with pytest.raises(IntegrityError, match="main header SHA256 mismatch"):
        parse_headers(bytes(bad), "bad.rpm")


def test_sha1_only_is_checked_with_a_warning(pkg: bytes, caplog: pytest.LogCaptureFixture) -> None:
    old = rpmtools.rewrite_signature(pkg, drop={tags.SIGTAG_SHA256})
    with caplog.at_level(logging.WARNING):
        h = parse_headers(old, "old.rpm")
    assert h.header_digest_checked == "sha1"
    assert "checked with SHA1 only" in caplog.text
    bad = rpmtools.rewrite_signature(pkg, drop={tags.SIGTAG_SHA256}, replace={tags.SIGTAG_SHA1: b"0" * 40 + b"\0"})
    with pytest.raises(IntegrityError, match="SHA1 mismatch"):
        parse_headers(bad, "old.rpm")


def test_md5_only_is_checked_over_the_stream(pkg: bytes, caplog: pytest.LogCaptureFixture) -> None:
    old = rpmtools.rewrite_signature(pkg, drop={tags.SIGTAG_SHA256, tags.SIGTAG_SHA1})
    h = parse_headers(old, "old.rpm")
    assert h.header_digest_checked == ""
    assert "only its MD5" in caplog.text
    v = StreamVerifier("old.rpm")
    v.feed(old)
    assert v.finish().name == "kernel-source"
    bad = rpmtools.rewrite_signature(
        pkg, drop={tags.SIGTAG_SHA256, tags.SIGTAG_SHA1}, replace={tags.SIGTAG_MD5: b"\0" * 16}
    )
    v = StreamVerifier("old.rpm")
    v.feed(bad)
    with pytest.raises(IntegrityError, match="MD5 mismatch"):
        v.finish()


def test_no_header_digest_is_refused(pkg: bytes) -> None:
    bare = rpmtools.rewrite_signature(pkg, drop={tags.SIGTAG_SHA256, tags.SIGTAG_SHA1, tags.SIGTAG_MD5})
    with pytest.raises(RpmError, match="no header digest"):
        parse_headers(bare, "bare.rpm")


def test_no_size_is_refused(pkg: bytes) -> None:
    bare = rpmtools.rewrite_signature(pkg, drop={tags.SIGTAG_SIZE, tags.SIGTAG_LONGSIZE})
    with pytest.raises(RpmError, match="declares no package size"):
        parse_headers(bare, "bare.rpm")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<!DOCTYPE html>\n<html><body>404 Not Found</body></html>\n", "HTML/XML page"),
        (b"\x1f\x8b\x08\x00" + b"\0" * 200, "not an RPM package"),
        (b"\xed\xab\xee\xdb\x09\x00" + b"\0" * 200, "unsupported RPM lead version 9"),
    ],
)
def test_not_an_rpm(data: bytes, message: str) -> None:
    with pytest.raises(RpmError, match=message):
        parse_headers(data, "x.src.rpm")


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 30])
def test_stream_verifier_accepts_a_sound_package(pkg: bytes, chunk: int) -> None:
    v = StreamVerifier("k.src.rpm")
    for i in range(0, len(pkg), chunk):
        v.feed(pkg[i : i + chunk])
    assert v.headers is not None
    assert v.finish().total_size == len(pkg)


def test_stream_verifier_sets_headers_early(pkg: bytes) -> None:
    v = StreamVerifier("k")
    h = parse_headers(pkg, "k")
    v.feed(pkg[: h.payload_offset])
    assert v.headers is not None
    assert v.headers.release == "0.0.3.bbbb222"


def test_stream_verifier_truncated(pkg: bytes) -> None:
    v = StreamVerifier("k.src.rpm")
    v.feed(pkg[:-1])
    with pytest.raises(IntegrityError, match=rf"^k.src.rpm: truncated: {len(pkg) - 1} bytes, the package declares"):
        v.finish()


def test_stream_verifier_truncated_in_headers(pkg: bytes) -> None:
    v = StreamVerifier("k.src.rpm")
    v.feed(pkg[:500])
    with pytest.raises(RpmError, match="truncated"):
        v.finish()


def test_stream_verifier_padded_stops_the_download(pkg: bytes) -> None:
    v = StreamVerifier("k.src.rpm")
    v.feed(pkg)
    with pytest.raises(IntegrityError, match="trailing garbage"):
        v.feed(b"\n")


def test_stream_verifier_payload_mismatch(pkg: bytes) -> None:
    bad = bytearray(pkg)
    bad[-3] ^= 1
    v = StreamVerifier("k.src.rpm")
    v.feed(bytes(bad))
    with pytest.raises(IntegrityError, match="payload digest mismatch"):
        v.finish()


def test_stream_verifier_empty() -> None:
    with pytest.raises(RpmError, match="empty file"):
        StreamVerifier("e.src.rpm").finish()


def test_stream_verifier_refuses_html_at_once() -> None:
    v = StreamVerifier("http://x/k.src.rpm")
    with pytest.raises(RpmError, match="HTML"):
        v.feed(b"<html><head><title>502 Bad Gateway</title></head>")


def test_read_headers_from_a_file(tmp_path: Path, pkg: bytes) -> None:
    from patchsync.rpm.header import read_headers

    path = tmp_path / "k.src.rpm"
    path.write_bytes(pkg)
    with path.open("rb") as fh:
        h, prefix = read_headers(fh, str(path))
    assert prefix[: h.payload_offset] == pkg[: h.payload_offset]
    (tmp_path / "e.rpm").write_bytes(b"")
    with (tmp_path / "e.rpm").open("rb") as fh, pytest.raises(RpmError, match="empty file"):
        read_headers(fh, "e.rpm")
