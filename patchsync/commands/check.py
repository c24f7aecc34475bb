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

from ..errors import ConfigError, PatchsyncError
from ._common import load_config, print_json

HELP = "compare the KOTD's patches with each target's patches (writes only state.dir's caches)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="check only this target")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--src-rpm", metavar="FILE", help="use this src.rpm (path or URL) instead of the newest KOTD")


def run(args: argparse.Namespace) -> int:
    from ..compare import compare_target
    from ..gitsync.access import review_branch
    from ..report.check import TargetCheck, exit_code, render_json, render_text

    config = load_config(args)
    targets = [config.target(args.target)] if args.target else list(config.targets)
    if not targets:
        raise ConfigError("no [[target]] to check", where=config.path)
    # check writes only the caches; it shares the cycle lock with sync and
    # the daemon so a manual check never races a cycle's fetch.
    from .. import cycle, lock
    from ..source import obtain
    from ..state import read_last_synced
    from ..statedir import StateDir

    with lock.hold(StateDir(config.state.dir).cycle_lock, wait=cycle.CYCLE_LOCK_WAIT, what="check"):
        # The going-backwards guard reads what the last sync recorded, as a cycle's does.
        patchset = obtain(config, src_rpm=args.src_rpm, last_synced=read_last_synced(config.state))
    verbose = bool(getattr(args, "verbose", False))
    checks: list[TargetCheck] = []
    for target in targets:
        try:
            if target.remote:
                # Compare against the team's server, not this clone's copy.
                from ..gitsync.remote import fetch

                fetch(target)
            drift = compare_target(patchset, target, config.source.series_symbols, details=verbose and not args.json)
            review = review_branch(
                target.repo,
                target.review_ref,
                drift.branch_commit,
                patchset.source.tarball_sha256,
                rewrites=target.mode == "development",
            )
        except PatchsyncError as exc:
            # One target failing must not hide the others' reports.
            print(f"patchsync: error: {target.name}: {exc}", file=sys.stderr)
            checks.append(TargetCheck(target.name, error=str(exc)))
            continue
        checks.append(TargetCheck(target.name, drift, review=review))
    if args.json:
        print_json(render_json(patchset.source, checks))
    else:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        sys.stdout.write(render_text(patchset.source, checks, verbose=verbose, colour=colour))
    return exit_code(checks)
