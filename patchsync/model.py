"""Plain data passed between the source side, comparison, sync and reports.

Kept free of I/O so every layer (and the JSON the CLI prints) shares one
definition of what a KOTD source is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

#: How the payload of the src.rpm was obtained for this run (JSON ``source.payload``).
PayloadState = Literal["downloaded", "skipped", "cached", "local"]


@dataclass(frozen=True)
class SourceInfo:
    """Which src.rpm a run used, and what getting it cost."""

    url: str
    file: str
    version: str
    release: str
    tarball: str
    tarball_sha256: str
    bytes_transferred: int = 0
    payload: PayloadState = "local"
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``source`` object shared by check, sync and history output."""
        data: dict[str, Any] = {
            "url": self.url,
            "file": self.file,
            "version": self.version,
            "release": self.release,
            "tarball": self.tarball,
            "tarball_sha256": self.tarball_sha256,
            "bytes_transferred": self.bytes_transferred,
            "payload": self.payload,
        }
        if self.note:
            data["note"] = self.note
        return data


@dataclass(frozen=True)
class PatchSet:
    """The patches of one KOTD tarball, exactly as SUSE shipped them.

    ``files`` maps the path inside the tarball (``patches.xen/xen3-foo``) to
    its bytes, untouched; ``series_conf`` is the src.rpm's series.conf when it
    has one.
    """

    source: SourceInfo
    top: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    series_conf: bytes | None = None


#: How one patch of a target compares with the KOTD (JSON ``patches[].status``).
Status = Literal["unchanged", "metadata", "refreshed", "modified", "added", "removed", "renamed", "held"]

#: Every status, in the order the counts are reported.
STATUSES: tuple[Status, ...] = (
    "unchanged",
    "metadata",
    "refreshed",
    "modified",
    "added",
    "removed",
    "renamed",
    "held",
)


@dataclass(frozen=True)
class PatchDelta:
    """One patch name of a target, compared with the KOTD.

    ``name`` is the name in the tree's patches_dir (the tarball path after
    ``strip``); ``old`` is the tree's bytes, ``new`` the KOTD's (``None``
    where that side has no such patch).  For ``renamed``, ``previous_name``
    is the tree's name and ``name`` the KOTD's.
    """

    name: str
    status: Status
    old: bytes | None = None
    new: bytes | None = None
    previous_name: str | None = None
    interdiff: str = ""
    #: For ``held``: what the KOTD did to it (``unchanged``, ``modified``, ...).
    kotd_status: str = ""


@dataclass(frozen=True)
class TargetDrift:
    """Everything ``check`` found for one target; what ``sync`` acts on."""

    target: str
    mode: str
    branch_commit: str
    patches: tuple[PatchDelta, ...]
    kotd_order: tuple[str, ...]
    tree_order: tuple[str, ...]
    order_changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    #: KOTD patches whose series.conf entry is guarded out (``+needs_update``):
    #: compared and named in ``warnings``, but SUSE does not apply them, so
    #: they are neither drift nor synced.
    guarded_out: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for patch in self.patches:
            counts[patch.status] += 1
        return counts

    @property
    def in_sync(self) -> bool:
        if any(p.status not in ("unchanged", "held") and p.name not in self.guarded_out for p in self.patches):
            return False
        # A released branch's history is never rewritten, so its order is
        # information only; a development branch is reordered by sync.
        return not (self.mode == "development" and self.order_changes)
