"""``patchsync sync`` output: the text report and the JSON of issue 4, section 5; no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import EXIT_DRIFT, EXIT_ERROR, EXIT_OK
from ..gitsync import CONFLICT, ERROR, SyncResult
from ..model import SourceInfo

#: Exit status per target status: a conflict is like drift (1), an error 2.
_EXIT = {CONFLICT: EXIT_DRIFT, ERROR: EXIT_ERROR}


def exit_code(results: Sequence[SyncResult]) -> int:
    """2 if any target failed, else 1 if any conflicted, else 0."""
    return max((_EXIT.get(r.status, EXIT_OK) for r in results), default=EXIT_OK)


def render_json(source: SourceInfo, results: Sequence[SyncResult], *, dry_run: bool) -> dict[str, Any]:
    """The ``sync --json`` document (README, "sync --json")."""
    return {"source": source.to_json(), "dry_run": dry_run, "targets": [r.to_json() for r in results]}


def _headline(result: SyncResult) -> str:
    name = f"{result.target} ({result.mode})"
    if result.status == "up-to-date":
        return f"{name}: up to date" + (f" at {result.head[:12]}" if result.head else "")
    if result.status == "conflict":
        return f"{name}: conflict, nothing written"
    if result.status == "error" and not result.commits:
        return f"{name}: error: {result.error}"
    verb = "would write" if result.dry_run else "wrote"
    count = len(result.commits)
    head = (result.head or "")[:12]
    return f"{name}: {verb} {result.ref} at {head}, {count} commit{'s' if count != 1 else ''}"


def render_text(source: SourceInfo, results: Sequence[SyncResult], *, dry_run: bool) -> str:
    """The human report: per target a headline, its commits, conflicts and how patches applied."""
    lines = [f"KOTD {source.file} ({source.tarball} sha256 {source.tarball_sha256[:12]})"]
    for result in results:
        lines.append(_headline(result))
        for commit in result.commits:
            lines.append(f"  {commit.sha[:12]} {commit.subject}")
        for conflict in result.conflicts:
            what = conflict.patch or ""
            if conflict.commit:
                what = f"{what} in commit {conflict.commit[:12]}".strip()
            lines.append(f"  conflict: {what}: {conflict.message}")
        for patch, method in sorted(result.applied.items()):
            lines.append(f"  applied with {method}: {patch}")
        if result.backup:
            lines.append(f"  old {result.target} branch kept as {result.backup}")
        if result.branch_updated:
            lines.append(f"  {'would move' if result.dry_run else 'moved'} the branch to the review head")
        if result.pushed:
            lines.append(f"  pushed {result.ref}")
        if result.status == "error" and result.commits:
            lines.append(f"  error: {result.error}")
    if dry_run:
        lines.append("dry run: nothing was written")
    return "\n".join(lines) + "\n"
