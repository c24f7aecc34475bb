"""``patchsync state migrate --to URL``: move an installation's state into PostgreSQL."""

from __future__ import annotations

import argparse
from pathlib import Path

from ._common import common_options, load_config

HELP = "manage the state database"

#: How long ``migrate`` waits for a running cycle (here or on the other machine).
MIGRATE_LOCK_WAIT = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="state_action", metavar="ACTION", required=True)
    migrate = sub.add_parser(
        "migrate",
        help="copy the SQLite history and outbox in state.dir into an empty PostgreSQL database",
        description="copy the SQLite history and outbox in state.dir into an empty PostgreSQL database",
    )
    common_options(migrate, suppress=True)
    migrate.add_argument(
        "--to", required=True, metavar="URL", help="postgresql://[user@]host[:port]/dbname (empty database)"
    )


def run(args: argparse.Namespace) -> int:
    from .. import state as statemod
    from ..config import StateConfig, check_database_url
    from ..errors import StateError

    config = load_config(args)
    if not args.to:
        raise StateError("the URL must not be empty", where="--to")
    check_database_url(args.to, "--to", key="the URL")
    sqlite = statemod.db_path(config.state.dir)
    if not sqlite.is_file():
        raise StateError("no SQLite state database to migrate", where=sqlite)
    # Both cycle locks: no cycle here writes the SQLite file, and none on
    # another machine already pointed at the new database writes there.
    target_conf = StateConfig(dir=config.state.dir, database=args.to)
    with (
        statemod.hold_cycle(target_conf, wait=MIGRATE_LOCK_WAIT, what="state migrate") as target,
        statemod.State(config.state.dir) as source,
    ):
        copied = statemod.copy_state(source, target)
    if not args.quiet:
        print(
            f"copied {copied.runs} runs, {copied.mails} mails ({copied.unsent} unsent), {copied.values} values "
            f"and {copied.written} targets' written records from {Path(sqlite)} to {target.where}"
        )
        print(f'now set [state] database = "{args.to}" in {config.path} and restart patchsync')
    return 0
