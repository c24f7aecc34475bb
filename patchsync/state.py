"""The state database: run history, what was last seen and written, the mail outbox.

By default one SQLite file in ``state.dir``; with ``[state] database =
"postgresql://..."`` a PostgreSQL database that two machines share (the
schema, its migrations and the engines live in :mod:`patchsync.database`).
Every write is one short transaction, so a process killed at any point
leaves either the old or the new row, never half of one; on SQLite, WAL
mode and a busy timeout let the daemon and a manual ``patchsync sync`` use
the file at once.  Reads run in their own short transaction too, so a
PostgreSQL session never sits idle inside one.
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
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from . import database as db
from . import lock
from .config import StateConfig
from .errors import LockError, StateError
from .model import SourceInfo
from .runs import CycleResult, SourceRun, TargetRun, source_from_json, sources_from_json
from .statedir import DEFAULT_SOURCE, StateDir

log = logging.getLogger(__name__)

#: ``meta`` keys.  Values are JSON.
#: The newest KOTD a cycle obtained (``patchsync status``).
KEY_LAST_SEEN = "last_seen"
#: The KOTD the last successful sync wrote: the going-backwards guard.
KEY_LAST_SYNCED = "last_synced"
#: Per host (:func:`daemon_key`): what that host's daemon last published.
KEY_DAEMON = "daemon"
#: Who took the PostgreSQL cycle lock (host, pid, what, since).
KEY_CYCLE_LOCK = "cycle_lock"

#: How often a process waiting for the PostgreSQL cycle lock retries.
_LOCK_POLL_SECONDS = 0.2

SCHEMA_VERSION = len(db.MIGRATIONS)


@dataclass(frozen=True)
class RunRow:
    """One row of the run history."""

    id: int
    started: str
    finished: str | None
    trigger: str
    sources: tuple[SourceRun, ...]
    result: str
    synced: bool
    dry_run: bool
    targets: tuple[TargetRun, ...]
    error: str
    mail: str
    host: str = ""

    @property
    def source(self) -> SourceInfo | None:
        """The KOTD of a single-source run."""
        return self.sources[0].info if len(self.sources) == 1 else None

    def to_json(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "started": self.started,
            "finished": self.finished,
            "trigger": self.trigger,
            "host": self.host or None,
            "result": self.result,
            "synced": self.synced,
            "dry_run": self.dry_run,
            "source": self.source.to_json() if self.source else None,
            "sources": [s.to_json() for s in self.sources],
            "targets": [t.to_json() for t in self.targets],
            "error": self.error or None,
            "mail": self.mail,
        }
        if len(self.sources) > 1:
            # No one KOTD stands for a run over several sources.
            del data["source"]
        return data


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


@dataclass(frozen=True)
class Written:
    """What patchsync last wrote to a target's review branch, and from where."""

    target: str
    sha: str
    ref: str
    source_file: str
    written: str
    host: str


def db_path(state_dir: str | os.PathLike[str]) -> Path:
    """The SQLite file of the default backend."""
    return StateDir(state_dir).database


def source_key(key: str, source: str) -> str:
    """The ``meta`` key of ``key`` (last seen, last synced) for one source.

    The default source keeps the plain key, so an installation that had
    one ``[source]`` keeps its going-backwards guard.
    """
    return key if source == DEFAULT_SOURCE else f"{key}@source:{source}"


def read_last_synced(config: StateConfig, source: str = DEFAULT_SOURCE) -> SourceInfo | None:
    """The KOTD the last successful sync wrote, without creating a SQLite database.

    For ``check`` and ``fetch``, which write nothing to the database: no
    SQLite file yet means nothing was synced yet.  A shared database is
    read (a pair's guard is the pair's).
    """
    if not config.database and not db_path(config.dir).exists():
        return None
    with open_state(config) as state:
        return state.last_synced(source)


class State:
    """An open state database; use as a context manager.

    ``database`` is ``state.database``: empty for SQLite in ``state_dir``.
    The object holds one connection for its lifetime (the cycle lock on
    PostgreSQL is a property of that session).
    """

    def __init__(self, state_dir: str | os.PathLike[str], database: str = "") -> None:
        self.host = db.host_name()
        self._state_dir = state_dir
        self._database = database
        self._open()

    def _open(self) -> None:
        state_dir = self._state_dir
        self._engine, self.where = db.create_engine(state_dir, self._database)
        self.backend = self._engine.dialect.name
        try:
            self._conn = self._engine.connect()
        except sa.exc.DBAPIError as exc:
            self._engine.dispose()
            # SQLite says only "unable to open database file"; the folder's errno says why.
            reason = (_os_reason(Path(state_dir)) if self.backend == "sqlite" else "") or db.error_text(exc)
            raise StateError(f"cannot open the state database: {reason}", where=self.where) from None
        try:
            if self.backend == "sqlite":
                db.prepare_sqlite(self._conn)
            db.migrate(self._conn, self.where)
        except sa.exc.DBAPIError as exc:
            self.close()
            raise StateError(f"not a usable state database: {db.error_text(exc)}", where=self.where) from None
        except sqlite3.DatabaseError as exc:
            # prepare_sqlite talks to the driver directly.
            self.close()
            raise StateError(f"not a usable state database: {exc}", where=self.where) from None
        except BaseException:
            self.close()
            raise
        self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int] | None:
        """The SQLite file's (device, inode), or None (PostgreSQL, or no file)."""
        if self.backend != "sqlite":
            return None
        try:
            st = os.stat(self.where)
        except OSError:
            return None
        return st.st_dev, st.st_ino

    def replaced(self) -> bool:
        """Whether the SQLite file was deleted or replaced since it was opened.

        The open connection keeps writing to the old file (on Linux an
        unlinked file lives on while it is open), so everything recorded
        after that would vanish with the connection.
        """
        return self.backend == "sqlite" and self._file_identity() != self._identity

    def reopen(self) -> list[OutboxMail]:
        """Open the database now at the path (a new one, if the file is gone); the old file's unsent mail.

        The unsent mail is read from the old file first, through the open
        connection, for the caller to queue again.
        """
        unsent = self.unsent()
        self.close()
        self._open()
        return unsent

    def __enter__(self) -> State:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._conn.close()
        except sa.exc.DBAPIError as exc:
            # The server went away; its session (and any lock) went with it.
            log.debug("%s: closing: %s", self.where, db.error_text(exc))
        finally:
            self._engine.dispose()

    @property
    def connection(self) -> Connection:
        """The session this object holds (the cycle lock and outbox claims use it)."""
        return self._conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._errors():
            if self._conn.in_transaction():
                yield self._conn
                return
            with self._conn.begin():
                yield self._conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._errors(), db.write_transaction(self._conn) as conn:
            yield conn

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.OperationalError as exc:
            text = db.error_text(exc)
            if "locked" in text:
                raise StateError(f"state database is busy: {text}", where=self.where) from None
            raise StateError(f"state database: {text}", where=self.where) from None
        except sa.exc.DBAPIError as exc:
            raise StateError(f"state database: {db.error_text(exc)}", where=self.where) from None

    @property
    def schema_version(self) -> int:
        with self._read() as conn:
            return db.schema_version_of(conn)

    # -- the cycle lock (PostgreSQL) ------------------------------------------

    @contextmanager
    def advisory_cycle_lock(self, *, wait: float, what: str, deadline: float | None = None) -> Iterator[None]:
        """Hold the pair's cycle lock: a session-level advisory lock on this object's connection.

        The server releases it when the session ends, so a machine (or a
        cycle process) that dies mid-cycle frees it with its connection;
        TCP keepalives (database.create_engine) bound how long a dead
        machine's session lingers.  ``deadline`` (``time.monotonic()``)
        ends the wait instead when part of ``wait`` went on another lock.
        """
        key = (db.ADVISORY_NAMESPACE, db.ADVISORY_CYCLE)
        if deadline is None:
            deadline = time.monotonic() + wait
        while True:
            with self._read() as conn:
                got = conn.execute(sa.select(sa.func.pg_try_advisory_lock(*key))).scalar()
            if got:
                break
            if time.monotonic() >= deadline:
                holder = self.cycle_lock_holder()
                raise LockError(f"held by {holder or 'another session'}; waited {wait:g} s", where=self.where)
            time.sleep(_LOCK_POLL_SECONDS)
        try:
            self.put(KEY_CYCLE_LOCK, {"host": self.host, "pid": os.getpid(), "what": what, "since": _now()})
            yield
        finally:
            try:
                with self._read() as conn:
                    conn.execute(sa.select(sa.func.pg_advisory_unlock(*key)))
            except StateError as exc:
                # The session is gone, and the lock with it.
                log.warning("releasing the cycle lock: %s", exc)

    def _batches(self, table: sa.Table) -> Iterator[list[dict[str, Any]]]:
        """Every row of ``table`` as dicts, in primary key order, :data:`COPY_BATCH` at a time."""
        (key,) = table.primary_key.columns
        last: Any = None
        while True:
            query = sa.select(table).order_by(key).limit(COPY_BATCH)
            if last is not None:
                query = query.where(key > last)
            with self._read() as conn:
                rows = [dict(r) for r in conn.execute(query).mappings()]
            if not rows:
                return
            last = rows[-1][key.name]
            yield rows

    def cycle_lock_holder(self) -> str | None:
        """Who holds the PostgreSQL cycle lock now (``pid N what on HOST since T``), or ``None``."""
        if self.backend != "postgresql":
            return None
        query = sa.text(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
            " WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :ns AND l.objid = :key AND l.objsubid = 2"
        )
        with self._read() as conn:
            name = conn.execute(query, {"ns": db.ADVISORY_NAMESPACE, "key": db.ADVISORY_CYCLE}).scalar()
        if name is None:
            return None
        host = str(name).removeprefix(db.APPLICATION_PREFIX)
        info = self.get(KEY_CYCLE_LOCK)
        if isinstance(info, dict) and info.get("host") == host:
            return f"pid {info.get('pid')} {info.get('what')} on {host} since {info.get('since')}"
        return f"a session on {host}"

    # -- runs ---------------------------------------------------------------

    def begin_run(self, trigger: str, started: datetime) -> int:
        """Record that a cycle started on this host (under the cycle lock).

        No other cycle runs while this one holds the lock, so a run still
        ``running`` was killed outright (SIGKILL, a power cut, the other
        machine of a pair dying): it is recorded as an ``error`` that says
        so, instead of looking busy in the history for ever.
        """
        with self._write() as conn:
            new = conn.execute(
                db.runs.insert().values(started=started.isoformat(), trigger=trigger, host=self.host)
            ).inserted_primary_key
            assert new is not None
            run_id = int(new[0])
            conn.execute(
                db.runs.update()
                .where(db.runs.c.result == "running", db.runs.c.id != run_id)
                .values(result="error", error=f"killed before it finished (found when cycle #{run_id} started)")
            )
            return run_id

    def finish_run(self, run_id: int, result: CycleResult, report: bytes | None = None) -> None:
        # The flat columns describe the first source that obtained a KOTD;
        # ``source`` keeps every source (a list, where older rows hold one object).
        src = next((s.info for s in result.sources if s.info is not None), None)
        with self._write() as conn:
            conn.execute(
                db.runs.update()
                .where(db.runs.c.id == run_id)
                .values(
                    finished=result.finished.isoformat(),
                    source_file=src.file if src else "",
                    version=src.version if src else "",
                    release=src.release if src else "",
                    tarball_sha256=src.tarball_sha256 if src else "",
                    bytes_transferred=src.bytes_transferred if src else 0,
                    payload=src.payload if src else "",
                    source=json.dumps([s.to_json() for s in result.sources]) if result.sources else None,
                    result=result.result,
                    synced=int(result.synced),
                    dry_run=int(result.dry_run),
                    targets=json.dumps([t.to_json() for t in result.targets]),
                    error=result.error,
                    mail=result.mail,
                    report=report,
                )
            )

    def set_run_mail(self, run_id: int, mail: str) -> None:
        with self._write() as conn:
            conn.execute(db.runs.update().where(db.runs.c.id == run_id).values(mail=mail))

    def runs(self, limit: int | None = 20) -> list[RunRow]:
        """The run history, newest first."""
        r = db.runs.c
        query = sa.select(r.id, r.started, r.finished, r.trigger, r.source, r.result, r.synced, r.dry_run)
        query = query.add_columns(r.targets, r.error, r.mail, r.host).order_by(r.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            RunRow(
                id=row.id,
                started=row.started,
                finished=row.finished,
                trigger=row.trigger,
                sources=sources_from_json(json.loads(row.source) if row.source else None),
                result=row.result,
                synced=bool(row.synced),
                dry_run=bool(row.dry_run),
                targets=tuple(TargetRun.from_json(t) for t in json.loads(row.targets)),
                error=row.error,
                mail=row.mail,
                host=row.host,
            )
            for row in rows
        ]

    def last_target_runs(self) -> dict[str, tuple[RunRow, TargetRun]]:
        """For each target name, its newest finished run and outcome; dry runs changed nothing and do not count."""
        found: dict[str, tuple[RunRow, TargetRun]] = {}
        for row in self.runs(limit=None):
            if row.dry_run:
                continue
            for target in row.targets:
                found.setdefault(target.name, (row, target))
        return found

    def last_report(self) -> tuple[int | None, bytes] | None:
        """The last report (run id, RFC 5322 bytes): the newest mail queued, else the newest run's.

        A cycle with nothing new still renders its report (``only_on_change``
        just does not send it); the one people mean by "the last report" is
        the one that was mailed, so the outbox comes first.
        """
        box, r = db.outbox.c, db.runs.c
        with self._read() as conn:
            row = conn.execute(sa.select(box.run_id, box.message).order_by(box.id.desc()).limit(1)).first()
            if row is None:
                row = conn.execute(
                    sa.select(r.id, r.report).where(r.report.is_not(None)).order_by(r.id.desc()).limit(1)
                ).first()
        return (row[0], bytes(row[1])) if row else None

    # -- small named values ------------------------------------------------

    def get(self, key: str) -> Any:
        with self._read() as conn:
            value = conn.execute(sa.select(db.meta.c.value).where(db.meta.c.key == key)).scalar()
        return json.loads(value) if value is not None else None

    def put(self, key: str, value: Any) -> None:
        with self._write() as conn:
            _upsert(conn, db.meta, {"key": key, "value": json.dumps(value)})

    def delete(self, key: str) -> None:
        with self._write() as conn:
            conn.execute(db.meta.delete().where(db.meta.c.key == key))

    def last_seen(self, source: str = DEFAULT_SOURCE) -> SourceInfo | None:
        """The newest KOTD src.rpm a cycle looked at for ``source``."""
        return source_from_json(self.get(source_key(KEY_LAST_SEEN, source)))

    def last_synced(self, source: str = DEFAULT_SOURCE) -> SourceInfo | None:
        """The KOTD src.rpm the last successful sync of ``source`` wrote (the "going backwards" guard)."""
        return source_from_json(self.get(source_key(KEY_LAST_SYNCED, source)))

    # -- what patchsync wrote ------------------------------------------------

    def record_written(self, target: str, *, sha: str, ref: str, source_file: str, when: datetime) -> None:
        """Remember that this host wrote ``sha`` to ``target``'s review branch ``ref``."""
        values = {"sha": sha, "ref": ref, "source_file": source_file, "written": when.isoformat(), "host": self.host}
        with self._write() as conn:
            _upsert(conn, db.written, {"target": target, **values})

    def written(self, target: str) -> Written | None:
        """What patchsync last wrote to ``target`` (from any host), or ``None``."""
        w = db.written
        with self._read() as conn:
            row = conn.execute(
                sa.select(w.c.target, w.c.sha, w.c.ref, w.c.source_file, w.c.written, w.c.host).where(
                    w.c.target == target
                )
            ).first()
        return Written(*row) if row else None

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
        box = db.outbox
        with self._write() as conn:
            # The write lock (SQLite) or the unique index (PostgreSQL, below)
            # makes the check and the insert one step.
            if conn.execute(sa.select(box.c.id).where(box.c.dedup_key == dedup_key)).first() is not None:
                return None
            try:
                with conn.begin_nested():
                    new = conn.execute(
                        box.insert().values(
                            run_id=run_id,
                            dedup_key=dedup_key,
                            message_id=message_id,
                            targets=json.dumps(list(targets)),
                            subject=subject,
                            message=message,
                            created=created.isoformat(),
                        )
                    ).inserted_primary_key
            except sa.exc.IntegrityError:
                # The other machine of a pair queued the same report just now.
                return None
            assert new is not None
            return int(new[0])

    def unsent(self) -> list[OutboxMail]:
        """Mails not sent yet, oldest first."""
        return self._outbox(sa.select(*_OUTBOX_COLUMNS).where(db.outbox.c.sent.is_(None)).order_by(db.outbox.c.id))

    def outbox(self) -> list[OutboxMail]:
        """Every mail ever queued, oldest first."""
        return self._outbox(sa.select(*_OUTBOX_COLUMNS).order_by(db.outbox.c.id))

    def _outbox(self, query: sa.Select[Any]) -> list[OutboxMail]:
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_mail(r) for r in rows]

    @contextmanager
    def claim_unsent(self, after: int = 0) -> Iterator[OutboxMail | None]:
        """The oldest unsent mail with an id above ``after``, claimed for this block.

        On PostgreSQL the row stays locked (``FOR UPDATE SKIP LOCKED``) in a
        transaction until the block ends, so the other machine of a pair
        skips a mail this one is sending; :meth:`mark_sent` and
        :meth:`mark_failed` inside the block commit with the claim.  A
        process that dies while sending rolls the claim back, and the mail
        is retried (the documented kill window).  On SQLite the cycle lock
        already serialises senders, and holding the write lock through an
        SMTP conversation would stall every other writer, so nothing is held.
        """
        box = db.outbox
        query = sa.select(*_OUTBOX_COLUMNS).where(box.c.sent.is_(None), box.c.id > after).order_by(box.c.id)
        if self.backend != "postgresql":
            with self._read() as conn:
                row = conn.execute(query.limit(1)).first()
            yield _mail(row) if row else None
            return
        with self._errors(), self._conn.begin():
            row = self._conn.execute(query.limit(1).with_for_update(skip_locked=True)).first()
            yield _mail(row) if row else None

    def mark_sent(self, mail_id: int, when: datetime) -> None:
        box = db.outbox
        with self._write() as conn:
            conn.execute(
                box.update()
                .where(box.c.id == mail_id)
                .values(sent=when.isoformat(), attempts=box.c.attempts + 1, last_error="")
            )

    def mark_failed(self, mail_id: int, error: str) -> None:
        box = db.outbox
        with self._write() as conn:
            conn.execute(box.update().where(box.c.id == mail_id).values(attempts=box.c.attempts + 1, last_error=error))

    def previous_message_id(self, target: str) -> str | None:
        """The Message-ID of the newest mail about ``target`` (for threading)."""
        for mail in reversed(self.outbox()):
            if target in mail.targets:
                return mail.message_id
        return None


def _upsert(conn: Connection, table: sa.Table, values: dict[str, Any]) -> None:
    """Insert ``values``, or update the row with the same primary key, in one statement.

    Update-then-insert is not enough on PostgreSQL: two sessions that both
    find no row both insert, and one fails on the key.
    """
    insert: Any = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table).values(values)
    keys = [c.name for c in table.primary_key.columns]
    conn.execute(
        insert.on_conflict_do_update(index_elements=keys, set_={k: insert.excluded[k] for k in values if k not in keys})
    )


#: The tables :func:`copy_state` copies, parents first.
_COPIED = (db.runs, db.meta, db.written, db.outbox)

_OUTBOX_COLUMNS = tuple(
    db.outbox.c[name]
    for name in (
        "id",
        "run_id",
        "dedup_key",
        "message_id",
        "targets",
        "subject",
        "message",
        "created",
        "sent",
        "attempts",
        "last_error",
    )
)


def _mail(r: sa.Row[Any]) -> OutboxMail:
    return OutboxMail(
        id=r.id,
        run_id=r.run_id,
        dedup_key=r.dedup_key,
        message_id=r.message_id,
        targets=tuple(json.loads(r.targets)),
        subject=r.subject,
        message=bytes(r.message),
        created=r.created,
        sent=r.sent,
        attempts=r.attempts,
        last_error=r.last_error,
    )


#: Rows copied per statement by :func:`copy_state`: reports make run rows
#: large, and a long history must not be held in memory at once.
COPY_BATCH = 200


@dataclass(frozen=True)
class Copied:
    """What :func:`copy_state` copied."""

    runs: int
    mails: int
    unsent: int
    values: int
    written: int


def copy_state(source: State, target: State) -> Copied:
    """Copy the history, the named values, what was written and the outbox into an empty ``target``.

    One transaction on ``target``: a failure leaves it empty.  Row ids are
    kept (mails name their run), then PostgreSQL's id sequences are moved
    past them.  Values that describe a live process (a daemon's status,
    the lock holder) are left behind.  ``source`` is only read.
    """
    with target._read() as conn:
        counts = {t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar() for t in _COPIED}
        # The lock holder's own record (this migration's) is no state.
        keys = conn.execute(sa.select(db.meta.c.key)).scalars()
        counts[db.meta.name] = sum(1 for k in keys if not _live_key(k))
    if any(counts.values()):
        held = ", ".join(f"{n} {name}" for name, n in counts.items() if n)
        raise StateError(f"already holds state ({held}); copy only into an empty database", where=target.where)
    copied = dict.fromkeys((t.name for t in _COPIED), 0)
    with target._write() as dest:
        for table in _COPIED:
            for batch in source._batches(table):
                rows = [r for r in batch if not _live_key(str(r["key"]))] if table is db.meta else batch
                if rows:
                    dest.execute(table.insert(), rows)
                copied[table.name] += len(rows)
        if target.backend == "postgresql":
            for table in (db.runs, db.outbox):
                dest.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'),"
                        f" (SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
                    )
                )
    return Copied(
        runs=copied["runs"],
        mails=copied["outbox"],
        unsent=len(target.unsent()),
        values=copied["meta"],
        written=copied["written"],
    )


def _live_key(key: str) -> bool:
    return key in (KEY_CYCLE_LOCK, KEY_DAEMON) or key.startswith(KEY_DAEMON + "@")


def daemon_key(host: str) -> str:
    """The ``meta`` key of ``host``'s daemon: the machines of a pair each publish their own."""
    return f"{KEY_DAEMON}@{host}"


def cycle_lock_holder(config: StateConfig, state: State) -> str | None:
    """Who holds the cycle lock now: the pair's (PostgreSQL) or this machine's file lock."""
    holder = state.cycle_lock_holder()
    if holder is None:
        local = lock.holder(StateDir(config.dir).cycle_lock)
        holder = f"{local} on {state.host}" if local else None
    return holder


def inspect_database(config: StateConfig) -> tuple[str, int | None]:
    """The database ``[state]`` names and its schema version, read without creating or migrating anything.

    The version is ``None`` when the SQLite file does not exist yet, 0 for
    an empty PostgreSQL database; connection problems are a StateError.
    """
    if not config.database and not db_path(config.dir).exists():
        return os.fspath(db_path(config.dir)), None
    engine, where = db.create_engine(config.dir, config.database)
    try:
        with engine.connect() as conn, conn.begin():
            return where, db.schema_version_of(conn)
    except sa.exc.DBAPIError as exc:
        raise StateError(f"cannot open the state database: {db.error_text(exc)}", where=where) from None
    finally:
        engine.dispose()


def open_state(config: StateConfig) -> State:
    """The state database ``[state]`` names."""
    return State(config.dir, config.database)


@contextmanager
def hold_cycle(config: StateConfig, *, wait: float, what: str) -> Iterator[State]:
    """The cycle lock and the state database, for one cycle.

    The file lock in ``state.dir`` is always taken: the caches there are
    this machine's, and ``check`` shares it.  With PostgreSQL the
    advisory lock is taken after it (always in that order, so two
    processes never wait on each other crosswise): it keeps the other
    machine of a pair out.
    """
    deadline = time.monotonic() + wait
    with lock.hold(StateDir(config.dir).cycle_lock, wait=wait, what=what), open_state(config) as state:
        if state.backend != "postgresql":
            yield state
            return
        with state.advisory_cycle_lock(wait=wait, what=what, deadline=deadline):
            yield state


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def _os_reason(folder: Path) -> str:
    """Why the OS refuses ``folder``, or ``""``."""
    try:
        os.listdir(folder)
    except OSError as exc:
        return f"{folder}: {exc.strerror}"
    return ""
