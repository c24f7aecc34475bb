"""Bounded time for any peer (issue 10, class 3b): every transfer and every cycle has a deadline.

The mirror and the SMTP server here are a few lines of socket code that
trickle: one byte every 50 ms, well inside the read timeout, so no single
read ever times out.  A timeout per read is not a deadline; these prove
``source.deadline_seconds`` (and the cycle's twice that) is one, wherever
the trickle is: in the status line, in an index page, in the src.rpm
body, in the SMTP greeting.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchsync import mail
from patchsync.cli import main
from patchsync.config import ReportConfig, load
from patchsync.cycle import run_cycle
from patchsync.deadline import Deadline
from patchsync.model import PatchSet
from patchsync.state import State

from .rpmbuild import build_srpm
from .syncscenario import build

#: Every refusal is logged as an error too.
pytestmark = pytest.mark.allow_error_log

#: Far inside the read timeout (1 s): no read ever times out.
INTERVAL = 0.05
TIMEOUT = 1
DEADLINE = 2
#: What a deadline may overrun by: one backoff decision and the teardown.
SLACK = 2.0

PATCHES = {"xen3-patch-2.6.32.9-10": b"--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-9\n+10\n"}
SRPM = "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"


class Trickler:
    """A server on 127.0.0.1 that sends ``answer`` one byte every :data:`INTERVAL` after ``fast`` bytes at once.

    HTTP: it first reads the request.  SMTP (``greet``): it speaks first.
    """

    def __init__(self, answer: bytes, *, fast: int = 0, greet: bool = False) -> None:
        self.answer = answer
        self.fast = fast
        self.greet = greet
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/"
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            try:
                if not self.greet:
                    request = b""
                    while b"\r\n\r\n" not in request:
                        request += conn.recv(4096) or b"\r\n\r\n"
                conn.sendall(self.answer[: self.fast])
                for i in range(self.fast, len(self.answer)):
                    if self.stop.wait(INTERVAL):
                        return
                    conn.sendall(self.answer[i : i + 1])
            except OSError:
                return  # the client gave up: what these tests want

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def trickler() -> Iterator[list[Trickler]]:
    servers: list[Trickler] = []
    yield servers
    for server in servers:
        server.close()


@pytest.fixture(scope="module")
def srpm(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return build_srpm(tmp_path_factory.mktemp("kotd"), patches=PATCHES).read_bytes()


def http_answer(body: bytes, content_type: str) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n" % (content_type.encode(), len(body)) + body
    )


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "patchsync.toml"
    config.write_text(
        f'[source]\nurl = "{url}"\ntimeout_seconds = {TIMEOUT}\nretries = 5\ndeadline_seconds = {DEADLINE}\n'
        f'[state]\ndir = "{tmp_path / "state"}"\n'
    )
    return config


def fetch(tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str, *args: str) -> tuple[int, str, float]:
    config = write_config(tmp_path, url)
    started = time.monotonic()
    code = main(["--config", str(config), "fetch", *args])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    (line,) = [line for line in err.splitlines() if line.startswith("patchsync: error: ")]
    return code, line, elapsed


def test_a_trickled_status_line_ends_at_the_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trickler: list[Trickler], srpm: bytes
) -> None:
    server = Trickler(http_answer(srpm, "application/x-rpm"))
    trickler.append(server)
    code, line, elapsed = fetch(tmp_path, capsys, server.url, "--src-rpm", server.url + SRPM)
    assert code == 2
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    assert line.startswith(f"patchsync: error: {server.url}{SRPM}: ")
    assert f"(gave up: the transfer passed source.deadline_seconds ({DEADLINE} s))" in line


def test_a_trickled_index_page_ends_at_the_deadline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trickler: list[Trickler]
) -> None:
    page = f'<html><body><a href="{SRPM}">{SRPM}</a></body></html>\n'.encode() * 50
    server = Trickler(http_answer(page, "text/html"), fast=100)
    trickler.append(server)
    code, line, elapsed = fetch(tmp_path, capsys, server.url + "src/")
    assert code == 2
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    # The first file discovery asks for (repodata, then the index page).
    assert line.startswith(f"patchsync: error: {server.url}src/")
    assert f"passed source.deadline_seconds ({DEADLINE} s)" in line


def test_a_trickled_src_rpm_ends_at_the_deadline_and_keeps_the_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], trickler: list[Trickler], srpm: bytes
) -> None:
    answer = http_answer(srpm, "application/x-rpm")
    head = answer.index(b"\r\n\r\n") + 4
    server = Trickler(answer, fast=head + 200)
    trickler.append(server)
    code, line, elapsed = fetch(tmp_path, capsys, server.url, "--src-rpm", server.url + SRPM)
    assert code == 2
    assert DEADLINE <= elapsed < DEADLINE + SLACK
    assert f"passed source.deadline_seconds ({DEADLINE} s))" in line
    assert line.endswith(f"; {SRPM}.part is kept to resume")
    part = tmp_path / "state" / "srpms" / f"{SRPM}.part"
    # What was stored is the true start of the package, ready to resume
    # (a chunk still being read when the deadline cut it is not stored).
    kept = part.read_bytes()
    assert len(kept) < len(srpm)
    assert srpm.startswith(kept)


def test_a_cycle_past_its_deadline_reports_the_targets_it_did_not_reach(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sc = build(tmp_path, "released")
    config_path = write_config(tmp_path, "http://127.0.0.1:9/")
    config_path.write_text(
        config_path.read_text().replace(f"deadline_seconds = {DEADLINE}", "deadline_seconds = 1")
        + f'[[target]]\nname = "lucid-ec2"\nrepo = "{sc.repo}"\nbranch = "ec2"\n'
    )
    config = load(config_path)

    def slow(*args: object, **kwargs: object) -> PatchSet:
        # Whatever the source step does, it took longer than the cycle may.
        time.sleep(2.2)
        return sc.patchset

    monkeypatch.setattr("patchsync.source.pipeline.obtain", slow)
    result = run_cycle(config, trigger="manual")

    (target,) = result.targets
    assert target.status == "error"
    assert target.error == "not reached: the cycle passed its deadline (2 x source.deadline_seconds = 2 s)"
    assert result.exit_code == 2
    # Nothing was written to the repository.
    assert not (sc.repo / ".git" / "refs" / "heads" / "patchsync").exists()
    with State(tmp_path / "state") as state:
        (run,) = state.runs()
    assert run.result == "error"


def test_a_trickled_smtp_greeting_ends_at_the_deadline_and_the_mail_stays_queued(
    tmp_path: Path, trickler: list[Trickler]
) -> None:
    server = Trickler(b"220 " + b"slow" * 10_000 + b"\r\n", greet=True)
    trickler.append(server)
    report = ReportConfig(to=("k@example.org",), from_="ps@example.org", smtp_host="127.0.0.1", smtp_port=server.port)
    with State(tmp_path / "state") as state:
        state.queue_mail(
            run_id=None,
            dedup_key="k",
            message_id="<m@example.org>",
            targets=("t",),
            subject="s",
            message=b"Subject: s\r\n\r\nbody\r\n",
            created=datetime.now(UTC),
        )
        started = time.monotonic()
        with Deadline(DEADLINE, "its deadline (test)") as deadline:
            mail.flush_outbox(state, report, deadline=deadline)
        elapsed = time.monotonic() - started
        assert DEADLINE <= elapsed < DEADLINE + SLACK
        (left,) = state.unsent()
        assert left.subject == "s"
        assert left.last_error == f"smtp://127.0.0.1:{server.port}: gave up: the cycle passed its deadline (test)"
