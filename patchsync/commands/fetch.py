"""``patchsync fetch``: download the newest KOTD src.rpm and print its path."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import ConfigError
from ._common import load_config
from ._progress import make_progress

HELP = "download the newest KOTD src.rpm (verified) and print its path"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", metavar="DIR", help="download into DIR instead of the cache (state.dir/srpms)")
    parser.add_argument(
        "--src-rpm",
        metavar="URL",
        help="fetch this src.rpm instead of discovering the newest (also overrides the going-backwards check)",
    )
    parser.add_argument("--source", metavar="NAME", help="the [[source]] to fetch from (needed when there are several)")


def run(args: argparse.Namespace) -> int:
    from ..source.pipeline import fetch
    from ..state import read_last_synced

    config = load_config(args)
    if args.source:
        source = config.source_named(args.source)
    elif len(config.sources) > 1:
        raise ConfigError("several sources: say which one to fetch with --source NAME", where=config.path)
    else:
        source = config.source
    output = Path(args.output) if args.output else None
    fetched = fetch(
        config,
        source=source,
        src_rpm=args.src_rpm,
        last_synced=read_last_synced(config.state, source.name),
        dest_dir=output,
        progress=make_progress(args.src_rpm.rsplit("/", 1)[-1] if args.src_rpm else "download"),
    )
    print(fetched.path)
    return 0
