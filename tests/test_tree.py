"""read_patches: a branch's patch files from git objects, never the working tree."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from patchsync.config import TargetConfig
from patchsync.errors import GitError
from patchsync.gitsync.tree import parse_quilt_series, read_patches, read_target
from tests.gittarget import commit_files, git, init, ref

PD = "debian.ec2/patches"


def _tree(tmp_path: Path, *, bare: bool = False) -> Path:
    repo = init(tmp_path / ("bare.git" if bare else "repo"), bare=bare)
    commit_files(repo, {"Makefile": b"all:\n"}, "base")
    commit_files(repo, {f"{PD}/zz-first": b"first\n", "src/a.c": b"a\n"}, "add zz-first")
    commit_files(repo, {"debian.ec2/config": b"CONFIG_X=y\n"}, "config")
    commit_files(repo, {f"{PD}/aa-second": b"second\r\n\xff\n"}, "add aa-second")
    commit_files(repo, {f"{PD}/mm third": b"third\n"}, "add mm third")
    return repo


def test_reads_bytes_and_history_order_from_a_bare_repo(tmp_path: Path) -> None:
    repo = _tree(tmp_path, bare=True)
    tp = read_patches(str(repo), "main", PD)
    assert tp.files == {"zz-first": b"first\n", "aa-second": b"second\r\n\xff\n", "mm third": b"third\n"}
    assert tp.order == ["zz-first", "aa-second", "mm third"]
    assert tp.commit == ref(repo, "main")


def test_working_tree_and_index_are_ignored(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    # A checkout that differs from the branch: a dirty file, a file only in
    # the working tree.  Neither may show up.
    git(repo, "checkout", "-q", "-f", "main")
    (repo / PD / "zz-first").write_bytes(b"dirty\n")
    (repo / PD / "untracked").write_bytes(b"u\n")
    git(repo, "checkout", "-q", "-b", "other")
    commit_files(repo, {f"{PD}/zz-first": b"other branch\n"}, "other", branch="other")
    tp = read_patches(str(repo), "main", PD)
    assert tp.files["zz-first"] == b"first\n"
    assert "untracked" not in tp.files
    assert (repo / PD / "zz-first").read_bytes() == b"dirty\n"


def test_series_with_plain_names(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    commit_files(repo, {f"{PD}/series": b"# quilt\naa-second -p1\n\nzz-first\nghost.patch\n"}, "series")
    tp = read_patches(str(repo), "main", PD)
    # Files missing from the series go last, by name; names without a file are dropped.
    assert tp.order == ["aa-second", "zz-first", "mm third"]
    assert tp.warnings == (
        f"{PD}/series names ghost.patch, which the tree does not have",
        f"{PD}/mm third is not in {PD}/series; ordered last",
    )


def test_readded_patch_sits_where_it_was_last_added(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    commit_files(repo, {f"{PD}/zz-first": None}, "drop")
    commit_files(repo, {f"{PD}/zz-first": b"back\n"}, "re-add")
    assert read_patches(str(repo), "main", PD).order == ["aa-second", "mm third", "zz-first"]


def test_one_git_process_for_many_files(tmp_path: Path) -> None:
    repo = init(tmp_path / "repo")
    commit_files(repo, {f"{PD}/p{i:04d}": f"patch {i}\n".encode() for i in range(300)}, "many")
    trace = tmp_path / "trace"
    mp = pytest.MonkeyPatch()
    mp.setenv("GIT_TRACE", str(trace))
    try:
        tp = read_patches(str(repo), "main", PD)
    finally:
        mp.undo()
    assert len(tp.files) == 300
    # GIT_TRACE logs every git process started: a cat-file stream and one log.
    started = [line for line in trace.read_text().splitlines() if "trace: built-in: git" in line]
    # (GitPython also asks `git version` once or twice.)
    assert len(started) <= 6, started


@pytest.mark.parametrize(
    ("repo_name", "branch", "pdir", "message"),
    [
        ("nowhere", "main", PD, "nowhere: no such repository"),
        ("plain", "main", PD, "plain: not a git repository"),
        ("repo", "nope", PD, "repo: no branch or commit 'nope'"),
        ("repo", "main", "debian.x/patches", "repo main: debian.x/patches does not exist at "),
        ("repo", "main", "Makefile", "repo main: Makefile is not a folder at "),
    ],
)
def test_errors_name_repo_and_ref(tmp_path: Path, repo_name: str, branch: str, pdir: str, message: str) -> None:
    _tree(tmp_path)
    (tmp_path / "plain").mkdir()
    with pytest.raises(GitError) as err:
        read_patches(str(tmp_path / repo_name), branch, pdir)
    assert str(err.value).startswith(str(tmp_path / message))


def test_quilt_series_parsing() -> None:
    assert parse_quilt_series(b"a\n#b\n  c -p0  # x\n\n") == ["a", "c"]


def test_does_not_need_a_working_tree_checkout(tmp_path: Path) -> None:
    repo = _tree(tmp_path)
    before = subprocess.run(["git", "status", "--porcelain=v1"], cwd=repo, capture_output=True, check=True).stdout
    read_patches(str(repo), "main", PD)
    after = subprocess.run(["git", "status", "--porcelain=v1"], cwd=repo, capture_output=True, check=True).stdout
    assert before == after


def test_git_refusing_the_repository_says_why_in_its_own_words(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _tree(tmp_path)
    # git's own switch for its safe.directory tests: the repository looks owned by someone else.
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")
    with pytest.raises(GitError) as err:
        read_patches(str(repo), "main", PD)
    message = str(err.value)
    assert message == (
        f"{repo}: git rev-parse failed: fatal: detected dubious ownership in repository at '{repo}' "
        f"(git config --global --add safe.directory {repo})"
    )


def _target(repo: Path, base: str) -> TargetConfig:
    return TargetConfig(name="t", repo=str(repo), branch="main", base=base, patches_dir=PD, mode="released")


def _logs(trace: Path) -> list[str]:
    return [line.split("git log ", 1)[1] for line in trace.read_text().splitlines() if "built-in: git log " in line]


def test_history_order_walks_only_from_base_where_the_folder_starts_after_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _tree(tmp_path)
    base = git(repo, "rev-list", "--max-parents=0", "main").strip()  # "base": no patches folder yet
    git(repo, "tag", "v1", base)
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    tp = read_target(_target(repo, "v1"))
    assert tp.order == ["zz-first", "aa-second", "mm third"]
    (log,) = _logs(trace)
    assert f" {base}..{tp.commit} -- {PD}/" in log


def test_history_order_walks_everything_where_base_has_patches_or_is_no_ancestor(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _tree(tmp_path)
    # Patches added before base, and base a commit that has them: all
    # history counts.
    git(repo, "tag", "has-patches", "main~1")
    trace = tmp_path / "trace"
    monkeypatch.setenv("GIT_TRACE", str(trace))
    assert read_target(_target(repo, "has-patches")).order == ["zz-first", "aa-second", "mm third"]
    (log,) = _logs(trace)
    assert ".." not in log
    # A base off to the side, without the folder, that shares the commit
    # adding zz-first: base..main would leave that commit out.
    git(repo, "branch", "side", "main~3")
    commit_files(repo, {f"{PD}/zz-first": None}, "drop the folder", branch="side")
    trace.unlink()
    assert read_target(_target(repo, "side")).order == ["zz-first", "aa-second", "mm third"]
    (log,) = _logs(trace)
    assert ".." not in log
