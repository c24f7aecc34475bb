"""The one check for names from outside, against git itself as the oracle."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from patchsync import names

#: Characters git treats specially in refs and paths, mixed with plain ones.
_ALPHABET = st.sampled_from([*"ab.-/@{}~^:?*[\\ \t\n\x7f\x00", "é", "\u200c", "lock", "HEAD", "git", "~1"])


def _git_accepts_branch(name: str) -> bool:
    if "\0" in name:
        return False  # cannot even be an argument
    proc = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
    return proc.returncode == 0 and proc.stdout.decode().strip() == name


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ALPHABET, min_size=1, max_size=8).map("".join))
@example("patchsync/ec2")
@example("a.lock/b")
@example("x/.y")
@example("-x")
@example("@")
@example("a@{b")
def test_branch_check_is_never_laxer_than_git(name: str) -> None:
    problem = names.branch_problem(name)
    if problem is None:
        assert _git_accepts_branch(name), name
    else:
        assert "\n" not in problem


@pytest.mark.parametrize("name", ["HEAD", "refs/heads/x", "@", "-f", "a\nb", "a b", "a..b", "x.lock", "a/", "a//b"])
def test_branch_names_git_would_refuse_or_find_ambiguous(name: str) -> None:
    assert names.branch_problem(name) is not None


def _fsck_strict_accepts(tmp_path: Path, path: str) -> bool:
    """Whether a commit whose tree holds one file at ``path`` passes ``git fsck --strict``."""
    repo = tmp_path / "oracle"
    tmp_path.mkdir(exist_ok=True)
    if not repo.exists():
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)

    def git(*args: str, data: bytes = b"") -> str:
        return (
            subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=True)
            .stdout.decode()
            .strip()
        )

    blob = git("hash-object", "-w", "--stdin", data=b"x\n")
    entry = ("100644", "blob", blob)
    parts = path.encode("utf-8", "surrogateescape").split(b"/")
    for part in reversed(parts):
        line = f"{entry[0]} {entry[1]} {entry[2]}\t".encode() + part + b"\0"
        try:
            sha = git("mktree", "-z", "--missing", data=line)
        except subprocess.CalledProcessError:
            return False
        entry = ("040000", "tree", sha)
    commit = git("commit-tree", entry[2], "-m", "x")
    git("update-ref", "refs/heads/main", commit)
    proc = subprocess.run(["git", "fsck", "--strict", "--no-dangling"], cwd=repo, capture_output=True, check=False)
    return proc.returncode == 0


_COMPONENT = st.one_of(
    st.sampled_from([".git", ".GIT", ".git.", ".git ", "git~1", ".g\u200cit", ".gitmodules", "GITMOD~1", "..", "."]),
    st.text(st.sampled_from(list("abc.~ -_é")), min_size=1, max_size=6),
)


_SLOW_OK = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]


@settings(max_examples=60, deadline=None, suppress_health_check=_SLOW_OK)
@given(st.lists(_COMPONENT, min_size=1, max_size=3).map("/".join))
def test_path_check_is_never_laxer_than_fsck_strict(tmp_path: Path, path: str) -> None:
    if names.path_problem(path) is None:
        assert _fsck_strict_accepts(tmp_path, path), path


@pytest.mark.parametrize(
    "path",
    [
        ".git/config",
        "a/.Git/hooks/post-checkout",
        "a/.git./x",
        "git~1/config",
        ".g\u200cit/config",
        "a/../b",
        "./a",
        "a//b",
        "/a",
        ".gitmodules",
        "x/.GitModules ",
        "a\\.git\\config",
        "a\nb",
        "a\x7fb",
        "x" * 256,
        "a/" * 2000 + "b",
    ],
)
def test_paths_git_would_flag_are_refused(path: str) -> None:
    problem = names.path_problem(path)
    assert problem is not None
    assert "\n" not in problem


@pytest.mark.parametrize("path", ["arch/x86/xen/enlighten.c", ".gitignore", "a/.github/x", "é" * 127, "x" * 255])
def test_ordinary_paths_pass(path: str) -> None:
    assert names.path_problem(path) is None


def test_the_fsck_oracle_flags_what_it_should(tmp_path: Path) -> None:
    assert _fsck_strict_accepts(tmp_path, "a/b.c")
    assert not _fsck_strict_accepts(tmp_path / "2", "a/.GIT/x")
    assert not _fsck_strict_accepts(tmp_path / "3", "git~1/x")


def test_ref_transaction_cannot_be_split(tmp_path: Path) -> None:
    """A ref name with a newline never reaches git's update-ref as two commands."""
    from patchsync.errors import GitError
    from patchsync.gitsync import refs

    repo = tmp_path / "r"
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    env = {"GIT_AUTHOR_NAME": "a", "GIT_AUTHOR_EMAIL": "a@b", "GIT_COMMITTER_NAME": "a", "GIT_COMMITTER_EMAIL": "a@b"}
    tree = subprocess.run(["git", "mktree"], cwd=repo, input=b"", capture_output=True, check=True).stdout.strip()
    commit = (
        subprocess.run(
            ["git", "commit-tree", tree.decode(), "-m", "x"], cwd=repo, env=env, capture_output=True, check=True
        )
        .stdout.decode()
        .strip()
    )
    refs.transaction(str(repo), [refs.RefUpdate("refs/heads/keep", commit, None)], message="t")
    hostile = f"refs/heads/x {commit} 0000000000000000000000000000000000000000\ndelete refs/heads/keep"
    with pytest.raises(GitError, match="refusing to write: control character"):
        refs.transaction(str(repo), [refs.RefUpdate(hostile, commit, None)], message="t")
    assert refs.read(str(repo), "refs/heads/keep") == commit
    refs.transaction(str(repo), [refs.RefUpdate("refs/heads/keep", None, commit)], message="t")
    assert refs.read(str(repo), "refs/heads/keep") is None
