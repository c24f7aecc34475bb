"""The one HTTP client of a run: timeouts, bounded retries, byte counting, conditional GETs.

Connection errors, 5xx and 429 are retried with exponential backoff (a
``Retry-After`` header wins), at most ``retries`` times and never past a
total time budget, so a dead mirror costs a bounded wait.  Everything a
client does, every request with its retries and resumes, ends by one
overall deadline (``source.deadline_seconds``), enforced on its sockets
(:mod:`patchsync.deadline`), so a mirror that trickles a byte at a time
cannot hold a cycle either.  TLS certificates are always verified.  Every
body byte received is counted, so a run can say what it cost (JSON
``source.bytes_transferred``).

Index pages and repository metadata are fetched with conditional GETs (RFC
9110 13.1: ``ETag``/``Last-Modified``, :func:`get_page`): the last body of
each URL is kept in ``state.dir/http-cache/`` with its validators, so a
poll that finds nothing new costs a ``304 Not Modified`` and no body.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .. import __version__
from ..config import SourceConfig
from ..deadline import Deadline
from ..errors import DownloadError
from ..statedir import write_atomic

log = logging.getLogger(__name__)

#: Body chunk size for streaming reads.
CHUNK = 64 * 1024
#: First retry waits this long, doubling each time (capped by BACKOFF_MAX).
BACKOFF_BASE = 1.0
BACKOFF_MAX = 60.0
#: Total time one request (all its retries) may take, in units of the
#: configured timeout: a bound on how long a dead mirror can hold a cycle.
TOTAL_TIMEOUTS = 10
#: RFC 9110 15.6 and RFC 6585 4: worth retrying.
RETRY_STATUS = frozenset({429, 500, 502, 503, 504})
#: Index pages and repository metadata larger than this are refused.
PAGE_LIMIT = 64 * 1024 * 1024
# RFC 9110 14.4: "Content-Range: bytes first-last/complete-length".
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")


def content_range(value: str) -> tuple[int, int | None] | None:
    """(first byte, complete length or ``None`` for ``*``) of a ``Content-Range`` header.

    >>> content_range("bytes 65536-131071/1048576")
    (65536, 1048576)
    >>> content_range("bytes 0-9/*")
    (0, None)
    >>> content_range("items 0-9/10") is None
    True
    """
    match = _CONTENT_RANGE.match(value.strip())
    if match is None:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (RFC 9110 10.2.3): delay-seconds or an HTTP-date.

    >>> parse_retry_after("7")
    7.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:05 GMT", datetime(2015, 10, 21, 7, 28, tzinfo=UTC))
    5.0
    >>> parse_retry_after("soon") is None
    True
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def describe(exc: requests.RequestException) -> str:
    """A short reason for a requests failure, without urllib3's nested reprs."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS certificate verification failed"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timed out"
    if isinstance(exc, requests.exceptions.ReadTimeout):
        return "server stalled (read timed out)"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection closed mid-body"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        # Mid-body, requests wraps urllib3's ReadTimeoutError in a plain ConnectionError.
        if "Read timed out" in text:
            return "server stalled (read timed out)"
        for marker in ("Connection refused", "Name or service not known", "timed out", "reset by peer"):
            if marker in text:
                return marker.lower()
        return "connection failed"
    return type(exc).__name__


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose every new socket is watched by ``deadline``.

    Sockets are registered where urllib3 creates them (before the TLS
    handshake, which a trickling server can stretch too) and again once
    wrapped; a connection kept alive for the next request is already known.
    """

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline  # before super(): it calls init_poolmanager
        super().__init__()

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        watch = self.deadline.watch

        class Plain(HTTPConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                watch(sock)
                return sock

        class Tls(HTTPSConnection):
            def _new_conn(self) -> socket.socket:
                sock = super()._new_conn()
                watch(sock)
                return sock

            def connect(self) -> None:
                super().connect()
                if self.sock is not None:
                    watch(self.sock)

        class PlainPool(HTTPConnectionPool):
            ConnectionCls = Plain

        class TlsPool(HTTPSConnectionPool):
            ConnectionCls = Tls

        self.poolmanager.pool_classes_by_scheme = {"http": PlainPool, "https": TlsPool}


class Http:
    """A requests Session with patchsync's timeouts, retries, deadline and byte counter."""

    def __init__(
        self,
        *,
        timeout: float,
        retries: int,
        deadline_seconds: float | None = None,
        total_seconds: float | None = None,
        backoff: float = BACKOFF_BASE,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.retries = retries
        self.total_seconds = total_seconds if total_seconds is not None else timeout * TOTAL_TIMEOUTS
        self.backoff = backoff
        self.sleep = sleep
        self.clock = clock
        seconds = deadline_seconds if deadline_seconds is not None else SourceConfig.deadline_seconds
        #: The end of everything this client does (``source.deadline_seconds``).
        self.deadline = Deadline(seconds, f"source.deadline_seconds ({seconds:g} s)")
        #: Body bytes received by every request of this client.
        self.bytes_received = 0
        self.session = requests.Session()
        adapter = _WatchedAdapter(self.deadline)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.verify = True
        self.session.headers["User-Agent"] = f"patchsync/{__version__}"
        # Range offsets and digests are about the bytes on the server: never
        # let a transparent Content-Encoding change them.
        self.session.headers["Accept-Encoding"] = "identity"

    def close(self) -> None:
        self.deadline.cancel()
        self.session.close()

    def __enter__(self) -> Http:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def delay(self, attempt: int) -> float:
        """Backoff before retry number ``attempt`` (0-based)."""
        return float(min(BACKOFF_MAX, self.backoff * (2**attempt)))

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> requests.Response:
        """A streamed GET, retried on connection errors, 5xx and 429.

        Returns any other response (2xx, 3xx after redirects, 304, 4xx) for
        the caller to judge; its body is not read yet.
        """
        started = self.clock()
        attempt = 0
        while True:
            if self.deadline.passed():
                raise self.deadline_error(url, "no answer")
            bound = self.deadline.bound(self.timeout)
            try:
                response = self.session.get(url, headers=dict(headers or {}), stream=True, timeout=(bound, bound))
            except requests.exceptions.SSLError as exc:
                # Not transient: retrying a bad certificate only delays the error.
                raise DownloadError(describe(exc), where=url) from exc
            except requests.RequestException as exc:
                problem = describe(exc)
                wait = self.delay(attempt)
            else:
                if response.status_code not in RETRY_STATUS:
                    return response
                problem = f"HTTP {response.status_code} {response.reason}"
                after = parse_retry_after(response.headers.get("Retry-After"))
                wait = after if after is not None else self.delay(attempt)
                response.close()
            self.check_budget(url, problem, attempt, wait, started)
            self.log_retry(url, problem, attempt, wait)
            self.sleep(wait)
            attempt += 1

    def log_retry(self, url: str, problem: str, attempt: int, wait: float) -> None:
        # A warning, so the default log level shows it: a dead mirror must
        # not look like a hung run for the whole retry budget.
        log.warning("retrying %d/%d in %s s: %s: %s", attempt + 1, self.retries, f"{wait:.3g}", url, problem)

    def deadline_error(self, url: str, problem: str) -> DownloadError:
        return DownloadError(f"{problem} (gave up: the transfer passed {self.deadline.what})", where=url)

    def check_budget(self, url: str, problem: str, attempt: int, wait: float, started: float) -> None:
        """Raise once ``attempt`` used the last retry or waiting would pass the time budget or deadline."""
        if self.deadline.passed():
            raise self.deadline_error(url, problem)
        if attempt >= self.retries:
            tries = "attempt" if attempt == 0 else "attempts"
            raise DownloadError(f"{problem} (gave up after {attempt + 1} {tries})", where=url)
        if self.clock() - started + wait > self.total_seconds:
            raise DownloadError(
                f"{problem} (gave up: retrying in {wait:.0f} s would pass the {self.total_seconds:.0f} s budget)",
                where=url,
            )
        if wait >= self.deadline.remaining():
            raise DownloadError(
                f"{problem} (gave up: retrying in {wait:.0f} s would pass {self.deadline.what})", where=url
            )

    def iter_body(self, response: requests.Response) -> Iterator[bytes]:
        """The response body in chunks, counted in :attr:`bytes_received`."""
        for chunk in response.iter_content(CHUNK):
            self.bytes_received += len(chunk)
            yield chunk

    def get_bytes(self, url: str, headers: Mapping[str, str] | None = None, *, limit: int) -> requests.Response:
        """A GET whose (small) body is read into ``response.content``, retried as a whole.

        A body cut off mid-way is retried like a connection error; a body
        over ``limit`` bytes is an error.
        """
        started = self.clock()
        attempt = 0
        while True:
            response = self.get(url, headers)
            try:
                parts: list[bytes] = []
                size = 0
                for chunk in self.iter_body(response):
                    size += len(chunk)
                    if size > limit:
                        raise DownloadError(f"response larger than {limit} bytes", where=url)
                    parts.append(chunk)
                if self.deadline.passed():
                    # The deadline cut the connection: what arrived is not the whole body.
                    raise self.deadline_error(url, f"body cut after {size} bytes")
                response._content = b"".join(parts)
                return response
            except requests.RequestException as exc:
                problem = describe(exc)
            finally:
                response.close()
            wait = self.delay(attempt)
            self.check_budget(url, problem, attempt, wait, started)
            self.log_retry(url, problem, attempt, wait)
            self.sleep(wait)
            attempt += 1


@dataclass(frozen=True)
class Page:
    """A fetched page: its body, and whether the server said it had not changed."""

    url: str
    body: bytes
    not_modified: bool


def _cache_paths(cache_dir: Path, url: str) -> tuple[Path, Path]:
    key = hashlib.sha256(url.encode()).hexdigest()
    return cache_dir / f"{key}.json", cache_dir / f"{key}.body"


def get_page(http: Http, url: str, cache_dir: Path, *, limit: int = PAGE_LIMIT) -> Page | None:
    """``url``'s body, from the cache when the server answers 304; ``None`` when it is 404/410."""
    meta_path, body_path = _cache_paths(cache_dir, url)
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
    if response.status_code == HTTPStatus.NOT_MODIFIED and headers:
        try:
            return Page(url=url, body=body_path.read_bytes(), not_modified=True)
        except OSError:
            log.warning("%s: cached copy vanished; fetching it again", url)
            response = http.get_bytes(url, limit=limit)
    if response.status_code in (HTTPStatus.NOT_FOUND, HTTPStatus.GONE):
        return None
    if response.status_code != HTTPStatus.OK:
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
