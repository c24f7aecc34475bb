"""``patchsync daemon`` as a real subprocess: sd_notify, SIGHUP, SIGTERM, status."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchsync import config as configmod
from patchsync import daemon as daemonmod
from patchsync.config import ScheduleConfig
from patchsync.errors import ConfigError
from patchsync.state import State
from tests import gittarget
from tests.daemonrun import NotifySocket, run_patchsync, start_daemon, wait_until, write_config
from tests.rpmbuild import build_srpm
from tests.servers import start_nginx
from tests.servers import stop as stop_nginx
from tests.smtp import SmtpServer
from tests.test_cycle import PATCH_A, PATCH_A2, PATCH_B, PATCH_C, SERIES_CONF, make_tree


def _runs(state_dir: Path) -> int:
    if not (state_dir / "patchsync.sqlite3").exists():
        return 0
    with State(state_dir) as state:
        return len([r for r in state.runs(limit=None) if r.finished])


@pytest.mark.parametrize("verbose", [False, True])
def test_one_log_line_per_cycle(tmp_path: Path, verbose: bool) -> None:
    """At the default level a cycle is one line: its run, start, result and next run; never two "finished"."""
    state_dir = tmp_path / "state"
    kotd = tmp_path / "kotd"
    kotd.mkdir()  # no src.rpm: every cycle fails the same way, quickly
    tables = {
        "source": {"url": str(kotd)},
        "state": {"dir": str(state_dir)},
        "schedule": {"interval_seconds": 1, "jitter_seconds": 0},
    }
    config = write_config(tmp_path / "patchsync.toml", tables)
    daemon = start_daemon(config, tmp_path / "daemon.log", verbose=verbose)
    try:
        wait_until(lambda: _runs(state_dir) >= 2, "two daemon cycles")
        daemon.wait_log("cycle #2 ")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()
    lines = daemon.text().splitlines()
    cycles = [line for line in lines if "cycle #" in line]
    for number, line in enumerate(cycles[:2], start=1):
        prefix = f"patchsync: INFO: cycle #{number} (started "
        assert line.startswith(prefix), lines
        assert f" UTC): error; next run {datetime.now(UTC):%Y-%m-%d}" in line, line
    assert not any("finished" in line for line in lines), lines
    if not verbose:
        # Besides the cycle lines only what the daemon itself did, and
        # warnings and errors (a 1 s interval outruns a cycle, the empty source).
        other = [line for line in lines if line not in cycles]
        assert all(
            line.startswith(("patchsync: INFO: daemon ", "patchsync: INFO: received SIGTERM"))
            or not line.startswith("patchsync: INFO: ")
            for line in other
        ), other


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


# -- end to end: nginx serving a KOTD, aiosmtpd, a real target tree ----------


@dataclass
class Service:
    tmp: Path
    config: Path
    state_dir: Path
    repo: Path
    kotd: Path
    smtp: SmtpServer


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    kotd = tmp_path / "kotd"
    kotd.mkdir()
    build_srpm(kotd, patches=KOTD_PATCHES, series_conf=SERIES_CONF)
    server = start_nginx(kotd, tmp_path / "nginx")
    repo = tmp_path / "lucid"
    make_tree(repo, {"xen3-a.diff": PATCH_A, "xen3-b.diff": PATCH_B})
    smtp = SmtpServer()  # started by the tests that want it up
    state_dir = tmp_path / "state"
    config = write_config(
        tmp_path / "patchsync.toml",
        {
            "source": {"url": server.url, "timeout_seconds": 5, "retries": 0},
            "state": {"dir": str(state_dir)},
            "schedule": {"interval_seconds": 2, "jitter_seconds": 0},
            "target": [{"name": "lucid-ec2", "repo": str(repo), "branch": "ec2"}],
            "report": {
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "from": "patchsync@example.org",
                "to": ["kernel-team@example.org"],
            },
        },
    )
    try:
        yield Service(tmp_path, config, state_dir, repo, kotd, smtp)
    finally:
        smtp.stop()
        stop_nginx(server.process)


KOTD_PATCHES = {"xen3-a.diff": PATCH_A2, "xen3-b.diff": PATCH_B, "xen3-c.diff": PATCH_C}


def test_daemon_mails_exactly_once_per_kotd(service: Service) -> None:
    daemon = start_daemon(service.config, service.tmp / "daemon.log")
    try:
        # The SMTP server is down for the first cycle: the report waits in
        # the outbox and goes out once the server is up, exactly once.
        wait_until(lambda: _first_mail(service.state_dir) == "queued", "the first report to be queued")
        service.smtp.start()
        wait_until(lambda: _runs(service.state_dir) >= 3, "three daemon cycles")
        # A rebuilt KOTD: new release, the same tarball.  No news, no mail.
        build_srpm(service.kotd, patches=KOTD_PATCHES, series_conf=SERIES_CONF, release="0.0.4.cccc333")
        wait_until(
            lambda: _last_seen_release(service.state_dir) == "0.0.4.cccc333" and _runs(service.state_dir) >= 5,
            "the rebuilt KOTD to be seen",
        )
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()

    (got,) = service.smtp.received
    msg = got.message
    assert msg["Subject"] == "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 1 modified, 1 added"
    assert got.rcpt_tos == ["kernel-team@example.org"]
    shas = gittarget.git(service.repo, "log", "--reverse", "--format=%H %s", "ec2..patchsync/lucid-ec2").splitlines()
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert text.startswith(
        "Source:   kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n"
        f"URL:      {_url(service)}kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n"
        "Tarball:  patches.xen.tar.bz2\n"
        "SHA-256:  "
    )
    assert (
        f"lucid-ec2 (released): updated\n  repository    {service.repo}\n"
        f"  review branch refs/heads/patchsync/lucid-ec2 at {shas[-1][:12]}\n"
        f"  review with   git -C {service.repo} log -p ec2..patchsync/lucid-ec2\n"
    ) in text
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "  modified  xen3-a.diff\n  added     xen3-c.diff\n" in text
    assert "  commits:\n" + "".join(f"    {line[:12]}{line[40:]}\n" for line in shas) in text
    assert [(p.get_filename(), p.get_content_type()) for p in msg.iter_attachments()] == [
        ("xen3-a.diff.diff", "text/x-diff"),
        ("xen3-c.diff.diff", "text/x-diff"),
    ]

    history = run_patchsync(service.config, "history", "--json")
    runs = json.loads(history.stdout)["runs"]
    assert {r["trigger"] for r in runs} == {"daemon"}
    assert runs[-1]["result"] == "updated"
    assert runs[-1]["mail"] == "queued"
    assert [r["mail"] for r in runs[:-1]].count("sent") == 0
    status = json.loads(run_patchsync(service.config, "status", "--json").stdout)
    (target,) = status["targets"]
    assert (target["result"], target["review_head"]) == ("up-to-date", shas[-1][:40])
    assert status["daemon"] == {"running": False}


def test_sigterm_during_a_sync_writes_nothing_and_exits_zero(service: Service, tmp_path: Path) -> None:
    stall = tmp_path / "stalled"
    daemon = start_daemon(service.config, tmp_path / "daemon.log", stall=(stall, "before-refs"))
    try:
        wait_until(stall.exists, "the sync to reach its ref update")
        holder = (service.state_dir / "locks" / "cycle.lock").read_text()
        assert holder.startswith("pid ")
        assert holder.endswith(" daemon cycle\n")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.text()
    assert "the cycle did not stop within 7 s; killing it" in daemon.text()
    # Nothing half-written: no review branch, and a manual sync then succeeds.
    assert gittarget.git(service.repo, "for-each-ref", "--format=%(refname)", "refs/heads/patchsync") == ""
    done = run_patchsync(service.config, "sync", "--json", "--no-mail")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["targets"][0]["status"] == "updated"


def _url(service: Service) -> str:
    return configmod.load(service.config).source.url


def _last_seen_release(state_dir: Path) -> str:
    with State(state_dir) as state:
        seen = state.last_seen()
    return seen.release if seen else ""


def test_cycle_job_never_stacks_and_survives_lateness(tmp_path: Path) -> None:
    config = configmod.parse({"state": {"dir": str(tmp_path)}}, "p.toml")
    daemon = daemonmod.Daemon(config)
    scheduler = daemon.build_scheduler(daemonmod.build_trigger(config.schedule, where="p.toml"))
    (job,) = scheduler.get_jobs()
    # APScheduler's default misfire grace of 1 s would silently skip a run
    # that starts a little late.
    assert (job.id, job.coalesce, job.max_instances, job.misfire_grace_time) == ("cycle", True, 1, 3600)


def test_missed_and_skipped_runs_are_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from apscheduler.events import EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED, JobExecutionEvent, JobSubmissionEvent

    daemon = daemonmod.Daemon(configmod.parse({"state": {"dir": str(tmp_path)}}, "p.toml"))
    due = datetime(2026, 11, 23, 18, 30, tzinfo=UTC)
    daemon._on_event(JobExecutionEvent(EVENT_JOB_MISSED, "cycle", "default", due))
    daemon._on_event(JobSubmissionEvent(EVENT_JOB_MAX_INSTANCES, "cycle", "default", [due]))
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "missed the run due at 2026-11-23 18:30:00+00:00 (more than 3600 s late)",
        "skipped the run due at 2026-11-23 18:30:00+00:00: the previous cycle is still running",
    ]


def _first_mail(state_dir: Path) -> str:
    if not (state_dir / "patchsync.sqlite3").exists():
        return ""
    with State(state_dir) as state:
        runs = state.runs(limit=None)
    return runs[-1].mail if runs else ""
