"""Command line: argument parsing, output and exit statuses.

This is the only module (with the per-command modules in
:mod:`patchsync.commands`) that prints or exits.  Commands are imported
lazily so ``patchsync extract`` never pays for git or the scheduler.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import select
import sys
from collections.abc import Sequence
from typing import Protocol

from . import __version__
from .commands._common import common_options
from .errors import EXIT_ERROR, InternalError, as_error
from .logs import setup_logging

log = logging.getLogger("patchsync")

#: Sub-command name -> module under patchsync.commands; each module has
#: ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, str] = {
    "check": "check",
    "config": "configcmd",
    "doctor": "doctor",
    "extract": "extract",
    "fetch": "fetch",
    "sync": "sync",
    "daemon": "daemon",
    "history": "history",
    "status": "status",
    "state": "statecmd",
    "report": "report",
}


class Command(Protocol):
    HELP: str

    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load_command(name: str) -> Command:
    module = importlib.import_module(f"patchsync.commands.{COMMANDS[name]}")
    return module  # type: ignore[return-value,unused-ignore]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full parser; with ``only`` set, import just that command's module."""
    parser = argparse.ArgumentParser(
        prog="patchsync",
        description="Keep a kernel tree's copy of SUSE's Xen patchset in step with SUSE's kernel of the day.",
    )
    parser.add_argument("--version", action="version", version=f"patchsync {__version__}")
    common_options(parser, suppress=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if only is not None and name != only:
            # Keep the name known to argparse without importing the module.
            sub.add_parser(name, add_help=False)
            continue
        command = _load_command(name)
        sp = sub.add_parser(name, help=command.HELP, description=command.HELP)
        common_options(sp, suppress=True)
        command.add_arguments(sp)
        sp.set_defaults(_run=command.run)
    return parser


def _pick_command(argv: Sequence[str]) -> str | None:
    """The sub-command named in argv, so only its module is imported."""
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg == "--config":
            skip_next = True
            continue
        if arg.startswith("-"):
            continue
        return arg if arg in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``patchsync`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(only=_pick_command(args_list))
    args = parser.parse_args(args_list)
    setup_logging(verbose=args.verbose, quiet=args.quiet, debug=args.debug)
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        print("patchsync: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError as exc:
        if not _stdout_closed():
            # A pipe to a child process (git) broke: an error like any other.
            return _fail(exc, debug=args.debug)
        # `patchsync check | head`: not an error worth a word.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except Exception as exc:
        # Every failure is one line and exit 2 (an uncaught exception would
        # be a traceback and exit 1, the status that means drift).
        return _fail(exc, debug=args.debug)


def _fail(exc: Exception, *, debug: bool) -> int:
    error = as_error(exc)
    if debug:
        log.exception("error")
    hint = " (--debug shows the traceback)" if isinstance(error, InternalError) and not debug else ""
    print(f"patchsync: error: {error}{hint}", file=sys.stderr)
    return error.exit_code


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reader went away (POLLERR on the writing end, pipe(7))."""
    try:
        fd = sys.stdout.fileno()
    except (OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & select.POLLERR for _, events in poller.poll(0))
