"""Discovery from RPM-MD repositories built by the real createrepo_c."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from patchsync.errors import SourceError
from patchsync.source.discover import list_candidates, newest
from patchsync.source.http import Http
from patchsync.source.repodata import parse_primary, primary_location
from tests.conftest import require_tool
from tests.rpmbuild import build_srpm
from tests.servers import Nginx

PATCHES = {"xen3-auto-xen-arch.diff": b"--- a/arch/x\n+++ b/arch/x\n@@ -1 +1 @@\n-a\n+b\n"}


@pytest.fixture(scope="module")
def srpms(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("srpms")
    return {
        "old": build_srpm(out, patches=PATCHES, release="0.0.3.bbbb222"),
        "new": build_srpm(out, patches=PATCHES, release="0.0.12.cccc333"),
        "syms": build_srpm(out, patches=PATCHES, name="kernel-syms", release="0.0.99.dddd444"),
        "vanilla": build_srpm(out, patches=PATCHES, name="kernel-source-vanilla", release="0.0.99"),
    }


def createrepo(root: Path, *extra: str) -> None:
    subprocess.run([require_tool("createrepo_c"), "--quiet", *extra, str(root)], check=True)


@pytest.mark.parametrize("compress", ["gz", "xz"])
@pytest.mark.parametrize("layout", ["parent", "itself"])
def test_candidates_from_repodata(
    tmp_path: Path, srpms: dict[str, Path], nginx: Callable[[Path], Nginx], layout: str, compress: str
) -> None:
    src = tmp_path / "www" / "kotd" / "src"
    src.mkdir(parents=True)
    for path in srpms.values():
        (src / path.name).write_bytes(path.read_bytes())
    # (Debian's createrepo_c is built without zstd; zstd is checked below.)
    extra = ["--general-compress-type", "xz"] if compress == "xz" else []
    createrepo(src.parent if layout == "parent" else src, *extra)
    # A stray file in the folder but not in the metadata must not count.
    (src / "kernel-source-9.9-9.src.rpm").write_bytes(b"not in the metadata")
    server = nginx(tmp_path / "www")
    url = server.url + "kotd/src/"
    listing = list_candidates(Http(timeout=5, retries=0), url, "kernel-source", tmp_path / "cache")
    assert listing.via == "repodata"
    assert sorted(c.file for c in listing.candidates) == sorted([srpms["old"].name, srpms["new"].name])
    best = newest(listing.candidates, url, "kernel-source")
    data = srpms["new"].read_bytes()
    assert best.url == url + srpms["new"].name
    assert best.sha256 == hashlib.sha256(data).hexdigest()
    assert best.size == len(data)
    assert (best.version, best.release) == ("2.6.32.10", "0.0.12.cccc333")


def test_unchanged_repodata_answers_304(tmp_path: Path, srpms: dict[str, Path], nginx: Callable[[Path], Nginx]) -> None:
    src = tmp_path / "www" / "src"
    src.mkdir(parents=True)
    (src / srpms["new"].name).write_bytes(srpms["new"].read_bytes())
    createrepo(src)
    server = nginx(tmp_path / "www")
    http = Http(timeout=5, retries=0)
    first = list_candidates(http, server.url + "src/", "kernel-source", tmp_path / "cache")
    mark = len(server.log())
    second = list_candidates(http, server.url + "src/", "kernel-source", tmp_path / "cache")
    assert (first.not_modified, second.not_modified) == (False, True)
    assert second.candidates == first.candidates
    assert {(e.status, e.body_bytes_sent) for e in server.log()[mark:]} == {(304, 0)}


PRIMARY = b"""<?xml version="1.0" encoding="UTF-8"?>
<metadata xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm" packages="2">
<package type="rpm">
  <name>kernel-source</name><arch>src</arch>
  <version epoch="0" ver="2.6.32.10" rel="0.0.3"/>
  <checksum type="sha256" pkgid="YES">ABCDEF</checksum>
  <size package="1234" installed="0" archive="0"/>
  <location xml:base="http://cdn.example.org/kotd/" href="src/kernel-source-2.6.32.10-0.0.3.src.rpm"/>
</package>
<package type="rpm">
  <name>kernel-source</name><arch>nosrc</arch>
  <version epoch="0" ver="2.6.32.10" rel="0.0.3"/>
  <checksum type="md5" pkgid="YES">00</checksum>
  <location href="src/kernel-source-2.6.32.10-0.0.3.nosrc.rpm"/>
</package>
</metadata>
"""


@pytest.mark.parametrize("suffix", ["gz", "zst"])
def test_primary_by_hand_xml_base_and_checksum_types(suffix: str) -> None:
    url = f"http://m.example.org/kotd/repodata/abc-primary.xml.{suffix}"
    data = gzip.compress(PRIMARY) if suffix == "gz" else zstandard.ZstdCompressor().compress(PRIMARY)
    packages = list(parse_primary(data, url))
    assert [(p.arch, p.url, p.sha256, p.size) for p in packages] == [
        ("src", "http://cdn.example.org/kotd/src/kernel-source-2.6.32.10-0.0.3.src.rpm", "abcdef", 1234),
        ("nosrc", "http://m.example.org/kotd/src/kernel-source-2.6.32.10-0.0.3.nosrc.rpm", None, None),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (gzip.compress(b"<metadata><package"), "not valid primary metadata"),
        (b"\x1f\x8b garbage", "cannot decompress primary metadata"),
    ],
)
def test_broken_primary_is_an_error_naming_it(data: bytes, message: str) -> None:
    url = "http://m/repodata/primary.xml.gz"
    with pytest.raises(SourceError, match=f"^{url}: {message}"):
        list(parse_primary(data, url))


def test_repomd_without_primary() -> None:
    repomd = b'<repomd xmlns="http://linux.duke.edu/metadata/repo"><data type="other"/></repomd>'
    with pytest.raises(SourceError, match=r"repomd\.xml names no primary metadata"):
        primary_location(repomd, "http://m/repodata/repomd.xml")
