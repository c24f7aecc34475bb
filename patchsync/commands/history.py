"""``patchsync history``: the recorded runs, newest first."""

from __future__ import annotations

import argparse

from ..state import RunRow, open_state
from ._common import load_config, print_json

HELP = "show the recorded runs, newest first"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--limit", type=_positive, default=20, metavar="N", help="show at most N runs (default 20)")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    with open_state(config.state) as state:
        rows = state.runs(limit=args.limit)
    if args.json:
        print_json({"runs": [row.to_json() for row in rows]})
        return 0
    if not rows:
        print("no runs recorded yet")
    for row in rows:
        print(format_row(row))
    return 0


def format_row(row: RunRow) -> str:
    """One line per run: id, start, host, trigger, result, KOTD, per-target outcome, mail."""
    started = row.started.replace("T", " ").removesuffix("+00:00")
    if len(row.sources) > 1:
        # Several sources: each names the KOTD it followed, or "-" where it failed.
        kotd = ", ".join(
            f"{s.name} {s.info.version}-{s.info.release}" if s.info else f"{s.name} -" for s in row.sources
        )
    else:
        kotd = f"{row.source.version}-{row.source.release}" if row.source else "-"
    targets = ", ".join(_target(t.name, t.status, len(t.commits)) for t in row.targets)
    # The host matters once two machines share the history; runs from
    # before patchsync recorded it have none.
    host = f"{row.host}  " if row.host else ""
    line = f"#{row.id:<4} {started}  {host}{row.trigger:<8} {row.result:<10} {kotd}"
    if row.dry_run:
        # It wrote nothing: a reader must not take its "updated" for a sync.
        line += "  [dry run]"
    if targets:
        line += f"  {targets}"
    if row.error:
        line += f"  error: {row.error}"
    if row.mail and row.mail not in ("disabled", ""):
        line += f"  [mail {row.mail}]"
    return line


def _target(name: str, status: str, commits: int) -> str:
    return f"{name} {status}" + (f" ({commits} commit{'s' if commits != 1 else ''})" if commits else "")
