"""Two daemons as a pair: one bare server repository, two clones, two state folders, one database.

Each "machine" is a real ``patchsync daemon`` process with its own
``state.dir`` and its own clone of the team's server; they share the
PostgreSQL database, the KOTD mirror (nginx) and the SMTP server.  What a
team checks is read from the server and the mailbox.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import gittarget
from tests.daemonrun import Daemon, run_patchsync, start_daemon, wait_until, write_config
from tests.rpmbuild import build_srpm
from tests.servers import start_nginx
from tests.servers import stop as stop_nginx
from tests.smtp import SmtpServer
from tests.test_cycle import BASE_FILES, PATCH_A, PATCH_A2, PATCH_B, PATCH_C, SERIES_CONF, make_tree

REVIEW = "refs/heads/patchsync/lucid-ec2"
KOTD_PATCHES = {"xen3-a.diff": PATCH_A2, "xen3-b.diff": PATCH_B, "xen3-c.diff": PATCH_C}
#: Generous: each cycle builds on a loaded machine, and a take-over waits a tick or two.
LONG = 90.0


def git(repo: Path, *args: str) -> str:
    return gittarget.git(repo, *args).strip()


@dataclass
class Pair:
    tmp: Path
    server: Path
    configs: tuple[Path, Path]
    smtp: SmtpServer

    def start(self, i: int) -> Daemon:
        return start_daemon(self.configs[i], self.tmp / f"daemon-{i}.log", new_session=True)

    def history(self) -> list[dict[str, Any]]:
        done = run_patchsync(self.configs[0], "history", "--json", "--limit", "100")
        assert done.returncode == 0, done.stderr
        runs: list[dict[str, Any]] = json.loads(done.stdout)["runs"]
        return runs

    def finished(self) -> list[dict[str, Any]]:
        return [r for r in self.history() if r["finished"]]


@pytest.fixture
def pair(tmp_path: Path, pg_url: str) -> Iterator[Pair]:
    kotd = tmp_path / "kotd"
    kotd.mkdir()
    build_srpm(kotd, patches=KOTD_PATCHES, series_conf=SERIES_CONF)
    nginx = start_nginx(kotd, tmp_path / "nginx")
    work = tmp_path / "maintainer"
    make_tree(work, {"xen3-a.diff": PATCH_A, "xen3-b.diff": PATCH_B})
    server = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(work), str(server))
    smtp = SmtpServer()
    smtp.start()
    configs = []
    for name in ("a", "b"):
        clone = tmp_path / f"machine-{name}" / "lucid"
        git(tmp_path, "clone", "-q", "-b", "ec2", str(server), str(clone))
        configs.append(
            write_config(
                tmp_path / f"machine-{name}" / "patchsync.toml",
                {
                    "source": {"url": nginx.url, "timeout_seconds": 5, "retries": 0},
                    "state": {"dir": str(tmp_path / f"machine-{name}" / "state"), "database": pg_url},
                    "schedule": {"interval_seconds": 2, "jitter_seconds": 0},
                    "target": [
                        {
                            "name": "lucid-ec2",
                            "repo": str(clone),
                            "branch": "ec2",
                            "base": "v2.6.32",
                            "remote": "origin",
                        }
                    ],
                    "report": {
                        "smtp_host": "127.0.0.1",
                        "smtp_port": smtp.port,
                        "from": "patchsync@example.org",
                        "to": ["kernel-team@example.org"],
                    },
                },
            )
        )
    try:
        yield Pair(tmp_path, server, (configs[0], configs[1]), smtp)
    finally:
        smtp.stop()
        stop_nginx(nginx.process)


def expected_tree(scratch: Path) -> str:
    """base + the KOTD series applied in order + the KOTD patch files (the model of a target tree)."""
    gittarget.init(scratch)
    files: dict[str, bytes | None] = {
        **BASE_FILES,
        "arch/x86/a.c": b"ctx1\na3\nctx2\n",
        "drivers/xen/b.c": b"ctx1\nb2\nctx2\n",
        "drivers/xen/c.c": b"ctx1\nc2\nctx2\n",
        **{f"debian.ec2/patches/{name}": data for name, data in KOTD_PATCHES.items()},
    }
    commit = gittarget.commit_files(scratch, files, "expected")
    return git(scratch, "rev-parse", f"{commit}^{{tree}}")


def assert_converged(pair: Pair) -> None:
    """The server's review branch holds the expected tree, in one commit per patch change, mailed once."""
    server = pair.server
    assert git(server, "rev-parse", f"{REVIEW}^{{tree}}") == expected_tree(pair.tmp / "oracle")
    subjects = git(server, "log", "--reverse", "--format=%s", f"refs/heads/ec2..{REVIEW}").splitlines()
    assert subjects == [
        "UBUNTU: [Xen] xen3-a.diff: update from kernel-source 2.6.32.10-0.0.3.bbbb222",
        "UBUNTU: [Xen] xen3-c.diff: add from kernel-source 2.6.32.10-0.0.3.bbbb222",
    ]
    (mail,) = pair.smtp.received
    assert mail.message["Subject"] == "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 1 modified, 1 added"
    updated = [r for r in pair.finished() if r["result"] == "updated"]
    assert len(updated) == 1, pair.history()
    assert updated[0]["mail"] == "sent"


def test_a_new_kotd_gives_one_syncing_cycle_and_one_mail(pair: Pair) -> None:
    daemons = [pair.start(0), pair.start(1)]
    try:
        # Both tick every 2 s: several cycles each, one at a time.
        wait_until(lambda: len(pair.finished()) >= 4, "four finished cycles of the pair", LONG)
    finally:
        codes = [d.stop() for d in daemons]
    assert codes == [0, 0], [d.text() for d in daemons]
    assert_converged(pair)
    # The cycles never overlapped: each started after the one before finished.
    runs = sorted(pair.finished(), key=lambda r: r["id"])
    for before, after in itertools.pairwise(runs):
        assert before["finished"] <= after["started"], runs
    assert {r["host"] for r in runs} == {os.uname().nodename}


def test_the_other_machine_takes_over_from_one_killed_mid_cycle(pair: Pair) -> None:
    # The first push to the server hangs (a slow server-side hook), so the
    # lock holder is caught mid-cycle: review branch written locally, not
    # pushed, no mail queued.
    reached = pair.tmp / "push-reached"
    hook = pair.server / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nif [ ! -e {reached} ]; then touch {reached}; while :; do sleep 1; done; fi\nexit 0\n")
    hook.chmod(0o755)
    daemons = [pair.start(0), pair.start(1)]
    try:
        wait_until(reached.exists, "a daemon to reach its push", LONG)
        status = run_patchsync(pair.configs[0], "status", "--json")
        holder = json.loads(status.stdout)["cycle_lock"]
        assert holder is not None, status.stdout
        assert holder.split()[2:4] == ["daemon", "cycle"], holder
        pid = int(holder.split()[1])
        (victim,) = [d for d in daemons if os.getpgid(pid) == d.proc.pid]
        # The machine dies: daemon, cycle and its git push at once.
        os.killpg(victim.proc.pid, signal.SIGKILL)
        victim.proc.wait(10)
        (survivor,) = [d for d in daemons if d is not victim]
        wait_until(lambda: any(r["result"] == "updated" for r in pair.finished()), "the survivor to sync", LONG)
        wait_until(lambda: len(pair.smtp.received) >= 1, "the report", LONG)
        # A few more ticks: nothing more is written or mailed.
        count = len(pair.finished())
        wait_until(lambda: len(pair.finished()) >= count + 2, "two more cycles of the survivor", LONG)
    finally:
        for d in daemons:
            if d.proc.poll() is None:
                d.stop()
    assert survivor.proc.returncode == 0, survivor.text()
    assert_converged(pair)
    # The survivor's next cycle found the killed one unfinished and said so.
    killed = [r for r in pair.history() if not r["finished"]]
    assert [r["result"] for r in killed] == ["error"], killed
    assert re.fullmatch(r"killed before it finished \(found when cycle #\d+ started\)", killed[0]["error"]), killed
