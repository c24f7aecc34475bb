"""Discovery: which src.rpm is the newest, and when discovery must refuse."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from patchsync.errors import SourceError
from patchsync.model import SourceInfo
from patchsync.source.discover import (
    Candidate,
    check_not_backwards,
    list_candidates,
    newest,
    split_name,
)
from patchsync.source.http import Http
from tests.servers import FaultServer, Nginx

NOISE = [
    "kernel-docs-2.6.32.99-0.0.1.src.rpm",
    "kernel-syms-2.6.32.99-0.0.1.src.rpm",
    "kernel-source-2.6.32.99-0.0.1.nosrc.rpm",
    "kernel-source-vanilla-2.6.32.99-0.0.1.src.rpm",
    "kernel-source-2.6.32.99-0.0.1.x86_64.rpm",
    "kernel-source-2.6.32.99.src.rpm",
    "kernel-source.src.rpm",
]
REAL = [
    "kernel-source-2.6.32.9-0.0.7.aaaa111.src.rpm",
    "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    "kernel-source-2.6.32.10-0.0.12.cccc333.src.rpm",
    "kernel-source-2.6.32.10~rc8-0.0.20.dddd444.src.rpm",
]


def make_dir(path: Path, names: list[str]) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    for name in names:
        (path / name).write_bytes(b"")
    return path


@pytest.fixture
def http() -> Http:
    return Http(timeout=5, retries=0)


@pytest.mark.parametrize("name", NOISE)
def test_other_packages_and_forms_are_not_candidates(name: str) -> None:
    assert split_name(name, "kernel-source") is None


def test_newest_by_rpm_order_in_a_local_directory(tmp_path: Path, http: Http) -> None:
    src = make_dir(tmp_path / "src", NOISE + REAL)
    listing = list_candidates(http, str(src), "kernel-source", tmp_path / "cache")
    assert sorted(c.file for c in listing.candidates) == sorted(REAL)
    best = newest(listing.candidates, str(src), "kernel-source")
    # 0.0.12 > 0.0.3 numerically, and 2.6.32.10~rc8 < 2.6.32.10
    assert best.file == "kernel-source-2.6.32.10-0.0.12.cccc333.src.rpm"
    assert best.url == str(src / best.file)


def test_newest_from_nginx_index(tmp_path: Path, http: Http, nginx: Callable[[Path], Nginx]) -> None:
    make_dir(tmp_path / "www" / "kotd" / "src", NOISE + REAL)
    server = nginx(tmp_path / "www")
    url = server.url + "kotd/src"
    listing = list_candidates(http, url, "kernel-source", tmp_path / "cache")
    assert listing.via == "index"
    best = newest(listing.candidates, url, "kernel-source")
    assert best.url == server.url + "kotd/src/kernel-source-2.6.32.10-0.0.12.cccc333.src.rpm"
    assert best.evr == ("2.6.32.10", "0.0.12.cccc333")


def test_second_listing_is_a_304(tmp_path: Path, http: Http, fault_server: FaultServer) -> None:
    for name in REAL:
        fault_server.add(name, b"")
    first = list_candidates(http, fault_server.url, "kernel-source", tmp_path / "cache")
    mark = len(fault_server.served)
    second = list_candidates(http, fault_server.url, "kernel-source", tmp_path / "cache")
    assert not first.not_modified
    assert second.not_modified
    assert second.candidates == first.candidates
    page = [(s.path, s.status, s.body_bytes) for s in fault_server.served[mark:] if s.path == "/"]
    assert page == [("/", 304, 0)]


def test_nginx_autoindex_has_no_validators_so_is_fetched_again(
    tmp_path: Path, http: Http, nginx: Callable[[Path], Nginx]
) -> None:
    make_dir(tmp_path / "www" / "src", REAL)
    server = nginx(tmp_path / "www")
    first = list_candidates(http, server.url + "src/", "kernel-source", tmp_path / "cache")
    second = list_candidates(http, server.url + "src/", "kernel-source", tmp_path / "cache")
    assert not second.not_modified
    assert second.candidates == first.candidates
    assert [e.status for e in server.log() if e.path == "/src/"] == [200, 200]


def test_zero_candidates_is_an_error_naming_the_url(tmp_path: Path, http: Http, nginx: Callable[[Path], Nginx]) -> None:
    make_dir(tmp_path / "www" / "src", NOISE)
    server = nginx(tmp_path / "www")
    url = server.url + "src/"
    listing = list_candidates(http, url, "kernel-source", tmp_path / "cache")
    with pytest.raises(SourceError) as err:
        newest(listing.candidates, url, "kernel-source")
    assert str(err.value) == f"{url}: no kernel-source-<version>-<release>.src.rpm found"


def test_missing_directory_is_an_error(tmp_path: Path, http: Http, nginx: Callable[[Path], Nginx]) -> None:
    (tmp_path / "www").mkdir()
    server = nginx(tmp_path / "www")
    with pytest.raises(SourceError, match=r"/nope/: HTTP 404"):
        list_candidates(http, server.url + "nope/", "kernel-source", tmp_path / "cache")
    with pytest.raises(SourceError, match="cannot list directory"):
        list_candidates(http, str(tmp_path / "nope"), "kernel-source", tmp_path / "cache")


def test_mirror_going_backwards_is_refused(tmp_path: Path) -> None:
    last = SourceInfo(
        url="u",
        file="kernel-source-2.6.32.10-0.0.12.src.rpm",
        version="2.6.32.10",
        release="0.0.12.cccc333",
        tarball="patches.xen.tar.bz2",
        tarball_sha256="",
    )
    older = Candidate("kernel-source-2.6.32.10-0.0.3.src.rpm", "u", "2.6.32.10", "0.0.3")
    with pytest.raises(SourceError) as err:
        check_not_backwards(older, last, "http://m/src/")
    assert str(err.value) == (
        "http://m/src/: mirror went backwards: newest is kernel-source-2.6.32.10-0.0.3.src.rpm, older than"
        " kernel-source-2.6.32.10-0.0.12.src.rpm taken before (nothing synced; pass --src-rpm to take it anyway)"
    )
    same = Candidate("f", "u", "2.6.32.10", "0.0.12.cccc333")
    check_not_backwards(same, last, "http://m/src/")
    check_not_backwards(older, None, "http://m/src/")
