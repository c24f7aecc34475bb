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
        "source": target.source,
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
    """The ``sync --json`` document; ``source`` only when there is one source (as before ``sources``)."""
    data: dict[str, Any] = {}
    if not result.several_sources:
        data["source"] = result.source.to_json() if result.source else None
    data["sources"] = [s.to_json() for s in result.sources]
    data["dry_run"] = result.dry_run
    data["targets"] = [target_json(t, dry_run=result.dry_run) for t in result.targets]
    return data


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
    """The human report: per target a headline, its commits, conflicts and how patches applied.

    With several sources, each source's KOTD line (or error) heads its targets.
    """
    dry_run = result.dry_run
    lines: list[str] = []
    for source in result.sources:
        if source.info is None:
            lines.append(f"source {source.name}: error: {source.error}")
            continue
        kotd = source.info.headline
        lines.append(f"source {source.name}: {kotd}" if result.several_sources else kotd)
        lines.extend(_target_lines(target, dry_run) for target in result.targets_of(source.name))
    if dry_run:
        lines.append("dry run: nothing was written")
    return "\n".join(lines) + "\n"


def _target_lines(target: TargetRun, dry_run: bool) -> str:
    lines = [_headline(target, dry_run)]
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
    return "\n".join(lines)
