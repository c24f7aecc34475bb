"""Interdiffs: exact output on small cases, and equivalence with patchutils' interdiff on real pairs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from patchsync.patches.interdiff import header_diff, interdiff, render
from patchsync.patches.parse import parse_patch
from tests.conftest import require_tool

OLD = b"--- a/f.c\n+++ b/f.c\n@@ -10,5 +10,5 @@\n c1\n c2\n-old\n+new\n c3\n c4\n"


def _render(old: bytes, new: bytes) -> str:
    return render(interdiff(parse_patch(old), parse_patch(new))).decode()


def test_changed_added_line() -> None:
    new = OLD.replace(b"+new", b"+newer")
    assert _render(OLD, new) == "--- a/f.c\n+++ b/f.c\n@@ -10,5 +10,5 @@\n c1\n c2\n-new\n+newer\n c3\n c4\n"


def test_refreshed_hunk_at_another_offset_shows_nothing() -> None:
    # patchutils' interdiff prints this hunk twice (removed at 10, added at 30).
    assert _render(OLD, OLD.replace(b"@@ -10,5 +10,5 @@", b"@@ -30,5 +31,5 @@")) == ""


def test_other_context_in_a_newer_tree_shows_nothing() -> None:
    new = OLD.replace(b" c1\n", b" moved on\n").replace(b"@@ -10,5", b"@@ -12,5")
    assert _render(OLD, new) == ""


def test_files_only_on_one_side_are_reverted_or_new() -> None:
    extra = b"--- a/g.c\n+++ b/g.c\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n"
    assert _render(OLD + extra, OLD) == "reverted:\n--- a/g.c\n+++ b/g.c\n@@ -1,2 +1,2 @@\n x\n+y\n-z\n"
    assert _render(OLD, OLD + extra) == "only in patch2:\n--- a/g.c\n+++ b/g.c\n@@ -1,2 +1,2 @@\n x\n-y\n+z\n"


def test_disagreeing_removed_lines_fall_back_to_the_patch_sections() -> None:
    new = OLD.replace(b"-old", b"-other")
    assert _render(OLD, new) == (
        "interdiff impossible for f.c; diff of the two patch sections:\n"
        "--- old/f.c\n+++ new/f.c\n@@ -3,7 +3,7 @@\n @@ -10,5 +10,5 @@\n  c1\n  c2\n--old\n+-other\n +new\n  c3\n  c4\n"
    )


def test_no_newline_markers_survive() -> None:
    old = b"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n\\ No newline at end of file\n"
    new = old.replace(b"+c", b"+d")
    assert _render(old, new) == (
        "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-c\n\\ No newline at end of file\n+d\n\\ No newline at end of file\n"
    )


def test_header_diff() -> None:
    assert header_diff(b"Subject: a\n\n", b"Subject: b\n\n").decode() == (
        "--- old header\n+++ new header\n@@ -1,2 +1,2 @@\n-Subject: a\n+Subject: b\n \n"
    )


# ------------------------------------------------------ against patchutils

#: Pairs where patchutils' interdiff (0.4.x) exits 1: a hunk of one patch
#: does not apply to the original it rebuilt from both (the versions sit on
#: different trees).  Ours still says something for each (checked below).
INTERDIFF_FAILS = {
    "add-console-use-vt",
    "frontswap-hooks",
    "linux-2.6.19-rc1-kexec-move_segment_code-i386.patch",
    "linux-2.6.19-rc1-kexec-move_segment_code-x86_64.patch",
    "net-csum.patch",
    "pmd-shared.patch",
    "xen-blkback-cdrom",
    "xen-blkif-protocol-fallback-hack",
    "xen-cpufreq-report",
    "xen-sections",
}


def _net(patch: bytes) -> dict[str, dict[bytes, int]]:
    """Per file, each line's count in added lines minus its count in removed lines.

    The equivalence with interdiff: the same net change per file.  Context,
    line numbers and hunk boundaries are ignored, and so is interdiff's way
    of showing a hunk both versions moved: once removed, once added, which
    nets out to nothing, as our empty output does.
    """
    out: dict[str, dict[bytes, int]] = {}
    for f in parse_patch(patch).files:
        # interdiff names a reverted file by the old patch's "---" name,
        # which carries quilt's backup suffix in one corpus patch.
        counter = out.setdefault(f.name.removesuffix("~"), {})
        for h in f.hunks:
            for tag, line in h.changes():
                counter[line] = counter.get(line, 0) + (1 if tag == "+" else -1)
    return {n: {k: v for k, v in c.items() if v} for n, c in out.items() if any(c.values())}


def test_equivalent_to_patchutils_interdiff_on_the_corpus(corpus: Path) -> None:
    tool = require_tool("interdiff")
    failed: set[str] = set()
    compared = 0
    for old_path in sorted((corpus / "v1").iterdir()):
        new_path = corpus / "v2" / old_path.name
        ours = render(interdiff(parse_patch(old_path.read_bytes()), parse_patch(new_path.read_bytes())))
        done = subprocess.run([tool, "-p1", str(old_path), str(new_path)], capture_output=True, check=False)
        if done.returncode != 0:
            failed.add(old_path.name)
            assert ours, old_path.name
            continue
        compared += 1
        assert _net(ours) == _net(done.stdout), old_path.name
    assert failed <= INTERDIFF_FAILS
    assert compared >= 30


def test_new_tree_with_lines_in_front_of_the_old_hunk() -> None:
    # The KOTD's tree has a line ("z") before the old patch's first line: the
    # hunk is anchored on "a", "b" and the interdiff numbers the lines it knows.
    old = b"--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n"
    new = b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n z\n a\n-b\n+d\n"
    assert _render(old, new) == "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n z\n a\n-c\n+d\n"
