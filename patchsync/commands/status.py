"""``patchsync status``: per target the last run, its result and the review branch head."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..config import Config, TargetConfig
from ..daemon import running_daemon
from ..model import SourceInfo
from ..state import cycle_lock_holder, daemon_key, open_state
from ._common import load_config, print_json

HELP = "show per target the last run, its result and the review branch head"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def _review_head(target: TargetConfig) -> str | None:
    """The live review ref, not what the last run wrote: someone may have moved it since.

    With a ``remote``, the server's review branch as this clone last
    fetched or pushed it (status does not go to the network).
    """
    if not os.path.isdir(target.repo):
        return None
    from ..gitsync import refs

    ref = target.tracking_ref(target.review_ref) if target.remote else target.review_ref
    return refs.read(target.repo, ref + "^{commit}")


def _json(source: SourceInfo | None) -> dict[str, Any] | None:
    return source.to_json() if source else None


def collect(config: Config) -> dict[str, Any]:
    with open_state(config.state) as state:
        last = state.last_target_runs()
        daemon_info = state.get(daemon_key(state.host))
        seen = state.last_seen()
        synced = state.last_synced()
        sources = [
            {
                "name": source.name,
                "last_seen": _json(state.last_seen(source.name)),
                "last_synced": _json(state.last_synced(source.name)),
            }
            for source in config.sources
        ]
        unsent = len(state.unsent())
        lock_holder = cycle_lock_holder(config.state, state)
    holder = running_daemon(config.state.dir)
    daemon: dict[str, Any] = {"running": holder is not None}
    if holder is not None and isinstance(daemon_info, dict):
        daemon.update(
            pid=daemon_info.get("pid"),
            schedule=daemon_info.get("schedule"),
            next_run=daemon_info.get("next_run"),
            last_run=daemon_info.get("last_run"),
        )
    targets = []
    for target in config.targets:
        row_target = last.get(target.name)
        entry: dict[str, Any] = {
            "name": target.name,
            "mode": target.mode,
            "source": config.source_name_of(target),
            "review_branch": target.review_ref,
            "review_head": _review_head(target),
            "last_run": None,
            "result": None,
            "error": None,
        }
        if row_target is not None:
            row, outcome = row_target
            entry.update(
                last_run={"id": row.id, "started": row.started, "trigger": row.trigger, "host": row.host or None},
                result=outcome.status,
                error=outcome.error or None,
            )
        targets.append(entry)
    return {
        "daemon": daemon,
        "cycle_lock": lock_holder,
        "last_seen": seen.to_json() if seen else None,
        "last_synced": synced.to_json() if synced else None,
        "sources": sources,
        "outbox_unsent": unsent,
        "targets": targets,
    }


def run(args: argparse.Namespace) -> int:
    config = load_config(args)
    data = collect(config)
    if args.json:
        print_json(data)
        return 0
    daemon = data["daemon"]
    if daemon["running"]:
        print(f"daemon: running (pid {daemon.get('pid')}), next run {daemon.get('next_run') or 'unknown'}")
    else:
        print("daemon: not running")
    print(f"cycle lock: {'held by ' + data['cycle_lock'] if data['cycle_lock'] else 'free'}")
    if len(data["sources"]) == 1:
        seen = data["last_seen"]
        print(f"last KOTD seen: {seen['file'] if seen else 'none'}")
    else:
        for source in data["sources"]:
            seen = source["last_seen"]
            print(f"source {source['name']}: last KOTD seen: {seen['file'] if seen else 'none'}")
    if data["outbox_unsent"]:
        print(f"outbox: {data['outbox_unsent']} mail(s) waiting to be sent")
    for t in data["targets"]:
        head = t["review_head"][:12] if t["review_head"] else "(none)"
        last = t["last_run"]
        when = f"#{last['id']} {last['started'].replace('T', ' ').removesuffix('+00:00')}" if last else "never run"
        if last and last["host"]:
            when += f" on {last['host']}"
        line = f"{t['name']} ({t['mode']}): {t['result'] or '-'}, last run {when}, {t['review_branch']} at {head}"
        if t["error"]:
            line += f"; error: {t['error']}"
        print(line)
    return 0
