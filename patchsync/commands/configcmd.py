"""``patchsync config check``: validate a config before (re)loading it."""

from __future__ import annotations

import argparse

from ._common import common_options, load_config

HELP = "validate the configuration file"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    check = sub.add_parser("check", help="load and validate the config, print a summary")
    common_options(check, suppress=True)


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    if args.quiet:
        return 0
    names = ", ".join(f"{t.name} ({t.mode})" for t in config.targets) or "none"
    if len(config.sources) == 1:
        print(f"{config.path}: OK; source {config.source.url or '(none)'}; targets: {names}")
        print(_signature_line(config.source.keys))
        return 0
    sources = ", ".join(f"{s.name} ({s.url or 'no url'})" for s in config.sources)
    print(f"{config.path}: OK; sources: {sources}; targets: {names}")
    for source in config.sources:
        print(f"source {source.name}: {_signature_line(source.keys)}")
    return 0


def _signature_line(keys: tuple[str, ...]) -> str:
    from ..model import UNCHECKED

    if not keys:
        return UNCHECKED
    from ..rpm.signature import load_keyring

    fingerprints = load_keyring(keys).fingerprints
    return f"signature: required, by one of {len(fingerprints)} certificates: {', '.join(fingerprints)}"
