"""Which patches moved: the complement of the longest common subsequence."""

from __future__ import annotations

import bisect
from collections.abc import Sequence


def order_changes(kotd_order: Sequence[str], tree_order: Sequence[str]) -> list[str]:
    """The names outside a longest common subsequence of the two orders, in KOTD order.

    Only names on both sides count (added and removed patches are not order
    changes).  Each name appears once per order, so the LCS is the longest
    increasing subsequence of the tree positions taken in KOTD order:
    O(n log n), fine for SUSE's 10,000-patch series.

    >>> order_changes(["a", "b", "c", "d"], ["a", "c", "b", "d"])
    ['b']
    >>> order_changes(["a", "x", "b"], ["b", "a"])
    ['a']
    >>> order_changes(["a", "b"], ["a", "b", "gone"])
    []
    """
    tree_pos: dict[str, int] = {}
    for i, name in enumerate(tree_order):
        tree_pos.setdefault(name, i)
    seen: set[str] = set()
    common: list[str] = []
    for name in kotd_order:
        if name in tree_pos and name not in seen:
            seen.add(name)
            common.append(name)
    keep = set(_lis([tree_pos[n] for n in common]))
    return [name for i, name in enumerate(common) if i not in keep]


def _lis(values: Sequence[int]) -> list[int]:
    """Indices of a longest strictly increasing subsequence of ``values`` (patience sorting)."""
    tails: list[int] = []  # tails[k]: value ending the best run of length k+1
    tail_idx: list[int] = []
    prev: list[int] = [-1] * len(values)
    for i, v in enumerate(values):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_idx.append(i)
        else:
            tails[k] = v
            tail_idx[k] = i
        prev[i] = tail_idx[k - 1] if k else -1
    out: list[int] = []
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        out.append(i)
        i = prev[i]
    return out[::-1]
