"""A failing machine (issue 10, class 6): one line, exit 2, nothing claimed that was not done.

The failures are real: a tmpfs filled to the last byte under ``state.dir``,
a repository on a file system remounted read-only, a cache name one byte
too long, a ``state.dir`` the service user may not enter, a repository
git calls of dubious ownership, a stdout whose reader went away.  Mounting
needs root (CAP_SYS_ADMIN); where the machine does not allow it the test
is skipped with the reason.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from patchsync import cli
from patchsync.report import mail as mailreport
from patchsync.state import State

from .gittarget import all_refs
from .syncscenario import Scenario, build

#: The failures are logged as errors too; that is what these tests expect.
pytestmark = pytest.mark.allow_error_log

NOBODY = 65534

Mount = Callable[[Path, str], Path]


@pytest.fixture
def tmpfs() -> Iterator[Mount]:
    """``mount(where, size)``: a fresh tmpfs at ``where``, unmounted after the test."""
    mounted: list[Path] = []

    def mount(where: Path, size: str) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
        if proc.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount_read_only(where: Path) -> None:
    subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)


def fill(folder: Path) -> None:
    """Write one file until the file system has no byte left."""
    fd = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 4096, 1):
            while _wrote(fd, size):
                pass
    finally:
        os.close(fd)


def _wrote(fd: int, size: int) -> bool:
    try:
        os.write(fd, b"\0" * size)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        return False
    return True


def write_config(path: Path, sc: Scenario, *, state_dir: Path, repo: Path | None = None) -> Path:
    path.write_text(
        f"""
[source]
url = "http://127.0.0.1:9/kotd/"

[state]
dir = "{state_dir}"

[[target]]
name = "lucid-ec2"
repo = "{repo or sc.repo}"
branch = "ec2"
base = "v2.6.32"
mode = "{sc.target.mode}"
"""
    )
    return path


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line(err: str) -> str:
    """The one ``patchsync: error:`` line of stderr (log lines aside), with no traceback."""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("patchsync: error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    sc = build(tmp_path, "released")
    monkeypatch.setattr("patchsync.source.pipeline.obtain", lambda *a, **kw: sc.patchset)
    return sc


# -- a full disk ----------------------------------------------------------------


@pytest.mark.parametrize("when", ["first run", "after a run"])
def test_a_full_state_dir_is_one_line_and_writes_nothing(
    tmp_path: Path, tmpfs: Mount, scenario: Scenario, capsys: pytest.CaptureFixture[str], when: str
) -> None:
    state = tmpfs(tmp_path / "state", "1m")
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=state)
    if when == "after a run":
        # The locks and the database exist; the next run cannot write them.
        code, _, err = run_cli(capsys, "--config", str(config), "sync", "--no-mail", "--dry-run")
        assert code == 0, err
    fill(state)
    before = all_refs(scenario.repo)

    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--no-mail")

    line = assert_one_line(err)
    assert code == 2
    # The lock file or the database, by name; SQLite calls a full disk
    # "database or disk is full" or, when its WAL index cannot grow, "disk I/O error".
    assert line.startswith(f"patchsync: error: {state}/"), line
    assert line.endswith(("No space left on device", "database or disk is full", "disk I/O error")), line
    assert "wrote" not in out
    assert all_refs(scenario.repo) == before


# -- a read-only repository ------------------------------------------------------


def test_a_read_only_repository_is_an_error_that_claims_nothing(
    tmp_path: Path, tmpfs: Mount, scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    # The repository on its own file system, state.dir on another: the
    # pack move falls back to a copy, which the read-only mount refuses.
    ro = tmpfs(tmp_path / "ro", "64m")
    shutil.copytree(scenario.repo, ro / "repo", symlinks=True)
    remount_read_only(ro)
    before = all_refs(ro / "repo")
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=tmp_path / "state", repo=ro / "repo")

    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--no-mail")

    assert code == 2
    assert "Traceback" not in err
    assert "internal error" not in out + err
    assert "wrote" not in out
    headline = out.splitlines()[1]
    assert headline.startswith("lucid-ec2 (released): error: ")
    assert headline.endswith(": Read-only file system")
    assert all_refs(ro / "repo") == before
    with State(tmp_path / "state") as state:
        (run,) = state.runs()
    assert run.result == "error"
    assert run.targets[0].error.endswith(": Read-only file system")


# -- a name too long for the cache -----------------------------------------------


def test_a_name_too_long_for_the_cache_is_one_line(
    tmp_path: Path, scenario: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    # 255 bytes: a name the file system takes, but not with ".part" added.
    name = "kernel-source-2.6.32.10-" + "1" * (255 - len("kernel-source-2.6.32.10-.src.rpm")) + ".src.rpm"
    assert len(name) == 255
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=tmp_path / "state")

    code, out, err = run_cli(capsys, "--config", str(config), "fetch", "--src-rpm", f"http://127.0.0.1:9/{name}")

    line = assert_one_line(err)
    assert code == 2
    assert line.endswith(f"{name}.part: File name too long"), line
    assert out == ""


# -- permission denied on state.dir ----------------------------------------------


@pytest.mark.parametrize("command", [["sync", "--no-mail"], ["history"], ["status"]])
def test_a_state_dir_the_user_may_not_enter_is_one_line_exit_2(
    tmp_path: Path, scenario: Scenario, command: list[str]
) -> None:
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to drop the capabilities that bypass permissions")
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    os.chown(state, NOBODY, NOBODY)
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=state)

    # root without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH is held to the
    # permission bits like any service user.
    drop = "--bounding-set=-dac_override,-dac_read_search,-fowner"
    proc = subprocess.run(
        ["setpriv", drop, sys.executable, "-m", "patchsync", "--config", str(config), *command],
        capture_output=True,
        text=True,
        check=False,
    )

    line = assert_one_line(proc.stderr)
    assert proc.returncode == 2, proc.stderr
    assert "Permission denied" in line
    assert str(state) in line


# -- git's own message -----------------------------------------------------------


def test_a_repository_of_dubious_ownership_passes_gits_advice_through(
    scenario: Scenario, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give the repository to another user")
    for root, dirs, files in os.walk(scenario.repo):
        for name in [*dirs, *files]:
            os.lchown(os.path.join(root, name), NOBODY, NOBODY)
    os.chown(scenario.repo, NOBODY, NOBODY)
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=tmp_path / "state")

    code, out, err = run_cli(capsys, "--config", str(config), "check")

    assert code == 2
    assert "Traceback" not in err
    assert out.splitlines()[1] == (
        f"lucid-ec2: error: {scenario.repo}: git rev-parse failed: fatal: detected dubious ownership in "
        f"repository at '{scenario.repo}' (git config --global --add safe.directory {scenario.repo})"
    )


def test_a_closed_stdout_is_quiet_exit_2(tmp_path: Path, scenario: Scenario) -> None:
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=tmp_path / "state")
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "patchsync", "--config", str(config), "config", "check"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (2, "")


# -- a crash is recorded -----------------------------------------------------------


def test_a_cycle_that_crashes_is_recorded_as_failed(
    tmp_path: Path, scenario: Scenario, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bug in the report renderer, after the refs were written (where the
    # class 1 newline crashed): the run must not stay "running".
    def broken(*args: object, **kwargs: object) -> mailreport.Report:
        raise RuntimeError("renderer bug")

    monkeypatch.setattr(mailreport, "render", broken)
    config = write_config(tmp_path / "patchsync.toml", scenario, state_dir=tmp_path / "state")

    code, _, err = run_cli(capsys, "--config", str(config), "sync", "--no-mail")

    assert code == 2
    line = assert_one_line(err)
    assert line == "patchsync: error: internal error: RuntimeError: renderer bug (--debug shows the traceback)"
    with State(tmp_path / "state") as state:
        (run,) = state.runs()
    assert run.result == "error"
    assert run.finished is not None
    assert run.error == "internal error: RuntimeError: renderer bug"
