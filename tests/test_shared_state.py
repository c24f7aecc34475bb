"""Two machines sharing one PostgreSQL database: the cycle lock and the outbox claims.

"Two machines" are two state folders (each with its own file locks and
caches) pointing at one database; a real process stands in for a machine
where the test kills it.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchsync.config import StateConfig
from patchsync.errors import LockError
from patchsync.state import State, cycle_lock_holder, hold_cycle
from tests.conftest import REPO_ROOT
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


def _queue(state: State, key: str) -> int:
    message = f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {key}\r\n\r\nbody\r\n".encode()
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
            print(mail.flush_outbox(state, report).sent)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script, conf.dir], stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT)
        for conf in (a, b, a, b)
    ]
    counts = [int(p.communicate(timeout=60)[0]) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0]
    assert sum(counts) == len(ids)
    assert sorted(m.message["Subject"] for m in smtp.received) == sorted(f"report-{i}" for i in range(12))
    with State(b.dir, b.database) as state:
        assert state.unsent() == []
        assert all(m.attempts == 1 for m in state.outbox())
