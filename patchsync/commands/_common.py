"""Helpers shared by the command modules."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .. import config as configmod


def common_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """--config, -v, -q and --debug; accepted before and after the command."""
    # The same options are accepted before and after the command; after it,
    # SUPPRESS keeps an absent option from overwriting one given before.
    default = argparse.SUPPRESS if suppress else None
    parser.add_argument("--config", metavar="PATH", default=default, help="config file")
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS if suppress else False, help="say more"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=argparse.SUPPRESS if suppress else False, help="errors only"
    )
    parser.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="debug logging and tracebacks",
    )


def load_config(args: argparse.Namespace) -> configmod.Config:
    """The config named by ``--config``, ``$PATCHSYNC_CONFIG`` or the default path."""
    # Imported here: tomllib and the config schema cost start-up time that
    # `patchsync extract` (which needs no config) should not pay.
    import logging

    from .. import config as configmod

    config = configmod.load(configmod.resolve_path(getattr(args, "config", None)))
    for warning in config.warnings:
        logging.getLogger("patchsync").warning("%s", warning)
    return config


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")
