"""Downloads against real servers: resume, retries, size cap and every fault."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from patchsync.errors import DownloadError, IntegrityError, RpmError
from patchsync.source.download import download
from patchsync.source.http import Http
from tests.rpmbuild import build_srpm
from tests.servers import Fault, FaultServer, Nginx

FILE = "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"


@pytest.fixture(scope="module")
def srpm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = build_srpm(
        tmp_path_factory.mktemp("srpm"),
        patches={"xen3-auto-common.diff": b"--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n"},
        series_conf=b"patches.xen/xen3-auto-common.diff\n",
        extra_size=300_000,
    )
    return path.read_bytes()


def client(retries: int = 3, timeout: float = 5, waits: list[float] | None = None) -> Http:
    record = waits if waits is not None else []
    return Http(timeout=timeout, retries=retries, backoff=0.01, sleep=record.append)


def test_download_verifies_and_renames(tmp_path: Path, srpm: bytes, nginx: Callable[[Path], Nginx]) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / FILE).write_bytes(srpm)
    server = nginx(tmp_path / "www")
    http = client()
    got = download(http, server.url + FILE, tmp_path / "srpms", FILE, max_bytes=1 << 30)
    assert got.path.read_bytes() == srpm
    assert got.sha256 == hashlib.sha256(srpm).hexdigest()
    assert (got.headers.version, got.headers.release) == ("2.6.32.10", "0.0.3.bbbb222")
    assert sorted(p.name for p in (tmp_path / "srpms").iterdir()) == [FILE]
    assert http.bytes_received == len(srpm)
    # A second call finds the complete file and fetches nothing.
    mark = len(server.log())
    again = download(http, server.url + FILE, tmp_path / "srpms", FILE, max_bytes=1 << 30)
    assert not again.transferred
    assert server.log()[mark:] == []


def test_resume_fetches_only_the_rest(tmp_path: Path, srpm: bytes, nginx: Callable[[Path], Nginx]) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / FILE).write_bytes(srpm)
    server = nginx(tmp_path / "www")
    dest = tmp_path / "srpms"
    dest.mkdir()
    have = 200_000
    (dest / (FILE + ".part")).write_bytes(srpm[:have])  # what a broken transfer left
    got = download(client(), server.url + FILE, dest, FILE, max_bytes=1 << 30)
    assert got.path.read_bytes() == srpm
    [entry] = server.log()
    assert (entry.status, entry.range, entry.body_bytes_sent) == (206, f"bytes={have}-", len(srpm) - have)


def test_500_then_success_is_retried(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("status", status=500), Fault("status", status=503)]
    waits: list[float] = []
    got = download(client(waits=waits), url, tmp_path, FILE, max_bytes=1 << 30)
    assert got.path.read_bytes() == srpm
    assert [s.status for s in fault_server.served] == [500, 503, 200]
    assert waits == [0.01, 0.02]  # exponential backoff


@pytest.mark.parametrize("when", ["seconds", "date"])
def test_429_honours_retry_after(tmp_path: Path, srpm: bytes, fault_server: FaultServer, when: str) -> None:
    url = fault_server.add(FILE, srpm)
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=20), usegmt=True)
    fault_server.faults = [Fault("status", status=429, retry_after="7" if when == "seconds" else later)]
    waits: list[float] = []
    http = Http(timeout=5, retries=3, total_seconds=600, sleep=waits.append)
    download(http, url, tmp_path, FILE, max_bytes=1 << 30)
    assert [s.status for s in fault_server.served] == [429, 200]
    if when == "seconds":
        assert waits == [7.0]
    else:
        assert 15 <= waits[0] <= 20


def test_retries_are_bounded_in_count(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("status", status=502) for _ in range(10)]
    with pytest.raises(DownloadError) as err:
        download(client(retries=2), url, tmp_path, FILE, max_bytes=1 << 30)
    assert str(err.value) == f"{url}: HTTP 502 Bad Gateway (gave up after 3 attempts)"
    assert len(fault_server.served) == 3
    assert list(tmp_path.iterdir()) == []


def test_retries_are_bounded_in_time(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("status", status=429, retry_after="3600")]
    waits: list[float] = []
    http = Http(timeout=5, retries=5, total_seconds=60, sleep=waits.append)
    with pytest.raises(DownloadError) as err:
        download(http, url, tmp_path, FILE, max_bytes=1 << 30)
    assert str(err.value) == (
        f"{url}: HTTP 429 Too Many Requests (gave up: retrying in 3600 s would pass the 60 s budget)"
    )
    assert waits == []


def test_connection_refused_is_one_line(tmp_path: Path) -> None:
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}/{FILE}"
    with pytest.raises(DownloadError) as err:
        download(client(retries=1), url, tmp_path, FILE, max_bytes=1 << 30)
    assert str(err.value) == f"{url}: connection refused (gave up after 2 attempts)"


def test_stall_keeps_a_resumable_part(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("stall", at=100_000)]
    with pytest.raises(DownloadError) as err:
        download(client(retries=0, timeout=0.5), url, tmp_path, FILE, max_bytes=1 << 30)
    # Whole chunks that arrived are kept; the chunk the stall cut is not.
    kept = (tmp_path / (FILE + ".part")).read_bytes()
    assert 0 < len(kept) <= 100_000
    assert kept == srpm[: len(kept)]
    assert str(err.value) == (
        f"{url}: transfer broke off after {len(kept)} of {len(srpm)} bytes: server stalled (read timed out)"
        f" (gave up after 1 attempt); {FILE}.part is kept to resume"
    )
    # The next run resumes where the stall left off.
    got = download(client(), url, tmp_path, FILE, max_bytes=1 << 30)
    assert got.path.read_bytes() == srpm
    assert [(s.status, s.range, s.body_bytes) for s in fault_server.served[1:]] == [
        (206, f"bytes={len(kept)}-", len(srpm) - len(kept))
    ]


def test_truncated_body_is_resumed_in_the_same_run(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("truncate", at=150_000)]
    got = download(client(), url, tmp_path, FILE, max_bytes=1 << 30)
    assert got.path.read_bytes() == srpm
    first, second = fault_server.served
    assert (first.status, first.range, first.body_bytes) == (200, "", 150_000)
    # Resumed from the last whole chunk received, not from the start.
    resumed = int(second.range.removeprefix("bytes=").rstrip("-"))
    assert 0 < resumed <= 150_000
    assert (second.status, second.body_bytes) == (206, len(srpm) - resumed)


def test_truncated_every_time_gives_up_and_keeps_part(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("truncate", at=100_000) for _ in range(3)]
    with pytest.raises(DownloadError, match=r"transfer broke off after \d+ of \d+ bytes: connection closed mid-body"):
        download(client(retries=2), url, tmp_path, FILE, max_bytes=1 << 30)
    kept = (tmp_path / (FILE + ".part")).read_bytes()
    assert len(kept) > 100_000  # progress from each of the three attempts
    assert kept == srpm[: len(kept)]
    assert [s.range != "" for s in fault_server.served] == [False, True, True]


def test_wrong_bytes_delete_the_file(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("wrong", at=len(srpm) - 1000)]
    with pytest.raises(IntegrityError, match=f"^{url}: .*payload"):
        download(client(), url, tmp_path, FILE, max_bytes=1 << 30)
    assert list(tmp_path.iterdir()) == []


def test_html_error_page_served_as_the_rpm(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    fault_server.faults = [Fault("html")]
    with pytest.raises(RpmError) as err:
        download(client(), url, tmp_path, FILE, max_bytes=1 << 30)
    assert str(err.value) == f"{url}: not an RPM package: it is an HTML/XML page (an error page saved as the file?)"
    assert list(tmp_path.iterdir()) == []


def test_server_ignoring_range_starts_over(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    (tmp_path / (FILE + ".part")).write_bytes(srpm[:70_000])
    fault_server.faults = [Fault("ignore_range")]
    got = download(client(), url, tmp_path, FILE, max_bytes=1 << 30)
    assert got.path.read_bytes() == srpm
    assert [(s.status, s.range, s.body_bytes) for s in fault_server.served] == [(200, "bytes=70000-", len(srpm))]


def test_size_cap_refuses_before_the_body(tmp_path: Path, srpm: bytes, nginx: Callable[[Path], Nginx]) -> None:
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / FILE).write_bytes(srpm)
    server = nginx(tmp_path / "www")
    with pytest.raises(DownloadError) as err:
        download(client(), server.url + FILE, tmp_path / "srpms", FILE, max_bytes=100_000)
    assert (
        str(err.value) == f"{server.url}{FILE}: the server declares {len(srpm)} bytes, over source.max_bytes (100000)"
    )
    assert list((tmp_path / "srpms").iterdir()) == []


def test_repodata_checksum_mismatch(tmp_path: Path, srpm: bytes, fault_server: FaultServer) -> None:
    url = fault_server.add(FILE, srpm)
    with pytest.raises(IntegrityError) as err:
        download(client(), url, tmp_path, FILE, max_bytes=1 << 30, sha256="0" * 64)
    assert str(err.value) == (
        f"{url}: sha256 {hashlib.sha256(srpm).hexdigest()} does not match the repository's {'0' * 64}"
    )
    assert list(tmp_path.iterdir()) == []
