"""A real PostgreSQL server for the shared-state tests.

Debian's ``postgresql`` package gives ``initdb`` and ``pg_ctl`` (under
``/usr/lib/postgresql/<major>/bin``, not on ``PATH``).  The server runs as
an unprivileged user in a temporary folder, listening on 127.0.0.1 at a
free port with no Unix socket; PostgreSQL refuses to run as root, so under
root (as CI runs) it runs as ``nobody`` through ``runuser``.  Clients log
in with a password that a ``PGPASSFILE`` provides, the way libpq finds it
in production.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: The role the tests connect as, and its password.
USER = "patchsync"
PASSWORD = "test-password-not-secret"
#: The unprivileged account the server runs as when the tests run as root.
SERVER_ACCOUNT = "nobody"


def find_bindir() -> Path | None:
    """The newest PostgreSQL server's bin folder, or ``None`` when none is installed."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parent.parent.name), reverse=True
    )
    if candidates:
        return Path(candidates[0]).parent
    found = shutil.which("pg_ctl")
    return Path(found).resolve().parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    bindir: Path
    root: Path
    port: int
    as_user: str | None

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def passfile(self) -> Path:
        return self.root / "pgpass"

    def url(self, dbname: str) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=self.root, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(args[:1])} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")

    def start(self) -> None:
        pwfile = self.root / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        self.passfile.write_text(f"127.0.0.1:{self.port}:*:{USER}:{PASSWORD}\n")
        # libpq ignores a password file others can read.
        self.passfile.chmod(0o600)
        if self.as_user:
            account = pwd.getpwnam(self.as_user)
            os.chown(self.root, account.pw_uid, account.pw_gid)
            os.chown(pwfile, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60", "-o", options, "start"
        )

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def admin(self, sql: str) -> None:
        """Run one statement as the superuser, outside a transaction (CREATE DATABASE)."""
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user=USER, password=PASSWORD, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)  # type: ignore[arg-type]


def start() -> Server:
    bindir = find_bindir()
    assert bindir is not None
    as_user = SERVER_ACCOUNT if os.geteuid() == 0 else None
    # Not under pytest's tmp_path: its folders are private to root, and the
    # server's account must reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="patchsync-pg-"))
    server = Server(bindir=bindir, root=root, port=_free_port(), as_user=as_user)
    try:
        server.start()
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return server
