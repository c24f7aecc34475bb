"""The tarball cache: round trip, atomic entries, damaged entries ignored."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from patchsync.model import PatchSet, SourceInfo
from patchsync.source import tarcache

KEY = tarcache.CacheKey(tarball="8:" + "ab" * 32, series="8:" + "cd" * 32)
SOURCE = SourceInfo(
    "http://m/src/k.src.rpm",
    "kernel-source-2.6.32.10-0.0.3.src.rpm",
    "2.6.32.10",
    "0.0.3",
    "patches.xen.tar.bz2",
    "ef" * 32,
)
FILES = {"patches.xen/xen3-a": b"a\r\n\x00binary", "patches.xen/sub/xen3-b": b"b\n"}


def test_round_trip_is_byte_exact(tmp_path: Path) -> None:
    tarcache.store(tmp_path, KEY, PatchSet(SOURCE, "patches.xen", FILES, b"series\n"))
    hit = tarcache.lookup(tmp_path, KEY)
    assert hit is not None
    assert (hit.file, hit.top, hit.tarball_sha256) == (SOURCE.file, "patches.xen", SOURCE.tarball_sha256)
    assert hit.files == FILES
    assert hit.series_conf == b"series\n"
    # No temporary folders left behind.
    assert [p.name for p in (tmp_path / "tarballs").iterdir()] == [KEY.dirname]


def test_series_digest_is_part_of_the_key(tmp_path: Path) -> None:
    tarcache.store(tmp_path, KEY, PatchSet(SOURCE, "patches.xen", FILES, None))
    assert tarcache.lookup(tmp_path, tarcache.CacheKey(KEY.tarball, "8:" + "00" * 32)) is None
    hit = tarcache.lookup(tmp_path, KEY)
    assert hit is not None
    assert hit.series_conf is None


def test_storing_twice_is_harmless(tmp_path: Path) -> None:
    patchset = PatchSet(SOURCE, "patches.xen", FILES, None)
    tarcache.store(tmp_path, KEY, patchset)
    tarcache.store(tmp_path, KEY, patchset)
    assert len(list((tmp_path / "tarballs").iterdir())) == 1


def test_damaged_entry_is_a_miss(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tarcache.store(tmp_path, KEY, PatchSet(SOURCE, "patches.xen", FILES, None))
    (tmp_path / "tarballs" / KEY.dirname / "meta.json").write_text("{broken")
    assert tarcache.lookup(tmp_path, KEY) is None
    assert any("unusable cache entry" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_unsafe_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsafe path"):
        tarcache.store(tmp_path, KEY, PatchSet(SOURCE, "patches.xen", {"../evil": b""}, None))
    assert list((tmp_path / "tarballs").iterdir()) == []


def test_only_recent_entries_are_kept(tmp_path: Path) -> None:
    for i in range(tarcache.KEEP_ENTRIES + 2):
        key = tarcache.CacheKey(tarball=f"8:{i:064x}", series=None)
        tarcache.store(tmp_path, key, PatchSet(SOURCE, "patches.xen", FILES, None))
    assert len(list((tmp_path / "tarballs").iterdir())) == tarcache.KEEP_ENTRIES
    newest = tarcache.CacheKey(tarball=f"8:{tarcache.KEEP_ENTRIES + 1:064x}", series=None)
    assert tarcache.lookup(tmp_path, newest) is not None
