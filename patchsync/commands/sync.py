"""``patchsync sync``: one whole cycle, the systemd timer's way.

Fetch, compare and write the KOTD's patches into each target's review
branch, record the run in the history and mail the report (``--no-mail``
skips the mail), all under the cycle lock shared with the daemon.  The
output and exit statuses are those of issue 4, section 5.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from ..errors import ConfigError, PatchsyncError
from ._common import load_config, print_json

#: The shell's status for a process ended by SIGTERM (128 + 15): not a
#: success, not drift, not an error in the input.
EXIT_STOPPED = 128 + signal.SIGTERM

HELP = "write the KOTD's patches into each target's review branch (git), record the run, mail the report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--target", metavar="NAME", help="sync only this target")
    parser.add_argument("--source", metavar="NAME", help="sync only the targets following this [[source]]")
    parser.add_argument("--dry-run", action="store_true", help="compute everything, write nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--src-rpm", metavar="FILE", help="use this src.rpm (path or URL) instead of the newest KOTD")
    parser.add_argument("--no-mail", action="store_true", help="do not mail the report (it is still recorded)")


def trigger_name() -> str:
    """``systemd`` under a unit (the timer's service sets ``$INVOCATION_ID``), else ``manual``."""
    return "systemd" if os.environ.get("INVOCATION_ID") else "manual"


def run(args: argparse.Namespace) -> int:
    from ..cycle import Stopped, run_cycle
    from ..report.sync import render_json, render_text

    config = load_config(args)
    if not args.target and not config.targets:
        raise ConfigError("no [[target]] to sync", where=config.path)
    # `systemctl stop` sends SIGTERM: stop at the next step boundary so
    # the run is recorded as stopped instead of left "running" forever.
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        result = run_cycle(
            config,
            trigger=trigger_name(),
            target=args.target,
            source=args.source,
            src_rpm=args.src_rpm,
            dry_run=args.dry_run,
            mail=not args.no_mail,
            stop=stop.is_set,
        )
    except Stopped as exc:
        print(f"patchsync: {exc} (SIGTERM); the run is recorded as stopped", file=sys.stderr)
        return EXIT_STOPPED
    finally:
        signal.signal(signal.SIGTERM, previous)
    if result.error and not result.targets:
        # The cycle failed before any target (the fetch); it is recorded
        # and mailed, and the one line a user sees is the cause.
        raise PatchsyncError(result.error)
    if args.json:
        print_json(render_json(result))
    else:
        sys.stdout.write(render_text(result))
    if result.error:
        # Some sources failed, others synced: the report shows both, the
        # error line says why the exit status is 2.
        print(f"patchsync: error: {result.error}", file=sys.stderr)
    if result.mail == "queued":
        print("patchsync: the report stays in the outbox (SMTP failed); the next cycle retries it", file=sys.stderr)
    return result.exit_code
