"""The review workflow, visible: check after a sync says the update waits on the review branch."""

from __future__ import annotations

import email
import email.policy
import json
import mailbox
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest

from patchsync import cli

from .gittarget import git, patchset
from .syncscenario import KOTD_ORDER, KOTD_PATCHES, Scenario, build
from .test_sync_command import use_patchset, write_config

REVIEW = "patchsync/lucid-ec2"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def check(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, list[str], dict[str, object]]:
    code, out, _ = run_cli(capsys, "--config", str(config), "check")
    json_code, json_out, _ = run_cli(capsys, "--config", str(config), "check", "--json")
    assert json_code == code
    (target,) = json.loads(json_out)["targets"]
    return code, out.splitlines(), target["review_branch"]


@pytest.mark.parametrize("mode", ["released", "development"])
def test_check_reports_the_pending_review_branch(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc: Scenario = build(tmp_path, mode)
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)

    code, lines, review = check(capsys, config)
    assert code == 1
    assert not any(line.startswith("pending review") for line in lines)
    assert review == {"name": REVIEW, "head": None, "commits": 0, "pending": False}

    assert run_cli(capsys, "--config", str(config), "sync", "--no-mail")[0] == 0
    head = git(sc.repo, "rev-parse", f"refs/heads/{REVIEW}").strip()
    count = int(git(sc.repo, "rev-list", "--count", f"ec2..{REVIEW}"))
    assert count > 0
    code, lines, review = check(capsys, config)
    assert code == 1  # still drift: the branch itself has not moved
    assert lines[1].startswith("lucid-ec2: drift: ")
    assert lines[2] == f"pending review: {count} commits on {REVIEW}"
    assert review == {"name": REVIEW, "head": head, "commits": count, "pending": True}

    # A newer KOTD (another tarball): the review branch holds an older update.
    newer = patchset(KOTD_PATCHES, KOTD_ORDER, sha="cd" * 32)
    use_patchset(monkeypatch, replace(newer, source=replace(newer.source, release="0.0.4")))
    code, lines, review = check(capsys, config)
    assert code == 1
    assert review == {"name": REVIEW, "head": head, "commits": count, "pending": False}
    assert not any(line.startswith("pending review") for line in lines)

    # Accepted: the branch is the review head, nothing is pending.
    use_patchset(monkeypatch, sc.patchset)
    git(sc.repo, "update-ref", "refs/heads/ec2", head)
    code, lines, review = check(capsys, config)
    assert code == 0
    assert review == {"name": REVIEW, "head": head, "commits": 0, "pending": False}


def test_released_review_branch_under_a_moved_branch_is_not_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, "released")
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)
    assert run_cli(capsys, "--config", str(config), "sync", "--no-mail")[0] == 0
    # Someone committed on ec2 since: the next sync writes the review branch anew.
    tree = git(sc.repo, "rev-parse", "ec2^{tree}").strip()
    moved = git(sc.repo, "commit-tree", tree, "-p", "ec2", "-m", "UBUNTU: SAUCE: later").strip()
    git(sc.repo, "update-ref", "refs/heads/ec2", moved)
    code, lines, review = check(capsys, config)
    assert code == 1
    assert review["pending"] is False
    assert not any(line.startswith("pending review") for line in lines)


def test_history_marks_dry_runs_and_status_ignores_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, "released")
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)

    def status() -> dict[str, object]:
        code, out, _ = run_cli(capsys, "--config", str(config), "status", "--json")
        assert code == 0
        (target,) = json.loads(out)["targets"]
        return {k: target[k] for k in ("last_run", "result")}

    assert run_cli(capsys, "--config", str(config), "sync", "--dry-run", "--no-mail")[0] == 0
    assert status() == {"last_run": None, "result": None}
    assert run_cli(capsys, "--config", str(config), "sync", "--no-mail")[0] == 0
    real = status()
    assert real["result"] == "updated"
    assert run_cli(capsys, "--config", str(config), "sync", "--dry-run", "--no-mail")[0] == 0
    assert status() == real

    code, out, _ = run_cli(capsys, "--config", str(config), "history")
    assert code == 0
    newest, middle, oldest = out.splitlines()
    assert "[dry run]" in newest
    assert "[dry run]" not in middle
    assert "[dry run]" in oldest
    assert " updated " in middle


def test_report_mbox_is_a_mailbox_mail_readers_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, "released")
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)
    assert run_cli(capsys, "--config", str(config), "sync", "--no-mail")[0] == 0
    box_path = tmp_path / "reports.mbox"
    for _ in range(2):
        code, out, err = run_cli(capsys, "--config", str(config), "report", "--mbox", str(box_path))
        assert (code, err) == (0, "")
        assert out == f"added the report of run #1 to {box_path}\n"

    box = mailbox.mbox(str(box_path), create=False)
    messages = [email.message_from_bytes(box.get_bytes(key), policy=email.policy.default) for key in box.iterkeys()]
    assert len(messages) == 2  # appended, as mbox files are
    msg = messages[0]
    assert isinstance(msg, EmailMessage)
    assert msg["Subject"].startswith("[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: ")
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert f"  repository    {sc.repo}\n" in content
    assert f"  review with   git -C {sc.repo} log -p ec2..patchsync/lucid-ec2\n" in content
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert "xen3-p04.diff.diff" in names
    assert len(names) == len(set(names))
