"""The state database: schema migration, run history, outbox, two processes at once."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from patchsync import state as statemod
from patchsync.config import StateConfig
from patchsync.errors import StateError
from patchsync.model import SourceInfo
from patchsync.runs import Commit, CycleResult, PatchLine, SourceRun, TargetRun
from patchsync.statedir import DB_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
T1 = datetime(2026, 11, 23, 21, 31, 5, tzinfo=UTC)
SOURCE = SourceInfo(
    url="http://127.0.0.1/src/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    file="kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    version="2.6.32.10",
    release="0.0.3.bbbb222",
    tarball="patches.xen.tar.bz2",
    tarball_sha256="ab" * 32,
    bytes_transferred=1234,
    payload="downloaded",
)


def _result(**kw: object) -> CycleResult:
    target = TargetRun(
        name="lucid-ec2",
        mode="released",
        status="updated",
        counts={"unchanged": 4, "modified": 1},
        patches=(PatchLine("xen3-patch-03.diff", "modified"),),
        ref="refs/heads/patchsync/lucid-ec2",
        head="c0ffee" * 6 + "abcd",
        commits=(Commit("1" * 40, "UBUNTU: [Xen] xen3-patch-03.diff: update", ("xen3-patch-03.diff",)),),
        interdiffs={"xen3-patch-03.diff": "--- a\n+++ b\n"},
    )
    fields: dict[str, object] = {
        "trigger": "manual",
        "started": T0,
        "finished": T1,
        "source": SOURCE,
        "targets": (target,),
    }
    fields.update(kw)
    # A single-source cycle: its one source, named "default", or none when it failed.
    source = fields.pop("source")
    error = str(fields.get("error", ""))
    fields["sources"] = (SourceRun("default", source, "" if source else error),)  # type: ignore[arg-type]
    return CycleResult(**fields)  # type: ignore[arg-type]


def test_new_database_is_at_the_current_schema(tmp_path: Path, database: str) -> None:
    with statemod.State(tmp_path, database) as st:
        assert st.schema_version == statemod.SCHEMA_VERSION
        assert st.backend == ("postgresql" if database else "sqlite")
    if database:
        # Nothing but the caches belongs in state.dir with a shared database.
        assert list(tmp_path.iterdir()) == []
        return
    db = sqlite3.connect(tmp_path / DB_NAME)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")} == {
        "runs",
        "meta",
        "outbox",
        "written",
        "schema_version",
    }


def test_newer_schema_is_refused_with_the_database_named(tmp_path: Path, database: str) -> None:
    with statemod.State(tmp_path, database) as st:
        where = st.where
        with st.connection.begin():
            st.connection.execute(sa.text("UPDATE schema_version SET version = 99"))
    with pytest.raises(StateError) as info:
        statemod.State(tmp_path, database)
    assert str(info.value) == (
        f"{where}: schema version 99 is newer than this patchsync knows ({statemod.SCHEMA_VERSION}); upgrade patchsync"
    )
    if database:
        assert where == database


def test_garbage_file_is_a_state_error(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match=r"patchsync.sqlite3: not a usable state database"):
        statemod.State(tmp_path)


def test_an_unreachable_server_is_one_line_naming_the_url(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql://patchsync@127.0.0.1:{port}/patchsync"
    with pytest.raises(StateError) as info:
        statemod.State(tmp_path, url)
    text = str(info.value)
    assert text.startswith(f"{url}: cannot open the state database: ")
    assert "refused" in text
    assert "\n" not in text


def test_a_wrong_password_is_refused_without_showing_it(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "db-password").write_text("not-the-password\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    with pytest.raises(StateError) as info:
        statemod.State(tmp_path, pg_url)
    assert str(info.value).startswith(f"{pg_url}: cannot open the state database: ")
    assert "password authentication failed" in str(info.value)
    assert "not-the-password" not in str(info.value)


def test_a_run_left_running_is_recorded_as_killed_by_the_next(tmp_path: Path, database: str) -> None:
    with statemod.State(tmp_path, database) as st:
        done = st.begin_run("timer", T0)
        st.finish_run(done, _result(mail="sent"))
        killed = st.begin_run("daemon", T1)  # SIGKILL: never finished
        assert [r.result for r in st.runs()] == ["running", "updated"]
        # The next cycle (under the same lock) finds it unfinished.
        later = st.begin_run("manual", T1)
        rows = {r.id: r for r in st.runs()}
        assert rows[later].result == "running"
        assert rows[killed].result == "error"
        assert rows[killed].error == f"killed before it finished (found when cycle #{later} started)"
        assert rows[killed].finished is None
        assert rows[done].result == "updated"
        assert rows[done].error == ""


def test_run_round_trips_through_history(tmp_path: Path, database: str) -> None:
    with statemod.State(tmp_path, database) as st:
        first = st.begin_run("timer", T0)
        st.finish_run(first, _result(mail="sent"), report=b"Subject: x\n\nbody\n")
        second = st.begin_run("manual", T1)  # killed: never finished
        rows = st.runs()
        assert [r.id for r in rows] == [second, first]
        assert rows[0].result == "running"
        assert rows[0].finished is None
        done = rows[1]
        assert done.to_json() == {
            "id": first,
            "started": "2026-11-23T21:30:00+00:00",
            "finished": "2026-11-23T21:31:05+00:00",
            "trigger": "timer",
            "host": socket.gethostname(),
            "result": "updated",
            "synced": True,
            "dry_run": False,
            "source": SOURCE.to_json(),
            "sources": [{"name": "default", **SOURCE.to_json()}],
            "targets": [
                {
                    "name": "lucid-ec2",
                    "mode": "released",
                    "source": "default",
                    "status": "updated",
                    "counts": {"unchanged": 4, "modified": 1},
                    "patches": [{"name": "xen3-patch-03.diff", "status": "modified"}],
                    "order_changes": [],
                    "warnings": [],
                    "ref": "refs/heads/patchsync/lucid-ec2",
                    "head": "c0ffee" * 6 + "abcd",
                    "commits": [
                        {
                            "sha": "1" * 40,
                            "subject": "UBUNTU: [Xen] xen3-patch-03.diff: update",
                            "patches": ["xen3-patch-03.diff"],
                        }
                    ],
                    "conflicts": [],
                    "error": None,
                }
            ],
            "error": None,
            "mail": "sent",
        }
        assert st.runs(limit=1)[0].id == second
        assert st.last_report() == (first, b"Subject: x\n\nbody\n")
        assert st.last_target_runs()["lucid-ec2"][0].id == first
        with st.connection.begin():
            row = st.connection.execute(
                sa.text("SELECT source_file, version, release, tarball_sha256, bytes_transferred FROM runs")
            ).first()
    assert tuple(row or ()) == (
        SOURCE.file,
        "2.6.32.10",
        "0.0.3.bbbb222",
        "ab" * 32,
        1234,
    )


def test_outbox_dedup_and_threading(tmp_path: Path, database: str) -> None:
    with statemod.State(tmp_path, database) as st:
        kw = {"run_id": None, "targets": ["a", "b"], "subject": "s", "message": b"m", "created": T0}
        first = st.queue_mail(dedup_key="k1", message_id="<1@x>", **kw)  # type: ignore[arg-type]
        assert first is not None
        assert st.queue_mail(dedup_key="k1", message_id="<again@x>", **kw) is None  # type: ignore[arg-type]
        second = st.queue_mail(dedup_key="k2", message_id="<2@x>", **{**kw, "targets": ["b"]})  # type: ignore[arg-type]
        assert [m.id for m in st.unsent()] == [first, second]
        st.mark_failed(first, "connection refused")
        assert st.unsent()[0].attempts == 1
        assert st.unsent()[0].last_error == "connection refused"
        st.mark_sent(first, T1)
        assert [m.id for m in st.unsent()] == [second]
        assert st.previous_message_id("a") == "<1@x>"
        assert st.previous_message_id("b") == "<2@x>"
        assert st.previous_message_id("c") is None


def test_two_processes_write_at_once(tmp_path: Path, database: str) -> None:
    """The daemon and a manual run (or two machines) share the database; transactions serialise them."""
    script = textwrap.dedent(f"""
        from datetime import datetime, UTC
        from patchsync.state import State
        with State({str(tmp_path)!r}, {database!r}) as st:
            for i in range(20):
                st.begin_run("proc", datetime.now(UTC))
                st.put("counter", i)
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    with statemod.State(tmp_path, database) as st:
        assert len(st.runs(limit=None)) == 60
        assert st.get("counter") == 19


def test_the_guard_reads_what_the_cycle_records_and_never_creates_the_database(tmp_path: Path, database: str) -> None:
    """``check`` and ``fetch`` read the going-backwards guard without writing the database."""
    conf = StateConfig(dir=str(tmp_path), database=database)
    assert statemod.read_last_synced(conf) is None
    assert list(tmp_path.iterdir()) == []
    with statemod.open_state(conf) as st:
        assert st.last_synced() is None
        st.put(statemod.KEY_LAST_SYNCED, SOURCE.to_json())
        assert st.last_synced() == SOURCE
        st.put(statemod.KEY_LAST_SYNCED, {**SOURCE.to_json(), "release": "0.0.5.dddd444"})
        assert st.get(statemod.KEY_LAST_SYNCED)["release"] == "0.0.5.dddd444"
        st.delete(statemod.KEY_LAST_SYNCED)
        assert st.last_synced() is None
        st.put(statemod.KEY_LAST_SYNCED, SOURCE.to_json())
    assert statemod.read_last_synced(conf) == SOURCE


def test_what_patchsync_wrote_is_kept_per_target_with_its_host(tmp_path: Path, database: str) -> None:
    with statemod.State(tmp_path, database) as st:
        assert st.written("lucid-ec2") is None
        st.record_written("lucid-ec2", sha="1" * 40, ref="refs/heads/patchsync/lucid-ec2", source_file="a", when=T0)
        st.record_written("lucid-ec2", sha="2" * 40, ref="refs/heads/patchsync/lucid-ec2", source_file="b", when=T1)
        st.record_written("other", sha="3" * 40, ref="refs/heads/review", source_file="b", when=T1)
    with statemod.State(tmp_path, database) as st:
        assert st.written("lucid-ec2") == statemod.Written(
            target="lucid-ec2",
            sha="2" * 40,
            ref="refs/heads/patchsync/lucid-ec2",
            source_file="b",
            written=T1.isoformat(),
            host=socket.gethostname(),
        )
        other = st.written("other")
        assert other is not None
        assert other.sha == "3" * 40
