"""``patchsync sync`` output: the text report and the JSON of issue 4, section 5; no I/O.

Both read the cycle's one :class:`~patchsync.runs.CycleResult`, the same
object the history records and the mail renders.
"""

from __future__ import annotations

from typing import Any

from ..runs import CycleResult, TargetRun
from . import next_step


def target_json(target: TargetRun, *, dry_run: bool) -> dict[str, Any]:
    """One entry of ``targets`` (README, "sync --json")."""
    return {
        "name": target.name,
        "mode": target.mode,
        "status": target.status,
        "ref": target.ref,
        "head": target.head or None,
        "commits": [c.to_json() for c in target.commits],
        "conflicts": [c.to_json() for c in target.conflicts],
        "applied": dict(target.applied),
        "dropped": [c.to_json() for c in target.dropped],
        "branch_updated": target.branch_updated,
        "backup": target.backup,
        "pushed": target.pushed,
        "dry_run": dry_run,
        "error": target.error or None,
    }


def render_json(result: CycleResult) -> dict[str, Any]:
    """The ``sync --json`` document."""
    return {
        "source": result.source.to_json() if result.source else None,
        "dry_run": result.dry_run,
        "targets": [target_json(t, dry_run=result.dry_run) for t in result.targets],
    }


def _headline(target: TargetRun, dry_run: bool) -> str:
    name = f"{target.name} ({target.mode})"
    if target.status == "up-to-date":
        return f"{name}: up to date" + (f" at {target.head[:12]}" if target.head else "")
    if target.status == "conflict":
        return f"{name}: conflict, nothing written"
    if target.status == "error" and not target.commits:
        return f"{name}: error: {target.error}"
    verb = "would write" if dry_run else "wrote"
    count = len(target.commits)
    return f"{name}: {verb} {target.ref} at {target.head[:12]}, {count} commit{'s' if count != 1 else ''}"


def render_text(result: CycleResult) -> str:
    """The human report: per target a headline, its commits, conflicts and how patches applied."""
    dry_run = result.dry_run
    source = result.source
    # A cycle without a source failed before any target; the command reports that as its error.
    assert source is not None
    lines = [source.headline]
    for target in result.targets:
        lines.append(_headline(target, dry_run))
        for commit in target.commits:
            lines.append(f"  {commit.sha[:12]} {commit.subject}")
        for conflict in target.conflicts:
            what = conflict.patch or ""
            if conflict.commit:
                what = f"{what} in commit {conflict.commit[:12]}".strip()
            lines.append(f"  conflict: {what}: {conflict.message}")
            if conflict.patch:
                lines.append(f"  next: {next_step(conflict.patch)}")
        for commit in target.dropped:
            why = f" ({', '.join(commit.patches)} removed from the KOTD)" if commit.patches else ""
            lines.append(f"  {'would drop' if dry_run else 'dropped'} {commit.sha[:12]} {commit.subject}{why}")
        for patch, method in sorted(target.applied.items()):
            lines.append(f"  applied with {method}: {patch}")
        if target.backup:
            lines.append(f"  old {target.name} branch kept as {target.backup}")
        if target.branch_updated:
            lines.append(f"  {'would move' if dry_run else 'moved'} the branch to the review head")
        if target.pushed:
            lines.append(f"  pushed {target.ref}")
        if target.status == "error" and target.commits:
            lines.append(f"  error: {target.error}")
    if dry_run:
        lines.append("dry run: nothing was written")
    return "\n".join(lines) + "\n"
