"""sync_target on real repositories: both modes, every status, the safety rules."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from patchsync.gitsync import sync_target
from patchsync.gitsync.message import trailers

from . import syncscenario
from .gittarget import PATCHES_DIR, all_refs, git, make_patch, object_files, patchset, ref, snapshot
from .syncscenario import KOTD_ORDER, Scenario, build

REVIEW = "refs/heads/patchsync/lucid-ec2"
SHA = "ab" * 32


def _sync(sc: Scenario, **kwargs: object):  # type: ignore[no-untyped-def]
    return sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir, **kwargs)  # type: ignore[arg-type]


def _log(repo: Path, rev_range: str, fmt: str = "%s") -> list[str]:
    return git(repo, "log", "--reverse", f"--format={fmt}", rev_range).splitlines()


@pytest.mark.parametrize("mode", ["released", "development"])
def test_review_branch_holds_the_kotd_series(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    before = snapshot(sc.repo)
    branch = ref(sc.repo, "refs/heads/ec2")

    result = _sync(sc)

    assert result.status == "updated", result.error
    assert result.ref == REVIEW
    assert ref(sc.repo, REVIEW) == result.head
    # The invariant: base + non-patch commits + KOTD series + KOTD patch files.
    assert git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip() == sc.expected(tmp_path / "oracle")
    # The held patch keeps the tree's version, byte for byte.
    held = git(sc.repo, "show", f"{REVIEW}:{PATCHES_DIR}/xen3-p07.diff").encode()
    assert held == syncscenario.TREE_PATCHES["xen3-p07.diff"]
    # Nothing else moved, and the working tree, index and HEAD are as they were.
    assert ref(sc.repo, "refs/heads/ec2") == branch
    assert snapshot(sc.repo) == before
    assert not result.branch_updated
    assert result.backup is None


def test_released_adds_one_commit_per_change_on_top(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    result = _sync(sc)
    branch = sc.drift.branch_commit
    # History is not rewritten: the branch is the review branch's ancestor.
    assert git(sc.repo, "merge-base", branch, REVIEW).strip() == branch
    release = "kernel-source 2.6.32.10-0.0.3.bbbb222"
    assert _log(sc.repo, f"{branch}..{REVIEW}") == [
        f"UBUNTU: [Xen] xen3-p02.diff: update from {release}",
        f"UBUNTU: [Xen] xen3-p03.diff: update from {release}",
        f"UBUNTU: [Xen] xen3-p08.diff: add from {release}",
        f"UBUNTU: [Xen] xen3-p04.diff: update from {release}",
        f"UBUNTU: [Xen] xen3-p06-new.diff: rename from xen3-p06.diff in {release}",
        f"UBUNTU: [Xen] xen3-p05.diff: remove, dropped from {release}",
    ]
    assert [c.patches for c in result.commits] == [
        ("xen3-p02.diff",),
        ("xen3-p03.diff",),
        ("xen3-p08.diff",),
        ("xen3-p04.diff",),
        ("xen3-p06-new.diff",),
        ("xen3-p05.diff",),
    ]
    # Each commit changes its patch file and the sources the patch touches, nothing else.
    files = [git(sc.repo, "diff-tree", "--no-commit-id", "--name-status", "-r", c.sha) for c in result.commits]
    assert files[0] == f"M\t{PATCHES_DIR}/xen3-p02.diff\n"
    assert files[3] == f"M\t{PATCHES_DIR}/xen3-p04.diff\nM\tsrc/c.c\n"
    assert files[4] == f"A\t{PATCHES_DIR}/xen3-p06-new.diff\nD\t{PATCHES_DIR}/xen3-p06.diff\n"
    assert files[5] == f"D\t{PATCHES_DIR}/xen3-p05.diff\nM\tsrc/d.c\n"
    body = git(sc.repo, "log", "-1", "--format=%B", result.commits[0].sha)
    assert trailers(body.encode()) == {
        "Patchsync-Source": [sc.patchset.source.url],
        "Patchsync-Tarball-SHA256": [SHA],
    }
    # Author and committer default to git's own configuration.
    assert git(sc.repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", REVIEW).strip() == (
        "Test Author <author@example.org>|Test Committer <committer@example.org>"
    )


def test_development_rewrites_each_patch_commit_in_place(tmp_path: Path) -> None:
    sc = build(tmp_path, "development")
    result = _sync(sc)
    assert result.status == "updated"
    subjects = _log(sc.repo, f"v2.6.32..{REVIEW}", "%s|%an|%ad")
    assert [s.split("|")[0] for s in subjects] == [
        "UBUNTU: [Xen] xen3-p01.diff",
        "UBUNTU: [Xen] xen3-p02.diff",
        "UBUNTU: [Config] ec2: enable XEN_BLKDEV",
        "UBUNTU: [Xen] xen3-p03.diff",
        "UBUNTU: [Xen] xen3-p08.diff: add from kernel-source 2.6.32.10-0.0.3.bbbb222",
        "UBUNTU: [Xen] xen3-p04.diff",
        "UBUNTU: SAUCE: z: fix the z driver",
        # The renamed patch's commit names the new patch; its body is kept.
        "UBUNTU: [Xen] xen3-p06-new.diff",
        "UBUNTU: [Xen] xen3-p07.diff",
    ]
    # The commit before the first change is kept as it is.
    assert git(sc.repo, "rev-parse", f"{REVIEW}~8").strip() == sc.commits["xen3-p01.diff"]
    # Replayed commits keep content and metadata; changed ones keep author and date.
    by_subject = dict(line.split("|", 1)[::-1] for line in _log(sc.repo, f"v2.6.32..{REVIEW}", "%H|%s"))
    fmt = "--format=%an|%ae|%ad|%cn|%cd|%B"
    for label in ("config", "sauce", "xen3-p07.diff"):
        old = git(sc.repo, "log", "-1", fmt, sc.commits[label])
        new_sha = by_subject[old.split("|")[5].strip()]
        assert new_sha != sc.commits[label]
        assert git(sc.repo, "log", "-1", fmt, new_sha) == old
        assert git(sc.repo, "diff", f"{sc.commits[label]}^!") == git(sc.repo, "diff", f"{new_sha}^!")
    changed = by_subject["UBUNTU: [Xen] xen3-p04.diff"]
    fmt = "--format=%an|%ae|%ad|%s"
    assert git(sc.repo, "log", "-1", fmt, changed) == git(sc.repo, "log", "-1", fmt, sc.commits["xen3-p04.diff"])
    # The changed commit carries the new patch file and the trailers.
    p04 = f"{REVIEW}~3"
    assert git(sc.repo, "show", f"{p04}:{PATCHES_DIR}/xen3-p04.diff").encode() == sc.kotd["xen3-p04.diff"]
    assert trailers(git(sc.repo, "log", "-1", "--format=%B", p04).encode())["Patchsync-Tarball-SHA256"] == [SHA]
    # One commit per patch: the removed patch's commit is gone, the renamed one renamed.
    names = git(sc.repo, "diff-tree", "--no-commit-id", "--name-status", "-r", f"{REVIEW}~1")
    assert names == f"A\t{PATCHES_DIR}/xen3-p06-new.diff\nA\tdrivers/xen/new.c\n"
    assert "xen3-p05.diff" not in git(sc.repo, "log", "--format=%s", f"v2.6.32..{REVIEW}")


@pytest.mark.parametrize("mode", ["released", "development"])
def test_second_run_is_a_no_op(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    first = _sync(sc)
    refs_after = all_refs(sc.repo)
    objects = object_files(sc.repo)

    again = _sync(sc)

    assert again.status == "up-to-date"
    assert again.head == first.head
    assert again.commits == ()
    assert all_refs(sc.repo) == refs_after
    assert object_files(sc.repo) == objects


@pytest.mark.parametrize("mode", ["released", "development"])
def test_in_sync_target_is_up_to_date(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    quiet = replace(
        sc.drift, patches=tuple(replace(p, status="unchanged") for p in sc.drift.patches if p.status != "removed")
    )
    result = sync_target(sc.patchset, sc.target, quiet, state_dir=sc.state_dir)
    assert result.status == "up-to-date"
    assert result.head == sc.drift.branch_commit
    assert ref(sc.repo, REVIEW) is None


@pytest.mark.parametrize("mode", ["released", "development"])
def test_dry_run_writes_nothing(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    refs_before = all_refs(sc.repo)
    objects = object_files(sc.repo)
    result = _sync(sc, dry_run=True)
    assert result.status == "updated"
    assert len(result.commits) == (6 if mode == "released" else 8)
    assert all_refs(sc.repo) == refs_before
    assert object_files(sc.repo) == objects


@pytest.mark.allow_error_log
@pytest.mark.parametrize("mode", ["released", "development"])
def test_checked_out_branch_is_never_moved(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode).with_target(update_branch=True)
    # A dirty working tree with staged, unstaged and untracked changes.
    (sc.repo / "src/a.c").write_text("edited by hand\n")
    (sc.repo / "src/b.c").write_text("staged by hand\n")
    git(sc.repo, "add", "src/b.c")
    (sc.repo / "notes.txt").write_text("untracked\n")
    before = snapshot(sc.repo)
    branch = ref(sc.repo, "refs/heads/ec2")

    result = _sync(sc)

    assert result.status == "error"
    assert result.error is not None
    assert "ec2 is checked out in" in result.error
    # The review branch is still written; the checked-out branch is not moved.
    assert ref(sc.repo, REVIEW) == result.head
    assert ref(sc.repo, "refs/heads/ec2") == branch
    assert snapshot(sc.repo) == before
    assert (sc.repo / "src/a.c").read_text() == "edited by hand\n"


@pytest.mark.parametrize("mode", ["released", "development"])
def test_bare_repository_branch_update(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode, bare=True).with_target(update_branch=True)
    old = ref(sc.repo, "refs/heads/ec2")
    result = _sync(sc)
    assert result.status == "updated", result.error
    assert result.branch_updated
    assert ref(sc.repo, "refs/heads/ec2") == result.head == ref(sc.repo, REVIEW)
    assert git(sc.repo, "rev-parse", "ec2^{tree}").strip() == sc.expected(tmp_path / "oracle")
    backups = git(sc.repo, "for-each-ref", "--format=%(refname) %(objectname)", "refs/patchsync/backup/")
    if mode == "development":
        assert result.backup is not None
        assert result.backup.startswith("refs/patchsync/backup/lucid-ec2/")
        assert backups == f"{result.backup} {old}\n"
    else:
        # A fast-forward loses nothing, so it needs no backup.
        assert git(sc.repo, "merge-base", str(old), "ec2").strip() == old
        assert backups == ""


@pytest.mark.allow_error_log
def test_foreign_commits_on_the_review_branch_are_kept(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    first = _sync(sc)
    # Someone reviews and adds a fix on top of the review branch.
    tree = git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip()
    theirs = git(sc.repo, "commit-tree", tree, "-p", str(first.head), "-m", "review fixup").strip()
    git(sc.repo, "update-ref", REVIEW, theirs)
    newer = replace(sc, patchset=replace(sc.patchset, source=replace(sc.patchset.source, tarball_sha256="cd" * 32)))

    result = _sync(newer)

    assert result.status == "error"
    assert "has commits patchsync did not write" in str(result.error)
    assert ref(sc.repo, REVIEW) == theirs


def test_review_branch_reset_when_patchsync_wrote_it(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    first = _sync(sc)
    newer = replace(sc, patchset=replace(sc.patchset, source=replace(sc.patchset.source, tarball_sha256="cd" * 32)))
    result = _sync(newer)
    assert result.status == "updated"
    assert result.head != first.head
    assert git(sc.repo, "merge-base", sc.drift.branch_commit, REVIEW).strip() == sc.drift.branch_commit
    body = git(sc.repo, "log", "-1", "--format=%B", REVIEW)
    assert f"Patchsync-Tarball-SHA256: {'cd' * 32}" in body


def test_config_author_signoff_buglink_and_templates(tmp_path: Path) -> None:
    sc = build(tmp_path, "released").with_target(
        author="Xen Maintainer <xen@example.org>",
        committer="Sync Bot <bot@example.org>",
        signoff=True,
        buglink="https://bugs.launchpad.net/bugs/123456",
        subject_update="UBUNTU: [Xen] {name} ({previous_name}) <- {package} {version} {release}",
    )
    _sync(sc)
    first = f"{REVIEW}~5"
    assert git(sc.repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", first).strip() == (
        "Xen Maintainer <xen@example.org>|Sync Bot <bot@example.org>"
    )
    body = git(sc.repo, "log", "-1", "--format=%B", first)
    lines = body.strip().splitlines()
    assert lines[0] == ("UBUNTU: [Xen] xen3-p02.diff (xen3-p02.diff) <- kernel-source 2.6.32.10 0.0.3.bbbb222")
    assert lines[2] == "BugLink: https://bugs.launchpad.net/bugs/123456"
    assert lines[-1] == "Signed-off-by: Sync Bot <bot@example.org>"
    assert lines[-3:-1] == [
        f"Patchsync-Source: {sc.patchset.source.url}",
        f"Patchsync-Tarball-SHA256: {SHA}",
    ]


@pytest.mark.allow_error_log
def test_push_with_lease(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(remote))
    git(sc.repo, "remote", "add", "origin", str(remote))
    sc = sc.with_target(push_remote="origin")
    result = _sync(sc)
    assert result.pushed
    assert ref(remote, REVIEW) == result.head
    # Someone else pushes to the review branch: the next sync keeps their work.
    tree = git(remote, "rev-parse", f"{REVIEW}^{{tree}}").strip()
    theirs = git(remote, "commit-tree", tree, "-p", str(result.head), "-m", "remote fixup").strip()
    git(remote, "update-ref", REVIEW, theirs)
    newer = replace(sc, patchset=replace(sc.patchset, source=replace(sc.patchset.source, tarball_sha256="cd" * 32)))
    again = _sync(newer)
    assert again.status == "error"
    assert again.error is not None
    assert again.error == f"{sc.repo}: push of {REVIEW} to origin refused: stale info"
    assert not again.pushed
    assert ref(remote, REVIEW) == theirs
    assert ref(sc.repo, REVIEW) == again.head


def test_order_of_kotd_drives_development_order(tmp_path: Path) -> None:
    sc = build(tmp_path, "development")
    # The KOTD moves p01 after p02: a development sync reorders the commits.
    order = ["xen3-p02.diff", "xen3-p01.diff", *KOTD_ORDER[2:]]
    d = replace(sc.drift, kotd_order=tuple(order), order_changes=("xen3-p01.diff",))
    result = sync_target(sc.patchset, sc.target, d, state_dir=sc.state_dir)
    assert result.status == "updated"
    subjects = _log(sc.repo, f"v2.6.32..{REVIEW}")
    assert subjects[:2] == ["UBUNTU: [Xen] xen3-p02.diff", "UBUNTU: [Xen] xen3-p01.diff"]
    assert git(sc.repo, "rev-parse", f"{REVIEW}^{{tree}}").strip() == sc.expected(tmp_path / "oracle")


@pytest.mark.parametrize("replay_works", [True, False])
def test_released_falls_back_to_a_replay_when_later_patches_overlap(tmp_path: Path, replay_works: bool) -> None:
    from patchsync.config import TargetConfig

    from .gittarget import TargetRepo, drift, expected_tree, make_patch, patchset, source_lines

    def edit(text: str, changes: dict[int, str]) -> str:
        lines = text.splitlines(keepends=True)
        for number, new in changes.items():
            lines[number - 1] = new
        return "".join(lines)

    base_text = source_lines("c")
    p1_old_text = edit(base_text, {10: "ten xen\n"})
    p1_old = make_patch({"c.c": (base_text, p1_old_text)})
    # The new version keeps line 10 and adds line 30 (the replay merges), or
    # rewrites line 10 next to p2's line 11 (the replay conflicts too).
    p1_new_text = edit(p1_old_text, {30: "thirty xen\n"} if replay_works else {10: "ten new\n"})
    p1_new = make_patch({"c.c": (base_text, p1_new_text)})
    # p2 changes the line right after p1's: p1's old version no longer reverts on top.
    p2 = make_patch({"c.c": (p1_old_text, edit(p1_old_text, {11: "eleven p2\n"}))})
    work = TargetRepo(tmp_path / "repo")
    base = work.commit("base", {"c.c": base_text.encode()})
    work.git("tag", "v1")
    work.commit_patch("p1.diff", p1_old)
    work.commit_patch("p2.diff", p2)
    target = TargetConfig(name="t", repo=str(work.path), branch="ec2", base="v1", patches_dir=PATCHES_DIR)
    d = drift(
        target,
        work.head(),
        tree={"p1.diff": p1_old, "p2.diff": p2},
        kotd={"p1.diff": p1_new, "p2.diff": p2},
        kotd_order=["p1.diff", "p2.diff"],
        tree_order=["p1.diff", "p2.diff"],
        statuses={"p1.diff": "modified"},
    )
    kotd = patchset({"p1.diff": p1_new, "p2.diff": p2}, ["p1.diff", "p2.diff"])

    result = sync_target(kotd, target, d, state_dir=tmp_path / "state")

    if not replay_works:
        # The conflict reported is the patch's own, not the replay's.
        assert result.status == "conflict"
        assert [c.to_json() for c in result.conflicts] == [
            {
                "patch": "p1.diff",
                "commit": None,
                "files": ["c.c"],
                "message": "c.c: hunk #1 (@@ -7,7 +7,7 @@) does not apply",
            }
        ]
        assert ref(work.path, "refs/heads/patchsync/t") is None
        return
    assert result.status == "updated"
    assert result.applied == {"p1.diff": "replay"}
    assert git(work.path, "diff-tree", "--no-commit-id", "--name-only", "-r", str(result.head)) == (
        f"c.c\n{PATCHES_DIR}/p1.diff\n"
    )
    expected = expected_tree(work.path, tmp_path / "oracle", base, [], [("p1.diff", p1_new), ("p2.diff", p2)])
    assert git(work.path, "rev-parse", f"{result.head}^{{tree}}").strip() == expected


@pytest.mark.allow_error_log
def test_branch_checked_out_in_a_linked_worktree_of_a_bare_repo(tmp_path: Path) -> None:
    sc = build(tmp_path, "development", bare=True).with_target(update_branch=True)
    git(sc.repo, "worktree", "add", "-q", str(tmp_path / "wt"), "ec2")
    before = snapshot(tmp_path / "wt")
    result = _sync(sc)
    assert result.status == "error"
    assert result.error == (
        f"{sc.repo}: ec2 is checked out in {tmp_path / 'wt'}; only refs/heads/patchsync/lucid-ec2 was written"
    )
    assert result.backup is None
    assert ref(sc.repo, "refs/heads/ec2") == sc.drift.branch_commit
    assert ref(sc.repo, REVIEW) == result.head
    assert git(sc.repo, "for-each-ref", "refs/patchsync/backup/") == ""
    assert snapshot(tmp_path / "wt") == before


@pytest.mark.parametrize(("retain", "kept"), [(1, []), (3, ["20261102T000000Z", "20261103T000000Z"])])
def test_backups_beyond_retain_are_pruned_in_the_same_transaction(tmp_path: Path, retain: int, kept: list[str]) -> None:
    sc = build(tmp_path, "development", bare=True).with_target(update_branch=True)
    prefix = "refs/patchsync/backup/lucid-ec2/"
    for stamp in ("20261101T000000Z", "20261102T000000Z", "20261103T000000Z"):
        git(sc.repo, "update-ref", prefix + stamp, sc.commits["xen3-p01.diff"])
    git(sc.repo, "update-ref", "refs/patchsync/backup/other/20261101T000000Z", sc.commits["xen3-p01.diff"])
    result = sync_target(sc.patchset, sc.target, sc.drift, state_dir=sc.state_dir, retain_backups=retain)
    assert result.status == "updated"
    assert result.backup is not None
    left = git(sc.repo, "for-each-ref", "--format=%(refname)", "refs/patchsync/backup/").split()
    assert left == sorted([*(prefix + s for s in kept), result.backup, "refs/patchsync/backup/other/20261101T000000Z"])


@pytest.mark.parametrize("mode", ["released", "development"])
def test_quilt_series_file_follows_the_kotd(tmp_path: Path, mode: str) -> None:
    # Every patch commit appends to debian.ec2/patches/series: development
    # mode must not merge those appends line by line (they would conflict).
    sc = build(tmp_path, mode, series=True)
    result = _sync(sc)
    assert result.status == "updated", result.conflicts
    series = git(sc.repo, "show", f"{REVIEW}:{PATCHES_DIR}/series")
    assert series.splitlines() == KOTD_ORDER
    # Apart from the series file, the tree is the invariant.
    expected = sc.expected(tmp_path / "oracle")
    want = set(git(tmp_path / "oracle", "ls-tree", "-r", expected).splitlines())
    got = set(git(sc.repo, "ls-tree", "-r", REVIEW).splitlines())
    assert [line.split("\t")[1] for line in got ^ want] == [f"{PATCHES_DIR}/series"]
    if mode == "development":
        # Each rewritten commit lists exactly the patches present at that point.
        for sha in git(sc.repo, "rev-list", f"v2.6.32..{REVIEW}").split():
            files = git(sc.repo, "ls-tree", "--name-only", f"{sha}:{PATCHES_DIR}").split()
            listed = git(sc.repo, "show", f"{sha}:{PATCHES_DIR}/series").split()
            assert sorted(listed) == sorted(f for f in files if f != "series"), sha


@pytest.mark.allow_error_log
def test_branch_follows_once_it_is_no_longer_checked_out(tmp_path: Path) -> None:
    sc = build(tmp_path, "development").with_target(update_branch=True)
    first = _sync(sc)
    assert first.status == "error"
    assert ref(sc.repo, "refs/heads/ec2") == sc.drift.branch_commit
    # The maintainer switches away; the same KOTD again moves only the branch.
    git(sc.repo, "checkout", "-q", "--detach")
    again = _sync(sc)
    assert again.status == "updated", again.error
    assert again.commits == ()
    assert again.head == first.head == ref(sc.repo, REVIEW)
    assert again.branch_updated
    assert ref(sc.repo, "refs/heads/ec2") == first.head
    assert again.backup is not None
    assert ref(sc.repo, again.backup) == sc.drift.branch_commit


@pytest.mark.allow_error_log
def test_checked_out_review_branch_is_not_moved(tmp_path: Path) -> None:
    sc = build(tmp_path, "released")
    first = _sync(sc)
    git(sc.repo, "checkout", "-q", "patchsync/lucid-ec2")
    newer = replace(sc, patchset=replace(sc.patchset, source=replace(sc.patchset.source, tarball_sha256="cd" * 32)))
    result = _sync(newer)
    assert result.status == "error"
    assert result.error == f"{sc.repo}: {REVIEW} is checked out in {sc.repo}; not moving it"
    assert ref(sc.repo, REVIEW) == first.head


@pytest.mark.parametrize("mode", ["released", "development"])
def test_guarded_out_patches_are_never_synced(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    # xen3-p08.diff is new in the KOTD; guarded out, SUSE does not apply it.
    assert any(p.name == "xen3-p08.diff" and p.status == "added" for p in sc.drift.patches)
    drift = replace(sc.drift, guarded_out=("xen3-p08.diff",))
    result = sync_target(sc.patchset, sc.target, drift, state_dir=sc.state_dir)
    assert result.status == "updated", result.error
    assert all("xen3-p08.diff" not in c.patches for c in result.commits)
    files = git(sc.repo, "ls-tree", "-r", "--name-only", REVIEW).splitlines()
    assert f"{PATCHES_DIR}/xen3-p08.diff" not in files
    assert f"{PATCHES_DIR}/xen3-p02.diff" in files


def test_one_configured_identity_is_author_committer_and_signoff(tmp_path: Path) -> None:
    # The process inherits another identity (GIT_COMMITTER_* from conftest):
    # a configured author alone must still be the committer and the sign-off.
    sc = build(tmp_path, "released").with_target(author="Kernel Team <kernel@example.org>", signoff=True)
    assert _sync(sc).status == "updated"
    first = f"{REVIEW}~5"
    assert git(sc.repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", first).strip() == (
        "Kernel Team <kernel@example.org>|Kernel Team <kernel@example.org>"
    )
    body = git(sc.repo, "log", "-1", "--format=%B", first)
    assert body.strip().splitlines()[-1] == "Signed-off-by: Kernel Team <kernel@example.org>"


@pytest.mark.allow_error_log
def test_no_commit_identity_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sc = build(tmp_path, "released")
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(var, raising=False)
    # No user.email anywhere and no way to guess one: git would say
    # "unable to auto-detect email address" deep inside a sync.
    git(sc.repo, "config", "--unset", "user.name")
    git(sc.repo, "config", "--unset", "user.email")
    git(sc.repo, "config", "user.useConfigOnly", "true")
    before = all_refs(sc.repo)
    result = _sync(sc)
    assert result.status == "error"
    assert result.error is not None
    assert "\n" not in result.error
    assert result.error.startswith(f"{sc.repo}: no commit author identity for user ")
    assert 'set author = "Name <email>" in the [[target]]' in result.error
    assert all_refs(sc.repo) == before


@pytest.mark.parametrize("mode", ["released", "development"])
def test_a_commit_adding_a_patch_carries_its_subject_and_references(tmp_path: Path, mode: str) -> None:
    sc = build(tmp_path, mode)
    g = syncscenario.BASE_FILES["src/g.c"]
    # SUSE's header: a folded Subject, References, and (hostile) a control
    # character that must not start a line of the commit message.
    header = (
        b"From: SUSE Xen team <xen@suse.example>\n"
        b"Subject: xen: let the g driver\n run on Xen\x1b[2J\n"
        b"Patch-mainline: n/a\n"
        b"References: bnc#123456, FATE#306\rSigned-off-by: evil <e@x>\n\n"
        b"The description.\n\n---\n"
    )
    patch = make_patch({"src/g.c": (g, g.replace("g line 7\n", "g xen\n"))})
    added = header + patch.split(b"\n---\n", 1)[1]
    kotd = {**sc.kotd, "xen3-p08.diff": added}
    sc = replace(sc, patchset=patchset(kotd, KOTD_ORDER), kotd=kotd)
    sc = replace(sc, drift=replace(sc.drift, patches=tuple(
        replace(p, new=added) if p.name == "xen3-p08.diff" else p for p in sc.drift.patches
    )))  # fmt: skip
    result = _sync(sc)
    assert result.status == "updated"
    (sha,) = [c.sha for c in result.commits if c.patches == ("xen3-p08.diff",)]
    body = git(sc.repo, "log", "-1", "--format=%b", sha)
    assert (
        "kernel-source 2.6.32.10-0.0.3.bbbb222 added xen3-p08.diff.\n\n"
        "    Subject: xen: let the g driver run on Xen [2J\n"
        "    References: bnc#123456, FATE#306 Signed-off-by: evil <e@x>\n\n"
    ) in body
    assert "Signed-off-by" not in trailers(git(sc.repo, "log", "-1", "--format=%B", sha).encode())
