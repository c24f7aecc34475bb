"""``[[target]] remote``: fetch the team's server before compare, push the review branch with a lease.

A bare "server" repository, a maintainer's clone that pushes to it, and
the service machine's own clone that patchsync works in; every assertion
reads the server, as the team would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from patchsync import cli, cycle
from patchsync import config as configmod
from patchsync.config import Config
from patchsync.errors import ConfigError
from patchsync.model import PatchSet
from patchsync.state import State
from tests import gittarget
from tests.daemonrun import write_config
from tests.test_cycle import OBTAIN, PATCH_A, PATCH_A2, PATCH_B, kotd, make_patch, make_tree

REVIEW = "refs/heads/patchsync/lucid-ec2"


def git(repo: Path, *args: str) -> str:
    return gittarget.git(repo, *args).strip()


def server_ref(server: Path, ref: str) -> str | None:
    out = git(server, "for-each-ref", "--format=%(objectname)", ref)
    return out or None


@dataclass
class Team:
    server: Path
    maintainer: Path
    service: Path
    config: Config
    tmp: Path

    def configure(self, **target: Any) -> Config:
        tables: dict[str, Any] = {
            "source": {"url": "http://127.0.0.1/src/"},
            "state": {"dir": str(self.tmp / "state")},
            "target": [{"name": "lucid-ec2", "repo": str(self.service), "branch": "ec2", **target}],
        }
        self.config = configmod.load(write_config(self.tmp / "patchsync.toml", tables))
        return self.config

    def maintainer_pushes(self, files: dict[str, bytes | None], message: str) -> str:
        sha = gittarget.commit_files(self.maintainer, files, message, branch="ec2")
        git(self.maintainer, "push", "-q", "origin", "ec2")
        return sha

    def run(self, patchset: PatchSet | None = None) -> cycle.CycleResult:
        got = patchset or kotd()
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(OBTAIN, lambda config, **kw: got)
            return cycle.run_cycle(self.config, trigger="manual", mail=False)


@pytest.fixture
def team(tmp_path: Path) -> Team:
    maintainer = tmp_path / "maintainer"
    make_tree(maintainer, {"xen3-a.diff": PATCH_A, "xen3-b.diff": PATCH_B})
    server = tmp_path / "server.git"
    git(tmp_path, "clone", "-q", "--bare", str(maintainer), str(server))
    git(maintainer, "remote", "add", "origin", str(server))
    service = tmp_path / "service"
    # The service machine's clone has the branch checked out, as a
    # maintainer would leave it: patchsync must not move it.
    git(tmp_path, "clone", "-q", "-b", "ec2", str(server), str(service))
    t = Team(server, maintainer, service, configmod.parse({}, "x"), tmp_path)
    t.configure(remote="origin", base="v2.6.32")
    return t


def _local_refs(repo: Path) -> str:
    return git(repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/heads/", "refs/tags/")


def test_the_review_branch_is_based_on_what_the_maintainer_pushed(
    team: Team, capsys: pytest.CaptureFixture[str]
) -> None:
    first = team.run()
    assert [(t.status, t.pushed) for t in first.targets] == [("updated", True)]
    review = server_ref(team.server, REVIEW)
    assert review == first.targets[0].head
    # A maintainer pushes to the branch on the server, from elsewhere.
    local_before = _local_refs(team.service)
    index_before = (team.service / ".git" / "index").read_bytes()
    pushed = team.maintainer_pushes({"debian.ec2/config": b"CONFIG_XEN=y\n"}, "UBUNTU: enable XEN")
    second = team.run()
    (target,) = second.targets
    assert (target.status, target.pushed) == ("updated", True)
    review = server_ref(team.server, REVIEW)
    assert review == target.head
    # On top of the pushed commit: the maintainer's change, then the KOTD's.
    assert git(team.server, "merge-base", "--is-ancestor", pushed, REVIEW) == ""
    assert git(team.server, "rev-parse", f"{REVIEW}~2") == pushed
    assert git(team.server, "show", f"{REVIEW}:debian.ec2/config") == "CONFIG_XEN=y"
    assert git(team.server, "show", f"{REVIEW}:arch/x86/a.c") == "ctx1\na3\nctx2"
    # The fetch went to refs/remotes only; the service clone's own branches
    # moved no further than the review branch patchsync writes.
    local_after = _local_refs(team.service)
    assert [line for line in local_after.splitlines() if REVIEW not in line] == [
        line for line in local_before.splitlines() if REVIEW not in line
    ]
    assert git(team.service, "rev-parse", "refs/remotes/origin/ec2") == pushed
    assert git(team.service, "status", "--porcelain") == ""
    assert (team.service / ".git" / "index").read_bytes() == index_before
    assert git(team.service, "rev-parse", "refs/heads/ec2") != pushed
    assert git(team.server, "rev-parse", "refs/heads/ec2") == pushed
    with State(team.config.state.dir) as state:
        written = state.written("lucid-ec2")
        assert written is not None
        assert written.sha == review
    # status shows the server's review branch as last fetched or pushed.
    capsys.readouterr()
    assert cli.main(["--config", team.config.path, "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["targets"][0]["review_head"] == review


@pytest.mark.allow_error_log
def test_a_review_branch_someone_moved_on_the_server_is_an_error_never_overwritten(team: Team) -> None:
    team.run()
    # A reviewer pushes a fixup to the review branch on the server.
    git(team.maintainer, "fetch", "-q", "origin", f"{REVIEW}:{REVIEW}")
    fixup = gittarget.commit_files(team.maintainer, {"NOTES": b"reviewed\n"}, "fixup", branch="patchsync/lucid-ec2")
    git(team.maintainer, "push", "-q", "origin", f"{fixup}:{REVIEW}")
    newer = replace(kotd(), source=replace(kotd().source, tarball_sha256="6" * 64))
    again = team.run(
        replace(newer, files={**newer.files, "patches.xen/xen3-b.diff": make_patch("drivers/xen/b.c", "b1", "b3")})
    )
    (target,) = again.targets
    assert target.status == "error"
    assert again.exit_code == 2
    assert target.error == (
        f"{team.service}: {REVIEW} has commits patchsync did not write (head {fixup[:12]}); "
        "rename or delete it to let sync write there"
    )
    assert server_ref(team.server, REVIEW) == fixup


def _meanwhile(team: Team, ref: str, sha: str) -> None:
    """Someone sets ``ref`` on the server to ``sha`` right after patchsync writes its review branch locally.

    A one-shot reference-transaction hook in the service clone: a real
    race between our fetch and our push, made deterministic.
    """
    hooks = team.service / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    marker = team.tmp / "raced"
    hook = hooks / "reference-transaction"
    hook.write_text(
        "#!/bin/sh\n"
        '[ "$1" = committed ] || exit 0\n'
        f"[ -e {marker} ] && exit 0\n"
        f"grep -q ' {REVIEW}$' || exit 0\n"
        f"touch {marker}\n"
        f"git --git-dir={team.server} update-ref {ref} {sha}\n"
    )
    hook.chmod(0o755)


@pytest.mark.allow_error_log
def test_a_push_the_lease_refuses_is_an_error_and_nothing_is_forced(team: Team) -> None:
    theirs = git(team.server, "rev-parse", "refs/heads/ec2")
    _meanwhile(team, REVIEW, theirs)
    result = team.run()
    (target,) = result.targets
    assert target.status == "error"
    assert result.exit_code == 2
    assert target.error == f"{team.service}: push of {REVIEW} to origin refused: stale info"
    assert not target.pushed
    assert server_ref(team.server, REVIEW) == theirs
    with State(team.config.state.dir) as state:
        assert state.written("lucid-ec2") is None


@pytest.mark.allow_error_log
def test_a_fetch_that_fails_is_that_targets_error_and_the_others_go_on(team: Team) -> None:
    good = team.config.targets[0]
    broken = replace(good, name="broken", remote="nowhere", push_remote="nowhere")
    team.config = replace(team.config, targets=(broken, good))
    result = team.run()
    assert [(t.name, t.status) for t in result.targets] == [("broken", "error"), ("lucid-ec2", "updated")]
    assert result.targets[0].error.startswith(f"{team.service}: cannot reach remote nowhere: ")
    assert result.exit_code == 2
    assert server_ref(team.server, REVIEW) == result.targets[1].head


def test_update_branch_pushes_the_branch_only_as_a_fast_forward(team: Team) -> None:
    team.configure(remote="origin", base="v2.6.32", update_branch=True)
    before = _local_refs(team.service)
    result = team.run()
    (target,) = result.targets
    assert (target.status, target.branch_updated) == ("updated", True)
    assert server_ref(team.server, "refs/heads/ec2") == target.head
    assert server_ref(team.server, REVIEW) == target.head
    # The service clone's own branches are the team's, not patchsync's.
    assert [line for line in _local_refs(team.service).splitlines() if REVIEW not in line] == [
        line for line in before.splitlines() if REVIEW not in line
    ]


@pytest.mark.allow_error_log
def test_update_branch_never_forces_the_server_branch(team: Team) -> None:
    team.configure(remote="origin", base="v2.6.32", update_branch=True)
    # The maintainer pushes to the branch while the cycle runs.
    theirs = gittarget.commit_files(team.maintainer, {"NOTES": b"mine\n"}, "maintainer's", branch="ec2")
    git(team.maintainer, "push", "-q", "origin", "ec2:refs/heads/incoming")
    _meanwhile(team, "refs/heads/ec2", theirs)
    result = team.run()
    (target,) = result.targets
    assert target.status == "error"
    assert target.error == f"{team.service}: push of refs/heads/ec2 to origin refused: fetch first"
    assert not target.branch_updated
    # The maintainer's commit stays; the review branch (pushed first) waits for review.
    assert server_ref(team.server, "refs/heads/ec2") == theirs
    assert server_ref(team.server, REVIEW) == target.head


@pytest.mark.parametrize(
    ("target", "message"),
    [
        (
            {"remote": "origin", "push_remote": "backup"},
            "'target[0].push_remote' is the old name of 'target[0].remote'",
        ),
        ({"remote": "a/b"}, "'target[0].remote' 'a/b' is not a remote name"),
        (
            {"remote": "origin", "mode": "development", "base": "v1", "update_branch": True},
            "'target[0].update_branch' would rewrite the server's branch in development mode",
        ),
    ],
)
def test_bad_remote_settings_are_refused(tmp_path: Path, target: dict[str, Any], message: str) -> None:
    path = write_config(tmp_path / "p.toml", {"target": [{"name": "t", "repo": "r", "branch": "b", **target}]})
    with pytest.raises(ConfigError) as info:
        configmod.load(path)
    assert message in str(info.value)


def test_push_remote_is_the_old_name_of_remote(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "p.toml", {"target": [{"name": "t", "repo": "r", "branch": "b", "push_remote": "o"}]}
    )
    (target,) = configmod.load(path).targets
    assert (target.remote, target.push_remote, target.branch_ref) == ("o", "o", "refs/remotes/o/b")
    assert json.dumps(target.review_ref) == '"refs/heads/patchsync/t"'


def test_check_compares_against_the_server_branch(
    team: Team, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # On the server, a maintainer already took the KOTD's xen3-a.diff.
    team.maintainer_pushes(
        {"debian.ec2/patches/xen3-a.diff": PATCH_A2, "arch/x86/a.c": b"ctx1\na3\nctx2\n"}, "UBUNTU: [Xen] update a"
    )
    monkeypatch.setattr(OBTAIN, lambda config, **kw: kotd())
    assert cli.main(["--config", team.config.path, "check", "--json"]) == 1
    (target,) = json.loads(capsys.readouterr().out)["targets"]
    changed = [(p["name"], p["status"]) for p in target["patches"] if p["status"] != "unchanged"]
    assert changed == [("xen3-c.diff", "added")]


def test_doctor_asks_the_server(team: Team, capsys: pytest.CaptureFixture[str]) -> None:
    server_head = git(team.server, "rev-parse", "refs/heads/ec2")
    code = cli.main(["--config", team.config.path, "doctor"])
    lines = capsys.readouterr().out.splitlines()
    assert f"ok    lucid-ec2: remote: origin: answers; ec2 is {server_head[:12]} there" in lines
    assert "ok    lucid-ec2: patches_dir: debian.ec2/patches exists on ec2" in lines
    assert code == 2  # no source mirror in this setup; the repository checks all pass
    assert [line for line in lines if line.startswith("FAIL") and "lucid-ec2" in line] == []
    git(team.service, "remote", "set-url", "origin", str(team.tmp / "gone.git"))
    assert cli.main(["--config", team.config.path, "doctor"]) == 2
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "lucid-ec2: remote" in x]
    assert line.startswith(f"FAIL  lucid-ec2: remote: {team.service}: cannot reach remote origin: ")
