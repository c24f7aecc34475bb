"""``patchsync sync``: the real comparison, exact text and JSON, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchsync import cli
from patchsync.model import PatchSet

from .gittarget import all_refs, git, make_patch, object_files, ref, source_lines
from .syncscenario import KOTD_ORDER, KOTD_PATCHES, Scenario, build

REVIEW = "refs/heads/patchsync/lucid-ec2"


def write_config(tmp_path: Path, sc: Scenario, extra_targets: str = "") -> Path:
    path = tmp_path / "patchsync.toml"
    path.write_text(
        f"""
[source]
url = "http://127.0.0.1:1/kotd/"

[state]
dir = "{sc.state_dir}"

[[target]]
name = "lucid-ec2"
repo = "{sc.repo}"
branch = "ec2"
base = "v2.6.32"
mode = "{sc.target.mode}"
hold = ["xen3-p07.diff"]
{extra_targets}
"""
    )
    return path


def use_patchset(monkeypatch: pytest.MonkeyPatch, patchset: PatchSet) -> None:
    monkeypatch.setattr("patchsync.source.pipeline.obtain", lambda *a, **kw: patchset)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("mode", ["released", "development"])
def test_sync_json_then_up_to_date(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, mode)
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)

    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--json")

    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert doc["source"]["tarball_sha256"] == "ab" * 32
    assert doc["dry_run"] is False
    (target,) = doc["targets"]
    head = ref(sc.repo, REVIEW)
    assert target["name"] == "lucid-ec2"
    assert target["mode"] == mode
    assert target["status"] == "updated"
    assert target["ref"] == REVIEW
    assert target["head"] == head
    assert target["conflicts"] == []
    assert target["error"] is None
    assert set(target) == {
        "name", "mode", "source", "status", "ref", "head", "commits", "conflicts", "applied", "dropped",
        "branch_updated", "backup", "pushed", "dry_run", "error",
    }  # fmt: skip
    # Development mode left xen3-p05.diff's commit out of the new history, and says so.
    dropped = [
        {"sha": sc.commits["xen3-p05.diff"], "subject": "UBUNTU: [Xen] xen3-p05.diff", "patches": ["xen3-p05.diff"]}
    ]
    assert target["dropped"] == (dropped if mode == "development" else [])
    # The real comparison found every status; the result is the invariant tree.
    assert git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip() == sc.expected(tmp_path / "oracle")
    assert target["commits"][-1]["sha"] == head
    patches = [p for c in target["commits"] for p in c["patches"]]
    assert sorted(patches) == sorted(
        ["xen3-p02.diff", "xen3-p03.diff", "xen3-p08.diff", "xen3-p04.diff", "xen3-p06-new.diff"]
        + (["xen3-p05.diff"] if mode == "released" else [])
    )

    code, out, _ = run_cli(capsys, "--config", str(config), "sync", "--json")
    assert code == 0
    again = json.loads(out)["targets"][0]
    assert (again["status"], again["head"], again["commits"]) == ("up-to-date", head, [])


def test_text_report_and_dry_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, "released")
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)
    refs_before, objects_before = all_refs(sc.repo), object_files(sc.repo)

    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--dry-run")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "KOTD kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm (patches.xen.tar.bz2 sha256 abababababab)"
    assert lines[1].startswith(f"lucid-ec2 (released): would write {REVIEW} at ")
    assert lines[1].endswith(", 6 commits")
    assert [line.split(" ", 3)[3] for line in lines[2:8]] == [
        f"UBUNTU: [Xen] {n}: {what}"
        for n, what in [
            ("xen3-p02.diff", "update from kernel-source 2.6.32.10-0.0.3.bbbb222"),
            ("xen3-p03.diff", "update from kernel-source 2.6.32.10-0.0.3.bbbb222"),
            ("xen3-p08.diff", "add from kernel-source 2.6.32.10-0.0.3.bbbb222"),
            ("xen3-p04.diff", "update from kernel-source 2.6.32.10-0.0.3.bbbb222"),
            ("xen3-p06-new.diff", "rename from xen3-p06.diff in kernel-source 2.6.32.10-0.0.3.bbbb222"),
            ("xen3-p05.diff", "remove, dropped from kernel-source 2.6.32.10-0.0.3.bbbb222"),
        ]
    ]
    assert lines[-1] == "dry run: nothing was written"
    assert all_refs(sc.repo) == refs_before
    assert object_files(sc.repo) == objects_before

    code, out, _ = run_cli(capsys, "--config", str(config), "sync", "--dry-run", "--json")
    assert json.loads(out)["dry_run"] is True
    assert json.loads(out)["targets"][0]["dry_run"] is True


@pytest.mark.allow_error_log
def test_exit_status_error_beats_conflict(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, "released")
    bad = make_patch({"src/g.c": (source_lines("q"), source_lines("q").replace("q line 7", "q seven"))})
    files = {**sc.patchset.files, "patches.xen/xen3-p09.diff": bad}
    series = sc.patchset.series_conf + b"\tpatches.xen/xen3-p09.diff\n"  # type: ignore[operator]
    use_patchset(monkeypatch, PatchSet(sc.patchset.source, "patches.xen", files, series))
    missing = tmp_path / "nowhere"
    config = write_config(
        tmp_path,
        sc,
        f'[[target]]\nname = "gone"\nrepo = "{missing}"\nbranch = "ec2"\n',
    )
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--json")
    assert code == 2
    assert f"gone: {missing}: " in err
    conflict, error = json.loads(out)["targets"]
    assert conflict["status"] == "conflict"
    assert conflict["conflicts"] == [
        {
            "patch": "xen3-p09.diff",
            "commit": None,
            "files": ["src/g.c"],
            "message": "src/g.c: hunk #1 (@@ -4,7 +4,7 @@) does not apply",
        }
    ]
    assert error["status"] == "error"
    assert error["error"].startswith(str(missing))
    assert ref(sc.repo, REVIEW) is None

    code, out, _ = run_cli(capsys, "--config", str(config), "sync", "--target", "lucid-ec2")
    assert code == 1
    assert out.splitlines()[1:] == [
        "lucid-ec2 (released): conflict, nothing written",
        "  conflict: xen3-p09.diff: src/g.c: hunk #1 (@@ -4,7 +4,7 @@) does not apply",
        "  next: hold xen3-p09.diff (the target's 'hold') or update it by hand on the branch, then sync again",
    ]


def test_from_a_built_src_rpm(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """End to end: rpmbuild's src.rpm through --src-rpm, compare, sync."""
    from .rpmbuild import build_srpm

    sc = build(tmp_path, "development")
    series = "".join(f"\t+xen\tpatches.xen/{n}\n" for n in KOTD_ORDER).encode()
    srpm = build_srpm(tmp_path / "kotd", patches=KOTD_PATCHES, series_conf=series)
    config = write_config(tmp_path, sc)
    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--json", "--src-rpm", str(srpm))
    assert code == 0, err
    target = json.loads(out)["targets"][0]
    assert target["status"] == "updated"
    assert git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip() == sc.expected(tmp_path / "oracle")


def test_development_text_names_the_dropped_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sc = build(tmp_path, "development")
    use_patchset(monkeypatch, sc.patchset)
    config = write_config(tmp_path, sc)
    for verb in ("would drop", "dropped"):
        argv = ["--config", str(config), "sync", "--no-mail"] + (["--dry-run"] if verb == "would drop" else [])
        code, out, _ = run_cli(capsys, *argv)
        assert code == 0
        sha = sc.commits["xen3-p05.diff"][:12]
        assert f"  {verb} {sha} UBUNTU: [Xen] xen3-p05.diff (xen3-p05.diff removed from the KOTD)" in out.splitlines()
