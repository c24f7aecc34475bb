"""The last src.rpm a run took from the mirror, to notice a mirror going backwards.

A small JSON file in ``state.dir`` written atomically; kept behind these two
functions so it can move into the state database without touching callers.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import StateError
from .fsutil import write_atomic

STATE_FILE = "source-last.json"


@dataclass(frozen=True)
class LastSynced:
    version: str
    release: str
    file: str


def read_last_synced(state_dir: Path) -> LastSynced | None:
    """What the last run took, or ``None`` before the first one."""
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
    """Record ``last`` durably (temp file, fsync, rename)."""
    write_atomic(state_dir / STATE_FILE, (json.dumps(asdict(last), indent=2) + "\n").encode())
