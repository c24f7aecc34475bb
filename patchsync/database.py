"""The state database's engine, schema and migrations, for SQLite and PostgreSQL.

One data layer for both backends (issue 15): SQLAlchemy Core, with the
standard library's sqlite3 driver for the default (one file in
``state.dir``) and psycopg 3 for a PostgreSQL database that a pair of
machines shares (``[state] database = "postgresql://..."``).

The schema is one set of tables and one list of migrations, applied on
open by whichever process comes first.  Migrations are Python functions
taking a connection, run each in its own transaction together with the
version bump, so a failed step leaves the previous version whole (both
SQLite and PostgreSQL have transactional DDL).  The version lives in the
``schema_version`` table on both backends; a SQLite file written before
that table existed carries its version in ``PRAGMA user_version``, which
is still kept in step so an older patchsync refuses a newer file instead
of misreading it.

Alembic is not used: patchsync has five tables, applies migrations itself
on start (there is no administrator running ``alembic upgrade``), and
needs the SQLite ``user_version`` bridge above; a list of functions and a
one-row table do that in fifty lines, without a second configuration file
and script directory to ship.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from .errors import StateError
from .statedir import StateDir

log = logging.getLogger(__name__)

#: Seconds a writer waits for another process's transaction (SQLite's
#: busy_timeout, PostgreSQL's lock_timeout); cycles write a handful of
#: rows, so this is generous.
BUSY_TIMEOUT_SECONDS = 30.0
#: Seconds to wait for a PostgreSQL server to answer a connection.
CONNECT_TIMEOUT_SECONDS = 10
_RETRY_SECONDS = 0.05

#: The systemd credential (``LoadCredential=db-password:...``) holding the
#: PostgreSQL password; without it libpq looks in ``PGPASSFILE``/``~/.pgpass``.
PASSWORD_CREDENTIAL = "db-password"

#: PostgreSQL advisory lock keys (the two-int form): a namespace for
#: patchsync, then one key per lock.  The two-int form shows up in
#: ``pg_locks`` as ``classid``/``objid`` with ``objsubid = 2``.
ADVISORY_NAMESPACE = 0x70617463  # "patc"
ADVISORY_CYCLE = 1
ADVISORY_MIGRATE = 2

#: ``application_name`` is this prefix and the host name, so ``pg_stat_activity``
#: (and ``status``) tell which machine a session belongs to.
APPLICATION_PREFIX = "patchsync@"

#: ``application_name`` is cut by the server at NAMEDATALEN - 1 bytes.
_APPLICATION_NAME_MAX = 63


def host_name() -> str:
    """This machine's name, as recorded with each run and lock."""
    return socket.gethostname()


# -- URLs ---------------------------------------------------------------------


def display_url(url: str) -> str:
    """The URL as errors name it (never with a password)."""
    return make_url(url).render_as_string(hide_password=True) if url else url


def _pg_url(url: str) -> URL:
    # "postgresql://" means psycopg2 to SQLAlchemy; patchsync uses psycopg 3.
    return make_url(url).set(drivername="postgresql+psycopg")


def _credential_password() -> str | None:
    directory = os.environ.get("CREDENTIALS_DIRECTORY")
    if not directory:
        return None
    path = Path(directory) / PASSWORD_CREDENTIAL
    try:
        return path.read_text().rstrip("\n")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read the database password: {exc.strerror}", where=path) from None


# -- engines ------------------------------------------------------------------


def create_engine(state_dir: str | os.PathLike[str], url: str = "") -> tuple[Engine, str]:
    """An engine for ``url`` (SQLite in ``state_dir`` when empty) and the name errors use."""
    if url:
        connect_args: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": f"{APPLICATION_PREFIX}{host_name()}"[:_APPLICATION_NAME_MAX],
            # A machine that dies mid-cycle must release the cycle lock
            # soon: TCP keepalives make the server drop its session.
            "keepalives": 1,
            "keepalives_idle": 30,
            "keepalives_interval": 10,
            "keepalives_count": 3,
            "options": f"-c lock_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}",
        }
        password = _credential_password()
        if password is not None:
            connect_args["password"] = password
        engine = sa.create_engine(_pg_url(url), poolclass=NullPool, connect_args=connect_args)
        return engine, display_url(url)
    path = StateDir(state_dir).database
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StateError(f"cannot open the state database: {exc.strerror}", where=path) from None
    engine = sa.create_engine(
        URL.create("sqlite", database=os.fspath(path)),
        poolclass=NullPool,
        connect_args={"timeout": BUSY_TIMEOUT_SECONDS},
    )
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine, os.fspath(path)


def _sqlite_connect(dbapi_connection: Any, record: Any) -> None:
    # The driver never opens transactions by itself; _sqlite_begin does,
    # explicitly (SQLAlchemy's documented recipe for SQLite).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


#: Execution option that makes a SQLite transaction take the write lock up front.
WRITE_OPTION = "patchsync_write"


def _sqlite_begin(conn: Connection) -> None:
    # IMMEDIATE takes the write lock at BEGIN, so the busy timeout applies
    # there rather than as a mid-transaction SQLITE_BUSY; a reader uses a
    # plain (deferred) BEGIN and never waits on a writer in WAL mode.
    write = conn.get_execution_options().get(WRITE_OPTION)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


@contextmanager
def write_transaction(conn: Connection) -> Iterator[Connection]:
    """One write transaction, or the one already open on ``conn`` (then the outer one commits)."""
    if conn.in_transaction():
        yield conn
        return
    conn.execution_options(**{WRITE_OPTION: True})
    try:
        with conn.begin():
            yield conn
    finally:
        conn.execution_options(**{WRITE_OPTION: False})


# -- the schema ---------------------------------------------------------------

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started", sa.Text, nullable=False),
    sa.Column("finished", sa.Text),
    sa.Column("trigger", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text, nullable=False, server_default=""),
    sa.Column("version", sa.Text, nullable=False, server_default=""),
    sa.Column("release", sa.Text, nullable=False, server_default=""),
    sa.Column("tarball_sha256", sa.Text, nullable=False, server_default=""),
    sa.Column("bytes_transferred", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("payload", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.Text),
    sa.Column("result", sa.Text, nullable=False, server_default="running"),
    sa.Column("synced", sa.Integer, nullable=False, server_default="1"),
    sa.Column("dry_run", sa.Integer, nullable=False, server_default="0"),
    sa.Column("targets", sa.Text, nullable=False, server_default="[]"),
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("mail", sa.Text, nullable=False, server_default=""),
    sa.Column("report", sa.LargeBinary),
    sa.Column("host", sa.Text, nullable=False, server_default=""),
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
    sa.Column("dedup_key", sa.Text, nullable=False, unique=True),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("targets", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("message", sa.LargeBinary, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("sent", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
)

#: What patchsync last wrote to each target's review branch; the ref
#: ``refs/patchsync/last/<target>`` in a repository is a local cache of it.
written = sa.Table(
    "written",
    metadata,
    sa.Column("target", sa.Text, primary_key=True),
    sa.Column("sha", sa.Text, nullable=False),
    sa.Column("ref", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text, nullable=False, server_default=""),
    sa.Column("written", sa.Text, nullable=False),
    sa.Column("host", sa.Text, nullable=False, server_default=""),
)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)


# -- migrations ---------------------------------------------------------------
# Each step is frozen once released: it spells out its own tables rather
# than using the ones above, which describe the newest version.

Migration = Callable[[Connection], None]


def _v1_tables(conn: Connection) -> None:
    """The schema patchsync 0.1 created by hand: runs, meta, outbox."""
    m = sa.MetaData()
    sa.Table(
        "runs",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started", sa.Text, nullable=False),
        sa.Column("finished", sa.Text),
        sa.Column("trigger", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False, server_default=""),
        sa.Column("version", sa.Text, nullable=False, server_default=""),
        sa.Column("release", sa.Text, nullable=False, server_default=""),
        sa.Column("tarball_sha256", sa.Text, nullable=False, server_default=""),
        sa.Column("bytes_transferred", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("payload", sa.Text, nullable=False, server_default=""),
        sa.Column("source", sa.Text),
        sa.Column("result", sa.Text, nullable=False, server_default="running"),
        sa.Column("synced", sa.Integer, nullable=False, server_default="1"),
        sa.Column("dry_run", sa.Integer, nullable=False, server_default="0"),
        sa.Column("targets", sa.Text, nullable=False, server_default="[]"),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("mail", sa.Text, nullable=False, server_default=""),
        sa.Column("report", sa.LargeBinary),
    )
    sa.Table(
        "meta",
        m,
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    box = sa.Table(
        "outbox",
        m,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id")),
        sa.Column("dedup_key", sa.Text, nullable=False, unique=True),
        sa.Column("message_id", sa.Text, nullable=False),
        sa.Column("targets", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("message", sa.LargeBinary, nullable=False),
        sa.Column("created", sa.Text, nullable=False),
        sa.Column("sent", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    )
    unsent = box.c.sent.is_(None)
    sa.Index("outbox_unsent", box.c.id, sqlite_where=unsent, postgresql_where=unsent)
    m.create_all(conn)


def _v2_host_and_written(conn: Connection) -> None:
    """Which host ran each cycle, and what patchsync last wrote per target (issue 15)."""
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN host TEXT NOT NULL DEFAULT ''"))
    m = sa.MetaData()
    sa.Table(
        "written",
        m,
        sa.Column("target", sa.Text, primary_key=True),
        sa.Column("sha", sa.Text, nullable=False),
        sa.Column("ref", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False, server_default=""),
        sa.Column("written", sa.Text, nullable=False),
        sa.Column("host", sa.Text, nullable=False, server_default=""),
    )
    m.create_all(conn)


#: ``MIGRATIONS[n]`` takes the schema from version ``n`` to ``n + 1``.
#: Never edit a released entry: append one.
MIGRATIONS: tuple[Migration, ...] = (_v1_tables, _v2_host_and_written)


def schema_version_of(conn: Connection) -> int:
    """The schema version of the database behind ``conn`` (0 when empty)."""
    if sa.inspect(conn).has_table("schema_version"):
        value = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
        return int(value or 0)
    if conn.dialect.name == "sqlite":
        # A file from before the schema_version table: PRAGMA user_version.
        return int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
    return 0


def migrate(conn: Connection, where: str, migrations: tuple[Migration, ...] | None = None) -> int:
    """Bring the schema up to date, one transaction per step; returns the version.

    Two processes opening a new database at once are serialised: by the
    write lock on SQLite, by an advisory lock on PostgreSQL.
    """
    steps = MIGRATIONS if migrations is None else migrations
    target = len(steps)
    while True:
        with write_transaction(conn):
            if conn.dialect.name == "postgresql":
                conn.execute(
                    sa.select(sa.func.pg_advisory_xact_lock(ADVISORY_NAMESPACE, ADVISORY_MIGRATE)),
                )
            version = schema_version_of(conn)
            if version > target:
                raise StateError(
                    f"schema version {version} is newer than this patchsync knows ({target}); upgrade patchsync",
                    where=where,
                )
            if version == target:
                return version
            log.info("%s: migrating state schema %d -> %d", where, version, version + 1)
            steps[version](conn)
            _set_version(conn, version + 1)


def _set_version(conn: Connection, version: int) -> None:
    schema_version.create(conn, checkfirst=True)
    conn.execute(schema_version.delete())
    conn.execute(schema_version.insert().values(version=version))
    if conn.dialect.name == "sqlite":
        # PRAGMA takes no parameters; version is our own int.
        conn.exec_driver_sql(f"PRAGMA user_version = {version:d}")


def prepare_sqlite(conn: Connection) -> None:
    """WAL mode, retrying while another process switches it at the same time.

    Switching to WAL needs an exclusive lock for which SQLite does not
    call the busy handler, so two processes creating the database at once
    would see "database is locked"; it happens once per database, and a
    short retry loop covers it.  The pragma must run outside a
    transaction, so it goes to the driver's connection directly.
    """
    raw = conn.connection.dbapi_connection
    assert raw is not None
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while True:
        try:
            if raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(_RETRY_SECONDS)


def error_text(exc: sa.exc.DBAPIError) -> str:
    """The driver's own message, on one line (psycopg's span several)."""
    text = " ".join(str(exc.orig).split())
    return text or type(exc.orig).__name__
