"""One cycle: history, the mail and its dedup, the outbox retry, failing targets, the lock.

The targets are real git repositories compared by the real compare step;
the KOTD patch set is handed to the cycle directly (what the source step
returns for a local src.rpm), so these tests are about the cycle itself.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from patchsync import cli, cycle
from patchsync import config as configmod
from patchsync.config import Config, TargetConfig
from patchsync.errors import LockError, SourceError
from patchsync.model import PatchSet, SourceInfo
from patchsync.state import State
from patchsync.statedir import StateDir
from tests import gittarget
from tests.daemonrun import write_config
from tests.lockholder import held
from tests.smtp import SmtpServer

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = socket.gethostname()

#: The source step every cycle and check goes through; replaced by a KOTD built here.
OBTAIN = "patchsync.source.pipeline.obtain"


def make_patch(path: str, old: str, new: str, subject: str = "xen: fix") -> bytes:
    return (
        f"From: SUSE <kernel@suse.de>\nSubject: {subject}\n\n---\n"
        f"--- a/{path}\n+++ b/{path}\n@@ -1,3 +1,3 @@\n ctx1\n-{old}\n+{new}\n ctx2\n"
    ).encode()


PATCH_A = make_patch("arch/x86/a.c", "a1", "a2")
PATCH_A2 = make_patch("arch/x86/a.c", "a1", "a3")
PATCH_B = make_patch("drivers/xen/b.c", "b1", "b2")
PATCH_C = make_patch("drivers/xen/c.c", "c1", "c2")

SERIES_CONF = b"\t+xen\tpatches.xen/xen3-a.diff\n\t+xen\tpatches.xen/xen3-b.diff\n\t+xen\tpatches.xen/xen3-c.diff\n"


def kotd(release: str = "0.0.3.bbbb222", sha: str = "5" * 64) -> PatchSet:
    source = SourceInfo(
        url=f"http://127.0.0.1/src/kernel-source-2.6.32.10-{release}.src.rpm",
        file=f"kernel-source-2.6.32.10-{release}.src.rpm",
        version="2.6.32.10",
        release=release,
        tarball="patches.xen.tar.bz2",
        tarball_sha256=sha,
    )
    files = {
        "patches.xen/xen3-a.diff": PATCH_A2,
        "patches.xen/xen3-b.diff": PATCH_B,
        "patches.xen/xen3-c.diff": PATCH_C,
    }
    return PatchSet(source=source, top="patches.xen", files=files, series_conf=SERIES_CONF)


BASE_FILES = {
    "Makefile": b"all:\n",
    "arch/x86/a.c": b"ctx1\na1\nctx2\n",
    "drivers/xen/b.c": b"ctx1\nb1\nctx2\n",
    "drivers/xen/c.c": b"ctx1\nc1\nctx2\n",
}
#: What each tree patch does to the sources (the model of a target tree).
APPLIED = {
    "xen3-a.diff": {"arch/x86/a.c": b"ctx1\na2\nctx2\n"},
    "xen3-b.diff": {"drivers/xen/b.c": b"ctx1\nb2\nctx2\n"},
}


def make_tree(repo: Path, patches: dict[str, bytes]) -> str:
    """base, then one commit per patch adding the patch file and applying it."""
    gittarget.init(repo)
    head = gittarget.commit_files(repo, BASE_FILES, "base", branch="ec2")
    gittarget.git(repo, "tag", "v2.6.32", head)
    for name, data in patches.items():
        files: dict[str, bytes | None] = {f"debian.ec2/patches/{name}": data, **APPLIED[name]}
        head = gittarget.commit_files(repo, files, f"UBUNTU: [Xen] {name}", branch="ec2")
    return head


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Env:
    config: Config
    repo: Path
    smtp: SmtpServer


@pytest.fixture
def env(tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> Env:
    repo = tmp_path / "lucid"
    make_tree(repo, {"xen3-a.diff": PATCH_A, "xen3-b.diff": PATCH_B})
    path = write_config(
        tmp_path / "patchsync.toml",
        {
            "source": {"url": "http://127.0.0.1/src/"},
            "state": {"dir": str(tmp_path / "state")},
            "target": [{"name": "lucid-ec2", "repo": str(repo), "branch": "ec2"}],
            "report": {
                "smtp_host": "127.0.0.1",
                "smtp_port": smtp.port,
                "from": "patchsync@example.org",
                "to": ["kernel-team@example.org"],
            },
        },
    )
    config = configmod.load(path)
    monkeypatch.setattr(OBTAIN, lambda config, **kw: kotd())
    return Env(config, repo, smtp)


def test_check_cycle_records_the_run_and_mails_the_drift(env: Env) -> None:
    env.smtp.start()
    result = cycle.run_cycle(env.config, trigger="manual", sync=False)
    assert [(t.name, t.status) for t in result.targets] == [("lucid-ec2", "drift")]
    assert result.mail == "sent"
    assert result.exit_code == 1
    (got,) = env.smtp.received
    msg = got.message
    assert msg["Subject"] == "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 1 modified, 1 added"
    assert got.rcpt_tos == ["kernel-team@example.org"]
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "  modified  xen3-a.diff\n  added     xen3-c.diff\n" in text
    assert f"Run:      #{result.run_id} manual," in text
    attached = [(p.get_filename(), p.get_content_type(), p.get_content()) for p in msg.iter_attachments()]
    assert attached == [
        (
            "xen3-a.diff.diff",
            "text/x-diff",
            "--- a/arch/x86/a.c\n+++ b/arch/x86/a.c\n@@ -1,3 +1,3 @@\n ctx1\n-a2\n+a3\n ctx2\n",
        ),
        # An added patch has no interdiff: the patch itself is attached.
        ("xen3-c.diff.diff", "text/x-diff", PATCH_C.decode()),
    ]
    with State(env.config.state.dir) as state:
        (row,) = state.runs()
        assert (row.id, row.trigger, row.result, row.mail) == (result.run_id, "manual", "drift", "sent")
        assert state.last_seen() == kotd().source
        assert state.last_report() == (result.run_id, got.data.replace(b"\r\n", b"\n"))
        assert state.outbox()[0].message == got.data.replace(b"\r\n", b"\n")


def test_the_same_report_is_never_mailed_twice(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.smtp.start()
    assert cycle.run_cycle(env.config, trigger="manual", sync=False).mail == "sent"
    assert cycle.run_cycle(env.config, trigger="manual", sync=False).mail == "duplicate"
    # A KOTD rebuilt with a new release but the same tarball: no news.
    monkeypatch.setattr(OBTAIN, lambda *a, **kw: kotd(release="0.0.4.cccc333"))
    assert cycle.run_cycle(env.config, trigger="manual", sync=False).mail == "duplicate"
    assert len(env.smtp.received) == 1
    # A new tarball is news.
    monkeypatch.setattr(OBTAIN, lambda *a, **kw: kotd(release="0.0.5.dddd444", sha="6" * 64))
    assert cycle.run_cycle(env.config, trigger="manual", sync=False).mail == "sent"
    assert len(env.smtp.received) == 2
    first, second = (r.message for r in env.smtp.received)
    assert second["In-Reply-To"] == first["Message-ID"]


def test_mail_waits_in_the_outbox_while_smtp_is_down(env: Env) -> None:
    first = cycle.run_cycle(env.config, trigger="manual", sync=False)
    assert first.mail == "queued"
    assert env.smtp.received == []
    env.smtp.start()
    # Nothing new to report, but the queued mail goes out now, once.
    assert cycle.run_cycle(env.config, trigger="manual", sync=False).mail == "duplicate"
    assert len(env.smtp.received) == 1
    assert cycle.run_cycle(env.config, trigger="manual", sync=False).mail == "duplicate"
    assert len(env.smtp.received) == 1
    with State(env.config.state.dir) as state:
        assert state.unsent() == []


def test_nothing_to_report_sends_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.smtp.start()
    in_sync = replace(kotd(), files={"patches.xen/xen3-a.diff": PATCH_A, "patches.xen/xen3-b.diff": PATCH_B})
    monkeypatch.setattr(OBTAIN, lambda *a, **kw: in_sync)
    result = cycle.run_cycle(env.config, trigger="manual", sync=False)
    assert [t.status for t in result.targets] == ["in-sync"]
    assert (result.mail, result.exit_code) == ("quiet", 0)
    assert env.smtp.received == []


@pytest.mark.allow_error_log
def test_a_failing_target_is_reported_and_the_others_go_on(env: Env, tmp_path: Path) -> None:
    env.smtp.start()
    broken = TargetConfig(name="broken", repo=str(tmp_path / "nowhere"), branch="ec2")
    config = replace(env.config, targets=(broken, *env.config.targets))
    result = cycle.run_cycle(config, trigger="manual", sync=False)
    assert [(t.name, t.status) for t in result.targets] == [("broken", "error"), ("lucid-ec2", "drift")]
    assert str(tmp_path / "nowhere") in result.targets[0].error
    assert result.exit_code == 2
    (got,) = env.smtp.received
    assert got.message["Subject"].startswith(
        "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 1 target with drift, 1 error (broken: "
    )


@pytest.mark.allow_error_log
def test_a_failed_fetch_is_recorded_and_mailed(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.smtp.start()

    def down(*args: Any, **kw: Any) -> PatchSet:
        raise SourceError("HTTP 503 Service Unavailable", where="http://127.0.0.1/src/")

    monkeypatch.setattr(OBTAIN, down)
    result = cycle.run_cycle(env.config, trigger="daemon")
    assert (result.error, result.exit_code, result.mail) == (
        "http://127.0.0.1/src/: HTTP 503 Service Unavailable",
        2,
        "sent",
    )
    (got,) = env.smtp.received
    assert (
        got.message["Subject"]
        == "[patchsync] kernel-source: error: http://127.0.0.1/src/: HTTP 503 Service Unavailable"
    )
    with State(env.config.state.dir) as state:
        (row,) = state.runs()
        assert (row.result, row.error, row.source) == ("error", result.error, None)


def test_sync_cycle_commits_to_the_review_branch_and_mails_the_commits(env: Env) -> None:
    env.smtp.start()
    result = cycle.run_cycle(env.config, trigger="manual")
    (target,) = result.targets
    assert (target.status, result.exit_code, result.mail) == ("updated", 0, "sent")
    review = gittarget.ref(env.repo, "refs/heads/patchsync/lucid-ec2")
    assert target.head == review
    subjects = gittarget.git(env.repo, "log", "--format=%s", "ec2..patchsync/lucid-ec2").splitlines()
    assert subjects == [
        "UBUNTU: [Xen] xen3-c.diff: add from kernel-source 2.6.32.10-0.0.3.bbbb222",
        "UBUNTU: [Xen] xen3-a.diff: update from kernel-source 2.6.32.10-0.0.3.bbbb222",
    ]
    assert gittarget.git(env.repo, "show", "patchsync/lucid-ec2:arch/x86/a.c") == "ctx1\na3\nctx2\n"
    body = env.smtp.received[0].message.get_body(("plain",))
    assert body is not None
    shas = gittarget.git(env.repo, "log", "--reverse", "--format=%H", "ec2..patchsync/lucid-ec2").splitlines()
    assert (
        "  commits:\n"
        f"    {shas[0][:12]} UBUNTU: [Xen] xen3-a.diff: update from kernel-source 2.6.32.10-0.0.3.bbbb222\n"
        f"    {shas[1][:12]} UBUNTU: [Xen] xen3-c.diff: add from kernel-source 2.6.32.10-0.0.3.bbbb222\n"
    ) in body.get_content()
    with State(env.config.state.dir) as state:
        assert state.last_synced() == kotd().source

    # The same KOTD again: nothing to write, nothing to mail.
    again = cycle.run_cycle(env.config, trigger="manual")
    assert [(t.status, t.head) for t in again.targets] == [("up-to-date", review)]
    assert (again.mail, again.exit_code) == ("quiet", 0)
    assert len(env.smtp.received) == 1


def test_a_cycle_keeps_its_state_in_the_database_it_is_given(env: Env, database: str) -> None:
    """The same cycle on either backend; with PostgreSQL, state.dir keeps no history."""
    config = replace(env.config, state=replace(env.config.state, database=database))
    env.smtp.start()
    first = cycle.run_cycle(config, trigger="daemon")
    again = cycle.run_cycle(config, trigger="daemon")
    assert [(r.result, r.mail) for r in (first, again)] == [("updated", "sent"), ("up-to-date", "quiet")]
    assert len(env.smtp.received) == 1
    review = gittarget.ref(env.repo, "refs/heads/patchsync/lucid-ec2")
    with State(config.state.dir, database) as state:
        assert [(r.id, r.result, r.host) for r in state.runs()] == [
            (again.run_id, "up-to-date", socket.gethostname()),
            (first.run_id, "updated", socket.gethostname()),
        ]
        assert state.last_synced() == kotd().source
        written = state.written("lucid-ec2")
        assert written is not None
        assert (written.sha, written.ref, written.source_file) == (
            review,
            "refs/heads/patchsync/lucid-ec2",
            kotd().source.file,
        )
        assert [m.sent is not None for m in state.outbox()] == [True]
    assert (Path(config.state.dir) / "patchsync.sqlite3").exists() == (not database)


def test_a_sync_cycle_parses_each_patch_once(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Compare and sync of both modes share the parses: a patch is parsed once per cycle.

    Two targets carry the same patches, so each KOTD patch is compared
    twice and applied twice (the modified one reverted too), in released
    and in development mode; every distinct patch must be parsed once.
    """
    from patchsync.patches import parse

    other = tmp_path / "maverick"
    make_tree(other, {"xen3-a.diff": PATCH_A, "xen3-b.diff": PATCH_B})
    second = replace(env.config.targets[0], name="maverick-ec2", repo=str(other), mode="development", base="v2.6.32")
    config = replace(env.config, targets=(env.config.targets[0], second), report=None)
    parsed: list[bytes] = []

    def counting(data: bytes, where: str) -> parse.ParsedPatch:
        parsed.append(data)
        return real(data, where)

    real = parse._parse
    monkeypatch.setattr(parse, "_parse", counting)
    result = cycle.run_cycle(config, trigger="manual")

    assert [(t.name, t.status) for t in result.targets] == [("lucid-ec2", "updated"), ("maverick-ec2", "updated")]
    assert sorted(parsed) == sorted({PATCH_A, PATCH_A2, PATCH_C})
    for repo in (env.repo, other):
        assert gittarget.git(repo, "show", "patchsync/" + repo.name + "-ec2:arch/x86/a.c") == "ctx1\na3\nctx2\n"
        assert gittarget.git(repo, "show", "patchsync/" + repo.name + "-ec2:drivers/xen/c.c") == "ctx1\nc2\nctx2\n"


def test_a_kotd_rebuilt_with_the_same_tarball_changes_nothing(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env.smtp.start()
    assert cycle.run_cycle(env.config, trigger="manual").mail == "sent"
    review = gittarget.ref(env.repo, "refs/heads/patchsync/lucid-ec2")
    monkeypatch.setattr(OBTAIN, lambda *a, **kw: kotd(release="0.0.4.cccc333"))
    rebuilt = cycle.run_cycle(env.config, trigger="manual")
    # The review branch is not rewritten just to name the new release.
    assert [(t.status, t.head) for t in rebuilt.targets] == [("up-to-date", review)]
    assert rebuilt.mail == "quiet"
    assert len(env.smtp.received) == 1


def test_dry_run_writes_and_mails_nothing(env: Env) -> None:
    env.smtp.start()
    dry = cycle.run_cycle(env.config, trigger="manual", dry_run=True)
    assert (dry.dry_run, dry.mail, [t.status for t in dry.targets]) == (True, "disabled", ["updated"])
    assert gittarget.git(env.repo, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/ec2",
        "refs/tags/v2.6.32",
    ]
    assert env.smtp.received == []
    with State(env.config.state.dir) as state:
        assert state.last_synced() is None


def test_a_second_cycle_waits_then_names_the_holder(env: Env) -> None:
    path = StateDir(env.config.state.dir).cycle_lock
    with held(path, "daemon cycle") as holder:
        with pytest.raises(LockError) as info:
            cycle.run_cycle(env.config, trigger="manual", sync=False, lock_wait=0.3)
        assert str(info.value) == f"{path}: held by pid {holder.pid} daemon cycle; waited 0.3 s"
    with State(env.config.state.dir) as state:
        assert state.runs() == []


def test_stop_flag_stops_between_targets(env: Env) -> None:
    with pytest.raises(cycle.Stopped, match="stopped before target 'lucid-ec2'"):
        cycle.run_cycle(env.config, trigger="daemon", sync=False, stop=lambda: True)
    with State(env.config.state.dir) as state:
        (row,) = state.runs()
        assert (row.result, row.error) == ("stopped", "stopped before target 'lucid-ec2'")
    assert env.smtp.received == []


def test_housekeeping_keeps_the_newest_srpms_and_nothing_else(tmp_path: Path) -> None:
    from patchsync.statedir import prune_srpms

    srpms = tmp_path / "srpms"
    srpms.mkdir()
    for i, name in enumerate(["k-1.src.rpm", "k-2.src.rpm", "k-3.src.rpm", "notes.txt", "k-0.src.rpm.part"]):
        (srpms / name).write_bytes(b"x")
        os.utime(srpms / name, ns=(i * 10**9, i * 10**9))
    assert prune_srpms(srpms, 2) == [srpms / "k-1.src.rpm"]
    assert sorted(p.name for p in srpms.iterdir()) == ["k-0.src.rpm.part", "k-2.src.rpm", "k-3.src.rpm", "notes.txt"]
    assert prune_srpms(tmp_path / "missing", 2) == []


def test_history_status_and_report_commands(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.smtp.start()
    first = cycle.run_cycle(env.config, trigger="manual")
    second = cycle.run_cycle(env.config, trigger="daemon")
    capsys.readouterr()

    assert cli.main(["--config", env.config.path, "history", "--limit", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    with State(env.config.state.dir) as state:
        newest, oldest = state.runs()
    assert out == [
        f"#{second.run_id:<4} {newest.started.replace('T', ' ')[:19]}  {HOST}  daemon   up-to-date "
        "2.6.32.10-0.0.3.bbbb222  lucid-ec2 up-to-date  [mail quiet]",
        f"#{first.run_id:<4} {oldest.started.replace('T', ' ')[:19]}  {HOST}  manual   updated    "
        "2.6.32.10-0.0.3.bbbb222  lucid-ec2 updated (2 commits)  [mail sent]",
    ]
    assert cli.main(["--config", env.config.path, "history", "--json", "--limit", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data["runs"]] == [second.run_id]
    assert data["runs"][0]["targets"][0]["status"] == "up-to-date"
    assert data["runs"][0]["source"] == kotd().source.to_json()

    head = gittarget.ref(env.repo, "refs/heads/patchsync/lucid-ec2")
    assert cli.main(["--config", env.config.path, "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["daemon"] == {"running": False}
    assert status["cycle_lock"] is None
    assert status["last_seen"] == kotd().source.to_json()
    assert status["outbox_unsent"] == 0
    assert status["sources"] == [
        {"name": "default", "last_seen": kotd().source.to_json(), "last_synced": kotd().source.to_json()}
    ]
    assert status["targets"] == [
        {
            "name": "lucid-ec2",
            "mode": "released",
            "source": "default",
            "review_branch": "refs/heads/patchsync/lucid-ec2",
            "review_head": head,
            "last_run": {"id": second.run_id, "started": newest.started, "trigger": "daemon", "host": HOST},
            "result": "up-to-date",
            "error": None,
        }
    ]
    assert cli.main(["--config", env.config.path, "status"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == "cycle lock: free"
    assert lines[-1] == (
        f"lucid-ec2 (released): up-to-date, last run #{second.run_id} {newest.started.replace('T', ' ')[:19]}"
        f" on {HOST}, "
        f"refs/heads/patchsync/lucid-ec2 at {head[:12]}"
    )

    # `report` prints the last report as mailed (the second cycle had
    # nothing to say); --send --to mails it again.
    assert cli.main(["--config", env.config.path, "report"]) == 0
    (mailed,) = env.smtp.received
    assert capsys.readouterr().out == mailed.data.replace(b"\r\n", b"\n").decode()
    assert cli.main(["--config", env.config.path, "report", "--send", "--to", "me@example.org"]) == 0
    assert capsys.readouterr().out == (
        f"sent the report of run #{first.run_id} ({mailed.message['Subject']}) to me@example.org\n"
    )
    resent = env.smtp.received[-1]
    assert resent.rcpt_tos == ["me@example.org"]
    assert resent.message["To"] == "me@example.org"
    assert resent.message["Message-ID"] == mailed.message["Message-ID"]


@pytest.fixture
def sync_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """``patchsync sync`` gets its KOTD through the cycle's source step."""
    monkeypatch.setattr(OBTAIN, lambda *a, **kw: kotd())
    return env


def test_sync_command_is_a_cycle_with_history_and_mail(sync_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env = sync_env
    env.smtp.start()
    assert cli.main(["--config", env.config.path, "sync", "--json", "--no-mail"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [t["status"] for t in doc["targets"]] == ["updated"]
    assert env.smtp.received == []
    with State(env.config.state.dir) as state:
        (row,) = state.runs()
        assert (row.trigger, row.result, row.mail) == ("manual", "updated", "disabled")
        assert row.targets[0].head == doc["targets"][0]["head"]


def test_sync_command_mails_once(sync_env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env = sync_env
    env.smtp.start()
    assert cli.main(["--config", env.config.path, "sync"]) == 0
    assert cli.main(["--config", env.config.path, "sync"]) == 0
    (got,) = env.smtp.received
    assert got.message["Subject"] == "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 1 modified, 1 added"
    assert capsys.readouterr().out.splitlines()[-1] == (
        f"lucid-ec2 (released): up to date at {gittarget.git(env.repo, 'rev-parse', 'patchsync/lucid-ec2')[:12]}"
    )


@pytest.mark.allow_error_log
def test_sync_command_fetch_failure_is_one_line_and_recorded(
    sync_env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def down(*args: Any, **kw: Any) -> PatchSet:
        raise SourceError("HTTP 503 Service Unavailable", where="http://127.0.0.1/src/")

    monkeypatch.setattr(OBTAIN, down)
    assert cli.main(["--config", sync_env.config.path, "sync", "--no-mail"]) == 2
    out, err = capsys.readouterr()
    assert (out, err.splitlines()[-1]) == ("", "patchsync: error: http://127.0.0.1/src/: HTTP 503 Service Unavailable")
    with State(sync_env.config.state.dir) as state:
        (row,) = state.runs()
        assert (row.result, row.error) == ("error", "http://127.0.0.1/src/: HTTP 503 Service Unavailable")


def test_sync_command_against_a_running_cycle(
    sync_env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = StateDir(sync_env.config.state.dir).cycle_lock
    monkeypatch.setattr(cycle, "CYCLE_LOCK_WAIT", 0.3)
    with held(path, "daemon cycle") as holder:
        assert cli.main(["--config", sync_env.config.path, "sync"]) == 2
    assert capsys.readouterr().err == (
        f"patchsync: error: {path}: held by pid {holder.pid} daemon cycle; waited 0.3 s\n"
    )
    assert gittarget.git(sync_env.repo, "for-each-ref", "--format=%(refname)").split() == [
        "refs/heads/ec2",
        "refs/tags/v2.6.32",
    ]


def test_check_command_shares_the_cycle_lock(
    sync_env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = StateDir(sync_env.config.state.dir).cycle_lock
    monkeypatch.setattr(cycle, "CYCLE_LOCK_WAIT", 0.3)
    with held(path, "daemon cycle") as holder:
        assert cli.main(["--config", sync_env.config.path, "check"]) == 2
    assert capsys.readouterr().err == f"patchsync: error: {path}: held by pid {holder.pid} daemon cycle; waited 0.3 s\n"
    # Free again: check runs.
    assert cli.main(["--config", sync_env.config.path, "check"]) == 1
