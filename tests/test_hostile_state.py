"""The state database going away under a run (issue 10, class 7): nothing lost, nothing silent.

The database is deleted or replaced for real, mid-run, from the source
step (the one place a test can act between a cycle's start and its end
without a hook in patchsync); the open connection then writes into a file
nobody will see again.  And the one window the outbox cannot close, a kill
between the server's 250 and the outbox update, is shown to be exactly
that: the mail is marked sent before QUIT, which a slow server can drag on.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchsync import cli, mail
from patchsync.config import ReportConfig
from patchsync.model import PatchSet
from patchsync.state import State, db_path

from .gittarget import ref
from .smtp import SmtpServer, smtp_server
from .syncscenario import Scenario, build

__all__ = ["smtp_server"]  # the fixture, used by name

REVIEW = "refs/heads/patchsync/lucid-ec2"
OLD = b"From: ps@example.org\r\nTo: k@example.org\r\nSubject: [patchsync] an old report\r\n\r\nold\r\n"


def write_config(tmp_path: Path, sc: Scenario, smtp: SmtpServer) -> Path:
    path = tmp_path / "patchsync.toml"
    path.write_text(
        f"""
[source]
url = "http://127.0.0.1:9/kotd/"

[state]
dir = "{sc.state_dir}"

[report]
to = ["kernel-team@example.org"]
from = "patchsync@example.org"
smtp_host = "127.0.0.1"
smtp_port = {smtp.port}

[[target]]
name = "lucid-ec2"
repo = "{sc.repo}"
branch = "ec2"
base = "v2.6.32"
mode = "released"
"""
    )
    return path


def queue_old_mail(state_dir: Path) -> None:
    with State(state_dir) as state:
        state.queue_mail(
            run_id=None,
            dedup_key="an old report",
            message_id="<old@example.org>",
            targets=("lucid-ec2",),
            subject="[patchsync] an old report",
            message=OLD,
            created=datetime(2026, 11, 30, tzinfo=UTC),
        )


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_gone_mid_run_keeps_the_run_and_the_mail(
    tmp_path: Path,
    how: str,
    smtp_server: SmtpServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sc = build(tmp_path, "released")
    config = write_config(tmp_path, sc, smtp_server)
    queue_old_mail(sc.state_dir)  # the SMTP server was down last time
    path = db_path(sc.state_dir)
    other = tmp_path / "other-state"
    if how == "replaced":
        # A copy restored from a backup: one earlier run, nothing queued.
        with State(other) as state:
            state.begin_run("manual", datetime(2026, 11, 1, tzinfo=UTC))

    def obtain(*args: object, **kwargs: object) -> PatchSet:
        if how == "deleted":
            path.unlink()
        else:
            os.replace(db_path(other), path)
        return sc.patchset

    monkeypatch.setattr("patchsync.source.pipeline.obtain", obtain)
    smtp_server.start()

    code = cli.main(["--config", str(config), "sync"])
    _, err = capsys.readouterr()

    assert code == 0, err
    run_id = 1 if how == "deleted" else 2
    assert err == (
        f"patchsync: WARNING: {path}: the state database was deleted or replaced during the run; "
        f"run #{run_id} and 1 unsent mail are recorded again in the one there now\n"
    )
    assert ref(sc.repo, REVIEW) is not None
    # Both mails went out, once each, and the database at the path knows it.
    subjects = sorted(str(m.message["Subject"]) for m in smtp_server.received)
    assert subjects[0] == "[patchsync] an old report"
    assert subjects[1].startswith("[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: ")
    assert len(subjects) == 2
    with State(sc.state_dir) as state:
        runs = state.runs()
        assert runs[0].id == run_id
        assert runs[0].result == "updated"
        assert runs[0].mail == "sent"
        assert sorted(m.subject for m in state.outbox() if m.sent) == subjects
        assert state.unsent() == []
        assert state.last_synced() is not None
        assert state.written("lucid-ec2") is not None


class SlowQuit:
    """Accepts a mail with 250, then, before answering QUIT, looks at the outbox as a second process would."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.sent_at_quit: list[str | None] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn, conn.makefile("rwb") as fh:

            def say(line: str) -> None:
                fh.write(line.encode() + b"\r\n")
                fh.flush()

            say("220 slow.example ESMTP")
            while line := fh.readline():
                verb = line.split(b" ", 1)[0].strip().upper()
                if verb == b"DATA":
                    say("354 go on")
                    while fh.readline() not in (b".\r\n", b""):
                        pass
                    say("250 queued")
                elif verb == b"QUIT":
                    # A run killed now must not send this mail again.
                    with State(self.state_dir) as state:
                        self.sent_at_quit += [m.sent for m in state.outbox()]
                    say("221 bye")
                    return
                else:
                    say("250 ok")

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def slow_quit(tmp_path: Path) -> Iterator[SlowQuit]:
    server = SlowQuit(tmp_path / "state")
    yield server
    server.close()


def test_a_mail_is_marked_sent_before_quit(tmp_path: Path, slow_quit: SlowQuit) -> None:
    queue_old_mail(tmp_path / "state")
    report = ReportConfig(
        to=("k@example.org",), from_="ps@example.org", smtp_host="127.0.0.1", smtp_port=slow_quit.port
    )
    with State(tmp_path / "state") as state:
        mail.flush_outbox(state, report)
        (sent,) = state.outbox()
    assert sent.sent is not None
    assert len(slow_quit.sent_at_quit) == 1
    assert slow_quit.sent_at_quit[0] is not None
