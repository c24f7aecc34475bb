"""``patchsync daemon``: run a cycle on the ``[schedule]`` until SIGTERM."""

from __future__ import annotations

import argparse
import logging

from ._common import load_config

HELP = "run a cycle on the [schedule] until SIGTERM (SIGHUP reloads the config)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from ..daemon import Daemon, LogSetup

    config = load_config(args)
    if not args.quiet and not args.debug:
        # A service's journal should say what each cycle did without -v:
        # the daemon's own lines (start, one per cycle, stop) are shown.
        logging.getLogger("patchsync.daemon").setLevel(logging.INFO)
    return Daemon(config, LogSetup(verbose=args.verbose, quiet=args.quiet, debug=args.debug)).run()
