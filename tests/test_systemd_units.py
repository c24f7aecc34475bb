"""The systemd units: valid for systemd-analyze, hardened, and wired as the README says."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT, require_tool

UNITS = REPO_ROOT / "systemd"
SERVICES = ("patchsync.service", "patchsync-daemon.service")
HARDENING = {
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "NoNewPrivileges": "yes",
    "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    "StateDirectory": "patchsync",
    "CacheDirectory": "patchsync",
    "LoadCredential": "smtp-password:/etc/patchsync/smtp-password",
    "User": "patchsync",
}


def _unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # unit keys are case-sensitive
    parser.read_string((UNITS / name).read_text())
    return parser


def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    # verify checks that ExecStart exists: point copies at this interpreter.
    for unit in UNITS.iterdir():
        text = unit.read_text().replace("ExecStart=/usr/bin/patchsync", f"ExecStart={sys.executable} -m patchsync")
        (tmp_path / unit.name).write_text(text)
    copies = sorted(str(p) for p in tmp_path.iterdir())
    assert [Path(p).name for p in copies] == ["patchsync-daemon.service", "patchsync.service", "patchsync.timer"]
    done = subprocess.run([analyze, "verify", *copies], capture_output=True, text=True, check=False, cwd=tmp_path)
    # Unknown keys are only warnings: a clean verify prints nothing at all.
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


@pytest.mark.parametrize("name", SERVICES)
def test_services_are_hardened(name: str) -> None:
    service = _unit(name)["Service"]
    for key, value in HARDENING.items():
        assert service.get(key) == value, key
    assert service["ReadWritePaths"]


def test_timer_runs_the_oneshot_sync() -> None:
    service = _unit("patchsync.service")["Service"]
    assert (service["Type"], service["ExecStart"]) == ("oneshot", "/usr/bin/patchsync sync")
    timer = _unit("patchsync.timer")["Timer"]
    assert timer["Persistent"] == "true"
    assert timer["RandomizedDelaySec"]
    assert timer["OnCalendar"]


def test_daemon_unit_is_type_notify_with_a_watchdog() -> None:
    service = _unit("patchsync-daemon.service")["Service"]
    assert (service["Type"], service["ExecStart"]) == ("notify", "/usr/bin/patchsync daemon")
    assert service["Restart"] == "on-failure"
    assert service["WatchdogSec"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"
