"""What a sync adds to the repository: one thin-then-fixed pack of what changed, nothing twice."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patchsync.gitsync import sync_target
from patchsync.gitsync.objects import MODE_BLOB, MODE_TREE, TreeEntry, _Tree
from patchsync.gitsync.pack import apply_delta

from .gittarget import all_refs, git, object_files
from .syncscenario import Scenario, build

REVIEW = "refs/heads/patchsync/lucid-ec2"
LAST = "refs/patchsync/last/lucid-ec2"


def _count_objects(repo: Path) -> dict[str, int]:
    out = git(repo, "count-objects", "-v")
    return {key: int(value) for key, _, value in (line.partition(": ") for line in out.splitlines())}


def _pack_objects(pack_idx: Path) -> list[list[str]]:
    """``git verify-pack -v`` rows of a pack: sha, type, size, size in pack, offset[, depth, base]."""
    out = git(pack_idx.parent, "verify-pack", "-v", str(pack_idx))
    return [line.split() for line in out.splitlines() if len(line.split()) >= 5 and len(line.split()[0]) == 40]


def _all_objects(repo: Path) -> set[str]:
    out = git(repo, "cat-file", "--batch-all-objects", "--batch-check=%(objectname)")
    return set(out.split())


def _fixed_dates(monkeypatch: pytest.MonkeyPatch) -> None:
    # Commits made at the same second are the same objects.
    monkeypatch.setenv("GIT_AUTHOR_DATE", "1700000000 +0000")
    monkeypatch.setenv("GIT_COMMITTER_DATE", "1700000000 +0000")


def _sync(sc: Scenario):  # type: ignore[no-untyped-def]
    return sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir)


@pytest.mark.parametrize("mode", ["released", "development"])
def test_sync_adds_one_pack_thin_then_fixed(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    before = _count_objects(sc.repo)
    packs_before = set(object_files(sc.repo))
    existing = _all_objects(sc.repo)

    result = _sync(sc)

    assert result.status == "updated"
    after = _count_objects(sc.repo)
    new_files = sorted(set(object_files(sc.repo)) - packs_before)
    assert [Path(f).suffix for f in new_files] == [".idx", ".pack"]
    assert after["packs"] == before["packs"] + 1
    assert after["count"] == before["count"]
    assert after["garbage"] == 0
    git(sc.repo, "fsck", "--strict", "--full", "--no-dangling")

    objects_dir = sc.repo / ".git" / "objects"
    rows = _pack_objects(objects_dir / new_files[0])
    in_pack = {row[0] for row in rows}
    assert after["in-pack"] == before["in-pack"] + len(rows)
    reachable = git(sc.repo, "rev-list", "--objects", REVIEW, "--not", "refs/heads/ec2").split()
    new = {word for word in reachable if len(word) == 40} - existing
    # Every object the repository lacked is in the pack; the only others
    # are the delta bases index-pack --fix-thin took from the repository.
    assert new <= in_pack
    deltas = [row for row in rows if len(row) == 7]
    assert any(row[1] == "tree" for row in deltas), "trees are stored as deltas"
    bases = {row[6] for row in deltas}
    # Nothing the result does not reach (no step of a commit's edits), and
    # of what the repository had, only the delta bases index-pack
    # --fix-thin took from it to complete the thin pack.
    appended = in_pack - new
    assert appended, "the pack was thin: some bases came from the repository"
    assert appended <= bases & existing


@pytest.mark.parametrize("mode", ["released", "development"])
def test_rerun_of_the_same_sync_adds_no_objects(tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _fixed_dates(monkeypatch)
    sc = build(tmp_path, mode)
    first = _sync(sc)
    assert first.status == "updated"
    # Forget the review branch, so the rerun computes and writes the same
    # history again instead of recognising its result.
    git(sc.repo, "update-ref", "-d", REVIEW)
    git(sc.repo, "update-ref", "-d", LAST)
    files = object_files(sc.repo)
    counts = _count_objects(sc.repo)

    again = _sync(sc)

    assert again.status == "updated"
    assert again.head == first.head
    assert object_files(sc.repo) == files
    assert _count_objects(sc.repo) == counts
    git(sc.repo, "fsck", "--strict", "--full", "--no-dangling")


@pytest.mark.parametrize("mode", ["released", "development"])
def test_a_sync_after_another_writes_nothing_the_repository_has(
    tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fixed_dates(monkeypatch)
    sc = build(tmp_path, mode)
    # A first sync of one patch leaves blobs and trees the full sync makes again.
    first = [p if p.name == "xen3-p04.diff" else replace(p, status="unchanged") for p in sc.drift.patches]
    assert _sync(replace(sc, drift=replace(sc.drift, patches=tuple(first)))).status == "updated"
    git(sc.repo, "update-ref", "-d", REVIEW)
    git(sc.repo, "update-ref", "-d", LAST)
    existing = _all_objects(sc.repo)
    packs_before = set(object_files(sc.repo))

    assert _sync(sc).status == "updated"

    (idx,) = [f for f in set(object_files(sc.repo)) - packs_before if f.endswith(".idx")]
    rows = _pack_objects(sc.repo / ".git" / "objects" / idx)
    in_pack = {row[0] for row in rows}
    bases = {row[6] for row in rows if len(row) == 7}
    again = in_pack & existing
    # The objects both syncs make are there already: only the delta bases
    # index-pack --fix-thin appends to complete the thin pack are copies.
    assert again <= bases, sorted(again - bases)
    reachable = git(sc.repo, "rev-list", "--objects", REVIEW, "--not", "refs/heads/ec2").split()
    assert {w for w in reachable if len(w) == 40} & (existing - in_pack), "the second sync reused objects"
    git(sc.repo, "fsck", "--strict", "--full", "--no-dangling")


def test_moving_the_branch_to_a_written_review_adds_no_objects(tmp_path: Path) -> None:
    sc = build(tmp_path, "development", bare=True)
    first = _sync(sc)
    refs = all_refs(sc.repo)
    files = object_files(sc.repo)

    # A later run (other commit dates) that may move the branch finds the
    # result on the review branch already: only refs change.
    moved = sync_target(sc.patchset, replace(sc.target, update_branch=True), sc.drift, state_dir=sc.state_dir)

    assert moved.branch_updated
    assert moved.head == first.head
    assert all_refs(sc.repo) != refs
    assert object_files(sc.repo) == files


_NAMES = st.binary(min_size=1, max_size=6).filter(lambda b: b"/" not in b and b"\0" not in b)
_ENTRIES = st.builds(
    TreeEntry, st.sampled_from([MODE_BLOB, MODE_TREE]), st.binary(min_size=20, max_size=20).map(bytes.hex)
)


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(_NAMES, _ENTRIES, max_size=30),
    st.dictionaries(_NAMES, st.none() | _ENTRIES, max_size=8),
)
def test_tree_edit_matches_a_full_rewrite_and_its_delta(
    entries: dict[bytes, TreeEntry], changes: dict[bytes, TreeEntry | None]
) -> None:
    old = _Tree.build(entries)
    edited = old.edit(changes)
    expected = dict(entries)
    for name, entry in changes.items():
        if entry is None:
            expected.pop(name, None)
        else:
            expected[name] = entry
    if edited is None:
        assert expected == entries
        return
    new, delta = edited
    assert new.entries == expected
    assert new.data() == _Tree.build(expected).data()
    assert apply_delta(old.data(), delta.finish(old.size)) == new.data()
