"""The state database: run history, what was last seen, the mail outbox.

One SQLite file in ``state.dir``.  WAL mode and a busy timeout let the
daemon and a manual ``patchsync sync`` (or ``history``) use it at once;
every write is one short transaction, so a process killed at any point
leaves either the old or the new row, never half of one.  The schema is
versioned with ``PRAGMA user_version`` and migrated forward on open.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from .errors import StateError
from .model import SourceInfo
from .runs import CycleResult, TargetRun, source_from_json
from .statedir import StateDir

log = logging.getLogger(__name__)

#: ``meta`` keys.  Values are JSON.
#: The newest KOTD a cycle obtained (``patchsync status``).
KEY_LAST_SEEN = "last_seen"
#: The KOTD the last successful sync wrote: the going-backwards guard.
KEY_LAST_SYNCED = "last_synced"
KEY_DAEMON = "daemon"

#: Seconds a writer waits for another process's transaction (sqlite3
#: busy_timeout); cycles write a handful of rows, so this is generous.
BUSY_TIMEOUT_SECONDS = 30.0
_RETRY_SECONDS = 0.05

#: Schema migrations, in order; ``MIGRATIONS[n]`` takes ``user_version``
#: from ``n`` to ``n + 1``.  Never edit a released entry: append one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started TEXT NOT NULL,
        finished TEXT,
        trigger TEXT NOT NULL,
        source_file TEXT NOT NULL DEFAULT '',
        version TEXT NOT NULL DEFAULT '',
        release TEXT NOT NULL DEFAULT '',
        tarball_sha256 TEXT NOT NULL DEFAULT '',
        bytes_transferred INTEGER NOT NULL DEFAULT 0,
        payload TEXT NOT NULL DEFAULT '',
        source TEXT,
        result TEXT NOT NULL DEFAULT 'running',
        synced INTEGER NOT NULL DEFAULT 1,
        dry_run INTEGER NOT NULL DEFAULT 0,
        targets TEXT NOT NULL DEFAULT '[]',
        error TEXT NOT NULL DEFAULT '',
        mail TEXT NOT NULL DEFAULT '',
        report BLOB
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs(id),
        dedup_key TEXT NOT NULL UNIQUE,
        message_id TEXT NOT NULL,
        targets TEXT NOT NULL,
        subject TEXT NOT NULL,
        message BLOB NOT NULL,
        created TEXT NOT NULL,
        sent TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX outbox_unsent ON outbox(id) WHERE sent IS NULL;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class RunRow:
    """One row of the run history."""

    id: int
    started: str
    finished: str | None
    trigger: str
    source: SourceInfo | None
    result: str
    synced: bool
    dry_run: bool
    targets: tuple[TargetRun, ...]
    error: str
    mail: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "started": self.started,
            "finished": self.finished,
            "trigger": self.trigger,
            "result": self.result,
            "synced": self.synced,
            "dry_run": self.dry_run,
            "source": self.source.to_json() if self.source else None,
            "targets": [t.to_json() for t in self.targets],
            "error": self.error or None,
            "mail": self.mail,
        }


@dataclass(frozen=True)
class OutboxMail:
    """A rendered report waiting in (or sent from) the outbox."""

    id: int
    run_id: int | None
    dedup_key: str
    message_id: str
    targets: tuple[str, ...]
    subject: str
    message: bytes
    created: str
    sent: str | None
    attempts: int
    last_error: str


def db_path(state_dir: str | os.PathLike[str]) -> Path:
    return StateDir(state_dir).database


def read_last_synced(state_dir: str | os.PathLike[str]) -> SourceInfo | None:
    """The KOTD the last successful sync wrote, without creating the database.

    For ``check`` and ``fetch``, which write nothing to the database: no
    database yet means nothing was synced yet.
    """
    if not db_path(state_dir).exists():
        return None
    with State(state_dir) as state:
        return state.last_synced()


class State:
    """An open state database; use as a context manager."""

    def __init__(self, state_dir: str | os.PathLike[str]) -> None:
        self.path = db_path(state_dir)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE
            # below), so a reader never upgrades into a deadlock.
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StateError(f"cannot open the state database: {exc}", where=self.path) from None
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StateError(f"not a usable state database: {exc}", where=self.path) from None
        except BaseException:
            self._db.close()
            raise

    def __enter__(self) -> State:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE takes the write lock up front, so the busy timeout applies
        # here rather than as a mid-transaction SQLITE_BUSY.
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StateError(f"state database is busy: {exc}", where=self.path) from None
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def _prepare(self) -> None:
        """WAL mode and the current schema, retrying while another process does the same.

        Switching to WAL needs an exclusive lock for which SQLite does not
        call the busy handler, so two processes creating the database at
        once would see "database is locked"; it only happens once per
        database, and a short retry loop covers it.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
        while True:
            try:
                if self._db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._migrate()
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(_RETRY_SECONDS)

    def _migrate(self) -> None:
        with self._write() as db:
            (version,) = db.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise StateError(
                    f"schema version {version} is newer than this patchsync knows ({SCHEMA_VERSION}); "
                    "upgrade patchsync",
                    where=self.path,
                )
            for step in range(version, SCHEMA_VERSION):
                log.info("%s: migrating state schema %d -> %d", self.path, step, step + 1)
                for statement in _statements(MIGRATIONS[step]):
                    db.execute(statement)
            if version != SCHEMA_VERSION:
                # PRAGMA takes no parameters; SCHEMA_VERSION is our own int.
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")

    @property
    def schema_version(self) -> int:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        return int(version)

    # -- runs ---------------------------------------------------------------

    def begin_run(self, trigger: str, started: datetime) -> int:
        """Record that a cycle started; a run killed later stays ``running``."""
        with self._write() as db:
            cur = db.execute("INSERT INTO runs (started, trigger) VALUES (?, ?)", (started.isoformat(), trigger))
            assert cur.lastrowid is not None
            return cur.lastrowid

    def finish_run(self, run_id: int, result: CycleResult, report: bytes | None = None) -> None:
        src = result.source
        with self._write() as db:
            db.execute(
                """UPDATE runs SET finished = ?, source_file = ?, version = ?, release = ?,
                   tarball_sha256 = ?, bytes_transferred = ?, payload = ?, source = ?, result = ?,
                   synced = ?, dry_run = ?, targets = ?, error = ?, mail = ?, report = ?
                   WHERE id = ?""",
                (
                    result.finished.isoformat(),
                    src.file if src else "",
                    src.version if src else "",
                    src.release if src else "",
                    src.tarball_sha256 if src else "",
                    src.bytes_transferred if src else 0,
                    src.payload if src else "",
                    json.dumps(src.to_json()) if src else None,
                    result.result,
                    int(result.synced),
                    int(result.dry_run),
                    json.dumps([t.to_json() for t in result.targets]),
                    result.error,
                    result.mail,
                    report,
                    run_id,
                ),
            )

    def set_run_mail(self, run_id: int, mail: str) -> None:
        with self._write() as db:
            db.execute("UPDATE runs SET mail = ? WHERE id = ?", (mail, run_id))

    def runs(self, limit: int | None = 20) -> list[RunRow]:
        """The run history, newest first."""
        rows = self._db.execute(
            """SELECT id, started, finished, trigger, source, result, synced, dry_run, targets, error, mail
               FROM runs ORDER BY id DESC LIMIT ?""",
            (-1 if limit is None else limit,),
        ).fetchall()
        return [
            RunRow(
                id=r[0],
                started=r[1],
                finished=r[2],
                trigger=r[3],
                source=source_from_json(json.loads(r[4]) if r[4] else None),
                result=r[5],
                synced=bool(r[6]),
                dry_run=bool(r[7]),
                targets=tuple(TargetRun.from_json(t) for t in json.loads(r[8])),
                error=r[9],
                mail=r[10],
            )
            for r in rows
        ]

    def last_target_runs(self) -> dict[str, tuple[RunRow, TargetRun]]:
        """For each target name, its newest finished run and outcome."""
        found: dict[str, tuple[RunRow, TargetRun]] = {}
        for row in self.runs(limit=None):
            for target in row.targets:
                found.setdefault(target.name, (row, target))
        return found

    def last_report(self) -> tuple[int | None, bytes] | None:
        """The last report (run id, RFC 5322 bytes): the newest mail queued, else the newest run's.

        A cycle with nothing new still renders its report (``only_on_change``
        just does not send it); the one people mean by "the last report" is
        the one that was mailed, so the outbox comes first.
        """
        row = self._db.execute("SELECT run_id, message FROM outbox ORDER BY id DESC LIMIT 1").fetchone()
        if row is None:
            row = self._db.execute(
                "SELECT id, report FROM runs WHERE report IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
        return (row[0], bytes(row[1])) if row else None

    # -- small named values ------------------------------------------------

    def get(self, key: str) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, value: Any) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, json.dumps(value)),
            )

    def last_seen(self) -> SourceInfo | None:
        """The newest KOTD src.rpm a cycle looked at."""
        return source_from_json(self.get(KEY_LAST_SEEN))

    def last_synced(self) -> SourceInfo | None:
        """The KOTD src.rpm the last successful sync wrote (the "going backwards" guard)."""
        return source_from_json(self.get(KEY_LAST_SYNCED))

    def delete(self, key: str) -> None:
        with self._write() as db:
            db.execute("DELETE FROM meta WHERE key = ?", (key,))

    # -- the outbox ---------------------------------------------------------

    def queue_mail(
        self,
        *,
        run_id: int | None,
        dedup_key: str,
        message_id: str,
        targets: Sequence[str],
        subject: str,
        message: bytes,
        created: datetime,
    ) -> int | None:
        """Store a mail to send; ``None`` when this report was queued before."""
        with self._write() as db:
            cur = db.execute(
                """INSERT INTO outbox (run_id, dedup_key, message_id, targets, subject, message, created)
                   VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(dedup_key) DO NOTHING""",
                (run_id, dedup_key, message_id, json.dumps(list(targets)), subject, message, created.isoformat()),
            )
            return cur.lastrowid if cur.rowcount else None

    def unsent(self) -> list[OutboxMail]:
        """Mails not sent yet, oldest first."""
        return self._outbox("WHERE sent IS NULL ORDER BY id")

    def outbox(self) -> list[OutboxMail]:
        """Every mail ever queued, oldest first."""
        return self._outbox("ORDER BY id")

    def _outbox(self, tail: str) -> list[OutboxMail]:
        rows = self._db.execute(
            "SELECT id, run_id, dedup_key, message_id, targets, subject, message, created, sent, attempts, last_error"
            " FROM outbox " + tail
        ).fetchall()
        return [
            OutboxMail(
                id=r[0],
                run_id=r[1],
                dedup_key=r[2],
                message_id=r[3],
                targets=tuple(json.loads(r[4])),
                subject=r[5],
                message=bytes(r[6]),
                created=r[7],
                sent=r[8],
                attempts=r[9],
                last_error=r[10],
            )
            for r in rows
        ]

    def mark_sent(self, mail_id: int, when: datetime) -> None:
        with self._write() as db:
            db.execute(
                "UPDATE outbox SET sent = ?, attempts = attempts + 1, last_error = '' WHERE id = ?",
                (when.isoformat(), mail_id),
            )

    def mark_failed(self, mail_id: int, error: str) -> None:
        with self._write() as db:
            db.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", (error, mail_id))

    def previous_message_id(self, target: str) -> str | None:
        """The Message-ID of the newest mail about ``target`` (for threading)."""
        for mail in reversed(self.outbox()):
            if target in mail.targets:
                return mail.message_id
        return None


def _statements(script: str) -> list[str]:
    # sqlite3.executescript() would COMMIT our transaction; run statements
    # one by one instead so a migration is all-or-nothing.
    return [s.strip() for s in script.split(";") if s.strip()]
