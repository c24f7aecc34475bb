"""Write the KOTD's patches into a target's git branch (``patchsync sync``).

:func:`sync_target` (in :mod:`.sync`) is the one entry point.
"""

from __future__ import annotations

from .sync import CONFLICT, ERROR, STALL_ENV, UP_TO_DATE, UPDATED, sync_target

__all__ = ["CONFLICT", "ERROR", "STALL_ENV", "UPDATED", "UP_TO_DATE", "sync_target"]
