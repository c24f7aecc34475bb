"""``patchsync sync``: write the KOTD's patches into each target's review branch."""

from __future__ import annotations

import argparse
import sys

from ..errors import ConfigError
from . import check
from ._common import load_config, print_json

HELP = "write the KOTD's patches into each target's review branch (git)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="sync only this target")
    parser.add_argument("--dry-run", action="store_true", help="compute everything, write nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--src-rpm", metavar="FILE", help="use this src.rpm (path or URL) instead of the newest KOTD")


def run(args: argparse.Namespace) -> int:
    from ..gitsync import sync_all
    from ..report.sync import exit_code, render_json, render_text

    config = load_config(args)
    targets = [config.target(args.target)] if args.target else list(config.targets)
    if not targets:
        raise ConfigError("no [[target]] to sync", where=config.path)
    # Looked up on the module at call time: one way of obtaining the KOTD for check and sync.
    patchset = check.obtain_patchset(config, args.src_rpm)
    results = sync_all(patchset, config, targets, dry_run=args.dry_run)
    if args.json:
        print_json(render_json(patchset.source, results, dry_run=args.dry_run))
    else:
        sys.stdout.write(render_text(patchset.source, results, dry_run=args.dry_run))
    return exit_code(results)
