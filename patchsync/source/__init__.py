"""The source side: find, fetch and unpack the newest KOTD src.rpm.

:func:`obtain` is the one entry point ``check``, ``sync`` and the daemon use.
One module per step, in the order a run takes them:

* ``discover``: the src.rpms of the KOTD directory (read by ``repodata``
  from RPM-MD metadata, or by ``index`` from an HTML index page) and the
  newest of them, by rpm's ordering (``rpmvercmp``);
* ``probe``: its headers alone, by HTTP Range;
* ``tarcache``: the extracted tarballs, keyed by the digests the header lists;
* ``download``: the whole src.rpm, resumable and verified as it arrives;
* ``pipeline``: :func:`obtain` and ``fetch``, which run the steps above;
* ``http``: the HTTP client they share, and conditional GETs of index pages.
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
