"""series.conf with the semantics of SUSE's guards script, and the LCS order."""

from __future__ import annotations

import pytest

from patchsync.errors import PatchError
from patchsync.patches.order import order_changes
from patchsync.patches.series import guards_select, parse_series

SERIES_CONF = b"""\
# Kernel patches configuration file
#   +symbol include if defined; -symbol exclude if defined

	########################################################
	# Xen
	########################################################
	patches.xen/xen3-auto-common.diff
	+xen	patches.xen/xen3-patch-2.6.32	# a comment after a name
	+needs_update	patches.xen/xen3-old.diff
	-xen	patches.xen/not-with-xen.diff
   +!vanilla patches.xen/no-vanilla.diff
	- patches.xen/disabled.diff
	patches.suse/other-folder.patch
	+xen patches.xen/a.diff \\
		patches.xen/b.diff
#	patches.xen/commented-out.diff
	patches.xen/hash#in-name.diff
"""


def test_entries_guards_and_activity() -> None:
    series = parse_series(SERIES_CONF, ["xen"])
    assert [(e.name, e.guards, e.active) for e in series.entries] == [
        ("patches.xen/xen3-auto-common.diff", (), True),
        ("patches.xen/xen3-patch-2.6.32", ("+xen",), True),
        ("patches.xen/xen3-old.diff", ("+needs_update",), False),
        ("patches.xen/not-with-xen.diff", ("-xen",), False),
        ("patches.xen/no-vanilla.diff", ("+!vanilla",), True),
        ("patches.xen/disabled.diff", ("-",), False),
        ("patches.suse/other-folder.patch", (), True),
        ("patches.xen/a.diff", ("+xen",), True),
        ("patches.xen/b.diff", ("+xen",), True),
        ("patches.xen/hash#in-name.diff", (), True),
    ]
    assert series.entries[1].line == 8
    assert series.entries[7].line == 14


def test_symbols_are_configurable() -> None:
    series = parse_series(SERIES_CONF, ["needs_update", "vanilla"])
    active = set(series.names())
    assert "patches.xen/xen3-patch-2.6.32" not in active
    assert "patches.xen/xen3-old.diff" in active
    assert "patches.xen/not-with-xen.diff" in active
    assert "patches.xen/no-vanilla.diff" not in active


@pytest.mark.parametrize(
    ("guards", "symbols", "selected"),
    [
        ((), (), True),
        (("+a",), ("a",), True),
        (("+a",), (), False),
        (("-a",), ("a",), False),
        (("-a",), (), True),
        (("+!a",), (), True),
        (("+!a",), ("a",), False),
        (("-!a",), (), False),
        (("-",), ("a",), False),
        # the last matching guard decides; the default follows the first guard's sign
        (("+a", "-b"), ("a", "b"), False),
        (("-a", "+b"), ("a", "b"), True),
        (("+a", "+b"), ("b",), True),
        (("-a", "-b"), (), True),
    ],
)
def test_guards_select(guards: tuple[str, ...], symbols: tuple[str, ...], selected: bool) -> None:
    assert guards_select(guards, symbols) is selected


def test_dangling_continuation_is_an_error() -> None:
    with pytest.raises(PatchError, match=r"^series.conf: ends with a continued line$"):
        parse_series(b"patches.xen/a \\\n")


@pytest.mark.parametrize(
    ("kotd", "tree", "moved"),
    [
        ("abcd", "abcd", ""),
        ("abcd", "acbd", "b"),
        ("abcd", "dabc", "d"),
        ("abcd", "dcba", "abc"),
        ("axbyc", "cba", "ab"),
        ("", "abc", ""),
    ],
)
def test_order_changes(kotd: str, tree: str, moved: str) -> None:
    assert order_changes(list(kotd), list(tree)) == list(moved)


def test_order_changes_is_minimal_on_a_large_series() -> None:
    names = [f"p{i:05d}" for i in range(10000)]
    tree = list(names)
    # Move three patches far away: exactly those three are reported.
    for name in ("p00010", "p05000", "p09990"):
        tree.remove(name)
    tree = ["p09990", *tree[:100], "p00010", *tree[100:], "p05000"]
    assert order_changes(names, tree) == ["p00010", "p05000", "p09990"]
