"""``patchsync report``: print or re-send the last report."""

from __future__ import annotations

import argparse
import email
import email.policy
import sys

from ..errors import ConfigError
from ..state import open_state
from ._common import load_config

HELP = "print the last report (RFC 5322, as mailed), add it to an mbox file, or re-send it"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--send", action="store_true", help="mail it again through [report]")
    action.add_argument(
        "--mbox", metavar="FILE", help="add it to the mbox FILE (created if missing), for mutt -f FILE and the like"
    )
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
    if args.mbox:
        _add_to_mbox(args.mbox, message)
        print(f"added the report of run #{run_id} to {args.mbox}" if run_id is not None else f"added to {args.mbox}")
        return 0
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


def _add_to_mbox(path: str, message: bytes) -> None:
    """Append ``message`` to the mbox at ``path`` the way mail readers expect.

    The stdlib writes the ``From `` separator, escapes body lines that
    start with ``From `` and locks the file as mutt does.
    """
    import mailbox

    from ..errors import PatchsyncError

    try:
        box = mailbox.mbox(path, create=True)
        box.lock()
        try:
            box.add(email.message_from_bytes(message, policy=email.policy.compat32))
            box.flush()
        finally:
            box.unlock()
            box.close()
    except (OSError, mailbox.Error) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise PatchsyncError(f"cannot write the mbox: {reason}", where=path) from None
