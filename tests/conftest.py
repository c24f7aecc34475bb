"""Fixtures shared by every test.

The network is unreachable except for loopback, the user's XDG and systemd
directories point into ``tmp_path``, and a test fails if patchsync logs an
error it did not expect.
"""

from __future__ import annotations

import ipaddress
import itertools
import logging
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.signing import SigningKeys

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
#: Real SUSE patches, read in place and never copied into this repository.
CORPUS = REPO_ROOT.parent / "shared" / "corpus" / "suse-xen"
#: rpm's own v6 test packages, read in place likewise (their README names origin and licence).
RPM_SAMPLES = REPO_ROOT.parent / "shared" / "corpus" / "rpm-samples"

IN_CI = os.environ.get("CI") == "true"


def require_tool(name: str) -> str:
    """The path of an external tool; skip without it, except in CI where it is a failure."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is required in CI (.ci/run installs it)")
        pytest.skip(f"{name} is not installed")
    return path


@pytest.fixture(scope="session")
def signing_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SigningKeys]:
    """GnuPG keys made once per session (RSA, Ed25519, untrusted, expired, revoked); see tests/signing.py."""
    from tests.signing import SigningKeys

    gpg = require_tool("gpg")
    require_tool("rpmsign")
    keys = SigningKeys(tmp_path_factory.mktemp("gnupg"), gpg)
    yield keys
    keys.close()


@pytest.fixture
def corpus() -> Path:
    """The suse-xen corpus in ../shared; skipped where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"real SUSE patches not found at {CORPUS} (../shared is absent)")
    return CORPUS


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """One real PostgreSQL server for the session (tests/pgserver.py); skipped where it is not installed."""
    from tests import pgserver

    if pgserver.find_bindir() is None:
        if IN_CI:
            pytest.fail("PostgreSQL is required in CI (.ci/run installs the postgresql package)")
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    if os.geteuid() == 0:
        require_tool("runuser")
    server = pgserver.start()
    yield server
    server.stop()


_databases = itertools.count(1)


@pytest.fixture
def pg_url(pg_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty database on the session's server; libpq finds the password in PGPASSFILE."""
    name = f"patchsync_test_{next(_databases)}"
    pg_server.admin(f"CREATE DATABASE {name}")
    monkeypatch.setenv("PGPASSFILE", str(pg_server.passfile))
    return str(pg_server.url(name))


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    """``state.database`` for each backend: empty (SQLite in state.dir) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ""
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def rpm_samples() -> Path:
    """rpm's v6 sample packages in ../shared; skipped where they are absent."""
    if not RPM_SAMPLES.is_dir():
        pytest.skip(f"rpm's v6 samples not found at {RPM_SAMPLES} (../shared is absent)")
    return RPM_SAMPLES


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_error_log: the test expects patchsync to log errors")


_real_connect = socket.socket.connect


def _loopback_only(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        host = address[0]
        try:
            ok = ipaddress.ip_address(host).is_loopback
        except ValueError:
            ok = host == "localhost"
        if not ok:
            raise OSError(f"tests may only reach loopback, not {host}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def _isolate(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setattr(socket.socket, "connect", _loopback_only)
    for var in (
        "PATCHSYNC_CONFIG",
        "STATE_DIRECTORY",
        "CACHE_DIRECTORY",
        "CREDENTIALS_DIRECTORY",
        "NOTIFY_SOCKET",
        "JOURNAL_STREAM",
        "PGPASSFILE",
        "PGPASSWORD",
        "PGSERVICE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    # Real git repositories in tests must not read the developer's config.
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.org")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.org")


@pytest.fixture(autouse=True)
def _no_unexpected_errors(request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG, logger="patchsync")
    logger = logging.getLogger("patchsync")
    handlers = list(logger.handlers)
    yield
    # cli.main() run in-process installs its stderr handler; drop it so the
    # next test starts clean.
    logger.handlers[:] = handlers
    if request.node.get_closest_marker("allow_error_log"):
        return
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR and r.name.startswith("patchsync")]
    if errors:
        pytest.fail("unexpected error log: " + "; ".join(r.getMessage() for r in errors))
