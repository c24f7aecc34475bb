"""Two machines sharing one PostgreSQL database: the cycle lock and the outbox claims.

"Two machines" are two state folders (each with its own file locks and
caches) pointing at one database; a real process stands in for a machine
where the test kills it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from patchsync import cli
from patchsync.config import StateConfig
from patchsync.errors import LockError
from patchsync.runs import CycleResult
from patchsync.state import KEY_LAST_SYNCED, State, cycle_lock_holder, daemon_key, hold_cycle
from tests.conftest import REPO_ROOT
from tests.daemonrun import write_config
from tests.smtp import SmtpServer

T0 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
HOST = socket.gethostname()


@pytest.fixture
def pair(tmp_path: Path, pg_url: str) -> tuple[StateConfig, StateConfig]:
    return (
        StateConfig(dir=str(tmp_path / "machine-a"), database=pg_url),
        StateConfig(dir=str(tmp_path / "machine-b"), database=pg_url),
    )


def test_one_cycle_at_a_time_across_the_pair(pair: tuple[StateConfig, StateConfig]) -> None:
    a, b = pair
    with hold_cycle(a, wait=0, what="daemon cycle") as state:
        holder = cycle_lock_holder(b, state)
        assert holder is not None
        assert holder.startswith(f"pid {os.getpid()} daemon cycle on {HOST} since ")
        started = time.monotonic()
        with pytest.raises(LockError) as info, hold_cycle(b, wait=0.5, what="manual cycle"):
            pass
        assert time.monotonic() - started >= 0.5
        assert str(info.value) == f"{a.database}: held by {holder}; waited 0.5 s"
    # Released with the block: the other machine takes it at once.
    with hold_cycle(b, wait=0, what="manual cycle") as state:
        assert (cycle_lock_holder(a, state) or "").startswith(f"pid {os.getpid()} manual cycle on {HOST}")
    with State(a.dir, a.database) as state:
        assert cycle_lock_holder(a, state) is None


def test_a_killed_holder_releases_the_lock_with_its_session(pair: tuple[StateConfig, StateConfig]) -> None:
    a, b = pair
    script = textwrap.dedent(f"""
        import sys
        from patchsync.config import StateConfig
        from patchsync.state import hold_cycle
        with hold_cycle(StateConfig(dir={a.dir!r}, database={a.database!r}), wait=0, what="daemon cycle"):
            print("held", flush=True)
            sys.stdin.read()
    """)
    holder = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with (
            pytest.raises(LockError, match=f"held by pid {holder.pid} daemon cycle on {HOST} since "),
            hold_cycle(b, wait=0, what="daemon cycle"),
        ):
            pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        # The kernel closes the dead process's socket; the server ends its
        # session and frees the lock well within the wait.
        with hold_cycle(b, wait=10, what="daemon cycle") as state:
            assert (cycle_lock_holder(b, state) or "").startswith(f"pid {os.getpid()} daemon cycle")
    finally:
        holder.kill()
        holder.wait(10)


def _message(key: str) -> bytes:
    return f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {key}\r\n\r\nbody\r\n".encode()


def _queue(state: State, key: str) -> int:
    message = _message(key)
    mail_id = state.queue_mail(
        run_id=None,
        dedup_key=key,
        message_id=f"<{key}@example.org>",
        targets=["lucid-ec2"],
        subject=key,
        message=message,
        created=T0,
    )
    assert mail_id is not None
    return mail_id


def test_a_mail_being_sent_is_skipped_by_the_other_machine(pair: tuple[StateConfig, StateConfig]) -> None:
    a, b = pair
    with State(a.dir, a.database) as one, State(b.dir, b.database) as two:
        first, second = _queue(one, "k1"), _queue(one, "k2")
        # The other machine rendered the same report: queued once.
        assert (
            two.queue_mail(
                run_id=None, dedup_key="k1", message_id="<x@y>", targets=[], subject="s", message=b"m", created=T0
            )
            is None
        )
        with one.claim_unsent() as claimed:
            assert claimed is not None
            assert claimed.id == first
            with two.claim_unsent() as other:
                assert other is not None
                assert other.id == second
            one.mark_sent(first, T0)
        with two.claim_unsent() as other:
            assert other is not None
            assert other.id == second
        assert [m.id for m in two.unsent()] == [second]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


def test_two_machines_flushing_at_once_deliver_each_mail_once(
    pair: tuple[StateConfig, StateConfig], smtp: SmtpServer
) -> None:
    """Each flush runs in its own process, as on two machines; every mail arrives exactly once."""
    a, b = pair
    with State(a.dir, a.database) as state:
        ids = [_queue(state, f"report-{i}") for i in range(12)]
    smtp.start()
    script = textwrap.dedent(f"""
        import sys
        from patchsync import mail
        from patchsync.config import ReportConfig
        from patchsync.state import State
        report = ReportConfig(to=("kernel-team@example.org",), from_="patchsync@example.org",
                              smtp_host="127.0.0.1", smtp_port={smtp.port})
        with State(sys.argv[1], {a.database!r}) as state:
            mail.flush_outbox(state, report)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, conf.dir], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        for conf in (a, b, a, b)
    ]
    for p in procs:
        p.communicate(timeout=60)
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert len(smtp.received) == len(ids)
    assert sorted(m.message["Subject"] for m in smtp.received) == sorted(f"report-{i}" for i in range(12))
    with State(b.dir, b.database) as state:
        assert state.unsent() == []
        assert all(m.attempts == 1 for m in state.outbox())


def _history(config: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    capsys.readouterr()
    assert cli.main(["--config", str(config), "history", "--json", "--limit", "100"]) == 0
    return json.loads(capsys.readouterr().out)


def test_state_migrate_copies_history_and_outbox_into_postgresql(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    with State(state_dir) as old:
        for i in range(3):
            run_id = old.begin_run("timer", T0)
            result = CycleResult(trigger="timer", started=T0, finished=T0, mail="sent")
            old.finish_run(run_id, result, report=f"Subject: run {i}\n\nbody\n".encode())
        sent, waiting = _queue(old, "sent"), _queue(old, "waiting")
        old.mark_sent(sent, T0)
        old.put(KEY_LAST_SYNCED, {"file": "kernel-source-2.6.32.10-0.0.3.src.rpm"})
        old.put(daemon_key(HOST), {"pid": 1})
        old.record_written("lucid-ec2", sha="1" * 40, ref="refs/heads/patchsync/lucid-ec2", source_file="k", when=T0)
    before = sqlite3.connect(state_dir / "patchsync.sqlite3").execute("SELECT COUNT(*) FROM runs").fetchone()
    local = write_config(tmp_path / "local.toml", {"state": {"dir": str(state_dir)}})
    shared = write_config(tmp_path / "shared.toml", {"state": {"dir": str(state_dir), "database": pg_url}})
    expected = _history(local, capsys)

    assert cli.main(["--config", str(local), "state", "migrate", "--to", pg_url]) == 0
    assert capsys.readouterr().out == (
        f"copied 3 runs, 2 mails (1 unsent), 1 values and 1 targets' written records from "
        f"{state_dir / 'patchsync.sqlite3'} to {pg_url}\n"
        f'now set [state] database = "{pg_url}" in {local} and restart patchsync\n'
    )
    assert _history(shared, capsys) == expected
    with State(state_dir, pg_url) as new:
        assert [m.id for m in new.unsent()] == [waiting]
        assert new.last_report() == (None, _message("waiting"))
        assert new.get(KEY_LAST_SYNCED) == {"file": "kernel-source-2.6.32.10-0.0.3.src.rpm"}
        # A daemon's published status describes a process, not history.
        assert new.get(daemon_key(HOST)) is None
        written = new.written("lucid-ec2")
        assert written is not None
        assert written.sha == "1" * 40
        # New rows continue the copied numbering.
        assert new.begin_run("manual", T0) == 4
        assert _queue(new, "after") == waiting + 1
    # The SQLite file is left as it was (the way back).
    assert sqlite3.connect(state_dir / "patchsync.sqlite3").execute("SELECT COUNT(*) FROM runs").fetchone() == before

    # A second migration would mix two histories: refused, nothing written.
    assert cli.main(["--config", str(local), "state", "migrate", "--to", pg_url]) == 2
    err = capsys.readouterr().err
    assert err == (
        f"patchsync: error: {pg_url}: already holds state (4 runs, 1 meta, 1 written, 3 outbox); "
        "copy only into an empty database\n"
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "--to: the URL must not be empty"),
        ("sqlite:///x", "--to: the URL must be a postgresql://[user@]host[:port]/dbname URL, not 'sqlite:///x'"),
        ("postgresql://u:pw@h/db", "--to: the URL must not hold a password"),
    ],
)
def test_state_migrate_refuses_a_bad_url(
    tmp_path: Path, url: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    state_dir = tmp_path / "state"
    State(state_dir).close()
    local = write_config(tmp_path / "local.toml", {"state": {"dir": str(state_dir)}})
    assert cli.main(["--config", str(local), "state", "migrate", "--to", url]) == 2
    assert capsys.readouterr().err.startswith(f"patchsync: error: {message}")


def test_state_migrate_needs_a_sqlite_database(tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    local = write_config(tmp_path / "local.toml", {"state": {"dir": str(tmp_path / "state")}})
    assert cli.main(["--config", str(local), "state", "migrate", "--to", pg_url]) == 2
    assert capsys.readouterr().err == (
        f"patchsync: error: {tmp_path / 'state' / 'patchsync.sqlite3'}: no SQLite state database to migrate\n"
    )


@pytest.mark.allow_error_log
def test_a_daemon_cycle_without_its_database_is_one_error_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The shared server away for a tick: the cycle fails in one line, no traceback; the daemon lives on."""
    from patchsync import daemon
    from patchsync.config import parse

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://patchsync@127.0.0.1:{port}/patchsync"
    config = parse({"state": {"dir": str(tmp_path), "database": url}}, "p.toml")
    # The cycle child installs its own signal handlers; this process is pytest's.
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with pytest.raises(SystemExit) as info:
            daemon._child_main(config, daemon.LogSetup())
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert info.value.code == 2
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert [r.getMessage().split(": cannot open")[0] for r in errors] == [f"cycle failed: {url}"]
    assert all(r.exc_info is None for r in errors)
