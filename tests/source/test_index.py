"""Directory index pages: Apache, nginx, lighttpd samples and nginx's real autoindex."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from patchsync.source.index import Link, parse_index
from tests.conftest import DATA
from tests.servers import Nginx

PAGE_URL = "http://mirror.example.org/kotd/src/"

COMMON = {
    "kernel-docs-2.6.32.10-0.0.3.bbbb222.src.rpm",
    "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    "kernel-source-2.6.32.9-0.0.1.aaaa111.src.rpm",
    "kernel-source-vanilla-2.6.32.11-0.0.1.src.rpm",
    "kernel-syms-2.6.32.10-0.0.3.bbbb222.src.rpm",
}


@pytest.mark.parametrize(
    ("sample", "extra"),
    [
        ("apache.html", {"kernel-source-2.6.32.10-0.0.3.bbbb222.nosrc.rpm"}),
        (
            "nginx.html",
            {"kernel-source-2.6.32.10-0.0.3.bbbb222.nosrc.rpm", "kernel-source-2.6.32.10~rc1-0.0.1.src.rpm"},
        ),
        ("lighttpd.html", set()),
    ],
)
def test_sample_pages_yield_exactly_the_files(sample: str, extra: set[str]) -> None:
    html = (DATA / "index" / sample).read_text()
    links = parse_index(html, PAGE_URL)
    # No parent link, no sorting links, no sub-directories: just the files.
    assert {link.name for link in links} == COMMON | extra
    for link in links:
        assert link.url.startswith(PAGE_URL)


def test_hrefs_are_decoded_and_resolved() -> None:
    html = (DATA / "index" / "nginx.html").read_text()
    links = {link.name: link.url for link in parse_index(html, "http://mirror.example.org/kotd/src")}
    assert (
        links["kernel-source-2.6.32.10~rc1-0.0.1.src.rpm"]
        == "http://mirror.example.org/kotd/src/kernel-source-2.6.32.10%7Erc1-0.0.1.src.rpm"
    )


def test_links_elsewhere_are_not_entries() -> None:
    html = """<a href="http://other.example.org/kotd/src/x.src.rpm">x</a>
    <a href="/kotd/y.src.rpm">y</a><a href="sub/z.src.rpm">z</a><a href="#top">top</a>
    <a href="/kotd/src/abs.src.rpm">abs</a><a href="abs.src.rpm">again</a>"""
    assert parse_index(html, PAGE_URL) == [Link("abs.src.rpm", PAGE_URL + "abs.src.rpm")]


def test_real_nginx_autoindex(tmp_path: Path, nginx: Callable[[Path], Nginx]) -> None:
    root = tmp_path / "www"
    names = [
        "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
        # longer than nginx's 50-column name field: the text is cut, the href is not
        "kernel-source-2.6.32.10-0.0.3.a-very-long-release-name-indeed.src.rpm".replace("-a-", "-a."),
        "name with spaces & plus+.src.rpm",
        "ünïcode.src.rpm",
    ]
    (root / "src" / "repodata").mkdir(parents=True)
    for name in names:
        (root / "src" / name).write_bytes(b"x")
    server = nginx(root)
    page_url = server.url + "src/"
    html = requests.get(page_url, timeout=5).text
    links = parse_index(html, page_url)
    assert sorted(link.name for link in links) == sorted(names)
    for link in links:
        assert requests.get(link.url, timeout=5).content == b"x"
