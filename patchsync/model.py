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
