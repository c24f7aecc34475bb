"""The source side: find, fetch and unpack the newest KOTD src.rpm.

:func:`obtain` is the one entry point ``check``, ``sync`` and the daemon use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .pipeline import obtain as obtain

__all__ = ["obtain"]


def __getattr__(name: str) -> Any:
    # Lazy: importing patchsync.source.rpmvercmp must not pull in requests.
    if name == "obtain":
        from .pipeline import obtain

        return obtain
    raise AttributeError(name)
