"""Conditional GETs (RFC 9110 13.1: ETag / Last-Modified) for index pages and metadata.

The last body of each URL is kept in ``state.dir`` with its validators, so a
poll that finds nothing new costs a ``304 Not Modified`` and no body.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import DownloadError
from .fsutil import write_atomic
from .http import Http

log = logging.getLogger(__name__)

#: Index pages and repository metadata larger than this are refused.
PAGE_LIMIT = 64 * 1024 * 1024
HTTP_NOT_FOUND = 404
HTTP_GONE = 410
HTTP_NOT_MODIFIED = 304


@dataclass(frozen=True)
class Page:
    """A fetched page: its body, and whether the server said it had not changed."""

    url: str
    body: bytes
    not_modified: bool


def _paths(cache_dir: Path, url: str) -> tuple[Path, Path]:
    key = hashlib.sha256(url.encode()).hexdigest()
    return cache_dir / f"{key}.json", cache_dir / f"{key}.body"


def get_page(http: Http, url: str, cache_dir: Path, *, limit: int = PAGE_LIMIT) -> Page | None:
    """``url``'s body, from the cache when the server answers 304; ``None`` when it is 404/410."""
    meta_path, body_path = _paths(cache_dir, url)
    headers: dict[str, str] = {}
    cached: dict[str, str] = {}
    try:
        cached = json.loads(meta_path.read_text())
        if cached.get("url") == url and body_path.exists():
            if cached.get("etag"):
                headers["If-None-Match"] = cached["etag"]
            if cached.get("last_modified"):
                headers["If-Modified-Since"] = cached["last_modified"]
    except (OSError, ValueError):
        cached = {}
    response = http.get_bytes(url, headers, limit=limit)
    if response.status_code == HTTP_NOT_MODIFIED and headers:
        try:
            return Page(url=url, body=body_path.read_bytes(), not_modified=True)
        except OSError:
            log.warning("%s: cached copy vanished; fetching it again", url)
            response = http.get_bytes(url, limit=limit)
    if response.status_code in (HTTP_NOT_FOUND, HTTP_GONE):
        return None
    if response.status_code != 200:
        raise DownloadError(f"HTTP {response.status_code} {response.reason}", where=url)
    body = response.content
    etag = response.headers.get("ETag", "")
    modified = response.headers.get("Last-Modified", "")
    if etag or modified:
        # Body first: metadata naming a body that is not there yet would
        # turn the next 304 into a lookup of a missing file.
        write_atomic(body_path, body)
        write_atomic(meta_path, json.dumps({"url": url, "etag": etag, "last_modified": modified}).encode())
    return Page(url=url, body=body, not_modified=False)
