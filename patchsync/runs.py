"""What one cycle did: the one result that history, output, mail and exit status render.

``sync_target`` returns a :class:`TargetRun`, the cycle collects them in a
:class:`CycleResult`, and every consumer (the history, ``sync``'s text and
JSON, the mail, the exit status) reads that same object.  Kept free of I/O
(like :mod:`patchsync.model`) so the renderers depend on data, not on the
machinery that produced it.  What the history keeps round-trips through
JSON, because the state database stores it that way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .errors import EXIT_DRIFT, EXIT_ERROR, EXIT_OK
from .model import Commit, Conflict, SignatureInfo, SourceInfo, TargetDrift
from .statedir import DEFAULT_SOURCE

__all__ = [
    "NOTEWORTHY",
    "Commit",
    "Conflict",
    "CycleResult",
    "PatchLine",
    "SourceRun",
    "TargetRun",
    "TargetStatus",
    "exit_status",
    "source_from_json",
    "utcnow",
]

#: A target's outcome in one cycle: ``in-sync``/``drift`` when the cycle only
#: compared (``check``), the sync statuses of issue 4 otherwise.
TargetStatus = Literal["in-sync", "drift", "updated", "up-to-date", "conflict", "error"]

#: Statuses worth a mail under ``report.only_on_change``: something moved,
#: needs a human, or broke.  ``up-to-date`` and ``in-sync`` are quiet.
NOTEWORTHY: frozenset[str] = frozenset({"drift", "updated", "conflict", "error"})

#: Exit status per target status; every other status is 0.
_EXIT: Mapping[str, int] = {"drift": EXIT_DRIFT, "conflict": EXIT_DRIFT, "error": EXIT_ERROR}


def exit_status(statuses: Iterable[str], *, failed: bool = False) -> int:
    """The process exit status for targets with these statuses: 2 beats 1 beats 0 (README, "Exit status").

    ``failed`` is a failure before any target (the fetch): 2.

    >>> exit_status(["up-to-date", "conflict", "updated"])
    1
    >>> exit_status(["drift", "error"])
    2
    >>> exit_status([], failed=True)
    2
    """
    if failed:
        return EXIT_ERROR
    return max((_EXIT.get(s, EXIT_OK) for s in statuses), default=EXIT_OK)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclass(frozen=True)
class PatchLine:
    """One patch of a target that is not unchanged."""

    name: str
    status: str
    previous_name: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "status": self.status}
        if self.previous_name is not None:
            data["previous_name"] = self.previous_name
        return data


@dataclass(frozen=True)
class SourceRun:
    """One ``[[source]]`` in one cycle: the KOTD it obtained, or why it could not."""

    name: str
    info: SourceInfo | None = None
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``source`` object of check, sync and history, plus ``name`` (and ``error`` when it failed)."""
        data: dict[str, Any] = {"name": self.name}
        if self.info is not None:
            data.update(self.info.to_json())
        if self.error:
            data["error"] = self.error
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SourceRun:
        info = source_from_json({k: v for k, v in data.items() if k not in ("name", "error")})
        return cls(name=data.get("name", DEFAULT_SOURCE), info=info, error=data.get("error") or "")


def sources_from_json(data: Any) -> tuple[SourceRun, ...]:
    """History's stored sources: a list of :class:`SourceRun` objects, or one source object (older rows)."""
    if isinstance(data, list):
        return tuple(SourceRun.from_json(d) for d in data if isinstance(d, dict))
    info = source_from_json(data if isinstance(data, dict) else None)
    return (SourceRun(DEFAULT_SOURCE, info),) if info is not None else ()


@dataclass(frozen=True)
class TargetRun:
    """One target in one cycle.

    ``head`` is the review branch head after a sync (what it would be on a
    dry run), the compared branch commit when the cycle only checked, and
    empty on a conflict or when the target failed before its branch was
    read.  ``applied``, ``branch_updated``, ``backup`` and ``pushed`` are
    what sync did beyond the review branch (``sync`` output only), and
    ``interdiffs`` (patch name -> interdiff text) feed the mail's
    attachments: none of them is kept in history.
    """

    name: str
    mode: str
    status: TargetStatus
    #: The name of the ``[[source]]`` the target follows.
    source: str = DEFAULT_SOURCE
    counts: Mapping[str, int] = field(default_factory=dict)
    patches: tuple[PatchLine, ...] = ()
    order_changes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    ref: str = ""
    head: str = ""
    commits: tuple[Commit, ...] = ()
    conflicts: tuple[Conflict, ...] = ()
    error: str = ""
    #: patch name -> how it applied where that was not exact (``fuzz1``, ``replay``, ...).
    applied: Mapping[str, str] = field(default_factory=dict)
    branch_updated: bool = False
    #: The ref keeping a moved development branch's old head.
    backup: str | None = None
    pushed: bool = False
    #: Development mode: the old commits left out of the new history (sha, subject, patches).
    dropped: tuple[Commit, ...] = ()
    interdiffs: Mapping[str, str] = field(default_factory=dict, compare=False)

    @classmethod
    def compared(
        cls, drift: TargetDrift, status: TargetStatus, *, ref: str = "", source: str = DEFAULT_SOURCE
    ) -> TargetRun:
        """A target as the comparison left it: counts, changed patches, order, warnings, interdiffs."""
        return cls(
            name=drift.target,
            mode=drift.mode,
            status=status,
            source=source,
            counts=drift.counts,
            patches=tuple(
                PatchLine(p.name, p.status, p.previous_name) for p in drift.patches if p.status != "unchanged"
            ),
            order_changes=tuple(drift.order_changes),
            warnings=tuple(drift.warnings),
            ref=ref,
            head=drift.branch_commit,
            interdiffs=_interdiffs(drift),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "source": self.source,
            "status": self.status,
            "counts": dict(self.counts),
            "patches": [p.to_json() for p in self.patches],
            "order_changes": list(self.order_changes),
            "warnings": list(self.warnings),
            "ref": self.ref,
            "head": self.head,
            "commits": [c.to_json() for c in self.commits],
            "conflicts": [c.to_json() for c in self.conflicts],
            "error": self.error or None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TargetRun:
        return cls(
            name=data["name"],
            mode=data.get("mode", ""),
            status=data["status"],
            source=data.get("source") or DEFAULT_SOURCE,
            counts=dict(data.get("counts", {})),
            patches=tuple(PatchLine(p["name"], p["status"], p.get("previous_name")) for p in data.get("patches", ())),
            order_changes=tuple(data.get("order_changes", ())),
            warnings=tuple(data.get("warnings", ())),
            ref=data.get("ref", "") or "",
            head=data.get("head", "") or "",
            commits=tuple(Commit(c["sha"], c["subject"], tuple(c.get("patches", ()))) for c in data.get("commits", ())),
            conflicts=tuple(
                Conflict(c.get("patch"), c.get("commit"), tuple(c.get("files", ())), c.get("message", ""))
                for c in data.get("conflicts", ())
            ),
            error=data.get("error") or "",
        )


@dataclass(frozen=True)
class CycleResult:
    """What ``run_cycle`` returns and the history records."""

    trigger: str
    started: datetime
    finished: datetime
    #: Every source the cycle obtained (or failed to), in config order.
    sources: tuple[SourceRun, ...] = ()
    targets: tuple[TargetRun, ...] = ()
    error: str = ""
    synced: bool = True
    dry_run: bool = False
    run_id: int | None = None
    #: The cycle was asked to stop (SIGTERM) and stopped between steps.
    stopped: bool = False
    #: What happened to the mail: ``sent``, ``queued`` (SMTP failed; retried
    #: next cycle), ``duplicate``, ``quiet`` (nothing to report), ``disabled``.
    mail: str = "disabled"

    @property
    def source(self) -> SourceInfo | None:
        """The KOTD of a single-source cycle; ``None`` when it failed or there are several sources."""
        return self.sources[0].info if len(self.sources) == 1 else None

    @property
    def several_sources(self) -> bool:
        return len(self.sources) > 1

    def targets_of(self, source: str) -> tuple[TargetRun, ...]:
        return tuple(t for t in self.targets if t.source == source)

    @property
    def noteworthy(self) -> bool:
        """Whether ``only_on_change`` lets this cycle's report be mailed."""
        return bool(self.error) or any(t.status in NOTEWORTHY for t in self.targets)

    @property
    def result(self) -> str:
        """One word for history: ``stopped``, else the worst target status, or ``error``."""
        if self.stopped:
            # A graceful stop is what the administrator asked for, not a failure.
            return "stopped"
        if self.error or any(t.status == "error" for t in self.targets):
            return "error"
        for status in ("conflict", "updated", "drift"):
            if any(t.status == status for t in self.targets):
                return status
        return "up-to-date" if self.synced else "in-sync"

    @property
    def exit_code(self) -> int:
        """What ``sync`` and a daemon cycle child exit with."""
        return exit_status((t.status for t in self.targets), failed=bool(self.error))


def _interdiffs(drift: TargetDrift) -> dict[str, str]:
    """The mail attachment text per changed patch.

    An added patch has no interdiff: the patch itself is what changes, so
    it is attached whole (decoded losslessly; the renderer restores bytes).
    """
    found: dict[str, str] = {}
    for p in drift.patches:
        if p.status == "unchanged":
            continue
        if p.interdiff:
            found[p.name] = p.interdiff
        elif p.status == "added" and p.new:
            found[p.name] = p.new.decode("utf-8", "surrogateescape")
    return found


def source_from_json(data: Mapping[str, Any] | None) -> SourceInfo | None:
    """The inverse of :meth:`SourceInfo.to_json` (history rows)."""
    if not data:
        return None
    return SourceInfo(
        url=data.get("url", ""),
        file=data.get("file", ""),
        version=data.get("version", ""),
        release=data.get("release", ""),
        tarball=data.get("tarball", ""),
        tarball_sha256=data.get("tarball_sha256", ""),
        bytes_transferred=int(data.get("bytes_transferred", 0)),
        payload=data.get("payload", "local"),
        note=data.get("note", ""),
        signature=SignatureInfo.from_json(data.get("signature")),
    )
