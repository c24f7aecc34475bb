"""The systemd units: valid for systemd-analyze, hardened, and wired as the README says."""

from __future__ import annotations

import configparser
import re
import subprocess
import sys
from pathlib import Path

import pytest

from patchsync.commands.sync import EXIT_STOPPED
from tests.conftest import REPO_ROOT, require_tool

UNITS = REPO_ROOT / "systemd"
SERVICES = ("patchsync.service", "patchsync-daemon.service")
#: Where the README installs patchsync (a virtual environment of its own).
INSTALLED = "/opt/patchsync/bin/patchsync"
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
    "UMask": "0007",
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
        text = unit.read_text().replace(INSTALLED, f"{sys.executable} -m patchsync")
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
    assert (service["Type"], service["ExecStart"]) == ("oneshot", "/opt/patchsync/bin/patchsync sync")
    # The status sync exits with when SIGTERM stops it (commands/sync.py).
    assert service["SuccessExitStatus"] == str(EXIT_STOPPED)
    timer = _unit("patchsync.timer")["Timer"]
    assert timer["Persistent"] == "true"
    assert timer["RandomizedDelaySec"]
    assert timer["OnCalendar"]


def test_daemon_unit_is_type_notify_with_a_watchdog() -> None:
    service = _unit("patchsync-daemon.service")["Service"]
    assert (service["Type"], service["ExecStart"]) == ("notify", "/opt/patchsync/bin/patchsync daemon")
    assert service["Restart"] == "on-failure"
    assert service["WatchdogSec"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def _readme_dropin() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    blocks = re.findall(r"```ini\n(.*?)```", readme, re.S)
    assert len(blocks) == 1, "the README shows one drop-in"
    return blocks[0]


def _verify(tmp_path: Path, name: str, dropin: str) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify on the unit with ``dropin`` applied (a later section, as a drop-in is)."""
    analyze = require_tool("systemd-analyze")
    folder = tmp_path / "units"
    folder.mkdir(exist_ok=True)
    dropin = dropin.replace("/usr/local/bin/patchsync", f"{sys.executable} -m patchsync")
    (folder / name).write_text((UNITS / name).read_text() + "\n" + dropin)
    return subprocess.run([analyze, "verify", str(folder / name)], capture_output=True, text=True, check=False)


def test_readme_dropin_clears_execstart_before_setting_it(tmp_path: Path) -> None:
    dropin = _readme_dropin()
    lines = [line for line in dropin.splitlines() if line.startswith("ExecStart=")]
    assert lines[0] == "ExecStart=", "the drop-in must clear ExecStart= first"
    # The daemon (Type=notify) accepts one ExecStart= only: with the README's
    # drop-in it verifies cleanly, and without the clearing line it does not.
    daemon = dropin.replace(" sync\n", " daemon\n")
    done = _verify(tmp_path, "patchsync-daemon.service", daemon)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    broken = _verify(tmp_path, "patchsync-daemon.service", daemon.replace("ExecStart=\n", "", 1))
    assert "more than one ExecStart=" in broken.stderr
