"""A mail the server accepted is delivered, whatever QUIT brings (issue 10, class 7).

The server is a few lines of socket code here, so it can do what a real
server does when it is shutting down or overloaded: answer QUIT with 421,
or drop the connection right after its 250 to DATA.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchsync import mail
from patchsync.config import ReportConfig
from patchsync.state import State

MESSAGE = b"From: ps@example.org\r\nTo: k@example.org\r\nSubject: [patchsync] t\r\n\r\nbody\r\n"


class RudeServer:
    """Accepts every mail with 250, then answers QUIT per ``on_quit``: ``421`` or ``drop``."""

    def __init__(self, on_quit: str) -> None:
        self.on_quit = on_quit
        self.delivered = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                self._session(conn.makefile("rwb"))

    def _session(self, fh: socket.SocketIO) -> None:  # type: ignore[valid-type]
        def say(line: str) -> None:
            fh.write(line.encode() + b"\r\n")
            fh.flush()

        say("220 rude.example ESMTP")
        while line := fh.readline():
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb == b"DATA":
                say("354 go on")
                while fh.readline() not in (b".\r\n", b""):
                    pass
                self.delivered += 1
                say("250 queued")
                if self.on_quit == "drop-after-data":
                    return
            elif verb == b"QUIT":
                if self.on_quit == "421":
                    say("421 shutting down")
                return
            else:
                say("250 ok")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=["421", "drop-after-data"])
def rude(request: pytest.FixtureRequest) -> Iterator[RudeServer]:
    server = RudeServer(request.param)
    yield server
    server.close()


def test_a_failing_quit_after_250_counts_as_delivered_once(tmp_path: Path, rude: RudeServer) -> None:
    report = ReportConfig(to=("k@example.org",), from_="ps@example.org", smtp_host="127.0.0.1", smtp_port=rude.port)
    with State(tmp_path) as state:
        state.queue_mail(
            run_id=None,
            dedup_key="k",
            message_id="<k@example.org>",
            targets=["t"],
            subject="[patchsync] t",
            message=MESSAGE,
            created=datetime(2026, 12, 1, tzinfo=UTC),
        )
        mail.flush_outbox(state, report)
        assert state.unsent() == []
        assert [m.last_error for m in state.outbox()] == [""]
        mail.flush_outbox(state, report)
    assert rude.delivered == 1
