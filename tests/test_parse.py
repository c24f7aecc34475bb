"""parse_patch: lossless, byte-level, and robust to what real patches contain."""

from __future__ import annotations

from pathlib import Path

import pytest
from unidiff import PatchSet

from patchsync.errors import PatchError
from patchsync.patches.parse import Hunk, parse_patch, strip_path

SUSE = b"""From: Jan Beulich <jbeulich@novell.com>
Subject: fix things
Patch-mainline: n/a

Description with a line
--- that looks like a separator but is text
and more.

Signed-off-by: Someone <s@example.org>
---
 drivers/xen/a.c |    2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

--- head-2010.orig/drivers/xen/a.c\t2010-01-04 12:41:42.000000000 +0100
+++ head-2010/drivers/xen/a.c\t2010-01-04 13:29:53.000000000 +0100
@@ -1,3 +1,3 @@ static int f(void)
 one
-two
+TWO
 three
"""


def _corpus_files(corpus: Path) -> list[Path]:
    return sorted(p for d in ("v1", "v2", "same") for p in (corpus / d).iterdir())


def test_suse_header_with_separator_and_diffstat() -> None:
    p = parse_patch(SUSE)
    assert p.header.endswith(b"1 file changed, 1 insertion(+), 1 deletion(-)\n\n")
    assert p.diff_part.startswith(b"--- head-2010.orig/drivers/xen/a.c")
    (f,) = p.files
    assert (f.old_path, f.new_path) == ("head-2010.orig/drivers/xen/a.c", "head-2010/drivers/xen/a.c")
    assert f.name == "drivers/xen/a.c"
    assert f.hunks == (
        Hunk(
            1,
            3,
            1,
            3,
            b"static int f(void)",
            ((" ", b"one\n"), ("-", b"two\n"), ("+", b"TWO\n"), (" ", b"three\n")),
        ),
    )
    assert f.hunks[0].old_lines() == [b"one\n", b"two\n", b"three\n"]
    assert f.hunks[0].new_lines() == [b"one\n", b"TWO\n", b"three\n"]


def test_quilt_index_and_hg_preamble() -> None:
    data = (
        b"# HG changeset 93+99 patch\n# User someone\n\nSubject: x\n\n"
        b"Index: head-2007/arch/i386/kernel/a.c\n"
        b"===================================================================\n"
        b"--- head-2007.orig/arch/i386/kernel/a.c\n+++ head-2007/arch/i386/kernel/a.c\n"
        b"@@ -5 +5 @@\n-a\n+b\n"
        b"Index: head-2007/b.c\n====\n--- head-2007.orig/b.c\n+++ head-2007/b.c\n@@ -1,0 +2,1 @@\n+x\n"
    )
    p = parse_patch(data)
    assert p.header == b"# HG changeset 93+99 patch\n# User someone\n\nSubject: x\n\n"
    assert [f.name for f in p.files] == ["arch/i386/kernel/a.c", "b.c"]
    assert p.files[0].preamble.startswith(b"Index: ")
    assert p.files[0].hunks[0].old_len == 1
    assert p.files[0].hunks[0].new_len == 1
    assert p.files[1].hunks[0].old_len == 0


def test_diff_urnp_and_hg_diff_lines() -> None:
    data = (
        b"Subject: s\n\ndiff -urNpP linux-2.6.12/a.c linux-2.6.12.new/a.c\n"
        b"--- linux-2.6.12/a.c\t2005\n+++ linux-2.6.12.new/a.c\t2005\n@@ -1 +1 @@\n-a\n+b\n"
        b"diff -r 1234 -r 5678 b.c\n--- a/b.c\tTue Jan 31 13:53:51 2006\n+++ b/b.c\tFri Feb  3 11:48:12 2006\n"
        b"@@ -1 +1 @@\n-a\n+b\n"
    )
    p = parse_patch(data)
    assert p.header == b"Subject: s\n\n"
    assert [f.name for f in p.files] == ["a.c", "b.c"]
    assert p.files[1].preamble.startswith(b"diff -r 1234")


def test_git_new_deleted_renamed_mode_and_binary() -> None:
    data = (
        b"From 1 Mon Sep 17 00:00:00 2001\nSubject: [PATCH] g\n---\n x | 1 +\n\n"
        b"diff --git a/new.c b/new.c\nnew file mode 100644\nindex 0000000..e69de29\n"
        b"--- /dev/null\n+++ b/new.c\n@@ -0,0 +1 @@\n+hello\n"
        b"diff --git a/old.c b/old.c\ndeleted file mode 100644\nindex 1..0\n"
        b"--- a/old.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-bye\n"
        b"diff --git a/from.c b/to.c\nsimilarity index 100%\nrename from from.c\nrename to to.c\n"
        b"diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n"
        b"diff --git a/img.bin b/img.bin\nnew file mode 100644\nindex 0000000..1111111\nGIT binary patch\n"
        b"literal 5\nMcmZ?wbaG(=\n\nliteral 0\nHcmV?d00001\n\n"
        b"diff --git a/empty b/empty\nnew file mode 100644\nindex 0000000..e69de29\n"
        b"-- \n2.39.2\n\n"
    )
    p = parse_patch(data)
    new, old, ren, mode, binary, empty = p.files
    assert (new.name, new.is_new, new.old_name, new.old_path) == ("new.c", True, None, None)
    assert (old.name, old.is_deleted, old.new_name) == ("old.c", True, None)
    assert (ren.old_name, ren.new_name, ren.is_rename, ren.hunks) == ("from.c", "to.c", True, ())
    assert (mode.old_mode, mode.new_mode, mode.name) == ("100644", "100755", "run.sh")
    assert binary.is_binary
    assert binary.binary is not None
    assert binary.binary.startswith(b"GIT binary patch\nliteral 5")
    assert binary.binary.endswith(b"HcmV?d00001\n\n")
    assert (empty.name, empty.is_new, empty.hunks) == ("empty", True, ())
    assert p.trailer == b"-- \n2.39.2\n\n"


def test_quoted_paths_and_spaces() -> None:
    data = (
        b'diff --git "a/t\\303\\244b\\tx" "b/t\\303\\244b\\tx"\nindex 1..2 100644\n'
        b'--- "a/t\\303\\244b\\tx"\n+++ "b/t\\303\\244b\\tx"\n@@ -1 +1 @@\n-a\n+b\n'
        b"diff --git a/with space.c b/with space.c\nindex 1..2 100644\n"
        b"--- a/with space.c\t\n+++ b/with space.c\t\n@@ -1 +1 @@\n-a\n+b\n"
        b"--- linux.orig/other space.c 2006-02-17 10:14:38.000000000 +0100\n"
        b"+++ linux/other space.c 2006-02-17 10:14:38.000000000 +0100\n@@ -1 +1 @@\n-a\n+b\n"
    )
    p = parse_patch(data)
    assert [f.name for f in p.files] == ["t\u00e4b\tx", "with space.c", "other space.c"]


def test_crlf_non_utf8_and_no_newline_are_kept_as_bytes() -> None:
    data = (
        b"Subject: \xe9t\xe9\r\n\r\n--- a/f\r\n+++ b/f\r\n@@ -1,2 +1,2 @@\r\n a\xff\r\n-old\n"
        b"\\ No newline at end of file\n+new\r\n\\ No newline at end of file\n"
    )
    p = parse_patch(data)
    assert p.header == b"Subject: \xe9t\xe9\r\n\r\n"
    (h,) = p.files[0].hunks
    assert h.lines == (
        (" ", b"a\xff\r\n"),
        ("-", b"old\n"),
        ("\\", b" No newline at end of file\n"),
        ("+", b"new\r\n"),
        ("\\", b" No newline at end of file\n"),
    )
    assert h.old_lines() == [b"a\xff\r\n", b"old"]
    assert h.new_lines() == [b"a\xff\r\n", b"new"]
    assert h.changes() == [("-", b"old"), ("+", b"new")]
    assert p.header + b"".join(f.raw for f in p.files) + p.trailer == data


def test_empty_line_in_hunk_is_empty_context() -> None:
    p = parse_patch(b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n\n-b\n+c\n")
    assert p.files[0].hunks[0].lines == ((" ", b"a\n"), (" ", b"\n"), ("-", b"b\n"), ("+", b"c\n"))


@pytest.mark.parametrize("data", [b"", b"Subject: only words\n\nno diff here\n", b"---\n 0 files changed\n"])
def test_patch_without_file_diffs_is_all_header(data: bytes) -> None:
    p = parse_patch(data)
    assert (p.header, p.files, p.trailer) == (data, (), b"")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n", "x: line 3: hunk ends early (patch truncated)"),
        (
            b"--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+c\nGARBAGE\n",
            "x: line 3: hunk promises 3 old and 3 new lines, has 2 and 2",
        ),
        (b"Subject: x\n\n@@ -1 +1 @@\n-a\n+b\n", "x: line 3: diff content without a file header"),
        (b"--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n\n@@ -9 +9 @@\n-a\n+b\n", "x: line 7: hunk outside a file diff"),
        (b"diff --git a/x b/x\nindex 1..2\nGIT binary patch\nzzz\n", "x: line 4: GIT binary patch without"),
        (b'--- "a/unterminated\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n', "x: unterminated quoted path"),
    ],
)
def test_unsound_patches_raise_patch_error(data: bytes, message: str) -> None:
    with pytest.raises(PatchError) as err:
        parse_patch(data, where="x")
    assert str(err.value).startswith(message)


def test_strip_path() -> None:
    assert strip_path("linux-2.6.27.orig/arch/x86/a.c") == "arch/x86/a.c"
    assert strip_path("Makefile") == "Makefile"
    assert strip_path(None) is None


def test_every_corpus_patch_parses_losslessly_and_agrees_with_unidiff(corpus: Path) -> None:
    files = _corpus_files(corpus)
    assert len(files) == 99
    for path in files:
        data = path.read_bytes()
        p = parse_patch(data, where=str(path))
        assert p.header + b"".join(f.raw for f in p.files) + p.trailer == data, path
        assert p.files, path
        # unidiff is an independent reader: same files, same numbers of
        # added and removed lines per file.
        ud = PatchSet(data.decode("utf-8", "surrogateescape"))
        ours = [(f.name, sum(len(h.added) for h in f.hunks), sum(len(h.removed) for h in f.hunks)) for f in p.files]
        theirs = [(strip_path(u.source_file if u.is_removed_file else u.target_file), u.added, u.removed) for u in ud]
        assert ours == theirs, path


def test_corpus_header_ends_where_the_first_diff_starts(corpus: Path) -> None:
    # v2 of this patch has a "---" separator and a diffstat in its header.
    p = parse_patch((corpus / "v2" / "add-console-use-vt").read_bytes())
    assert p.header.endswith(b"2 files changed, 7 insertions(+), 1 deletion(-)\n\n")
    assert p.diff_part.startswith(b"--- head-2009-10-12.orig/drivers/char/tty_io.c")
