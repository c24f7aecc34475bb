"""``patchsync check`` output: the text report and the stable JSON (issue 3, section 5); no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..model import STATUSES, PatchDelta, ReviewBranch, SourceInfo, TargetDrift
from ..runs import SourceRun, TargetStatus, exit_status

#: One letter per status in the text report (documented in the README).
LETTERS = {
    "metadata": "H",
    "refreshed": "F",
    "modified": "M",
    "added": "A",
    "removed": "D",
    "renamed": "R",
    "held": "=",
}

#: ANSI SGR colours (ECMA-48) for the letters, used only on a terminal.
_COLOURS = {
    "H": "34",  # blue: header only
    "F": "36",  # cyan: refreshed
    "M": "31;1",  # bold red: the content changed
    "A": "32",  # green
    "D": "31",  # red
    "R": "33",  # yellow
    "=": "35",  # magenta: held
}
_RESET = "\x1b[0m"


@dataclass(frozen=True)
class TargetCheck:
    """One target's outcome: its drift, or the error that stopped its comparison."""

    name: str
    drift: TargetDrift | None = None
    error: str = ""
    #: The review branch, and whether it already holds this KOTD's update.
    review: ReviewBranch | None = None

    @property
    def status(self) -> TargetStatus:
        if self.error or self.drift is None:
            return "error"
        return "in-sync" if self.drift.in_sync else "drift"


@dataclass(frozen=True)
class SourceCheck:
    """One source's KOTD and its targets' outcomes, or the error that stopped the source."""

    name: str
    source: SourceInfo | None
    targets: tuple[TargetCheck, ...]
    error: str = ""


def exit_code(checks: Sequence[SourceCheck]) -> int:
    """2 if any source or target failed, else 1 if any drifted, else 0."""
    return exit_status((t.status for c in checks for t in c.targets), failed=any(c.error for c in checks))


def _paint(letter: str, colour: bool) -> str:
    return f"\x1b[{_COLOURS[letter]}m{letter}{_RESET}" if colour else letter


def summary(drift: TargetDrift) -> str:
    """The counts of a target, in status order, zeros left out: ``40 unchanged, 2 modified``."""
    counts = drift.counts
    parts = [f"{counts[s]} {s}" for s in STATUSES if counts[s]]
    return ", ".join(parts) if parts else "no patches"


def patch_line(patch: PatchDelta, *, colour: bool = False) -> str:
    """``M  name``, ``R  old -> new``, ``=  name (KOTD: modified)``."""
    letter = _paint(LETTERS[patch.status], colour)
    if patch.status == "renamed":
        return f"{letter}  {patch.previous_name} -> {patch.name}"
    if patch.status == "held":
        return f"{letter}  {patch.name} (held; KOTD: {patch.kotd_status or 'unchanged'})"
    return f"{letter}  {patch.name}"


def render_text(
    checks: Sequence[SourceCheck], *, verbose: bool = False, colour: bool = False, several: bool = False
) -> str:
    """The human report: per source a KOTD line, then per target a summary and one line per changed patch.

    ``several``: the config has several sources, so each KOTD line names its source.
    """
    lines: list[str] = []
    for check in checks:
        if check.source is None:
            lines.append(f"source {check.name}: error: {check.error}")
            continue
        lines += _source_text(
            check.source, check.targets, verbose=verbose, colour=colour, name=check.name if several else ""
        )
    return "\n".join(lines) + "\n"


def _source_text(
    source: SourceInfo, checks: Sequence[TargetCheck], *, verbose: bool, colour: bool, name: str
) -> list[str]:
    kotd = source.headline
    lines = [f"source {name}: {kotd}" if name else kotd]
    if verbose:
        # Issue 6: what this poll cost, so an operator can see the header-only path at work.
        cost = f"source: payload {source.payload}, {source.bytes_transferred:,} bytes transferred"
        lines.append(cost + (f"; {source.note}" if source.note else ""))
        if source.signature is None:
            # Said out loud: an operator who expects verification must notice it is off.
            lines.append(source.signature_line)
    for check in checks:
        if check.drift is None:
            lines.append(f"{check.name}: error: {check.error}")
            continue
        drift = check.drift
        state = "in sync" if drift.in_sync else "drift"
        lines.append(f"{drift.target}: {state}: {summary(drift)} ({drift.mode}, {drift.branch_commit[:12]})")
        if check.review is not None and check.review.pending:
            count = check.review.commits
            lines.append(f"pending review: {count} commit{'s' if count != 1 else ''} on {check.review.name}")
        for patch in drift.patches:
            if patch.status == "unchanged":
                continue
            lines.append(patch_line(patch, colour=colour))
            if verbose and patch.interdiff:
                lines.append(patch.interdiff.rstrip("\n"))
        if drift.order_changes:
            why = "sync reorders" if drift.mode == "development" else "information only, released history is kept"
            lines.append(f"order: {len(drift.order_changes)} moved ({why}): {', '.join(drift.order_changes)}")
        lines.extend(f"warning: {w}" for w in drift.warnings)
    return lines


def target_json(check: TargetCheck, source: str) -> dict[str, Any]:
    """One entry of ``targets``; the keys are the public interface (README, "check --json")."""
    if check.drift is None:
        return {
            "name": check.name,
            "source": source,
            "in_sync": False,
            "patches": [],
            "counts": dict.fromkeys(STATUSES, 0),
            "order_changes": [],
            "warnings": [],
            "review_branch": None,
            "error": check.error,
        }
    drift = check.drift
    patches: list[dict[str, Any]] = []
    for p in drift.patches:
        entry: dict[str, Any] = {"name": p.name, "status": p.status}
        if p.status == "renamed":
            entry["previous_name"] = p.previous_name
        patches.append(entry)
    return {
        "name": drift.target,
        "source": source,
        "in_sync": drift.in_sync,
        "patches": patches,
        "counts": drift.counts,
        "order_changes": list(drift.order_changes),
        "warnings": list(drift.warnings),
        "review_branch": check.review.to_json() if check.review is not None else None,
    }


def render_json(checks: Sequence[SourceCheck], *, several: bool = False) -> dict[str, Any]:
    """The ``check --json`` document; ``source`` only when the config has one source (as before ``sources``)."""
    data: dict[str, Any] = {}
    # The same object sync and history write for a source.
    sources = [SourceRun(c.name, c.source, c.error).to_json() for c in checks]
    if not several:
        data["source"] = checks[0].source.to_json() if checks and checks[0].source else None
    data["sources"] = sources
    data["targets"] = [target_json(t, c.name) for c in checks for t in c.targets]
    return data
