"""Reading a remote src.rpm's headers by Range, and the tarball cache key."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from patchsync.source import tarcache
from patchsync.source.http import Http
from patchsync.source.probe import probe
from tests.rpmbuild import build_srpm
from tests.servers import Fault, FaultServer, Nginx

TARBALL = "patches.xen.tar.bz2"
PATCHES = {"xen3-fixup-common": b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"}


@pytest.fixture(scope="module")
def srpm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_srpm(
        tmp_path_factory.mktemp("srpm"),
        patches=PATCHES,
        series_conf=b"patches.xen/xen3-fixup-common\n",
        extra_size=2_000_000,
    )


def test_probe_reads_headers_with_a_small_range(tmp_path: Path, srpm: Path, nginx: Callable[[Path], Nginx]) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / srpm.name).write_bytes(srpm.read_bytes())
    server = nginx(tmp_path / "www")
    http = Http(timeout=5, retries=0)
    # Start tiny so the headers must be extended by what they declare.
    got = probe(http, server.url + srpm.name, start=512)
    assert got is not None
    headers = got.headers
    assert (headers.name, headers.version, headers.release) == ("kernel-source", "2.6.32.10", "0.0.3.bbbb222")
    assert got.prefix == srpm.read_bytes()[: len(got.prefix)]
    entry = headers.file(TARBALL)
    assert entry is not None
    log = server.log()
    assert all(e.status == 206 for e in log)
    assert len(log) >= 2
    assert sum(e.body_bytes_sent for e in log) == len(got.prefix) == http.bytes_received
    assert len(got.prefix) < srpm.stat().st_size // 10


def test_cache_key_is_the_header_digests(srpm: Path) -> None:
    from patchsync.rpm.header import parse_headers

    headers = parse_headers(srpm.read_bytes(), str(srpm))
    key = tarcache.key_for(headers, TARBALL)
    assert key is not None
    tar_entry = headers.file(TARBALL)
    series_entry = headers.file("series.conf")
    assert tar_entry is not None
    assert series_entry is not None
    assert key.tarball == f"{tar_entry.algo}:{tar_entry.digest}"
    assert key.series == f"{series_entry.algo}:{series_entry.digest}"
    assert series_entry.digest == hashlib.sha256(b"patches.xen/xen3-fixup-common\n").hexdigest()
    assert tarcache.key_for(headers, "patches.other.tar.bz2") is None


def test_server_ignoring_range_means_no_probe(
    srpm: Path, fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = fault_server.add(srpm.name, srpm.read_bytes())
    fault_server.faults = [Fault("ignore_range")]
    assert probe(Http(timeout=5, retries=0), url) is None
    assert f"{url}: server ignores Range requests; downloading the whole file to read its headers" in [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    ]


def test_unparsable_header_means_no_probe(fault_server: FaultServer, caplog: pytest.LogCaptureFixture) -> None:
    url = fault_server.add("kernel-source-1-1.src.rpm", b"\xed\xab\xee\xdb" + b"\0" * 200_000)
    assert probe(Http(timeout=5, retries=0), url) is None
    assert any("cannot read the headers" in r.getMessage() for r in caplog.records)


def test_probe_reads_a_v6_package(tmp_path: Path, rpm_samples: Path, nginx: Callable[[Path], Nginx]) -> None:
    """rpm 6's packages have no size in the signature header: the probe reads them all the same."""
    sample = rpm_samples / "libhello-1.0.1-1.x86_64-rpmv6.rpm"
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / sample.name).write_bytes(sample.read_bytes())
    server = nginx(tmp_path / "www")
    got = probe(Http(timeout=5, retries=0), server.url + sample.name, start=256)
    assert got is not None
    assert got.headers.rpm_format == 6
    assert got.headers.total_size == sample.stat().st_size
    assert got.prefix == sample.read_bytes()[: len(got.prefix)]
    entry = got.headers.file("./usr/local/lib64/libhello.so")
    assert entry is not None
    assert entry.algo == 8
