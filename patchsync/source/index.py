"""Links out of an HTML directory index page (Apache, nginx, lighttpd autoindex).

Only ``<a href>`` elements are read, never the layout around them, so any
autoindex flavour (tables, ``<pre>``, fancy indexing) yields the same list.
Hrefs are resolved against the page URL and URL-decoded; links leaving the
directory (the parent, other hosts) and Apache's column-sorting links
(``?C=M;O=A``) are dropped.  A link whose decoded name holds a control
character, a ``/`` or anything else :func:`patchsync.names.path_problem`
refuses makes the whole page an error: it cannot name a real file.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import unquote, urljoin, urlsplit

from ..errors import SourceError
from ..names import control_problem, path_problem


@dataclass(frozen=True)
class Link:
    """One entry of a directory: its decoded file name and absolute URL."""

    name: str
    url: str


class _AnchorParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "a":
            return
        for key, value in attrs:
            if key == "href" and value:
                self.hrefs.append(value.strip())


def directory_url(url: str) -> str:
    """``url`` with a trailing slash, so relative hrefs resolve inside it."""
    return url if url.endswith("/") else url + "/"


def parse_index(html: str, page_url: str) -> list[Link]:
    """The entries of the directory listed by ``html``, in page order, each once.

    >>> page = '<a href="../">../</a><a href="?C=N;O=D">Name</a><a href="kernel-source-1%2B2-3.src.rpm">k</a>'
    >>> parse_index(page, "http://h/kotd/src")
    [Link(name='kernel-source-1+2-3.src.rpm', url='http://h/kotd/src/kernel-source-1%2B2-3.src.rpm')]
    """
    base = directory_url(page_url)
    base_parts = urlsplit(base)
    parser = _AnchorParser()
    parser.feed(html)
    parser.close()
    links: list[Link] = []
    seen: set[str] = set()
    for href in parser.hrefs:
        if href.startswith(("?", "#")):
            continue  # Apache's sorting links, anchors
        absolute = urljoin(base, href)
        parts = urlsplit(absolute)
        if parts.query or (parts.scheme, parts.netloc) != (base_parts.scheme, base_parts.netloc):
            continue
        # Only direct children: "../", "/", sub-folders' contents and
        # links elsewhere on the server are not entries of this directory.
        parent, _, name = parts.path.rstrip("/").rpartition("/")
        if posixpath.normpath(parent + "/") != posixpath.normpath(base_parts.path) or not name:
            continue
        if parts.path.endswith("/"):
            continue  # a sub-directory, never a package
        decoded = unquote(name)
        # The name becomes a cache file name, a commit trailer and a mail
        # line: a link no real directory can hold is a lying mirror.
        problem = control_problem(href) or path_problem(decoded) or ("'/' in a file name" if "/" in decoded else None)
        if problem:
            raise SourceError(f"index link refused: {problem}", where=page_url)
        if decoded in seen:
            continue
        seen.add(decoded)
        links.append(Link(name=decoded, url=parts._replace(fragment="").geturl()))
    return links
