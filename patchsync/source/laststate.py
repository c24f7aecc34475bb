"""The last src.rpm a run took from the mirror, to notice a mirror going backwards.

Kept in the state database (:mod:`patchsync.state`, key ``last_taken``),
behind these two functions.  Earlier versions wrote a small JSON file in
``state.dir``; it is still read (and imported) when the database has no
value yet, so an upgrade keeps the guard, and it is never deleted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import StateError

STATE_FILE = "source-last.json"


@dataclass(frozen=True)
class LastSynced:
    version: str
    release: str
    file: str


def read_last_synced(state_dir: Path) -> LastSynced | None:
    """What the last run took, or ``None`` before the first one."""
    from ..state import KEY_LAST_TAKEN, State

    with State(state_dir) as state:
        data = state.get(KEY_LAST_TAKEN)
    if isinstance(data, dict):
        return LastSynced(version=str(data["version"]), release=str(data["release"]), file=str(data["file"]))
    legacy = _read_legacy(state_dir)
    if legacy is not None:
        write_last_synced(state_dir, legacy)
    return legacy


def _read_legacy(state_dir: Path) -> LastSynced | None:
    path = state_dir / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LastSynced(version=str(data["version"]), release=str(data["release"]), file=str(data["file"]))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read: {exc.strerror}", where=path) from None
    except (ValueError, KeyError, TypeError):
        raise StateError(
            "corrupt source state (not the JSON patchsync writes); remove it to start over", where=path
        ) from None


def write_last_synced(state_dir: Path, last: LastSynced) -> None:
    """Record ``last`` durably (one database transaction)."""
    from ..state import KEY_LAST_TAKEN, State

    with State(state_dir) as state:
        state.put(KEY_LAST_TAKEN, asdict(last))
