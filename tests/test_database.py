"""The state database's schema and migrations, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from patchsync import database as db
from patchsync.errors import StateError
from patchsync.statedir import DB_NAME

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def conn(tmp_path: Path, database: str) -> Iterator[sa.Connection]:
    engine, _ = db.create_engine(tmp_path, database)
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            db.prepare_sqlite(connection)
        yield connection
    engine.dispose()


def _columns(conn: sa.Connection, table: str) -> list[str]:
    with conn.begin():
        return [c["name"] for c in sa.inspect(conn).get_columns(table)]


def test_a_new_database_gets_every_step_once(conn: sa.Connection) -> None:
    assert db.migrate(conn, "here") == len(db.MIGRATIONS)
    assert db.migrate(conn, "here") == len(db.MIGRATIONS)
    with conn.begin():
        assert db.schema_version_of(conn) == len(db.MIGRATIONS)
        assert set(sa.inspect(conn).get_table_names()) == {"runs", "meta", "outbox", "written", "schema_version"}
        assert conn.execute(sa.select(sa.func.count()).select_from(db.schema_version)).scalar() == 1
    # The newest step's tables are the ones the code uses.
    for table in db.metadata.sorted_tables:
        assert _columns(conn, table.name) == [c.name for c in table.columns]


def test_a_later_step_runs_alone_and_keeps_the_data(conn: sa.Connection) -> None:
    db.migrate(conn, "here")
    with db.write_transaction(conn):
        conn.execute(db.meta.insert().values(key="last_seen", value='{"file": "a.src.rpm"}'))
    calls: list[int] = []

    def add_note(c: sa.Connection) -> None:
        calls.append(1)
        c.execute(sa.text("ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT ''"))

    steps = (*db.MIGRATIONS, add_note)
    assert db.migrate(conn, "here", steps) == len(steps)
    assert db.migrate(conn, "here", steps) == len(steps)
    assert calls == [1]
    assert "note" in _columns(conn, "runs")
    with conn.begin():
        assert conn.execute(sa.select(db.meta.c.value)).scalar() == '{"file": "a.src.rpm"}'


def test_a_failed_step_leaves_the_previous_version_whole(conn: sa.Connection) -> None:
    db.migrate(conn, "here")

    def broken(c: sa.Connection) -> None:
        c.execute(sa.text("ALTER TABLE runs ADD COLUMN x TEXT"))
        c.execute(sa.text("ALTER TABLE nosuch ADD COLUMN y TEXT"))

    with pytest.raises(sa.exc.DBAPIError):
        db.migrate(conn, "here", (*db.MIGRATIONS, broken))
    with conn.begin():
        assert db.schema_version_of(conn) == len(db.MIGRATIONS)
    assert "x" not in _columns(conn, "runs")


def test_a_newer_schema_is_refused(conn: sa.Connection) -> None:
    db.migrate(conn, "here")
    with pytest.raises(StateError) as info:
        db.migrate(conn, "here", db.MIGRATIONS[:1])
    assert str(info.value) == f"here: schema version {len(db.MIGRATIONS)} is newer than this patchsync knows (1); " + (
        "upgrade patchsync"
    )


def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path, database: str) -> None:
    script = textwrap.dedent(f"""
        from patchsync import database as db
        engine, where = db.create_engine({str(tmp_path)!r}, {database!r})
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                db.prepare_sqlite(conn)
            print(db.migrate(conn, where))
    """)
    procs = [
        subprocess.Popen([sys.executable, "-c", script], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    outs = [p.communicate(timeout=60)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0]
    assert outs == [f"{len(db.MIGRATIONS)}\n"] * 3


#: The schema patchsync 0.1 wrote by hand, its version in PRAGMA user_version.
LEGACY_SCHEMA = """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY, started TEXT NOT NULL, finished TEXT, trigger TEXT NOT NULL,
        source_file TEXT NOT NULL DEFAULT '', version TEXT NOT NULL DEFAULT '', release TEXT NOT NULL DEFAULT '',
        tarball_sha256 TEXT NOT NULL DEFAULT '', bytes_transferred INTEGER NOT NULL DEFAULT 0,
        payload TEXT NOT NULL DEFAULT '', source TEXT, result TEXT NOT NULL DEFAULT 'running',
        synced INTEGER NOT NULL DEFAULT 1, dry_run INTEGER NOT NULL DEFAULT 0, targets TEXT NOT NULL DEFAULT '[]',
        error TEXT NOT NULL DEFAULT '', mail TEXT NOT NULL DEFAULT '', report BLOB
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY, run_id INTEGER REFERENCES runs(id), dedup_key TEXT NOT NULL UNIQUE,
        message_id TEXT NOT NULL, targets TEXT NOT NULL, subject TEXT NOT NULL, message BLOB NOT NULL,
        created TEXT NOT NULL, sent TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_unsent ON outbox(id) WHERE sent IS NULL;
    INSERT INTO runs (started, trigger, result) VALUES ('2026-11-20T06:30:00+00:00', 'timer', 'updated');
    INSERT INTO meta VALUES ('last_seen', '{"file": "a.src.rpm"}');
    PRAGMA user_version = 1;
"""


def test_a_sqlite_file_from_before_the_version_table_continues_from_its_user_version(tmp_path: Path) -> None:
    legacy = sqlite3.connect(tmp_path / DB_NAME)
    legacy.executescript(LEGACY_SCHEMA)
    legacy.close()
    engine, where = db.create_engine(tmp_path)
    with engine.connect() as conn:
        db.prepare_sqlite(conn)
        assert db.migrate(conn, where) == len(db.MIGRATIONS)
        with conn.begin():
            assert conn.execute(sa.select(db.runs.c.trigger, db.runs.c.host)).one() == ("timer", "")
            assert conn.execute(sa.select(db.meta.c.value)).scalar() == '{"file": "a.src.rpm"}'
    engine.dispose()
    check = sqlite3.connect(tmp_path / DB_NAME)
    # Kept in step, so that an older patchsync refuses the file.
    assert check.execute("PRAGMA user_version").fetchone() == (len(db.MIGRATIONS),)
    assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
