"""``patchsync doctor`` against a good setup and against each way one breaks.

The good setup is real: the demo's kernel tree, a KOTD served by nginx, an
SMTP server that wants a login.  Each broken one differs from it in one
thing, and doctor must name that thing (and only fail there), exit 2, and
leave the repository and the state folder as they were.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from patchsync import cli
from tests.conftest import DATA
from tests.demo import NEW, build_tree
from tests.gittarget import git
from tests.servers import Nginx, free_port, nginx
from tests.serviceuser import Users, install_venv, public_tmp, users
from tests.signing import SigningKeys
from tests.smtp import SmtpServer, smtp_server

__all__ = ["nginx", "public_tmp", "smtp_server", "users"]


@dataclass
class Setup:
    root: Path
    repo: Path
    url: str
    smtp: SmtpServer
    state: Path

    def config(
        self, *, source: str = "", target: str = "", extra: str = "", base: str = "v2.6.32", database: str = ""
    ) -> Path:
        path = self.root / "patchsync.toml"
        path.write_text(
            f'[source]\nurl = "{self.url}"\n{source}'
            f'[state]\ndir = "{self.state}"\ndatabase = "{database}"\n'
            f'[[target]]\nname = "lucid-ec2"\nrepo = "{self.repo}"\nbranch = "ec2"\nbase = "{base}"\n{target}'
            f'[report]\nto = ["kernel-team@example.org"]\nfrom = "patchsync@example.org"\n'
            f'smtp_host = "127.0.0.1"\nsmtp_port = {self.smtp.port}\nusername = "bot"\n'
            f'password_file = "{self.root / "password"}"\n{extra}'
        )
        return path


@pytest.fixture
def setup(tmp_path: Path, nginx: Callable[[Path], Nginx], smtp_server: SmtpServer) -> Setup:
    repo = tmp_path / "ubuntu-lucid"
    build_tree(repo)
    mirror = tmp_path / "mirror" / "src"
    mirror.mkdir(parents=True)
    shutil.copy2(DATA / "srpms" / "gzip" / NEW, mirror / NEW)
    server = nginx(tmp_path / "mirror")
    smtp_server.login = ("bot", "s3cret")
    smtp_server.start()
    (tmp_path / "password").write_text("s3cret\n")
    return Setup(tmp_path, repo, server.url.rstrip("/") + "/src/", smtp_server, tmp_path / "state" / "patchsync")


def doctor(capsys: pytest.CaptureFixture[str], config: Path, *extra: str) -> tuple[int, list[str]]:
    code = cli.main(["--config", str(config), "doctor", *extra])
    out, err = capsys.readouterr()
    assert err == ""
    return code, out.splitlines()


def failing(lines: list[str]) -> list[str]:
    return [line for line in lines if not line.startswith("ok ")]


def snapshot(setup: Setup) -> tuple[str, list[str]]:
    """What doctor must not change: every ref and object of the tree, every file under the setup."""
    refs = git(setup.repo, "for-each-ref") + git(setup.repo, "count-objects", "-v")
    files = sorted(
        str(p.relative_to(setup.root))
        for p in setup.root.rglob("*")
        if not p.parts[len(setup.root.parts)].startswith("nginx-")
    )
    return refs, files


def test_good_setup_passes_every_check(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup.config()
    before = snapshot(setup)
    code, lines = doctor(capsys, config)
    assert code == 0, "\n".join(lines)
    checks = [re.sub(r"^(ok    (lucid-ec2: )?[\w.]+): .*", r"\1", line) for line in lines]
    assert checks == [
        "ok    config",
        "ok    state.dir",
        "ok    database",
        *(f"ok    lucid-ec2: {c}" for c in ("repository", "branch", "base", "patches_dir", "objects", "review_ref")),
        "ok    lucid-ec2: identity",
        "ok    source",
        "ok    smtp",
    ]
    assert f"{setup.state}: does not exist yet; can be created in {setup.root}" in lines[1]
    assert f"1 src.rpm (index), newest {NEW}" in lines[-2]
    assert "login as bot accepted (nothing sent)" in lines[-1]
    assert "commits by Test Committer <committer@example.org>" in lines[-3]
    # Nothing lasting: no state folder, no ref, no object, no mail.
    assert snapshot(setup) == before
    assert not setup.state.exists()
    assert setup.smtp.received == []


def test_json_lists_every_check(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = doctor(capsys, setup.config(base="v9.9"), "--json")
    data = json.loads("\n".join(lines))
    assert code == 2
    assert data["ok"] is False
    bad = [c for c in data["checks"] if not c["ok"]]
    assert bad == [
        {
            "check": "base",
            "target": "lucid-ec2",
            "ok": False,
            "detail": f"{setup.repo}: no branch or commit 'v9.9'",
            "fix": f"fetch it (git -C {setup.repo} fetch --tags <upstream>) or set base to the upstream "
            "ref the patch commits sit on",
        }
    ]
    assert {c["check"] for c in data["checks"]} >= {"config", "state.dir", "source", "smtp", "identity"}


BROKEN = {
    "development base missing": (
        {"base": "v2.6.33", "target": 'mode = "development"\n'},
        "lucid-ec2: base: {repo}: no branch or commit 'v2.6.33'",
    ),
    "development base off to the side": (
        {"base": "side", "target": 'mode = "development"\n'},
        "lucid-ec2: base: {repo}: side ({side}) is not an ancestor of ec2; fix: set base to the upstream ref",
    ),
    "patches_dir missing": (
        {"target": 'patches_dir = "debian.xen/patches"\n'},
        "lucid-ec2: patches_dir: {repo}: debian.xen/patches does not exist on ec2",
    ),
    "patches_dir a file": (
        {"target": 'patches_dir = "debian.ec2/config/config.common.ec2"\n'},
        "lucid-ec2: patches_dir: {repo}: debian.ec2/config/config.common.ec2 is not a folder on ec2",
    ),
    "smtp server down": ({}, "smtp: smtp://127.0.0.1:{port}: cannot connect: "),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_one_broken_thing_is_named(setup: Setup, capsys: pytest.CaptureFixture[str], case: str) -> None:
    change, expected = BROKEN[case]
    if case == "smtp server down":
        setup.smtp.stop()
    # A commit of the same tree with no parent: not in ec2's history.
    side = git(setup.repo, "commit-tree", "ec2^{tree}", "-m", "side").strip()
    git(setup.repo, "update-ref", "refs/heads/side", side)
    config = setup.config(**change)
    before = snapshot(setup)
    code, lines = doctor(capsys, config)
    assert code == 2
    bad = failing(lines)
    assert len(bad) == 1, lines
    assert bad[0].startswith("FAIL  " + expected.format(repo=setup.repo, port=setup.smtp.port, side=side[:12])), bad
    assert "; fix: " in bad[0]
    assert snapshot(setup) == before


def test_broken_config_is_the_only_line(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup.config(extra="colour = true\n")
    code, lines = doctor(capsys, config)
    assert code == 2
    assert lines == [
        f"FAIL  config: {config}: unknown key 'report.colour' (expected one of: from, only_on_change, password_file,"
        " smtp_host, smtp_port, ssl, starttls, to, username); fix: correct the file, then run"
        f" `patchsync --config {config} doctor`"
    ]


def test_missing_repository_and_branch(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    config = setup.config()
    config.write_text(config.read_text().replace(f'repo = "{setup.repo}"', f'repo = "{setup.root / "nope"}"'))
    code, lines = doctor(capsys, config)
    assert code == 2
    assert failing(lines) == [
        f"FAIL  lucid-ec2: repository: {setup.root / 'nope'}: no such folder; "
        "fix: set repo to the path of the kernel tree's repository"
    ]
    # The checks that need the repository are left out, the rest still run.
    assert not any(line.startswith("ok    lucid-ec2: branch") for line in lines)
    assert lines[-1].startswith("ok    smtp")

    config.write_text(config.read_text().replace(str(setup.root / "nope"), str(setup.repo)).replace('"ec2"', '"ec3"'))
    code, lines = doctor(capsys, config)
    assert code == 2
    assert failing(lines) == [
        f"FAIL  lucid-ec2: branch: {setup.repo}: no branch 'ec3'; fix: set branch to one of: "
        f"git -C {setup.repo} branch --list"
    ]


def test_state_dir_that_cannot_be_a_folder(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    (setup.root / "state").write_text("a file where the state folder's parent should be\n")
    code, lines = doctor(capsys, setup.config())
    assert code == 2
    assert failing(lines) == [
        f"FAIL  state.dir: {setup.state}: {setup.root / 'state'} is not a folder; fix: create it for this user "
        f"(install -d -o {os.environ.get('USER') or _me()} {setup.state}), or set state.dir"
    ]


def _me() -> str:
    import pwd

    return pwd.getpwuid(os.geteuid()).pw_name


def test_the_state_database_is_checked_without_being_created_or_migrated(
    setup: Setup, capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    from patchsync import database as db
    from patchsync.state import State

    known = len(db.MIGRATIONS)
    code, lines = doctor(capsys, setup.config(database=pg_url))
    assert code == 0
    assert lines[2] == (
        f"ok    database: {pg_url}: connected; empty, the first cycle creates the schema (version {known})"
    )
    with State(setup.state, pg_url):
        pass
    code, lines = doctor(capsys, setup.config(database=pg_url))
    assert lines[2] == f"ok    database: {pg_url}: schema version {known} (current)"
    # A newer patchsync on the other machine of a pair migrated it further.
    with State(setup.state, pg_url) as state, state.connection.begin():
        state.connection.execute(db.schema_version.update().values(version=known + 1))
    code, lines = doctor(capsys, setup.config(database=pg_url))
    assert code == 2
    assert failing(lines)[0].startswith(
        f"FAIL  database: {pg_url}: schema version {known + 1} is newer than this patchsync knows ({known})"
    )


def test_an_unreachable_database_is_named(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql://patchsync@127.0.0.1:{free_port()}/patchsync"
    code, lines = doctor(capsys, setup.config(database=url))
    assert code == 2
    (line,) = [x for x in failing(lines) if "database" in x]
    assert line.startswith(f"FAIL  database: {url}: cannot open the state database: ")


def test_source_refused_and_empty(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    dead = f"http://127.0.0.1:{free_port()}/kotd/src/"
    setup.url = dead
    code, lines = doctor(capsys, setup.config())
    assert code == 2
    (bad,) = failing(lines)
    assert bad.startswith(f"FAIL  source: {dead}: connection refused")

    setup.url = str(setup.root)  # a folder holding no src.rpm
    code, lines = doctor(capsys, setup.config())
    (bad,) = failing(lines)
    assert bad.startswith(f"FAIL  source: {setup.root}: no kernel-source-<version>-<release>.src.rpm found; fix: ")


def test_smtp_login_refused(setup: Setup, capsys: pytest.CaptureFixture[str]) -> None:
    (setup.root / "password").write_text("wrong\n")
    code, lines = doctor(capsys, setup.config())
    assert code == 2
    (bad,) = failing(lines)
    assert bad.startswith(f"FAIL  smtp: smtp://127.0.0.1:{setup.smtp.port}: login as 'bot' refused")
    assert setup.smtp.received == []


def test_no_commit_identity(setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL"):
        monkeypatch.delenv(var)
    # What a service user without user.email meets, made certain: git must
    # not guess an address from the host name.
    subprocess.run(["git", "config", "--global", "user.useConfigOnly", "true"], check=True)
    code, lines = doctor(capsys, setup.config())
    assert code == 2
    (bad,) = failing(lines)
    assert bad.startswith(f"FAIL  lucid-ec2: identity: {setup.repo}: no commit author identity for user ")
    assert bad.endswith('; fix: set author = "Name <email>" in the [[target]]')

    code, lines = doctor(capsys, setup.config(target='author = "Kernel Team <kernel@example.org>"\n'))
    assert code == 0
    assert "ok    lucid-ec2: identity: commits by Kernel Team <kernel@example.org>" in lines


def test_keys_are_listed(setup: Setup, capsys: pytest.CaptureFixture[str], signing_keys: SigningKeys) -> None:
    key = signing_keys.ed25519
    code, lines = doctor(capsys, setup.config(source=f'keys = ["{key.cert}"]\n'))
    assert code == 0, lines
    assert lines[-1] == f"ok    keys: 1 certificates: {key.fingerprint}"


def test_every_source_is_checked(setup: Setup, capsys: pytest.CaptureFixture[str], signing_keys: SigningKeys) -> None:
    key = signing_keys.ed25519
    dead = f"http://127.0.0.1:{free_port()}/sle12/src/"
    path = setup.config()
    text = path.read_text().replace(f'[source]\nurl = "{setup.url}"\n', "")
    text = text.replace('branch = "ec2"\n', 'branch = "ec2"\nsource = "sle15"\n')
    path.write_text(
        f'[[source]]\nname = "sle15"\nurl = "{setup.url}"\nkeys = ["{key.cert}"]\n'
        f'[[source]]\nname = "sle12"\nurl = "{dead}"\n' + text
    )
    code, lines = doctor(capsys, path)
    assert code == 2
    sources = [line for line in lines if line.split(":")[0].split()[-1] in ("source", "keys")]
    assert sources[0].startswith(f"ok    source: source sle15: {setup.url}: 1 src.rpm (")
    assert sources[1].startswith(f"FAIL  source: source sle12: {dead}: connection refused")
    assert sources[2] == f"ok    keys: source sle15: 1 certificates: {key.fingerprint}"
    assert len(sources) == 3, lines


def test_as_a_service_user_following_the_fixes(users: Users, public_tmp: Path) -> None:
    """A tree another user owns: doctor names each problem and its fix; applying them makes it pass."""
    root = public_tmp
    repo = root / "git" / "ubuntu-lucid"
    repo.parent.mkdir(parents=True)
    build_tree(repo)
    subprocess.run(["chown", "-R", f"{users.maintainer}:{users.group}", str(repo)], check=True)
    mirror = root / "mirror"
    mirror.mkdir()
    shutil.copy2(DATA / "srpms" / "gzip" / NEW, mirror / NEW)
    for path in (mirror, mirror / NEW):
        path.chmod(0o755 if path.is_dir() else 0o644)
    patchsync = install_venv(root / "opt")
    config = root / "patchsync.toml"
    config.write_text(
        f'[source]\nurl = "{mirror}"\n[state]\ndir = "{root}/home/{users.service}/state"\n'
        f'[[target]]\nname = "lucid-ec2"\nrepo = "{repo}"\nbranch = "ec2"\nbase = "v2.6.32"\n'
        'author = "Kernel Team <kernel@example.org>"\n'
    )
    config.chmod(0o644)

    def run() -> tuple[int, list[str]]:
        done = users.run(users.service, [str(patchsync), "--config", str(config), "doctor"], check=False)
        return done.returncode, [line for line in done.stdout.splitlines() if not line.startswith("ok ")]

    code, bad = run()
    assert code == 2
    assert bad == [
        f"FAIL  lucid-ec2: repository: {repo}: git refuses it: owned by {users.maintainer}, not {users.service}; "
        f"fix: as this user: git config --global --add safe.directory {repo}"
    ]
    users.run(users.service, ["git", "config", "--global", "--add", "safe.directory", str(repo)])

    code, bad = run()
    assert code == 2
    # build_tree's umask (022) left the objects and refs writable by the maintainer only.
    assert [line.split(":")[1] for line in bad] == [" objects", " review_ref"], bad
    assert all("Permission denied" in line and "core.sharedRepository group" in line for line in bad)

    for argv in (
        ["chmod", "-R", "g+rwX", str(repo)],
        ["git", "-C", str(repo), "config", "core.sharedRepository", "group"],
    ):
        users.run(users.maintainer, argv)
    code, bad = run()
    assert (code, bad) == (0, [])
    # Nothing was left behind in the repository for the maintainer to wonder about.
    leftovers = subprocess.run(
        ["find", str(repo / ".git"), "-name", ".patchsync-doctor-*"], capture_output=True, text=True, check=True
    )
    assert leftovers.stdout == ""
