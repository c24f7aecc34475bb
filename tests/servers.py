"""Real HTTP servers on 127.0.0.1 for the source tests.

``nginx`` starts a real nginx (autoindex, Range, conditional requests) whose
access log records the bytes it sent, so tests count transfer from the
server's side.  ``fault_server`` is an in-process server whose answers can be
made to fail in the ways real mirrors do.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests

from tests.conftest import require_tool

# One access-log line per request, tab-separated; $bytes_sent counts headers
# and body, $body_bytes_sent the body alone (nginx's ngx_http_log_module).
LOG_FORMAT = "$request_method\\t$uri\\t$status\\t$bytes_sent\\t$body_bytes_sent\\t$http_range\\t$http_if_none_match"
SENTINEL = "/__patchsync_log_sentinel__"
START_TIMEOUT = 10.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class LogEntry:
    method: str
    path: str
    status: int
    bytes_sent: int
    body_bytes_sent: int
    range: str
    if_none_match: str


@dataclass
class Nginx:
    """A running nginx serving ``root`` at ``url``."""

    root: Path
    url: str
    access_log: Path
    process: subprocess.Popen[bytes]

    def log(self) -> list[LogEntry]:
        """Every request so far, once nginx has written all of them.

        A sentinel request goes last; nginx logs a request when it finishes
        it, so once the sentinel's line is there, every earlier line is too.
        """
        requests.get(self.url.rstrip("/") + SENTINEL, timeout=5)
        deadline = time.monotonic() + 5
        while True:
            entries = self._read()
            if any(e.path == SENTINEL for e in entries) or time.monotonic() > deadline:
                return [e for e in entries if e.path != SENTINEL]
            time.sleep(0.01)

    def _read(self) -> list[LogEntry]:
        entries = []
        for line in self.access_log.read_text().splitlines():
            method, path, status, sent, body, rng, inm = line.split("\t")
            entries.append(LogEntry(method, path, int(status), int(sent), int(body), "" if rng == "-" else rng, inm))
        return entries

    def bytes_sent(self, since: int = 0) -> int:
        """Total bytes (headers and bodies) of the requests after the first ``since``."""
        return sum(e.bytes_sent for e in self.log()[since:])


def start_nginx(root: Path, workdir: Path) -> Nginx:
    """nginx serving ``root`` with autoindex on a free port; private prefix, pid and temp dirs."""
    binary = require_tool("nginx")
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    access_log = workdir / "access.log"
    for _ in range(5):
        port = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(
            f"""
daemon off;
# One process as the test's own user: no worker switching to "nobody",
# who could not read tmp_path.
master_process off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 64; }}
http {{
    types {{ text/html html; application/xml xml; application/gzip gz; application/x-rpm rpm; }}
    default_type application/octet-stream;
    log_format bytes "{LOG_FORMAT}";
    access_log {access_log} bytes;
    client_body_temp_path {workdir}/tmp/body;
    proxy_temp_path {workdir}/tmp/proxy;
    fastcgi_temp_path {workdir}/tmp/fastcgi;
    uwsgi_temp_path {workdir}/tmp/uwsgi;
    scgi_temp_path {workdir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ autoindex on; }}
    }}
}}
"""
        )
        process = subprocess.Popen(
            [binary, "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                return Nginx(root=root, url=f"http://127.0.0.1:{port}/", access_log=access_log, process=process)
            time.sleep(0.02)
        stop(process)
    errors = (workdir / "error.log").read_text() if (workdir / "error.log").exists() else ""
    pytest.fail(f"nginx did not start: {errors.strip()[-500:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Callable[[Path], Nginx]]:
    """A factory: ``nginx(root)`` starts nginx serving ``root``; all stop at teardown."""
    started: list[Nginx] = []

    def factory(root: Path) -> Nginx:
        server = start_nginx(root, tmp_path / f"nginx-{len(started)}")
        started.append(server)
        return server

    yield factory
    for server in started:
        stop(server.process)


# ---------------------------------------------------------------------------
# The fault server


@dataclass
class Fault:
    """One misbehaviour, used for one request.

    kinds: ``status`` (answer ``status`` with ``body``, e.g. 500 or 429 with
    ``retry_after``), ``stall`` (send ``at`` body bytes, then hang), ``truncate``
    (declare the full length, send ``at`` bytes, close), ``wrong`` (flip one
    byte at ``at``), ``html`` (an HTML error page with 200), ``ignore_range``
    (answer 200 with the whole body whatever the Range).
    """

    kind: str
    at: int = 0
    status: int = 500
    retry_after: str | None = None
    body: bytes = b"server error\n"
    #: Only a request for this path uses the fault (any path when None).
    path: str | None = None


@dataclass(frozen=True)
class Served:
    path: str
    range: str
    status: int
    body_bytes: int


HTML_ERROR_PAGE = b"<html><head><title>Service Unavailable</title></head><body><h1>Try later</h1></body></html>\n"


@dataclass
class FaultServer:
    url: str
    files: dict[str, bytes]
    faults: list[Fault] = field(default_factory=list)
    served: list[Served] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def add(self, name: str, data: bytes) -> str:
        self.files["/" + name] = data
        return self.url + quote(name)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _record(self, status: int, body: int) -> None:
        self.server.state.served.append(Served(self.path, self.headers.get("Range", ""), status, body))

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        # Recorded before anything goes out, so a client that has the
        # answer always finds it in ``served``.
        self._record(status, len(body))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: PLR0912, PLR0915  one branch per fault the server plays
        state = self.server.state
        path = unquote(urlsplit(self.path).path)
        fault = None
        for i, candidate in enumerate(state.faults):
            if candidate.path is None or candidate.path == path:
                fault = state.faults.pop(i)
                break
        if fault is not None and fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._send(fault.status, fault.body, headers)
            return
        if fault is not None and fault.kind == "html":
            self._send(200, HTML_ERROR_PAGE, {"Content-Type": "text/html"})
            return
        if path.endswith("/"):
            links = "".join(f'<a href="{quote(name[1:])}">{name[1:]}</a>\n' for name in sorted(state.files))
            page = f"<html><body><pre>{links}</pre></body></html>".encode()
            # Unlike nginx's autoindex, answer conditional requests on the
            # listing, as some mirrors do.
            etag = '"' + hashlib.sha256(page).hexdigest()[:16] + '"'
            if self.headers.get("If-None-Match") == etag:
                self._record(304, 0)
                self.send_response(304)
                self.send_header("ETag", etag)
                self.end_headers()
                return
            self._send(200, page, {"Content-Type": "text/html", "ETag": etag})
            return
        data = state.files.get(path)
        if data is None:
            self._send(404, b"not found\n", {})
            return
        if fault is not None and fault.kind == "wrong":
            data = data[: fault.at] + bytes([data[fault.at] ^ 0xFF]) + data[fault.at + 1 :]
        status, start, end = 200, 0, len(data)
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and not (fault is not None and fault.kind == "ignore_range"):
            first, _, last = rng[len("bytes=") :].partition("-")
            start = int(first)
            end = min(len(data), int(last) + 1) if last else len(data)
            if start >= len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
        body = data[start:end]
        cut = fault is not None and fault.kind in ("stall", "truncate")
        self._record(status, min(fault.at, len(body)) if fault is not None and cut else len(body))
        self.send_response(status)
        self.send_header("Content-Type", "application/x-rpm")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        self.end_headers()
        if fault is not None and cut:
            self.wfile.write(body[: fault.at])
            self.wfile.flush()
            if fault.kind == "stall":
                state.stop_event.wait(30)
            self.close_connection = True
            return
        self.wfile.write(body)


#: How often the fault server's loop looks for a shutdown request.
SHUTDOWN_POLL_SECONDS = 0.01


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: FaultServer


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """An in-process HTTP server on 127.0.0.1 with injectable faults (see :class:`Fault`)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    port = server.server_address[1]
    state = FaultServer(url=f"http://127.0.0.1:{port}/", files={})
    server.state = state
    # serve_forever only notices shutdown() between polls; its default 0.5 s
    # poll made every test using this fixture wait that long in teardown.
    thread = threading.Thread(target=server.serve_forever, args=(SHUTDOWN_POLL_SECONDS,), daemon=True)
    thread.start()
    yield state
    state.stop_event.set()
    server.shutdown()
    server.server_close()
    thread.join(5)
