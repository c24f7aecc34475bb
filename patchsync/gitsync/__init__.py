"""Write the KOTD's patches into a target's git branch (``patchsync sync``).

:func:`sync_target` (in :mod:`.sync`) is the one entry point.
"""

from __future__ import annotations

from .sync import CONFLICT, ERROR, UP_TO_DATE, UPDATED, Checkpoint, sync_target

__all__ = ["CONFLICT", "ERROR", "UPDATED", "UP_TO_DATE", "Checkpoint", "sync_target"]
