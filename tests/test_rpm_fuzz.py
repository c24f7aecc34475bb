"""Damaged packages are refused with a PatchsyncError, never a crash (IndexError, struct.error, ...)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from patchsync.errors import PatchsyncError
from patchsync.rpm.header import parse_headers
from patchsync.rpm.payload import read_members
from patchsync.rpm.verify import StreamVerifier
from tests import rpmtools
from tests.conftest import DATA

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
