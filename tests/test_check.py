"""``patchsync check``: exact text and JSON, exit statuses, nothing written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from patchsync import cli
from patchsync.model import PatchSet, SourceInfo
from tests.gittarget import commit_files, git, init, ref

PD = "debian.ec2/patches"

SOURCE = SourceInfo(
    url="file:///kotd/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    file="kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    version="2.6.32.10",
    release="0.0.3.bbbb222",
    tarball="patches.xen.tar.bz2",
    tarball_sha256="ab" * 32,
)


def patch(tag: str, change: str | None = None, *, subject: str | None = None, at: int = 1) -> bytes:
    return (
        f"Subject: {subject or tag}\n\n--- a/{tag}.c\n+++ b/{tag}.c\n"
        f"@@ -{at},3 +{at},3 @@\n a\n-b\n+{change or tag}\n c\n"
    ).encode()


TREE = {
    "xen3-same.diff": patch("same"),
    "xen3-header.diff": patch("header"),
    "xen3-fresh.diff": patch("fresh"),
    "xen3-patch-03.diff": patch("p03"),
    "xen3-gone.diff": patch("gone"),
    "xen3-old.diff": patch("moving"),
    "xen3-local.diff": patch("local"),
}
KOTD = {
    "patches.xen/xen3-same.diff": patch("same"),
    "patches.xen/xen3-header.diff": patch("header", subject="header, v2"),
    "patches.xen/xen3-fresh.diff": patch("fresh", at=40),
    "patches.xen/xen3-patch-03.diff": patch("p03", "changed"),
    "patches.xen/xen3-new.diff": patch("moving", at=3),
    "patches.xen/xen3-added.diff": patch("added"),
    "patches.xen/xen3-local.diff": patch("local", "suse's version"),
}
SERIES = "".join(
    f"\t+xen\tpatches.xen/{n}\n"
    for n in (
        "xen3-same.diff",
        "xen3-patch-03.diff",
        "xen3-header.diff",
        "xen3-fresh.diff",
        "xen3-new.diff",
        "xen3-added.diff",
        "xen3-local.diff",
    )
).encode()


def make_tree(tmp_path: Path, files: dict[str, bytes] = TREE) -> Path:
    repo = init(tmp_path / "ubuntu-lucid.git", bare=True)
    commit_files(repo, {"Makefile": b"all:\n"}, "base", branch="ec2")
    git(repo, "tag", "v2.6.32", "ec2")
    for name, data in files.items():
        commit_files(repo, {f"{PD}/{name}": data}, f"UBUNTU: [Xen] {name}", branch="ec2")
    return repo


def write_config(tmp_path: Path, repo: Path, extra: str = "") -> Path:
    path = tmp_path / "patchsync.toml"
    path.write_text(
        f"""
[source]
url = "http://127.0.0.1:1/kotd/"

[state]
dir = "{tmp_path / "state"}"

[[target]]
name = "lucid-ec2"
repo = "{repo}"
branch = "ec2"
hold = ["xen3-local.diff"]
{extra}
"""
    )
    return path


@pytest.fixture
def kotd(monkeypatch: pytest.MonkeyPatch) -> PatchSet:
    """The PatchSet check gets from the source side (built here; the src.rpm path is tested below)."""
    patchset = PatchSet(source=SOURCE, top="patches.xen", files=KOTD, series_conf=SERIES)
    monkeypatch.setattr("patchsync.source.pipeline.obtain", lambda config, **kw: patchset)
    return patchset


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def refs_and_logs(repo: Path) -> str:
    return git(repo, "for-each-ref") + git(repo, "count-objects", "-v")


def test_text_report(tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_tree(tmp_path)
    head = ref(repo, "ec2")
    before = refs_and_logs(repo)
    code, out, err = run_cli(capsys, "--config", str(write_config(tmp_path, repo)), "check")
    assert code == 1
    assert err == ""
    assert out == (
        "KOTD kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm (patches.xen.tar.bz2 sha256 abababababab)\n"
        f"lucid-ec2: drift: 1 unchanged, 1 metadata, 1 refreshed, 1 modified, 1 added, 1 removed, 1 renamed, "
        f"1 held (released, {head[:12]})\n"
        "M  xen3-patch-03.diff\n"
        "H  xen3-header.diff\n"
        "F  xen3-fresh.diff\n"
        "R  xen3-old.diff -> xen3-new.diff\n"
        "A  xen3-added.diff\n"
        "=  xen3-local.diff (held; KOTD: modified)\n"
        "D  xen3-gone.diff\n"
        "order: 1 moved (information only, released history is kept): xen3-patch-03.diff\n"
    )
    assert refs_and_logs(repo) == before


def test_verbose_adds_interdiffs(tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_tree(tmp_path)
    code, out, _ = run_cli(capsys, "--config", str(write_config(tmp_path, repo)), "check", "-v")
    assert code == 1
    start = out.index("M  xen3-patch-03.diff\n")
    assert out[start:].startswith(
        "M  xen3-patch-03.diff\n--- a/p03.c\n+++ b/p03.c\n@@ -1,3 +1,3 @@\n a\n-p03\n+changed\n c\n"
        "H  xen3-header.diff\n"
        "--- old header\n+++ new header\n@@ -1,2 +1,2 @@\n-Subject: header\n+Subject: header, v2\n \n"
        "F  xen3-fresh.diff\nR  xen3-old.diff -> xen3-new.diff\nA  xen3-added.diff\n"
    )


def test_json_report(tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_tree(tmp_path)
    config = write_config(tmp_path, repo, 'mode = "development"\nbase = "v2.6.32"\n')
    code, out, _ = run_cli(capsys, "--config", str(config), "check", "--json")
    assert code == 1
    assert json.loads(out) == {
        "source": SOURCE.to_json(),
        "sources": [{"name": "default", **SOURCE.to_json()}],
        "targets": [
            {
                "name": "lucid-ec2",
                "source": "default",
                "in_sync": False,
                "patches": [
                    {"name": "xen3-same.diff", "status": "unchanged"},
                    {"name": "xen3-patch-03.diff", "status": "modified"},
                    {"name": "xen3-header.diff", "status": "metadata"},
                    {"name": "xen3-fresh.diff", "status": "refreshed"},
                    {"name": "xen3-new.diff", "status": "renamed", "previous_name": "xen3-old.diff"},
                    {"name": "xen3-added.diff", "status": "added"},
                    {"name": "xen3-local.diff", "status": "held"},
                    {"name": "xen3-gone.diff", "status": "removed"},
                ],
                "counts": {
                    "unchanged": 1,
                    "metadata": 1,
                    "refreshed": 1,
                    "modified": 1,
                    "added": 1,
                    "removed": 1,
                    "renamed": 1,
                    "held": 1,
                },
                "order_changes": ["xen3-patch-03.diff"],
                "warnings": [],
                "review_branch": {"name": "patchsync/lucid-ec2", "head": None, "commits": 0, "pending": False},
            }
        ],
    }


def test_in_sync_exits_0_and_order_is_drift_only_in_development(
    tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {p.split("/", 1)[1]: data for p, data in KOTD.items()}
    # The tree carries exactly the KOTD patches, two of them in another order.
    order = ["xen3-patch-03.diff", "xen3-same.diff", "xen3-header.diff", "xen3-fresh.diff", "xen3-new.diff"]
    order += ["xen3-added.diff", "xen3-local.diff"]
    repo = make_tree(tmp_path, {n: files[n] for n in order})
    config = write_config(tmp_path, repo)
    code, out, _ = run_cli(capsys, "--config", str(config), "check")
    assert code == 0
    assert out.splitlines()[1].startswith("lucid-ec2: in sync: 6 unchanged, 1 held (released, ")
    dev = write_config(tmp_path, repo, 'mode = "development"\nbase = "v2.6.32"\n')
    code, out, _ = run_cli(capsys, "--config", str(dev), "check", "--json")
    assert code == 1
    target = json.loads(out)["targets"][0]
    assert (target["in_sync"], target["order_changes"]) == (False, ["xen3-same.diff"])


def test_failing_target_is_reported_and_others_go_on(
    tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_tree(tmp_path)
    config = write_config(
        tmp_path,
        repo,
        f'\n[[target]]\nname = "broken"\nrepo = "{tmp_path / "missing"}"\nbranch = "ec2"\n',
    )
    code, out, err = run_cli(capsys, "--config", str(config), "check", "--json")
    assert code == 2
    targets = json.loads(out)["targets"]
    assert [t["name"] for t in targets] == ["lucid-ec2", "broken"]
    assert targets[0]["counts"]["modified"] == 1
    assert targets[1]["error"] == f"{tmp_path / 'missing'}: no such repository"
    assert targets[1]["in_sync"] is False
    assert err == f"patchsync: error: broken: {tmp_path / 'missing'}: no such repository\n"
    code, out, _ = run_cli(capsys, "--config", str(config), "check")
    assert code == 2
    assert out.splitlines()[-1] == f"broken: error: {tmp_path / 'missing'}: no such repository"
    code, out, _ = run_cli(capsys, "--config", str(config), "check", "--target", "lucid-ec2")
    assert code == 1
    assert "broken" not in out


def test_unknown_target_is_a_config_error(tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_tree(tmp_path)
    config = write_config(tmp_path, repo)
    code, out, err = run_cli(capsys, "--config", str(config), "check", "--target", "nope")
    assert (code, out) == (2, "")
    assert err == f"patchsync: error: {config}: no target named 'nope' (known: lucid-ec2)\n"


def test_colour_only_on_a_terminal() -> None:
    from patchsync.model import PatchDelta
    from patchsync.report.check import patch_line

    delta = PatchDelta("x", "modified")
    assert patch_line(delta) == "M  x"
    assert patch_line(delta, colour=True) == "\x1b[31;1mM\x1b[0m  x"


def test_check_from_a_built_src_rpm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: a src.rpm built by rpmbuild, read by --src-rpm, against a real tree."""
    from patchsync.extract import extract_patchset
    from tests.rpmbuild import build_srpm

    srpm = build_srpm(
        tmp_path / "kotd",
        patches={p.split("/", 1)[1]: d for p, d in KOTD.items()},
        series_conf=SERIES,
    )
    source = extract_patchset(srpm, "patches.xen.tar.bz2").source
    repo = make_tree(tmp_path)
    head = ref(repo, "ec2")
    before = refs_and_logs(repo)
    config = write_config(tmp_path, repo)
    code, out, _ = run_cli(capsys, "--config", str(config), "check", "--json", "--src-rpm", str(srpm))
    assert code == 1
    doc = json.loads(out)
    assert doc["source"] == source.to_json()
    assert doc["source"]["file"] == "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"
    assert doc["targets"] == [
        {
            "name": "lucid-ec2",
            "source": "default",
            "in_sync": False,
            "patches": [
                {"name": "xen3-same.diff", "status": "unchanged"},
                {"name": "xen3-patch-03.diff", "status": "modified"},
                {"name": "xen3-header.diff", "status": "metadata"},
                {"name": "xen3-fresh.diff", "status": "refreshed"},
                {"name": "xen3-new.diff", "status": "renamed", "previous_name": "xen3-old.diff"},
                {"name": "xen3-added.diff", "status": "added"},
                {"name": "xen3-local.diff", "status": "held"},
                {"name": "xen3-gone.diff", "status": "removed"},
            ],
            "counts": dict.fromkeys(
                ("unchanged", "metadata", "refreshed", "modified", "added", "removed", "renamed", "held"), 1
            ),
            "order_changes": ["xen3-patch-03.diff"],
            "warnings": [],
            "review_branch": {"name": "patchsync/lucid-ec2", "head": None, "commits": 0, "pending": False},
        }
    ]
    code, out, _ = run_cli(capsys, "--config", str(config), "check", "--src-rpm", str(srpm))
    assert code == 1
    assert out == (
        "KOTD kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm "
        f"(patches.xen.tar.bz2 sha256 {source.tarball_sha256[:12]})\n"
        f"lucid-ec2: drift: 1 unchanged, 1 metadata, 1 refreshed, 1 modified, 1 added, 1 removed, 1 renamed, "
        f"1 held (released, {head[:12]})\n"
        "M  xen3-patch-03.diff\n"
        "H  xen3-header.diff\n"
        "F  xen3-fresh.diff\n"
        "R  xen3-old.diff -> xen3-new.diff\n"
        "A  xen3-added.diff\n"
        "=  xen3-local.diff (held; KOTD: modified)\n"
        "D  xen3-gone.diff\n"
        "order: 1 moved (information only, released history is kept): xen3-patch-03.diff\n"
    )
    assert refs_and_logs(repo) == before


def test_check_writes_nothing_to_a_non_bare_repo(
    tmp_path: Path, kotd: PatchSet, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = init(tmp_path / "work")
    commit_files(repo, {f"{PD}/xen3-same.diff": patch("same")}, "one", branch="ec2")
    git(repo, "checkout", "-q", "-f", "ec2")
    (repo / PD / "xen3-same.diff").write_bytes(b"dirty\n")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, check=True).stdout
    before = refs_and_logs(repo)
    run_cli(capsys, "--config", str(write_config(tmp_path, repo)), "check")
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True, check=True).stdout == status
    assert refs_and_logs(repo) == before
    assert (repo / PD / "xen3-same.diff").read_bytes() == b"dirty\n"
