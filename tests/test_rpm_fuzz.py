"""Damaged packages are refused with a PatchsyncError, never a crash (IndexError, struct.error, ...)."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from patchsync.errors import PatchsyncError, TarballError
from patchsync.patches.tarball import read_tarball
from patchsync.rpm.header import parse_headers
from patchsync.rpm.payload import read_members
from patchsync.rpm.verify import StreamVerifier
from tests import rpmtools
from tests.conftest import DATA
from tests.rpmbuild import make_tarball

PKG = (DATA / "srpms" / "gzip" / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm").read_bytes()
HEADERS_END = parse_headers(PKG, "x").payload_offset
CODECS = ("gzip", "bzip2", "xz", "lzma", "zstd")

edits = st.lists(st.tuples(st.integers(min_value=0, max_value=HEADERS_END - 1), st.integers(0, 255)), max_size=8)


def _apply(data: bytes, changes: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for pos, value in changes:
        out[pos % len(out)] = value
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(changes=edits, cut=st.integers(min_value=0, max_value=HEADERS_END), resign=st.booleans())
def test_damaged_headers_raise_only_patchsync_errors(changes: list[tuple[int, int]], cut: int, resign: bool) -> None:
    data = _apply(PKG, changes)
    if resign:
        # Fix the header digests up, so damage inside the main header reaches the value decoders.
        with contextlib.suppress(Exception):
            data = rpmtools._refresh_header_digests(data)
    data = data[: cut or None]
    with contextlib.suppress(PatchsyncError):
        parse_headers(data, "x")
    verifier = StreamVerifier("x")
    try:
        verifier.feed(data)
        verifier.finish()
    except PatchsyncError:
        pass


@settings(max_examples=60, deadline=None)
@given(
    codec=st.sampled_from(CODECS),
    changes=st.lists(st.tuples(st.integers(min_value=0, max_value=20000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_damaged_payloads_raise_only_patchsync_errors(codec: str, changes: list[tuple[int, int]]) -> None:
    import tempfile

    pkg = (DATA / "srpms" / codec / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm").read_bytes()
    start = parse_headers(pkg, "x").payload_offset
    out = bytearray(pkg)
    for pos, value in changes:
        out[start + pos % (len(pkg) - start)] = value
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.src.rpm"
        path.write_bytes(bytes(out))
        with contextlib.suppress(PatchsyncError):
            read_members(path, ["patches.xen.tar.bz2", "series.conf"], verify_payload=True)


TAR = make_tarball(
    {f"patches.xen/{p.name}": p.read_bytes() for p in (DATA / "kotd/2.6.32.10/patches.xen").iterdir()}, compression=""
)


@settings(max_examples=300, deadline=None)
@given(
    changes=st.lists(st.tuples(st.integers(min_value=0, max_value=len(TAR) - 1), st.integers(0, 255)), max_size=8),
    compression=st.sampled_from(["", "bz2", "xz", "gz"]),
    compressed_damage=st.booleans(),
)
def test_damaged_tarballs_raise_only_tarball_errors(
    changes: list[tuple[int, int]], compression: str, compressed_damage: bool
) -> None:
    data = TAR if compressed_damage else _apply(TAR, changes)
    if compression:
        data = {"bz2": bz2.compress, "xz": lzma.compress, "gz": gzip.compress}[compression](data)
    if compressed_damage:
        data = _apply(data, changes)
    with contextlib.suppress(TarballError):
        top, files = read_tarball(data, where="t")
        assert top == "patches.xen"
        assert all(name.startswith("patches.xen/") and ".." not in name.split("/") for name in files)
