"""compare / compare_target: statuses, renames, hold, order, warnings; real data and real trees."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from patchsync.compare import compare, compare_target
from patchsync.config import TargetConfig
from patchsync.errors import GitError
from patchsync.gitsync.tree import read_target
from patchsync.model import PatchSet, SourceInfo, TargetDrift
from tests.gittarget import commit_files, git, init, ref

#: The corpus pairs (v1 = tree, v2 = KOTD) and the classification each must get.
#: Comments justify the cases that are not obvious from `diff v1/x v2/x`.
CORPUS_EXPECTED = {
    # v2 marks dma_addr_to_phys_addr() static: an added line changed.
    "93-swiotlb.patch": "modified",
    # v2 moves console_use_vt's definition and drops a hunk.
    "add-console-use-vt": "modified",
    # Only Index:/---/+++ dates and paths and hunk offsets differ.
    "cleanup-apic": "refreshed",
    # "Patch-mainline: yes" dropped from the header; the diff is byte-identical.
    "device_bind.patch": "metadata",
    # v2's hunks are shorter and io_remap_page_range's arguments changed.
    "drm-io-remap-pfn-range": "modified",
    "exports-for-frontends": "refreshed",
    "fix-blkfront-wholedisk": "refreshed",
    # Header "From:" and the offsets changed; the removed/added lines did not.
    "fix-ide-cd-pio-mode.patch": "refreshed",
    # The patched file moved (arch/i386/xen/mm/ioremap.c -> arch/i386/mm/ioremap-xen.c):
    # another file set, so modified even though the lines are the same.
    "fix-rmap-BUG": "modified",
    "fix-vcpu-stack": "refreshed",
    # V8 -> V16 of the series: header.h no longer part of it, new code.
    "frontswap-core": "modified",
    "frontswap-header": "metadata",
    "frontswap-hooks": "modified",
    # Subject filled in and a tag added (header) plus offsets: refreshed, not metadata.
    "i386-mach-io-check-nmi.patch": "refreshed",
    # "(dev->flags & IFF_MULTICAST)" -> "(dev->flags&IFF_MULTICAST)" in a removed line.
    "ipv6-no-autoconf": "modified",
    # v2 has a diffstat and a/ b/ prefixes instead of quilt's head-*.orig/.
    "kexec-move-segment-code-i386.patch": "refreshed",
    "kexec-move-segment-code-x86_64.patch": "refreshed",
    # "jb: fixed up register usage": the assembly changed.
    "linux-2.6.19-rc1-kexec-move_segment_code-i386.patch": "modified",
    "linux-2.6.19-rc1-kexec-move_segment_code-x86_64.patch": "modified",
    # v2 drops the CONFIG_XEN checksum fix-ups in two files.
    "net-csum.patch": "modified",
    # diff -Nrp -U6 -> quilt with 3 lines of context, files in the other order.
    "panic-on-io-nmi-xen.diff": "refreshed",
    "pmd-shared.patch": "modified",
    # min_t -> max_t: a real fix.
    "softlockup-no-idle-hz.patch": "modified",
    "x86_64-put-note-sections-into-a-pt_note-segment-in-vmlinux.patch": "modified",
    # Index: + ==== blocks replaced by a/ b/ names; same changes.
    "x86_sgi_xen-x86-cpus4096.patch": "refreshed",
    # Hunks ten lines lower in a newer tree; nothing else.
    "xen-balloon-max-target": "refreshed",
    "xen-blkback-cdrom": "modified",
    "xen-blkif-protocol-fallback-hack": "modified",
    "xen-cpufreq-report": "modified",
    # Three more Kconfig lines added.
    "xen-kconfig-compat": "modified",
    "xen-kzalloc": "refreshed",
    # blk_pc_request(req) -> req->cmd_type == REQ_TYPE_BLOCK_PC.
    "xen-op-packet": "modified",
    "xen-sections": "modified",
    "xen-setup-gsi": "modified",
    "xen-swiotlb-heuristics": "refreshed",
    # v1 also touched time.c; v2 dropped that file.
    "xen-timer-tsc-noinit.diff": "modified",
    "xen-unpriv-build": "modified",
    "xen-x86-dcr-fallback": "modified",
    "xen-x86-panic-no-reboot": "refreshed",
    "xen-x86_64-dump-user-pgt": "refreshed",
    # Context lines changed ("#ifdef CONFIG_PM_SLEEP" instead of a blank line); changes equal.
    "xen-x86_64-pgd-pin": "refreshed",
    # process_32-xen.c and process_64-xen.c merged into process-xen.c upstream.
    "xen3-seccomp-disable-tsc-option": "modified",
}


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_corpus_pairs_classification(corpus: Path) -> None:
    v1, v2 = _files(corpus / "v1"), _files(corpus / "v2")
    assert set(v1) == set(v2) == set(CORPUS_EXPECTED)
    result = compare(v2, sorted(v2), v1, sorted(v1))
    assert {p.name: p.status for p in result.patches} == CORPUS_EXPECTED
    assert result.warnings == ()
    assert result.order_changes == ()
    by_name = {p.name: p for p in result.patches}
    # Every changed patch explains itself: a header diff, or an interdiff.
    assert by_name["device_bind.patch"].interdiff.splitlines()[:3] == [
        "--- old header",
        "+++ new header",
        "@@ -1,6 +1,4 @@",
    ]
    assert all(by_name[n].interdiff for n, s in CORPUS_EXPECTED.items() if s in ("metadata", "modified"))
    # A refreshed patch changes nothing its old version did not: empty interdiff.
    assert all(not by_name[n].interdiff for n, s in CORPUS_EXPECTED.items() if s == "refreshed")


def test_corpus_same_files_are_unchanged(corpus: Path) -> None:
    same = _files(corpus / "same")
    result = compare(same, sorted(same), dict(same), sorted(same))
    assert [p.status for p in result.patches] == ["unchanged"] * 15


P = b"Subject: %s\n\n--- a/f%s.c\n+++ b/f%s.c\n@@ -1,3 +1,3 @@\n a\n-b\n+%s\n c\n"


def _p(tag: str, change: str | None = None) -> bytes:
    t = tag.encode()
    return P % (t, t, t, (change or tag).encode())


def test_every_status() -> None:
    tree = {
        "same": _p("same"),
        "meta": _p("meta"),
        "refresh": _p("refresh"),
        "mod": _p("mod"),
        "gone": _p("gone"),
        "old-name": _p("moving"),
        "held": _p("held"),
    }
    kotd = {
        "same": _p("same"),
        "meta": _p("meta").replace(b"Subject: meta", b"Subject: meta v2"),
        "refresh": _p("refresh").replace(b"@@ -1,3 +1,3 @@", b"@@ -7,3 +9,3 @@"),
        "mod": _p("mod", "changed"),
        "new": _p("new"),
        "new-name": _p("moving").replace(b"@@ -1,3", b"@@ -2,3"),
        "held": _p("held", "kotd changed it"),
    }
    order = ["same", "meta", "refresh", "mod", "new", "new-name", "held"]
    result = compare(kotd, order, tree, list(tree), hold=["held"])
    assert [(p.name, p.status, p.previous_name) for p in result.patches] == [
        ("same", "unchanged", None),
        ("meta", "metadata", None),
        ("refresh", "refreshed", None),
        ("mod", "modified", None),
        ("new", "added", None),
        ("new-name", "renamed", "old-name"),
        ("held", "held", None),
        ("gone", "removed", None),
    ]
    by_name = {p.name: p for p in result.patches}
    assert by_name["held"].kotd_status == "modified"
    assert "+kotd changed it" in by_name["held"].interdiff
    assert by_name["mod"].interdiff == ("--- a/fmod.c\n+++ b/fmod.c\n@@ -1,3 +1,3 @@\n a\n-mod\n+changed\n c\n")
    assert (by_name["new"].old, by_name["new"].new) == (None, kotd["new"])
    assert (by_name["gone"].old, by_name["gone"].new) == (tree["gone"], None)
    assert by_name["new-name"].old == tree["old-name"]


def test_held_patch_unchanged_added_or_removed_stays_held() -> None:
    result = compare(
        {"a": _p("a"), "b": _p("b")}, ["a", "b"], {"a": _p("a"), "c": _p("c")}, ["a", "c"], hold=["a", "b", "c"]
    )
    assert [(p.name, p.status, p.kotd_status) for p in result.patches] == [
        ("a", "held", "unchanged"),
        ("b", "held", "added"),
        ("c", "held", "removed"),
    ]
    drift = TargetDrift("t", "development", "0" * 40, result.patches, ("a", "b"), ("a", "c"))
    assert drift.in_sync


def test_rename_needs_refreshed_level_or_better() -> None:
    result = compare({"new": _p("x", "other")}, ["new"], {"old": _p("x")}, ["old"])
    assert [(p.name, p.status) for p in result.patches] == [("new", "added"), ("old", "removed")]


def test_rename_ties_are_broken_by_git_commit_then_subject() -> None:
    body = b"--- a/f.c\n+++ b/f.c\n@@ -1 +1 @@\n-a\n+b\n"
    tree = {"old": b"Subject: fix f\nGit-commit: abcdef1234567\n\n" + body}
    kotd = {
        "a-identical-bytes-other-commit": b"Subject: fix f\nGit-commit: 1111111111111\n\n" + body,
        "b-same-commit": b"Subject: fix f (backport)\nGit-commit: abcdef1234567\n\n" + body,
        "c-same-subject": b"Subject: fix f\n\n" + body,
    }
    result = compare(kotd, sorted(kotd), tree, ["old"])
    statuses = {p.name: (p.status, p.previous_name) for p in result.patches}
    assert statuses["b-same-commit"] == ("renamed", "old")
    assert statuses["a-identical-bytes-other-commit"] == ("added", None)
    assert result.warnings == (
        "old matches several new patches (a-identical-bytes-other-commit, b-same-commit, c-same-subject); "
        "taken as renamed to b-same-commit",
    )
    kotd.pop("b-same-commit")
    result = compare(kotd, sorted(kotd), tree, ["old"])
    assert {p.name: p.status for p in result.patches}["c-same-subject"] == "renamed"


def test_empty_patches_are_never_renames() -> None:
    result = compare({"new": b"Subject: x\n"}, ["new"], {"old": b"Subject: y\n"}, ["old"])
    assert [p.status for p in result.patches] == ["added", "removed"]


def test_identical_empty_patch_is_a_rename() -> None:
    result = compare({"new": b""}, ["new"], {"old": b""}, ["old"])
    assert [(p.status, p.previous_name) for p in result.patches] == [("renamed", "old")]


def test_order_changes_released_is_information_development_is_drift() -> None:
    files = {n: _p(n) for n in "abcd"}
    tree_files = {("B" if n == "b" else n): data for n, data in files.items()}
    # The tree has b under another name (a rename) and c before a.
    result = compare(files, list("abcd"), tree_files, ["c", "a", "B", "d"])
    assert result.order_changes == ("c",)
    for mode, in_sync in (("released", True), ("development", False)):
        unchanged = tuple(dataclasses.replace(p, status="unchanged") for p in result.patches)
        drift = TargetDrift("t", mode, "0" * 40, unchanged, tuple("abcd"), ("c", "a", "B", "d"), result.order_changes)
        assert drift.in_sync is in_sync


def test_unparseable_patch_warns_and_compares_by_bytes() -> None:
    bad = b"--- a/f\n+++ b/f\n@@ -1,5 +1,5 @@\n a\n"
    result = compare({"x": bad + b"b\n"}, ["x"], {"x": bad}, ["x"])
    (delta,) = result.patches
    assert delta.status == "modified"
    assert result.warnings == ("x (tree): line 3: hunk ends early (patch truncated); compared by bytes",)
    assert delta.interdiff.startswith("--- a/x\n+++ b/x\n")


# ---------------------------------------------------------------- real trees

SERIES = b"""\
\t# Xen
\tpatches.xen/xen3-b.diff
\t+xen\tpatches.xen/xen3-a.diff
\t+needs_update\tpatches.xen/xen3-guarded.diff
\tpatches.xen/xen3-ghost.diff
\tpatches.suse/not-ours.patch
"""


def _drift(patchset: PatchSet, target: TargetConfig, symbols: tuple[str, ...] = ("xen",)) -> TargetDrift:
    """compare_target on the patches ``target``'s branch carries, read as the cycle reads them."""
    return compare_target(patchset, target, read_target(target), symbols)


def _patchset(files: dict[str, bytes], series: bytes | None = SERIES) -> PatchSet:
    source = SourceInfo(
        url="file:///kotd/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
        file="kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
        version="2.6.32.10",
        release="0.0.3.bbbb222",
        tarball="patches.xen.tar.bz2",
        tarball_sha256="0" * 64,
    )
    return PatchSet(source=source, top="patches.xen", files=files, series_conf=series)


def _target(repo: Path, **kw: object) -> TargetConfig:
    fields: dict[str, object] = {"base": "v2.6.32", **kw}
    return TargetConfig(name="lucid-ec2", repo=str(repo), branch="ec2", **fields)  # type: ignore[arg-type]


def _tree_repo(tmp_path: Path) -> Path:
    repo = init(tmp_path / "tree.git", bare=True)
    commit_files(repo, {"Makefile": b"all:\n"}, "base", branch="ec2")
    git(repo, "tag", "v2.6.32", "ec2")
    pd = "debian.ec2/patches"
    commit_files(repo, {f"{pd}/xen3-a.diff": _p("a"), "fa.c": b"x\n"}, "UBUNTU: [Xen] xen3-a.diff", branch="ec2")
    commit_files(repo, {"debian.ec2/config": b"y\n"}, "UBUNTU: config", branch="ec2")
    commit_files(repo, {f"{pd}/xen3-b.diff": _p("b")}, "UBUNTU: [Xen] xen3-b.diff", branch="ec2")
    commit_files(repo, {f"{pd}/xen3-guarded.diff": _p("g")}, "UBUNTU: [Xen] xen3-guarded.diff", branch="ec2")
    commit_files(repo, {f"{pd}/xen3-local.diff": _p("l")}, "UBUNTU: [Xen] xen3-local.diff", branch="ec2")
    return repo


def test_compare_target_on_a_real_tree(tmp_path: Path) -> None:
    repo = _tree_repo(tmp_path)
    kotd = {
        "patches.xen/xen3-a.diff": _p("a"),
        "patches.xen/xen3-b.diff": _p("b", "B"),
        "patches.xen/xen3-guarded.diff": _p("g"),
        "patches.xen/xen3-zz-unlisted.diff": _p("z"),
    }
    drift = _drift(_patchset(kotd), _target(repo, mode="development"), ("xen",))
    assert drift.branch_commit == ref(repo, "ec2")
    assert drift.kotd_order == ("xen3-b.diff", "xen3-a.diff", "xen3-guarded.diff", "xen3-zz-unlisted.diff")
    assert drift.tree_order == ("xen3-a.diff", "xen3-b.diff", "xen3-guarded.diff", "xen3-local.diff")
    assert [(p.name, p.status) for p in drift.patches] == [
        ("xen3-b.diff", "modified"),
        ("xen3-a.diff", "unchanged"),
        ("xen3-guarded.diff", "unchanged"),
        ("xen3-zz-unlisted.diff", "added"),
        ("xen3-local.diff", "removed"),
    ]
    assert drift.order_changes == ("xen3-b.diff",)
    assert drift.guarded_out == ("xen3-guarded.diff",)
    assert drift.warnings == (
        "patches.xen/xen3-guarded.diff is guarded out in series.conf (+needs_update); compared anyway",
        "series.conf lists patches.xen/xen3-ghost.diff, which the tarball does not have",
        "patches.xen/xen3-zz-unlisted.diff is not in series.conf; ordered last",
    )
    assert drift.counts == {
        "unchanged": 2,
        "metadata": 0,
        "refreshed": 0,
        "modified": 1,
        "added": 1,
        "removed": 1,
        "renamed": 0,
        "held": 0,
    }
    assert not drift.in_sync


def test_compare_target_in_sync_and_released_order(tmp_path: Path) -> None:
    repo = _tree_repo(tmp_path)
    kotd = {
        "patches.xen/xen3-a.diff": _p("a"),
        "patches.xen/xen3-b.diff": _p("b"),
        "patches.xen/xen3-guarded.diff": _p("g"),
    }
    series = b"patches.xen/xen3-b.diff\npatches.xen/xen3-a.diff\npatches.xen/xen3-guarded.diff\n"
    drift = _drift(_patchset(kotd, series), _target(repo, hold=("xen3-local.diff",)), ("xen",))
    assert [p.status for p in drift.patches] == ["unchanged", "unchanged", "unchanged", "held"]
    assert drift.order_changes == ("xen3-b.diff",)
    assert drift.in_sync  # released: the order is information only
    assert drift.warnings == ()


def test_a_guarded_out_patch_is_reported_but_not_drift(tmp_path: Path) -> None:
    # SUSE does not apply a +needs_update patch, so a change to it (or its
    # absence from the tree) is worth a warning, never a sync.
    repo = _tree_repo(tmp_path)
    kotd = {
        "patches.xen/xen3-a.diff": _p("a"),
        "patches.xen/xen3-b.diff": _p("b"),
        "patches.xen/xen3-guarded.diff": _p("g", "G"),
    }
    series = SERIES.replace(b"\tpatches.xen/xen3-b.diff\n", b"").replace(b"\tpatches.xen/xen3-ghost.diff\n", b"")
    drift = _drift(_patchset(kotd, b"\tpatches.xen/xen3-b.diff\n" + series), _target(repo, hold=("xen3-local.diff",)))
    assert [(p.name, p.status) for p in drift.patches] == [
        ("xen3-b.diff", "unchanged"),
        ("xen3-a.diff", "unchanged"),
        ("xen3-guarded.diff", "modified"),
        ("xen3-local.diff", "held"),
    ]
    assert drift.guarded_out == ("xen3-guarded.diff",)
    assert drift.warnings == (
        "patches.xen/xen3-guarded.diff is guarded out in series.conf (+needs_update); compared anyway",
    )
    assert drift.in_sync


def test_compare_target_strip_zero_and_no_series(tmp_path: Path) -> None:
    repo = init(tmp_path / "t")
    commit_files(repo, {"p/patches.xen/x.diff": _p("x")}, "x", branch="ec2")
    drift = _drift(
        _patchset({"patches.xen/x.diff": _p("x")}, None), _target(repo, strip=0, patches_dir="p", base=""), ("xen",)
    )
    assert [(p.name, p.status) for p in drift.patches] == [("patches.xen/x.diff", "unchanged")]
    assert drift.warnings == ("the src.rpm has no series.conf; KOTD order is by name",)


def test_compare_target_errors_name_the_repo_and_ref(tmp_path: Path) -> None:
    repo = _tree_repo(tmp_path)
    with pytest.raises(GitError, match=r"tree\.git: no branch or commit 'nope'$"):
        _drift(_patchset({}), dataclasses.replace(_target(repo), branch="nope"), ("xen",))


def test_odd_patch_formats_in_a_real_tree(tmp_path: Path) -> None:
    crlf = b"Subject: crlf\r\n\r\n--- a/w.c\r\n+++ b/w.c\r\n@@ -1,2 +1,2 @@\r\n a\r\n-b\r\n+c\r\n"
    latin1 = b"From: J\xf6rg\n\n--- a/l.c\n+++ b/l.c\n@@ -1 +1 @@\n-\xe9\n+\xe8\n\\ No newline at end of file\n"
    binary = (
        b"diff --git a/i.bin b/i.bin\nindex 1..2 100644\nGIT binary patch\nliteral 5\nMcmZ?wbaG(=\n\n"
        b"literal 0\nHcmV?d00001\n\n"
    )
    quoted = b'diff --git "a/sp ace\\303\\244.c" "b/sp ace\\303\\244.c"\n--- "a/sp ace\\303\\244.c"\n'
    quoted += b'+++ "b/sp ace\\303\\244.c"\n@@ -1 +1 @@\n-x\n+y\n'
    broken = b"--- a/t.c\n+++ b/t.c\n@@ -1,4 +1,4 @@\n a\n"
    tree = {"crlf.diff": crlf, "latin1.diff": latin1, "binary.diff": binary, "quoted.diff": quoted, "t.diff": broken}
    kotd = {
        "crlf.diff": crlf.replace(b"@@ -1,2 +1,2 @@", b"@@ -5,2 +5,2 @@"),
        "latin1.diff": latin1.replace(b"J\xf6rg", b"J\xf6rg B."),
        "binary.diff": binary.replace(b"McmZ?wbaG(=", b"McmZ?wbaG(>"),
        "quoted.diff": quoted.replace(b"+y", b"+z"),
        "t.diff": broken + b"b\n",
    }
    repo = init(tmp_path / "odd.git", bare=True)
    for name, data in tree.items():
        commit_files(repo, {f"debian.ec2/patches/{name}": data}, name, branch="ec2")
    series = "".join(f"patches.xen/{n}\n" for n in kotd).encode()
    drift = _drift(
        _patchset({f"patches.xen/{n}": d for n, d in kotd.items()}, series), _target(repo, base=""), ("xen",)
    )
    assert {p.name: p.status for p in drift.patches} == {
        "crlf.diff": "refreshed",
        "latin1.diff": "metadata",
        "binary.diff": "modified",
        "quoted.diff": "modified",
        "t.diff": "modified",
    }
    assert drift.warnings == ("t.diff (tree): line 3: hunk ends early (patch truncated); compared by bytes",)
    by_name = {p.name: p for p in drift.patches}
    # Bytes that are not UTF-8 reach the report escaped, never lost or replaced.
    assert by_name["latin1.diff"].interdiff == (
        "--- old header\n+++ new header\n@@ -1,2 +1,2 @@\n-From: J\\xf6rg\n+From: J\\xf6rg B.\n \n"
    )
    assert by_name["quoted.diff"].interdiff == "--- a/sp ace\u00e4.c\n+++ b/sp ace\u00e4.c\n@@ -1,1 +1,1 @@\n-y\n+z\n"


def test_mode_only_patch_can_be_renamed() -> None:
    mode = b"diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
    result = compare({"new": b"Subject: x\n\n" + mode}, ["new"], {"old": mode}, ["old"])
    assert [(p.name, p.status, p.previous_name) for p in result.patches] == [("new", "renamed", "old")]
