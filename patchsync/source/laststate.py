"""The last src.rpm a run took from the mirror, to notice a mirror going backwards.

Kept in the state database (:mod:`patchsync.state`, key ``last_taken``)
behind these two functions, so the daemon and a manual run share it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


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
    return None


def write_last_synced(state_dir: Path, last: LastSynced) -> None:
    """Record ``last`` durably (one database transaction)."""
    from ..state import KEY_LAST_TAKEN, State

    with State(state_dir) as state:
        state.put(KEY_LAST_TAKEN, asdict(last))
