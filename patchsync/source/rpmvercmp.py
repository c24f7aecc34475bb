"""rpm's version ordering, as ``rpmvercmp()`` in rpm's ``rpmio/rpmvercmp.c`` defines it.

A version is split into segments: runs of ASCII digits or ASCII letters; any
other character only separates them.  Digit runs compare as numbers (leading
zeros ignored), letter runs as bytes, and a digit run beats a letter run.
``~`` sorts before everything, even the end of the string (``1.0~rc1`` <
``1.0``); ``^`` sorts after the end of the string but before any further
segment (``1.0`` < ``1.0^git1`` < ``1.0.1``).

>>> rpmvercmp("2.6.32.10", "2.6.32.9")
1
>>> sorted(["1.0", "1.0~rc1", "1.0^git1", "1.0.1"], key=version_key)
['1.0~rc1', '1.0', '1.0^git1', '1.0.1']
"""

from __future__ import annotations

import functools
from typing import Any

# rpm uses risalnum()/risdigit()/risalpha(): ASCII only, whatever the locale,
# so a non-ASCII letter is a separator to rpm and must be one here too.
_DIGITS = frozenset("0123456789")
_ALPHA = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ALNUM = _DIGITS | _ALPHA
TILDE = "~"  # pre-release marker: sorts before everything
CARET = "^"  # post-release (snapshot) marker: after the base, before more segments


def _is_separator(ch: str) -> bool:
    return ch not in _ALNUM and ch not in (TILDE, CARET)


def _run(text: str, start: int, chars: frozenset[str]) -> int:
    end = start
    while end < len(text) and text[end] in chars:
        end += 1
    return end


def rpmvercmp(a: str, b: str) -> int:  # noqa: PLR0912  kept in the shape of rpm's rpmvercmp() to compare line by line
    """-1, 0 or 1 as ``a`` sorts before, with or after ``b`` (rpm's ordering)."""
    if a == b:
        return 0
    i = j = 0
    while i < len(a) or j < len(b):
        while i < len(a) and _is_separator(a[i]):
            i += 1
        while j < len(b) and _is_separator(b[j]):
            j += 1
        ca = a[i] if i < len(a) else ""
        cb = b[j] if j < len(b) else ""

        if TILDE in (ca, cb):
            if ca != TILDE:
                return 1
            if cb != TILDE:
                return -1
            i, j = i + 1, j + 1
            continue

        if CARET in (ca, cb):
            # The end of a string sorts before "^": a base version is older
            # than its snapshots, but a snapshot is older than any further
            # regular segment.
            if not ca:
                return -1
            if not cb:
                return 1
            if ca != CARET:
                return 1
            if cb != CARET:
                return -1
            i, j = i + 1, j + 1
            continue

        if not (ca and cb):
            break

        chars = _DIGITS if ca in _DIGITS else _ALPHA
        end_a = _run(a, i, chars)
        end_b = _run(b, j, chars)
        seg_a, seg_b = a[i:end_a], b[j:end_b]
        if not seg_b:
            # Different kinds of segment: numbers are newer than letters.
            return 1 if chars is _DIGITS else -1
        if chars is _DIGITS:
            seg_a, seg_b = seg_a.lstrip("0"), seg_b.lstrip("0")
            if len(seg_a) != len(seg_b):
                return 1 if len(seg_a) > len(seg_b) else -1
        if seg_a != seg_b:
            return 1 if seg_a > seg_b else -1
        i, j = end_a, end_b

    rest_a, rest_b = i < len(a), j < len(b)
    if not rest_a and not rest_b:
        return 0
    return -1 if not rest_a else 1


def evrcmp(a: tuple[str, str], b: tuple[str, str]) -> int:
    """Compare (version, release) pairs: version first, release breaks ties.

    >>> evrcmp(("2.6.32.10", "0.0.3"), ("2.6.32.10", "0.0.12"))
    -1
    """
    return rpmvercmp(a[0], b[0]) or rpmvercmp(a[1], b[1])


#: A sort key for :func:`sorted`/:func:`max` over version strings.
version_key: Any = functools.cmp_to_key(rpmvercmp)
#: A sort key over (version, release) pairs.
evr_key: Any = functools.cmp_to_key(evrcmp)
