"""``patchsync report``: print or re-send the last report."""

from __future__ import annotations

import argparse
import email
import email.policy
import sys

from ..errors import ConfigError
from ..state import open_state
from ._common import load_config

HELP = "print the last report (RFC 5322, as mailed), or re-send it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--send", action="store_true", help="mail it again through [report]")
    parser.add_argument(
        "--to",
        action="append",
        metavar="ADDR",
        default=[],
        help="with --send: to ADDR instead of report.to (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    with open_state(config.state) as state:
        last = state.last_report()
    if last is None:
        print("patchsync: no report yet", file=sys.stderr)
        return 0
    run_id, message = last
    if not args.send:
        sys.stdout.buffer.write(message)
        sys.stdout.flush()
        return 0
    if config.report is None:
        raise ConfigError("no [report] table: no SMTP server to send with", where=config.path)
    from ..mail import send

    recipients = args.to or list(config.report.to)
    msg = email.message_from_bytes(message, policy=email.policy.SMTP)
    if args.to:
        del msg["To"]
        msg["To"] = ", ".join(args.to)
    send(config.report, msg.as_bytes(), recipients=recipients)
    which = f"the report of run #{run_id}" if run_id is not None else "the last report"
    print(f"sent {which} ({msg['Subject']}) to {', '.join(recipients)}")
    return 0
