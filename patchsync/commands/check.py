"""``patchsync check``: compare the KOTD patches with every target.

It writes nothing to any repository and nothing to the state database
(no run, no last seen or synced KOTD); it only fills the caches in
``state.dir`` that make the next poll cheap (see :mod:`patchsync.statedir`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from ..errors import ConfigError, PatchsyncError
from ..report.check import TargetCheck
from ._common import load_config, print_json

if TYPE_CHECKING:
    from ..config import Config, SourceConfig, TargetConfig
    from ..model import PatchSet

HELP = "compare the KOTD's patches with each target's patches (writes only state.dir's caches)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="check only this target")
    parser.add_argument("--source", metavar="NAME", help="check only the targets following this [[source]]")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--src-rpm", metavar="FILE", help="use this src.rpm (path or URL) instead of the newest KOTD")


def run(args: argparse.Namespace) -> int:
    from ..report.check import SourceCheck, exit_code, render_json, render_text

    config = load_config(args)
    from .. import cycle, lock
    from ..statedir import StateDir

    targets = cycle.select_targets(config, target=args.target, source=args.source, src_rpm=args.src_rpm)
    if not targets:
        raise ConfigError("no [[target]] to check", where=config.path)
    verbose = bool(getattr(args, "verbose", False))
    sources = cycle.cycle_sources(config, targets)
    # check writes only the caches; it shares the cycle lock with sync and
    # the daemon so a manual check never races a cycle's fetch.
    with lock.hold(StateDir(config.state.dir).cycle_lock, wait=cycle.CYCLE_LOCK_WAIT, what="check"):
        obtained = _obtain_all(config, sources, args.src_rpm)
    checks: list[SourceCheck] = []
    for source in sources:
        patchset = obtained[source.name]
        followers = [t for t in targets if config.source_name_of(t) == source.name]
        if isinstance(patchset, PatchsyncError):
            if len(sources) == 1:
                raise patchset
            # One source failing must not hide the other sources' reports.
            print(f"patchsync: error: source {source.name}: {patchset}", file=sys.stderr)
            checks.append(SourceCheck(source.name, None, (), error=str(patchset)))
            continue
        found = tuple(
            _compare(patchset, t, source.series_symbols, verbose=verbose and not args.json) for t in followers
        )
        checks.append(SourceCheck(source.name, patchset.source, found))
    several = len(config.sources) > 1
    if args.json:
        print_json(render_json(checks, several=several))
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        sys.stdout.write(render_text(checks, verbose=verbose, colour=colour, several=several))
    return exit_code(checks)


def _obtain_all(
    config: Config, sources: tuple[SourceConfig, ...], src_rpm: str | None
) -> dict[str, PatchSet | PatchsyncError]:
    """Each source's KOTD, or the error that stopped it; a src.rpm they share is fetched once."""
    from ..source import obtain
    from ..source.pipeline import Shared
    from ..state import read_last_synced

    shared = Shared()
    found: dict[str, PatchSet | PatchsyncError] = {}
    for source in sources:
        try:
            # The going-backwards guard reads what the last sync recorded, as a cycle's does.
            last = read_last_synced(config.state, source.name)
            found[source.name] = obtain(config, source=source, src_rpm=src_rpm, last_synced=last, shared=shared)
        except PatchsyncError as exc:
            found[source.name] = exc
    return found


def _compare(patchset: PatchSet, target: TargetConfig, symbols: tuple[str, ...], *, verbose: bool) -> TargetCheck:
    from ..compare import compare_target
    from ..gitsync.access import review_branch
    from ..gitsync.tree import read_target

    try:
        if target.remote:
            # Compare against the team's server, not this clone's copy.
            from ..gitsync.remote import fetch

            fetch(target)
        drift = compare_target(patchset, target, read_target(target), symbols, details=verbose)
        review = review_branch(
            target.repo,
            target.review_ref,
            drift.branch_commit,
            patchset.source.tarball_sha256,
            rewrites=target.mode == "development",
        )
        return TargetCheck(target.name, drift, review=review)
    except PatchsyncError as exc:
        # One target failing must not hide the others' reports.
        print(f"patchsync: error: {target.name}: {exc}", file=sys.stderr)
        return TargetCheck(target.name, error=str(exc))
