"""``patchsync daemon`` as a real subprocess: sd_notify, SIGHUP, SIGTERM, status."""

from __future__ import annotations

import json
import signal
from datetime import datetime
from pathlib import Path

import pytest

from patchsync import daemon as daemonmod
from patchsync.config import ScheduleConfig
from patchsync.errors import ConfigError
from patchsync.state import State
from tests.daemonrun import NotifySocket, run_patchsync, start_daemon, wait_until, write_config


def _runs(state_dir: Path) -> int:
    if not (state_dir / "patchsync.sqlite3").exists():
        return 0
    with State(state_dir) as state:
        return len([r for r in state.runs(limit=None) if r.finished])


def test_daemon_lifecycle_notify_reload_and_sigterm(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    kotd = tmp_path / "kotd"
    kotd.mkdir()
    tables = {
        "source": {"url": str(kotd)},
        "state": {"dir": str(state_dir)},
        "schedule": {"interval_seconds": 3600, "jitter_seconds": 0},
    }
    config = write_config(tmp_path / "patchsync.toml", tables)
    notify = NotifySocket(tmp_path / "notify")
    daemon = start_daemon(config, tmp_path / "daemon.log", NOTIFY_SOCKET=str(notify.path), WATCHDOG_USEC="400000")
    try:
        ready = notify.wait_for(lambda m: "READY=1" in m)
        assert ready.startswith("READY=1\nSTATUS=last run: none yet; next run: ")
        notify.wait_for(lambda m: m == "WATCHDOG=1")

        status = json.loads(run_patchsync(config, "status", "--json").stdout)
        assert status["daemon"]["running"] is True
        assert status["daemon"]["pid"] == daemon.proc.pid
        assert status["daemon"]["schedule"] == "every 3600 s"
        next_run = datetime.fromisoformat(status["daemon"]["next_run"])
        assert next_run.tzinfo is not None
        text = run_patchsync(config, "status").stdout
        assert text.startswith(f"daemon: running (pid {daemon.proc.pid}), next run {status['daemon']['next_run']}\n")

        # A second daemon on the same state.dir refuses to start.
        second = run_patchsync(config, "daemon")
        assert second.returncode == 2
        assert second.stderr == (
            f"patchsync: error: {state_dir / 'locks' / 'daemon.lock'}: "
            f"held by pid {daemon.proc.pid} daemon; waited 0 s\n"
        )

        # An invalid config on SIGHUP is logged and the old one kept.
        config.write_text('[schedule]\ncron = "61 * * * *"\n')
        daemon.signal(signal.SIGHUP)
        daemon.wait_log(
            f"patchsync: ERROR: reload failed, keeping the old configuration: {config}: 'schedule.cron' '61 * * * *'"
        )
        assert daemon.proc.poll() is None

        # A valid one takes effect: a 1 s interval starts running cycles.
        write_config(config, {**tables, "schedule": {"interval_seconds": 1, "jitter_seconds": 0}})
        daemon.signal(signal.SIGHUP)
        daemon.wait_log(f"reloaded {config}; schedule: every 1 s")
        wait_until(lambda: _runs(state_dir) >= 1, "a daemon cycle")
        with State(state_dir) as state:
            assert state.runs()[-1].trigger == "daemon"
    finally:
        code = daemon.stop()
    try:
        assert code == 0, daemon.text()
        notify.wait_for(lambda m: "STOPPING=1" in m)
    finally:
        notify.close()
    assert "daemon stopped" in daemon.text()
    status = json.loads(run_patchsync(config, "status", "--json").stdout)
    assert status["daemon"] == {"running": False}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (ScheduleConfig(interval_seconds=90, jitter_seconds=0), "interval[0:01:30]"),
        (
            ScheduleConfig(cron="30 */6 * * 1-5", jitter_seconds=0),
            "cron[month='*', day='*', day_of_week='mon,tue,wed,thu,fri', hour='*/6', minute='30']",
        ),
    ],
)
def test_schedule_becomes_an_apscheduler_trigger(schedule: ScheduleConfig, expected: str) -> None:
    assert str(daemonmod.build_trigger(schedule, where="p.toml")) == expected


def test_bad_crontab_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        daemonmod.build_trigger(ScheduleConfig(cron="30 */6 * * 5-1"), where="p.toml")
    assert str(info.value) == (
        "p.toml: 'schedule.cron' '30 */6 * * 5-1' is not a valid crontab line: day-of-week range '5-1' runs backwards"
    )


def test_running_daemon_is_none_without_one(tmp_path: Path) -> None:
    assert daemonmod.running_daemon(tmp_path) is None
