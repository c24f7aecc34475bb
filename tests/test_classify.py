"""Every rule of the classification (issue 3, section 2), pinned."""

from __future__ import annotations

import pytest

from patchsync.patches import classify as classify_mod
from patchsync.patches.classify import classify, header_ids
from patchsync.patches.interdiff import interdiff, render

HEADER = b"From: Jan Beulich <jbeulich@novell.com>\nSubject: xen: fix it\nPatch-mainline: n/a\n\nWhy.\n\n"

BASE = HEADER + (
    b"--- a/drivers/xen/a.c\n+++ b/drivers/xen/a.c\n"
    b"@@ -10,7 +10,7 @@ static int f(void)\n"
    b" c1\n c2\n c3\n-old line\n+new line\n c4\n c5\n c6\n"
    b"--- a/drivers/xen/b.c\n+++ b/drivers/xen/b.c\n"
    b"@@ -1,3 +1,4 @@\n d1\n+added\n d2\n d3\n"
)


def _status(old: bytes, new: bytes) -> str:
    return classify(old, new).status


def test_identical_bytes_are_unchanged_without_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_a: object, **_k: object) -> None:
        raise AssertionError("identical bytes reached the parser")

    monkeypatch.setattr(classify_mod, "parse_patch", explode)
    assert classify(BASE, bytes(BASE)).status == "unchanged"
    assert classify(b"\xff not a patch @@", b"\xff not a patch @@").status == "unchanged"


@pytest.mark.parametrize(
    "new",
    [
        pytest.param(BASE.replace(b"xen: fix it", b"xen: fix it properly"), id="subject"),
        pytest.param(BASE.replace(b"Patch-mainline: n/a\n", b"Patch-mainline: n/a\nReferences: bnc#1\n"), id="tag"),
        pytest.param(
            BASE.replace(b"Why.\n\n", b"Why.\n---\n a.c | 2 +-\n b.c | 1 +\n 2 files changed\n\n"), id="diffstat"
        ),
        pytest.param(b"# HG changeset 93+99 patch\n" + BASE, id="hg-preamble"),
    ],
)
def test_header_only_change_is_metadata(new: bytes) -> None:
    assert _status(BASE, new) == "metadata"


def test_diffstat_only_change_is_metadata() -> None:
    one = BASE.replace(b"Why.\n\n", b"Why.\n---\n a.c | 2 +-\n\n")
    two = BASE.replace(b"Why.\n\n", b"Why.\n---\n a.c |    2 +-\n 1 file changed\n\n")
    assert _status(one, two) == "metadata"


REFRESHED = {
    "line-numbers": BASE.replace(b"@@ -10,7 +10,7 @@", b"@@ -250,7 +262,7 @@"),
    "context": BASE.replace(b" c1\n c2\n c3\n", b" other1\n other2\n other3\n"),
    "less-context": BASE.replace(
        b"@@ -10,7 +10,7 @@ static int f(void)\n c1\n c2\n c3\n", b"@@ -12,3 +12,3 @@\n c3\n"
    ).replace(b" c4\n c5\n c6\n", b" c4\n"),
    "section": BASE.replace(b"static int f(void)", b"static int g(void)"),
    "prefixes": BASE.replace(b"--- a/", b"--- linux-2.6.32.orig/").replace(b"+++ b/", b"+++ linux-2.6.32/"),
    "timestamps": BASE.replace(
        b"--- a/drivers/xen/a.c\n", b"--- a/drivers/xen/a.c\t2010-01-04 12:41:42.000000000 +0100\n"
    ),
    "index-lines": BASE.replace(
        b"--- a/drivers/xen/a.c",
        b"Index: linux/drivers/xen/a.c\n===================================================================\n"
        b"--- a/drivers/xen/a.c",
    ),
    "git-lines": BASE.replace(
        b"--- a/drivers/xen/b.c",
        b"diff --git a/drivers/xen/b.c b/drivers/xen/b.c\nindex 1234567..89abcde 100644\n--- a/drivers/xen/b.c",
    ),
    "signature": BASE + b"-- \n2.39.2\n",
    # The tree's file lost its final newline: context, not a change.
    "context-no-newline": BASE + b"\\ No newline at end of file\n",
    "header-too": BASE.replace(b"xen: fix it", b"xen: fix it (v2)").replace(b"@@ -10,7 +10,7 @@", b"@@ -11,7 +11,7 @@"),
    "file-order": HEADER
    + b"--- a/drivers/xen/b.c\n+++ b/drivers/xen/b.c\n@@ -1,3 +1,4 @@\n d1\n+added\n d2\n d3\n"
    + b"--- a/drivers/xen/a.c\n+++ b/drivers/xen/a.c\n@@ -10,7 +10,7 @@\n"
    + b" c1\n c2\n c3\n-old line\n+new line\n c4\n c5\n c6\n",
}


@pytest.mark.parametrize("name", sorted(REFRESHED))
def test_refreshed(name: str) -> None:
    assert _status(BASE, REFRESHED[name]) == "refreshed"


def test_hunk_boundaries_may_differ() -> None:
    one = b"--- a/f\n+++ b/f\n@@ -1,9 +1,9 @@\n a\n-b\n+B\n c\n d\n e\n f\n g\n-h\n+H\n i\n"
    two = b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+B\n c\n@@ -7,3 +7,3 @@\n g\n-h\n+H\n i\n"
    assert _status(one, two) == "refreshed"


MODIFIED = {
    "added-line-changed": BASE.replace(b"+new line", b"+new linE"),
    "removed-line-changed": BASE.replace(b"-old line", b"-old  line"),
    "line-added": BASE.replace(b"+added\n", b"+added\n+more\n").replace(b"@@ -1,3 +1,4 @@", b"@@ -1,3 +1,5 @@"),
    "line-ending": BASE.replace(b"+new line\n", b"+new line\r\n"),
    "other-file": BASE.replace(b"drivers/xen/b.c", b"drivers/xen/c.c"),
    "file-dropped": BASE[: BASE.index(b"--- a/drivers/xen/b.c")],
    "file-added": BASE + b"--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-x\n+y\n",
    "new-file": BASE.replace(b"--- a/drivers/xen/b.c", b"--- /dev/null").replace(
        b"@@ -1,3 +1,4 @@\n d1\n+added\n d2\n d3\n", b"@@ -0,0 +1 @@\n+added\n"
    ),
}


@pytest.mark.parametrize("name", sorted(MODIFIED))
def test_modified(name: str) -> None:
    assert _status(BASE, MODIFIED[name]) == "modified"


def test_trailing_missing_newline_on_an_added_line_is_modified() -> None:
    one = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
    two = b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n\\ No newline at end of file\n"
    assert _status(one, two) == "modified"


def test_git_mode_and_binary_changes_are_modified() -> None:
    mode = b"diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
    assert _status(mode, mode.replace(b"100755", b"100750")) == "modified"
    binary = b"diff --git a/i b/i\nindex 1..2\nGIT binary patch\nliteral 5\nMcmZ?wbaG(=\n\nliteral 0\nHcmV?d00001\n\n"
    assert _status(binary, binary.replace(b"McmZ?wbaG(=", b"McmZ?wbaG(>")) == "modified"
    assert _status(binary, b"Subject: s\n\n" + binary) == "metadata"


def test_rename_inside_a_patch_is_a_changed_file_set() -> None:
    one = b"diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to y\n"
    two = b"diff --git a/x b/z\nsimilarity index 100%\nrename from x\nrename to z\n"
    assert _status(one, two) == "modified"


def test_unparseable_patch_is_compared_by_bytes_with_a_warning() -> None:
    broken = BASE.replace(b"@@ -1,3 +1,4 @@", b"@@ -1,9 +1,9 @@")
    result = classify(BASE, broken, name="xen-foo")
    assert result.status == "modified"
    assert result.warning == ("xen-foo (KOTD): line 20: hunk ends early (patch truncated); compared by bytes")
    assert classify(broken, broken).status == "unchanged"


def test_empty_patches() -> None:
    assert _status(b"", b"") == "unchanged"
    # No file diff on either side: only the "header" can differ.
    assert _status(b"", b"Subject: placeholder\n") == "metadata"
    assert _status(b"", BASE) == "modified"


def test_header_ids() -> None:
    data = b"From: x\nGit-commit: 0123456789ABCDEF0123456789abcdef01234567\nSubject:  [PATCH] fix \n\n"
    assert header_ids(data) == (b"0123456789abcdef0123456789abcdef01234567", b"[PATCH] fix")
    assert header_ids(b"no tags\n") == (None, None)


# ------------------------------------------ one judgement with the interdiff
#
# Synthetic pairs with the alignment effects seen in SUSE's history (the
# real patches stay outside the repository): a pair is "modified" exactly
# when the relocating interdiff shows something.

FILE_HDR = b"--- a/f.c\n+++ b/f.c\n"
SEMANTIC_REFRESHES = {
    # diff kept the first "x" in one version, the second in the other: [-y, -x] vs [-x, -y].
    "lined-up-differently": (
        FILE_HDR + b"@@ -1,4 +1,2 @@\n x\n-y\n-x\n z\n",
        FILE_HDR + b"@@ -1,4 +1,2 @@\n-x\n-y\n x\n z\n",
    ),
    # The same replacement written added-first: the file ends up the same.
    "change-order": (BASE, BASE.replace(b"-old line\n+new line\n", b"+new line\n-old line\n")),
    # Lined up differently and moved with the tree (a newer tree has 30 more lines in front).
    "moved-and-lined-up-differently": (
        FILE_HDR + b"@@ -10,6 +10,4 @@\n c1\n c2\n x\n-y\n-x\n z\n",
        FILE_HDR + b"@@ -40,6 +40,4 @@\n c1\n c2\n-x\n-y\n x\n z\n",
    ),
}
FAST_REFRESHES = {
    # The same added line after the first or the second of two equal lines: equal line lists.
    "duplicate-line-placed-differently": (
        FILE_HDR + b"@@ -1,3 +1,4 @@\n a\n b\n+b\n c\n",
        FILE_HDR + b"@@ -1,3 +1,4 @@\n a\n+b\n b\n c\n",
    ),
    # quilt writes a new file's old side as "a/dev/null", git as "/dev/null".
    "quilt-dev-null": (
        b"--- /dev/null\t1970-01-01 00:00:00.000000000 +0000\n+++ b/new.h\t2010-01-04\n@@ -0,0 +1,2 @@\n+a\n+b\n",
        b"--- a/dev/null\n+++ b/new.h\n@@ -0,0 +1,2 @@\n+a\n+b\n",
    ),
}


@pytest.mark.parametrize("name", sorted(SEMANTIC_REFRESHES))
def test_equal_effect_with_other_line_lists_is_refreshed(name: str) -> None:
    old, new = SEMANTIC_REFRESHES[name]
    result = classify(old, new)
    assert result.status == "refreshed"
    assert result.old is not None
    assert result.new is not None
    assert classify_mod.refresh_key(result.old) != classify_mod.refresh_key(result.new), "not the fast path"
    assert interdiff(result.old, result.new) == []


@pytest.mark.parametrize("name", sorted(FAST_REFRESHES))
def test_equal_line_lists_are_refreshed_and_show_no_interdiff(name: str) -> None:
    old, new = FAST_REFRESHES[name]
    result = classify(old, new)
    assert result.status == "refreshed"
    assert result.old is not None
    assert result.new is not None
    assert classify_mod.refresh_key(result.old) == classify_mod.refresh_key(result.new), "the fast path"
    assert interdiff(result.old, result.new) == []


def test_fast_path_does_not_compute_the_interdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*_a: object, **_k: object) -> None:
        raise AssertionError("equal line lists reached the interdiff")

    monkeypatch.setattr(classify_mod, "interdiff", explode)
    for old, new in FAST_REFRESHES.values():
        assert classify(old, new).status == "refreshed"
    assert classify(BASE, REFRESHED["line-numbers"]).status == "refreshed"


def test_other_net_changes_are_modified_without_an_interdiff(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file that ends up with other lines is modified; only equal net changes need the interdiff."""

    def explode(*_a: object, **_k: object) -> None:
        raise AssertionError("unequal net changes reached the interdiff")

    monkeypatch.setattr(classify_mod, "interdiff", explode)
    for name in ("added-line-changed", "removed-line-changed", "line-added", "file-added"):
        assert classify(BASE, MODIFIED[name]).status == "modified", name


def test_a_real_change_among_reordered_lines_is_modified_and_shown() -> None:
    old, new = SEMANTIC_REFRESHES["lined-up-differently"]
    result = classify(old, new.replace(b" z\n", b"+w\n z\n").replace(b"+1,2", b"+1,3"))
    assert result.status == "modified"
    assert result.old is not None
    assert result.new is not None
    assert render(interdiff(result.old, result.new)) == b"--- a/f.c\n+++ b/f.c\n@@ -1,2 +1,3 @@\n x\n+w\n z\n"


ALL_PAIRS = {
    **{f"refreshed-{k}": (BASE, v) for k, v in REFRESHED.items()},
    **{f"modified-{k}": (BASE, v) for k, v in MODIFIED.items()},
    **SEMANTIC_REFRESHES,
    **FAST_REFRESHES,
}


@pytest.mark.parametrize("name", sorted(ALL_PAIRS))
def test_modified_exactly_when_the_interdiff_shows_something(name: str) -> None:
    """The rule a maintainer sees: never an empty interdiff under M, never one under F."""
    old, new = ALL_PAIRS[name]
    result = classify(old, new)
    assert result.old is not None
    assert result.new is not None
    assert (result.status == "modified") == bool(interdiff(result.old, result.new)), result.status
