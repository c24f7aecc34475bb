"""The errors a team meets first, each with the exit status its meaning calls for.

A target whose ``base`` is missing cannot be synced: ``check`` says so as
that target's error (exit 2), not as drift.  A released target whose
team commits overlap a changed patch has a conflict (exit 1) naming that
patch and what to do next, even where the whole range cannot be replayed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from patchsync import cli
from patchsync.model import PatchSet

from .gittarget import PATCHES_DIR, TargetRepo, all_refs, make_patch, patchset, source_lines


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def use_patchset(monkeypatch: pytest.MonkeyPatch, kotd: PatchSet) -> None:
    monkeypatch.setattr("patchsync.source.pipeline.obtain", lambda config, **kw: kotd)


def edit(text: str, changes: dict[int, str]) -> str:
    lines = text.splitlines(keepends=True)
    for number, new in changes.items():
        lines[number - 1] = new
    return "".join(lines)


def config_for(tmp_path: Path, targets: str) -> Path:
    path = tmp_path / "patchsync.toml"
    path.write_text(f'[source]\nurl = "http://127.0.0.1:1/kotd/"\n[state]\ndir = "{tmp_path / "state"}"\n{targets}')
    return path


def target(name: str, repo: Path, *, mode: str = "released", base: str = "v1") -> str:
    return f'[[target]]\nname = "{name}"\nrepo = "{repo}"\nbranch = "ec2"\nbase = "{base}"\nmode = "{mode}"\n'


@pytest.mark.allow_error_log
def test_check_reports_a_missing_base_as_that_targets_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    work = TargetRepo(tmp_path / "repo")
    base_text = source_lines("c")
    work.commit("base", {"c.c": base_text.encode()})
    work.git("tag", "v1")
    p1 = make_patch({"c.c": (base_text, edit(base_text, {10: "ten xen\n"}))})
    work.commit_patch("p1.diff", p1)
    use_patchset(monkeypatch, patchset({"p1.diff": p1}, ["p1.diff"]))
    config = config_for(
        tmp_path,
        target("good", work.path) + target("natty-ec2", work.path, mode="development", base="v2.6.33"),
    )

    code, out, err = run_cli(capsys, "--config", str(config), "check", "--json")
    assert code == 2
    assert err == (
        f"patchsync: error: natty-ec2: {work.path}: base 'v2.6.33' does not exist: fetch it, "
        "or set 'base' to the upstream ref the patch commits sit on\n"
    )
    good, bad = json.loads(out)["targets"]
    assert good["in_sync"] is True
    assert "error" not in good
    assert bad["name"] == "natty-ec2"
    assert bad["in_sync"] is False
    assert bad["error"].startswith(f"{work.path}: base 'v2.6.33' does not exist")


def test_released_conflict_with_base_set_names_the_patch_and_what_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base_text, other_text = source_lines("c"), source_lines("d")
    p1_old_text = edit(base_text, {10: "ten xen\n"})
    p1_old = make_patch({"c.c": (base_text, p1_old_text)})
    # The new version rewrites line 10, next to the team's line 11.
    p1_new = make_patch({"c.c": (base_text, edit(p1_old_text, {10: "ten new\n"}))})
    p3_v1 = make_patch({"d.c": (other_text, edit(other_text, {5: "five xen\n"}))})
    p3_v2 = make_patch({"d.c": (other_text, edit(other_text, {5: "five xen v2\n"}))})
    work = TargetRepo(tmp_path / "repo")
    work.commit("base", {"c.c": base_text.encode(), "d.c": other_text.encode()})
    work.git("tag", "v1")
    work.commit_patch("p1.diff", p1_old)
    # A team commit on the lines right after p1's: p1 no longer reverts on top.
    work.commit("UBUNTU: SAUCE: tune c", {"c.c": edit(p1_old_text, {11: "eleven team\n"}).encode()})
    work.commit_patch("p3.diff", p3_v1)
    # An earlier released-mode update of p3: two commits touch p3.diff, so
    # base..branch cannot be replayed one commit per patch.
    work.commit(
        "UBUNTU: [Xen] p3.diff: update",
        {f"{PATCHES_DIR}/p3.diff": p3_v2, "d.c": edit(other_text, {5: "five xen v2\n"}).encode()},
    )
    before = all_refs(work.path)
    use_patchset(monkeypatch, patchset({"p1.diff": p1_new, "p3.diff": p3_v2}, ["p1.diff", "p3.diff"]))
    config = config_for(tmp_path, target("lucid-ec2", work.path))

    code, out, err = run_cli(capsys, "--config", str(config), "sync", "--no-mail")
    assert code == 1, err
    assert out.splitlines()[1:] == [
        "lucid-ec2 (released): conflict, nothing written",
        "  conflict: p1.diff: c.c: hunk #1 (@@ -7,7 +7,7 @@) does not apply",
        "  next: hold p1.diff (the target's 'hold') or update it by hand on the branch, then sync again",
    ]
    assert "several commits" not in err
    assert all_refs(work.path) == before
