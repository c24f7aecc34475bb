"""The README's installation, followed step by step as far as a test can.

The commands are read from the README's "Installing as a service" section
and run as written, with the paths moved into a temporary folder and the
user and group names made unique.  What a test cannot do (apt, pip from
PyPI, systemctl) is replaced or skipped, and the cycle the timer would
start is run the way the unit runs it: as the service user, under the
unit's ``UMask=``.  The tree belongs to another user (a maintainer) and
the service user must create its state folder.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

from tests.conftest import DATA, REPO_ROOT
from tests.demo import NEW, build_tree
from tests.gittarget import git
from tests.serviceuser import BASE_ENV, Users, install_venv, public_tmp, users

__all__ = ["public_tmp", "users"]

README = REPO_ROOT / "README.md"
#: Commands a test cannot or need not run: packages, PyPI, systemd.
SKIPPED = ("apt ", "python3 -m venv ", "/opt/patchsync/bin/pip ", "cp systemd/", "systemctl ")


def readme_steps() -> list[str]:
    """The shell commands of the README's installation, in order."""
    text = README.read_text()
    section = text.split("\n## Installing as a service\n", 1)[1].split("\n## ", 1)[0]
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command:
                commands.append(command)
    return commands


def unit_umask() -> str:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string((REPO_ROOT / "systemd" / "patchsync.service").read_text())
    return parser["Service"]["UMask"]


def localise(command: str, root: Path, users: Users) -> str:
    for path in ("/opt/patchsync", "/srv/git", "/var/lib/patchsync", "/etc/patchsync"):
        command = command.replace(path, f"{root}{path}")
    # A user or group name stands alone; the paths above contain it too.
    command = re.sub(r"(?<![\w/.@-])patchsync(?![\w/.@-])", users.service, command)
    return re.sub(r"(?<![\w/.@-])kernel(?![\w/.@-])", users.group, command)


def test_readme_installation_as_a_service_user(users: Users, public_tmp: Path) -> None:
    root = public_tmp
    # The premise: a maintainer's tree, group-owned by "kernel", and a KOTD.
    repo = root / "srv" / "git" / "ubuntu-lucid"
    repo.parent.mkdir(parents=True)
    build_tree(repo)
    shutil.chown(repo, users.maintainer)
    subprocess.run(["chown", "-R", f"{users.maintainer}:{users.maintainer}", str(repo)], check=True)
    mirror = root / "mirror"
    mirror.mkdir()
    shutil.copy2(DATA / "srpms" / "gzip" / NEW, mirror / NEW)
    mirror.chmod(0o755)
    (mirror / NEW).chmod(0o644)

    steps = readme_steps()
    assert any("core.sharedRepository group" in s for s in steps)
    assert any("safe.directory" in s for s in steps)
    assert all(("umask " + unit_umask()) in s for s in steps if "bin/patchsync --config" in s)

    # Step 1 without PyPI: the same packages, copied.
    patchsync = install_venv(root / "opt" / "patchsync")
    config = root / "etc" / "patchsync" / "patchsync.toml"
    ran = []
    for step in steps:
        if step.startswith(SKIPPED):
            continue
        command = localise(step, root, users)
        if command.startswith("useradd "):
            continue  # the fixture made the users (with a home in the test's folder)
        if "runuser -u " in command and "bin/patchsync" in command:
            # Step 6: the config must be the edited one first ("then edit it").
            write_config(config, root, mirror, repo)
        # A clean environment, as an administrator's shell: no test variables.
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, check=False, cwd=REPO_ROOT, env=dict(BASE_ENV)
        )
        if command.endswith(".toml check'"):
            assert done.returncode == 1, done.stdout + done.stderr  # drift, not an error
            assert "lucid-ec2: drift:" in done.stdout
        else:
            assert done.returncode == 0, f"{command}\n{done.stdout}{done.stderr}"
        ran.append(step)
    assert any(s.startswith("runuser") for s in ran)
    assert patchsync.exists()

    # Step 7's timer would start patchsync.service: the same, as its user, under its UMask.
    env = {"PATCHSYNC_CONFIG": str(config)}
    done = users.run(users.service, [str(patchsync), "sync", "--no-mail"], umask=unit_umask(), env=env, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (root / "var" / "lib" / "patchsync" / "state").is_dir()
    review = git(repo, "-c", f"safe.directory={repo}", "rev-parse", "refs/heads/patchsync/lucid-ec2").strip()
    assert review

    # What patchsync wrote stays the maintainer's: fsck, delete the review branch, repack.
    for argv in (
        ["git", "fsck", "--strict", "--no-dangling"],
        ["git", "branch", "-D", "patchsync/lucid-ec2"],
        ["git", "gc", "--prune=now", "--quiet"],
    ):
        users.run(users.maintainer, argv, cwd=repo, umask="0002")


def write_config(config: Path, root: Path, mirror: Path, repo: Path) -> None:
    config.write_text(
        f'[source]\nurl = "{mirror}"\n'
        f'[state]\ndir = "{root}/var/lib/patchsync/state"\n'
        f'[[target]]\nname = "lucid-ec2"\nrepo = "{repo}"\nbranch = "ec2"\nbase = "v2.6.32"\n'
    )
