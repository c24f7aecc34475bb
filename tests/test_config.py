"""The config loader: defaults, validation and the error it gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from patchsync import config
from patchsync.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "patchsync.toml"
    path.write_text(text)
    return path


def test_example_config_loads_and_documents_every_key() -> None:
    cfg = config.load(REPO / "config" / "patchsync.toml")
    assert cfg.source.package == "kernel-source"
    assert [t.name for t in cfg.targets] == ["lucid-ec2", "natty-ec2"]
    text = (REPO / "config" / "patchsync.toml").read_text()
    import dataclasses

    for cls, table in (
        (config.SourceConfig, "source"),
        (config.StateConfig, "state"),
        (config.TargetConfig, "target"),
        (config.ScheduleConfig, "schedule"),
        (config.ReportConfig, "report"),
    ):
        for f in dataclasses.fields(cls):
            key = f.name.rstrip("_")
            assert f"{key} =" in text or f"# {key} =" in text, f"{table}.{key} is not documented"


def test_defaults(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, '[source]\nurl = "http://127.0.0.1/src/"\n'))
    assert cfg.source.tarball == "patches.xen.tar.bz2"
    assert cfg.source.max_bytes == 2 * 1024**3
    assert cfg.source.series_symbols == ("xen",)
    assert cfg.targets == ()
    assert cfg.report is None
    assert cfg.state.dir.endswith("patchsync")


def test_state_dir_from_systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATE_DIRECTORY", "/var/lib/patchsync:/var/lib/other")
    assert config.load(write(tmp_path, "")).state.dir == "/var/lib/patchsync"


def test_target_defaults_and_review_ref(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, '[[target]]\nname = "t1"\nrepo = "/r"\nbranch = "ec2"\n'))
    (t,) = cfg.targets
    assert (t.mode, t.patches_dir, t.strip, t.hold) == ("released", "debian.ec2/patches", 1, ())
    assert t.review_ref == "refs/heads/patchsync/t1"
    assert cfg.target("t1") is t


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[source]\nurll = 'x'\n", "unknown key 'source.urll'"),
        ("[sauce]\n", "unknown key 'sauce'"),
        ("[source]\nmax_bytes = '1G'\n", "'source.max_bytes' must be an integer, not str"),
        ("[source]\nretries = true\n", "'source.retries' must be an integer, not bool"),
        ("[source]\nseries_symbols = 'xen'\n", "'source.series_symbols' must be a list of a string"),
        (
            "[source]\nurl = 'https://kotd.example/src/kernel-source-2.6.32.10-0.0.3.src.rpm'\n",
            "'source.url' 'https://kotd.example/src/kernel-source-2.6.32.10-0.0.3.src.rpm' names an rpm file, "
            "not the folder that lists the src.rpms",
        ),
        ("[[target]]\nname = 'a'\nbranch = 'b'\n", "missing required key 'target[0].repo'"),
        (
            "[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nmode = 'dev'\n",
            "'target[0].mode' must be one of 'released', 'development', not 'dev'",
        ),
        (
            "[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nmode = 'development'\n",
            "'target[0].base' is required for a development target",
        ),
        ("[[target]]\nname = 'a b'\nrepo = 'r'\nbranch = 'b'\n", "not a valid git ref component"),
        (
            "[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nsubject_add = '{nmae} added'\n",
            "'target[0].subject_add' uses unknown placeholder {nmae}",
        ),
        ("[report]\nfrom = 'a@b'\n", "missing required key 'report.to'"),
        # Values that become refs: git check-ref-format --branch, and unambiguous.
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = \"x\\ny\"\n", "control character"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = 'HEAD'\n", "is ambiguous"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = 'refs/heads/x'\n", "is ambiguous"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = 'x..y'\n", "'..' in ref name"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = '-x'\n", "begins with '-'"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = 'b'\n", "must differ from 'branch'"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b.lock'\n", "'target[0].branch': component 'b.lock'"),
        # Values that become mail headers: one real address each.
        ("[report]\nfrom = 'a@b'\nto = [\"x@y\\r\\nBcc: z@w\"]\n", "'report.to[0]': control character '\\r'"),
        ("[report]\nfrom = 'a@b'\nto = ['x@y, z@w']\n", "'report.to[0]' 'x@y, z@w' is not one email address"),
        ("[report]\nfrom = 'nobody'\nto = ['x@y']\n", "'report.from' 'nobody' is not one email address"),
        ("[report]\nfrom = 'a@'\nto = ['x@y']\n", "'report.from' 'a@' is not an email address"),
        ("[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nbuglink = \"u\\nX: y\"\n", "'target[0].buglink': control"),
        ("[schedule]\ncron = '* * *'\n", "'schedule.cron' must have 5 fields"),
        ("[state]\ndatabase = 'mysql://db/p'\n", "'state.database' must be a postgresql://"),
        ("[state]\ndatabase = 'postgresql://db.example.org'\n", "'state.database' must name a database"),
        ("[state]\ndatabase = 'postgresql://p:secret@db/p'\n", "'state.database' must not hold a password"),
        ("[state]\ndatabase = 'postgresql://db:54x/p'\n", "'state.database' has a bad port"),
        ("source = 1\n", "'source' must be a table"),
        ("[source\n", "not valid TOML"),
    ],
)
def test_invalid_configs_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_branch_rules_match_git_check_ref_format() -> None:
    """Every review_branch config check accepts, git accepts too (the oracle is git)."""
    for name in ("patchsync/lucid-ec2", "review/ec2-é", "a.b/c_d"):
        text = f"[[target]]\nname = 'a'\nrepo = 'r'\nbranch = 'b'\nreview_branch = '{name}'\n"
        assert config.parse(__import__("tomllib").loads(text)).targets[0].review_ref == f"refs/heads/{name}"
        proc = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
        assert proc.returncode == 0


def test_addresses_with_display_names_load(tmp_path: Path) -> None:
    text = "[report]\nfrom = 'patchsync <ps@example.org>'\nto = ['Kernel Team <k@example.org>', 'a@b']\n"
    cfg = config.load(write(tmp_path, text))
    assert cfg.report is not None
    assert cfg.report.to[0] == "Kernel Team <k@example.org>"


def test_duplicate_target_names(tmp_path: Path) -> None:
    text = "[[target]]\nname='a'\nrepo='r'\nbranch='b'\n[[target]]\nname='a'\nrepo='r2'\nbranch='b'\n"
    with pytest.raises(ConfigError, match="used twice"):
        config.load(write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.toml")


def test_resolve_path_order(monkeypatch: pytest.MonkeyPatch) -> None:
    assert config.resolve_path("/x.toml") == Path("/x.toml")
    monkeypatch.setenv("PATCHSYNC_CONFIG", "/env.toml")
    assert config.resolve_path(None) == Path("/env.toml")
    monkeypatch.delenv("PATCHSYNC_CONFIG")
    assert config.resolve_path(None) == Path("/etc/patchsync/patchsync.toml")


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchsync", *args], capture_output=True, text=True, cwd=REPO, env=env, check=False
    )


def test_cli_config_check_ok() -> None:
    result = run_cli("--config", str(REPO / "config" / "patchsync.toml"), "config", "check")
    assert result.returncode == 0, result.stderr
    assert "lucid-ec2 (released)" in result.stdout


def test_cli_bad_config_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "[source]\nbogus = 1\n")
    result = run_cli("config", "check", "--config", str(path))
    assert result.returncode == 2
    assert result.stderr == f"patchsync: error: {path}: unknown key 'source.bogus' (expected one of: " + (
        "deadline_seconds, keys, max_bytes, name, package, retries, series_symbols, tarball, timeout_seconds, url)\n"
    )
    assert result.stdout == ""


def test_in_process_cli_errors_stay_visible_to_the_log_check(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from patchsync import cli

    cli.setup_logging(verbose=False, quiet=False, debug=False)
    logging.getLogger("patchsync.test").warning("still captured")
    assert "still captured" in caplog.text


TWO_SOURCES = """
[[source]]
name = "sle11-sp1"
url = "http://127.0.0.1/kotd/SLE11-SP1/src/"
keys = []

[[source]]
name = "head"
url = "http://127.0.0.1/kotd/HEAD/src/"
tarball = "patches.arch.tar.bz2"

[[target]]
name = "lucid-ec2"
repo = "/r"
branch = "ec2"
source = "sle11-sp1"

[[target]]
name = "natty-ec2"
repo = "/r"
branch = "natty"
source = "head"
"""


def test_several_sources_each_target_follows_its_own(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, TWO_SOURCES))
    assert [s.name for s in cfg.sources] == ["sle11-sp1", "head"]
    assert cfg.source_named(cfg.target("natty-ec2").source).tarball == "patches.arch.tar.bz2"
    assert cfg.source_named(cfg.target("lucid-ec2").source).url == "http://127.0.0.1/kotd/SLE11-SP1/src/"
    assert [t.name for t in cfg.targets_of(cfg.source_named("head"))] == ["natty-ec2"]
    assert cfg.warnings == ()


def test_single_source_table_is_the_default_source(tmp_path: Path) -> None:
    cfg = config.load(
        write(tmp_path, '[source]\nurl = "http://127.0.0.1/src/"\n[[target]]\nname="a"\nrepo="r"\nbranch="b"\n')
    )
    assert [s.name for s in cfg.sources] == ["default"]
    assert cfg.target("a").source == "default"
    assert cfg.source is cfg.source_named(cfg.target("a").source)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (TWO_SOURCES.replace('source = "head"\n', ""), "'target[1].source' is required when there are several sources"),
        (TWO_SOURCES.replace('source = "head"', 'source = "tail"'), "'target[1].source' 'tail' names no source"),
        (TWO_SOURCES.replace('name = "head"', 'name = "sle11-sp1"'), "'source[1].name' 'sle11-sp1' is used twice"),
        (TWO_SOURCES.replace('name = "head"', 'name = "a b"'), "'source[1].name' 'a b' is not a valid git ref"),
        (TWO_SOURCES.replace('tarball = "patches.arch.tar.bz2"', "retries = -1"), "'source[1].retries' must not be"),
        # A [source] table beside [[source]] tables: the TOML parser refuses the redefinition.
        ('[source]\nurl = "x"\n' + TWO_SOURCES, "not valid TOML"),
        ("source = []\n", "'source' must hold at least one [[source]] table"),
        ('[source]\nurl = "x"\n[[target]]\nname="a"\nrepo="r"\nbranch="b"\nsource="head"\n', "names no source"),
    ],
)
def test_invalid_source_configs(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_source_no_target_follows_is_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path, TWO_SOURCES.replace('source = "head"', 'source = "sle11-sp1"'))
    cfg = config.load(path)
    assert cfg.warnings == (f"{path}: source 'head' is followed by no target",)
    proc = subprocess.run(
        [sys.executable, "-m", "patchsync", "config", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert f"patchsync: WARNING: {path}: source 'head' is followed by no target" in proc.stderr
