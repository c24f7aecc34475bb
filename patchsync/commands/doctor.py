"""``patchsync doctor``: check a setup as the service user before enabling the timer."""

from __future__ import annotations

import argparse
import sys

from ..errors import EXIT_ERROR, EXIT_OK
from ._common import print_json

HELP = "check the config, state.dir, repositories, source and mail server as this user (writes nothing)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the checks as JSON")


def run(args: argparse.Namespace) -> int:
    from .. import config as configmod
    from ..doctor import diagnose

    findings = diagnose(configmod.resolve_path(getattr(args, "config", None)))
    ok = all(f.ok for f in findings)
    if args.json:
        print_json({"ok": ok, "checks": [f.to_json() for f in findings]})
    else:
        for f in findings:
            where = f"{f.target}: {f.check}" if f.target else f.check
            line = f"ok    {where}: {f.detail}" if f.ok else f"FAIL  {where}: {f.detail}; fix: {f.fix}"
            sys.stdout.write(line + "\n")
    return EXIT_OK if ok else EXIT_ERROR
