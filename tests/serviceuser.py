"""Throwaway system users, and patchsync installed where they can run it.

The service path is about permissions: a service user that is not the
owner of the repositories it writes, a state folder it must create, a
umask from the unit.  Tests of it need real users, so they need root: in
CI they run as root (``.ci/run``), elsewhere they are skipped with the
reason.  Users, groups and folders get unique names, so parallel runs do
not meet, and are removed afterwards.
"""

from __future__ import annotations

import importlib.metadata
import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import IN_CI, REPO_ROOT, require_tool

#: The environment a unit gives its service: no developer variables.
BASE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def require_root() -> None:
    if os.geteuid() == 0:
        return
    if IN_CI:
        pytest.fail("the service-user tests need root in CI (.ci/run runs as root)")
    pytest.skip("needs root to create throwaway users (useradd, runuser); runs in CI")


@dataclass(frozen=True)
class Users:
    """A service user and a maintainer, both in one group that owns the trees."""

    service: str
    maintainer: str
    group: str
    home: Path

    def run(
        self,
        user: str,
        argv: Sequence[str],
        *,
        umask: str = "0007",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """``argv`` as ``user`` (with its supplementary groups), under ``umask``."""
        home = self.home / user
        full = dict(BASE_ENV, HOME=str(home), USER=user, LOGNAME=user)
        if env:
            full.update(env)
        setpriv = require_tool("setpriv")
        command = [
            setpriv,
            f"--reuid={user}",
            f"--regid={user}",
            "--init-groups",
            "--reset-env",
            "--",
            "/usr/bin/env",
            *(f"{k}={v}" for k, v in full.items()),
            "/bin/sh",
            "-c",
            f'umask {umask}; cd "$0"; exec "$@"',
            str(cwd or home),
            *argv,
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"{user}: {' '.join(argv)}: exit {done.returncode}\n{done.stdout}{done.stderr}")
        return done


def _run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A temporary folder every user can traverse (pytest's own is root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="patchsync-svc-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def users(public_tmp: Path) -> Iterator[Users]:
    """A service user and a maintainer sharing a group, removed afterwards."""
    require_root()
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
        require_tool(tool)
    tag = secrets.token_hex(3)
    made = Users(f"pssvc{tag}", f"psmnt{tag}", f"pskrn{tag}", public_tmp / "home")
    made.home.mkdir(mode=0o755)
    created_users: list[str] = []
    _run("groupadd", made.group)
    try:
        for name in (made.service, made.maintainer):
            # The README's useradd, except the home (the test's own folder).
            _run(
                "useradd", "--system", "--user-group", "--home-dir", str(made.home / name),
                "--create-home", "--shell", "/usr/sbin/nologin", "--groups", made.group, name,
            )  # fmt: skip
            created_users.append(name)
        yield made
    finally:
        for name in created_users:
            subprocess.run(["userdel", name], capture_output=True, check=False)
            subprocess.run(["groupdel", name], capture_output=True, check=False)
        subprocess.run(["groupdel", made.group], capture_output=True, check=False)


def _requirements(name: str, seen: set[str]) -> None:
    """``name`` and every distribution it needs at run time (no extras), as normalised names."""
    key = canonicalize_name(name)
    if key in seen:
        return
    seen.add(key)
    for line in importlib.metadata.requires(name) or ():
        req = Requirement(line)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            _requirements(req.name, seen)


def _interpreter() -> str:
    """A Python any user may run, of this interpreter's version (for the compiled extensions)."""
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    candidates = [getattr(sys, "_base_executable", sys.executable), f"/usr/bin/python{version}"]
    for path in candidates:
        parts = Path(path).resolve().parents
        if Path(path).exists() and all(p.stat().st_mode & 0o001 for p in parts) and os.stat(path).st_mode & 0o001:
            return path
    message = f"no Python {version} that other users may run (tried {candidates})"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def install_venv(prefix: Path) -> Path:
    """README step 1 without the network: a venv at ``prefix`` holding patchsync and its dependencies.

    ``pip install .`` would need PyPI; the same files are copied instead
    from the environment running the tests.  Returns ``prefix/bin/patchsync``.
    """
    subprocess.run([_interpreter(), "-m", "venv", "--without-pip", str(prefix)], check=True, capture_output=True)
    purelib = Path(
        subprocess.run(
            [str(prefix / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    here = Path(sysconfig.get_paths()["purelib"])
    needed: set[str] = set()
    _requirements("patchsync", needed)
    needed.discard("patchsync")
    for dist in importlib.metadata.distributions():
        if canonicalize_name(dist.metadata["Name"]) not in needed:
            continue
        for file in dist.files or ():
            src = Path(dist.locate_file(file))
            if src.is_file() and here in src.parents:
                dest = purelib / src.relative_to(here)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dest)
    shutil.copytree(REPO_ROOT / "patchsync", purelib / "patchsync", ignore=shutil.ignore_patterns("__pycache__"))
    script = prefix / "bin" / "patchsync"
    script.write_text(f"#!{prefix / 'bin' / 'python'}\nimport sys\nfrom patchsync.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    for path in [prefix, *prefix.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o044 | (0o011 if path.is_dir() else 0))
    return script
