"""The in-memory applier against what patch(1) and git apply would do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchsync.gitsync.apply import ApplyError, FileState, apply_file, apply_hunks
from patchsync.gitsync.objects import ObjectStore
from patchsync.gitsync.treeapply import ConflictError, apply_patch
from patchsync.gitsync.trees import Draft
from patchsync.patches.parse import parse_patch

from .gittarget import git, make_patch, source_lines

BASE = source_lines("x", 60)


def _edit(text: str, changes: dict[int, str]) -> str:
    lines = text.splitlines(keepends=True)
    for number, new in changes.items():
        lines[number - 1] = new
    return "".join(lines)


NEW = _edit(BASE, {10: "x ten\n", 40: "x forty\n"})
PATCH = make_patch({"src/x.c": (BASE, NEW)})


def _apply(data: bytes, content: bytes | None, tmp_path: Path, **kwargs: object) -> tuple[bytes | None, str]:
    (fd,) = parse_patch(data).files
    state, method = apply_file(fd, FileState(content), scratch=tmp_path, **kwargs)  # type: ignore[arg-type]
    return state.content, method


def test_exact_and_reverse(tmp_path: Path) -> None:
    assert _apply(PATCH, BASE.encode(), tmp_path) == (NEW.encode(), "exact")
    assert _apply(PATCH, NEW.encode(), tmp_path, reverse=True) == (BASE.encode(), "exact")


def test_offsets_when_lines_moved(tmp_path: Path) -> None:
    shifted = "head 1\nhead 2\n" + BASE
    assert _apply(PATCH, shifted.encode(), tmp_path) == (("head 1\nhead 2\n" + NEW).encode(), "offset")


def test_fuzz_ignores_at_most_two_context_lines(tmp_path: Path) -> None:
    two = _edit(BASE, {7: "changed 7\n", 37: "changed 37\n"})
    content, method = _apply(PATCH, two.encode(), tmp_path)
    assert method == "fuzz1"
    assert content == _edit(NEW, {7: "changed 7\n", 37: "changed 37\n"}).encode()
    # Context changed three lines deep on both sides: GNU patch gives up at --fuzz=2 too.
    three = _edit(BASE, {7: "c7\n", 8: "c8\n", 9: "c9\n", 11: "c11\n", 12: "c12\n", 13: "c13\n"})
    with pytest.raises(ApplyError) as info:
        _apply(PATCH, three.encode(), tmp_path)
    assert "src/x.c: hunk #1 (@@ -7,7 +7,7 @@) does not apply" in info.value.message


def test_three_way_with_a_known_preimage(tmp_path: Path) -> None:
    # The current file changed right next to the hunk (fuzz would be needed),
    # but the patch applies to the pre-image: merge as git am -3 does.
    current = _edit(BASE, {8: "x eight, changed\n", 12: "x twelve, changed\n"})
    content, method = _apply(PATCH, current.encode(), tmp_path, preimages=lambda fd: [BASE.encode()])
    assert method == "3way"
    assert content == _edit(NEW, {8: "x eight, changed\n", 12: "x twelve, changed\n"}).encode()


def test_new_deleted_crlf_and_no_newline(tmp_path: Path) -> None:
    created = make_patch({"n.c": (None, "one\ntwo\n")})
    assert _apply(created, None, tmp_path) == (b"one\ntwo\n", "exact")
    with pytest.raises(ApplyError, match="already exists"):
        _apply(created, b"x\n", tmp_path)
    assert _apply(created, b"one\ntwo\n", tmp_path, reverse=True) == (None, "exact")
    deleted = make_patch({"n.c": ("one\ntwo\n", None)})
    assert _apply(deleted, b"one\ntwo\n", tmp_path) == (None, "exact")
    crlf = make_patch({"w.c": ("a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n")})
    assert _apply(crlf, b"a\r\nb\r\nc\r\n", tmp_path) == (b"a\r\nB\r\nc\r\n", "exact")
    eof = b"--- a/e.c\n+++ b/e.c\n@@ -1,2 +1,2 @@\n a\n-b\n\\ No newline at end of file\n+b\n"
    assert _apply(eof, b"a\nb", tmp_path) == (b"a\nb\n", "exact")
    assert _apply(eof, b"a\nb\n", tmp_path, reverse=True) == (b"a\nb", "exact")


def test_hunks_apply_in_order_without_overlap() -> None:
    (fd,) = parse_patch(PATCH).files
    with pytest.raises(ValueError, match="hunk #1"):
        apply_hunks(b"unrelated\n", fd.hunks)


def _repo_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    repo = tmp_path / "r"
    repo.mkdir()
    git(repo, "init", "-q")
    for name, data in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    return repo


def test_tree_level_git_patch_with_index_mode_and_rename(tmp_path: Path) -> None:
    repo = _repo_with(tmp_path, {"src/x.c": BASE.encode(), "tools/run.sh": b"#!/bin/sh\n", "old.c": b"o\n"})
    (repo / "src/x.c").write_text(NEW)
    (repo / "tools/run.sh").chmod(0o755)
    git(repo, "mv", "old.c", "new.c")
    git(repo, "add", "-A")
    patch = git(repo, "diff", "--cached", "-M").encode()
    git(repo, "commit", "-q", "-m", "change")
    expected = git(repo, "rev-parse", "HEAD^{tree}").strip()
    with ObjectStore(repo, tmp_path / "q") as store:
        base_tree = store.commit("HEAD^").tree
        applied = apply_patch(store, Draft(base_tree), patch, name="git.diff", scratch=tmp_path)
        assert applied.tree.write(store) == expected
        assert applied.method == "exact"
        # The index line names the pre-image blob: a file changed since
        # still takes the patch by a 3-way merge.
        moved = _edit(BASE, {8: "eight changed\n", 12: "twelve changed\n"})
        from patchsync.gitsync import trees
        from patchsync.gitsync.objects import TreeEntry

        blob = store.write_blob(moved.encode())
        changed = trees.edit(store, base_tree, {b"src/x.c": TreeEntry(b"100644", blob)})
        merged = apply_patch(store, Draft(changed), patch, name="git.diff", scratch=tmp_path)
        assert merged.method == "3way"
        assert (
            trees.read_file(store, merged.tree.write(store), b"src/x.c")
            == _edit(NEW, {8: "eight changed\n", 12: "twelve changed\n"}).encode()
        )
        with pytest.raises(ConflictError) as info:
            apply_patch(store, Draft(expected), patch, name="git.diff", scratch=tmp_path)
        assert info.value.conflict.patch == "git.diff"
        assert "new.c" in info.value.conflict.files
    # Nothing was written to the repository's objects.
    assert subprocess.run(["git", "-C", str(repo), "fsck", "--no-dangling"], check=False).returncode == 0


_LINES = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "d\n", "e\r\n", "\n"]), min_size=0, max_size=40)


@settings(max_examples=150, deadline=None)
@given(old=_LINES, new=_LINES, context=st.integers(0, 5))
def test_any_unified_diff_applies_back_and_forth(old: list[str], new: list[str], context: int) -> None:
    """difflib's diff of two files (repeated lines, CRLF, empty lines) takes the old to the new and back."""
    if old == new:
        return
    data = make_patch({"f": ("".join(old), "".join(new))}, context=context)
    (fd,) = parse_patch(data).files
    before, after = "".join(old).encode(), "".join(new).encode()
    result, _ = apply_hunks(before, fd.hunks)
    assert result == after
    assert apply_hunks(after, fd.hunks, reverse=True)[0] == before
