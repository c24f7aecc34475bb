"""SUSE's series.conf, read with the semantics of its ``guards`` script.

``scripts/guards`` in SUSE's kernel-source: ``#`` starts a comment (at the
start of a line or after whitespace), a trailing backslash continues a
line, tokens starting with ``+`` or ``-`` are guards for the names after
them on the line.  Guards are evaluated left to right and the last one that
matches decides; with guards, the default is "included" when the first
guard is a ``-`` guard and "excluded" otherwise; with none, included:

* ``+sym`` include if ``sym`` is defined, ``-sym`` exclude if it is;
* ``+!sym`` include if ``sym`` is not defined, ``-!sym`` exclude if it is not;
* a bare ``-`` always matches, so it excludes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import PatchError

#: The name of SUSE's series.conf, a source of kernel-source beside the patch tarballs.
SERIES_CONF = "series.conf"
#: guards(1): a guard is a sign, an optional "!" and a symbol (may be empty).
_GUARD_RE = re.compile(r"^([-+])(!?)(.*)$")
#: guards: "s/(^|\s+)#.*//" - a comment needs whitespace (or nothing) before it.
_COMMENT_RE = re.compile(r"(^|\s+)#.*")


@dataclass(frozen=True)
class SeriesEntry:
    """One patch name of series.conf, with its guards and whether they select it."""

    name: str
    guards: tuple[str, ...]
    active: bool
    line: int


@dataclass(frozen=True)
class Series:
    entries: tuple[SeriesEntry, ...]

    def names(self, *, active_only: bool = True) -> list[str]:
        return [e.name for e in self.entries if e.active or not active_only]

    def entry(self, name: str) -> SeriesEntry | None:
        for e in self.entries:
            if e.name == name:
                return e
        return None


def guards_select(guards: Iterable[str], symbols: Iterable[str]) -> bool:
    """Whether a patch with ``guards`` is applied when ``symbols`` are defined.

    >>> guards_select(["+xen"], ["xen"]), guards_select(["+needs_update"], ["xen"])
    (True, False)
    >>> guards_select(["-xen"], ["xen"]), guards_select(["-xen"], []), guards_select(["-"], [])
    (False, True, False)
    >>> guards_select(["+!xen"], []), guards_select(["-!xen"], [])
    (True, False)
    >>> guards_select(["-xen", "+vanilla"], ["xen", "vanilla"])
    True
    """
    defined = set(symbols)
    guards = list(guards)
    if not guards:
        return True
    selected = guards[0].startswith("-")
    for guard in guards:
        match = _GUARD_RE.match(guard)
        if match is None:  # pragma: no cover - tokens are only guards when they start with +/-
            raise PatchError(f"bad guard {guard!r}")
        sign, negate, symbol = match.groups()
        if (negate and symbol not in defined) or (not negate and (symbol == "" or symbol in defined)):
            selected = sign == "+"
    return selected


def parse_series(data: bytes, symbols: Iterable[str] = ("xen",), *, where: str = "series.conf") -> Series:
    """Every patch name of ``data`` in order, guarded-out ones kept with ``active=False``."""
    symbols = tuple(symbols)
    text = data.decode("utf-8", "surrogateescape")
    entries: list[SeriesEntry] = []
    pending = ""
    pending_line = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = _COMMENT_RE.sub("", raw)
        if not pending:
            pending_line = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        guards: list[str] = []
        for token in line.split():
            if token[0] in "+-":
                guards.append(token)
                continue
            entries.append(
                SeriesEntry(name=token, guards=tuple(guards), active=guards_select(guards, symbols), line=pending_line)
            )
    if pending:
        raise PatchError("ends with a continued line", where=where)
    return Series(entries=tuple(entries))
