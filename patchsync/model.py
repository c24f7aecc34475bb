"""Plain data passed between the source side, comparison, sync and reports.

Kept free of I/O so every layer (and the JSON the CLI prints) shares one
definition of what a KOTD source is, what a comparison found, and what a
sync wrote or ran into (:class:`Commit`, :class:`Conflict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from .patches.parse import ParseCache

#: How the payload of the src.rpm was obtained for this run (JSON ``source.payload``).
PayloadState = Literal["downloaded", "skipped", "cached", "local"]

#: What the text report, ``check -v`` and the mail say when ``source.keys`` is empty.
UNCHECKED = "signature: not checked (source.keys is empty)"


@dataclass(frozen=True)
class SignatureInfo:
    """Who signed a src.rpm's header, as OpenPGP verification established it."""

    #: The signer's certificate (primary key) fingerprint, upper-case hex.
    fingerprint: str
    #: The certificate's first user ID (``Name <address>``), "" when it has none.
    user_id: str
    #: The signature's creation time, UTC.
    signed_at: datetime
    #: Key ID of the (sub)key that made the signature, upper-case hex.
    key_id: str = ""

    @property
    def signer(self) -> str:
        """``<fingerprint> <user id>``: how reports name the signer."""
        return f"{self.fingerprint} {self.user_id}".rstrip()

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "verified",
            "fingerprint": self.fingerprint,
            "signed_at": self.signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "user_id": self.user_id,
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: Any) -> SignatureInfo | None:
        """The inverse of :meth:`to_json`; ``None`` for ``{"status": "unchecked"}`` or anything unusable."""
        if not isinstance(data, Mapping) or data.get("status") != "verified":
            return None
        try:
            signed_at = datetime.strptime(str(data["signed_at"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            return cls(
                fingerprint=str(data["fingerprint"]),
                user_id=str(data.get("user_id", "")),
                signed_at=signed_at,
                key_id=str(data.get("key_id", "")),
            )
        except (KeyError, ValueError):
            return None


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
    #: The verified header signature; ``None`` when ``source.keys`` is empty (nothing checked).
    signature: SignatureInfo | None = None

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
        data["signature"] = self.signature.to_json() if self.signature else {"status": "unchecked"}
        return data

    @property
    def signature_line(self) -> str:
        """``signed by <fingerprint> <user id>``, or the not-checked line."""
        return f"signed by {self.signature.signer}" if self.signature else UNCHECKED

    @property
    def headline(self) -> str:
        """The first line of the check and sync reports: the KOTD, its tarball and, when verified, its signer."""
        line = f"KOTD {self.file} ({self.tarball} sha256 {self.tarball_sha256[:12]})"
        return f"{line}, {self.signature_line}" if self.signature else line


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


#: quilt's series file (quilt(1), "series"): one patch per line, options
#: after the name, ``#`` comments; patchsync keeps it beside the patches.
SERIES_FILE = "series"


@dataclass(frozen=True)
class TreePatches:
    """The patches a branch carries: ``files`` name -> bytes, ``order`` the series order."""

    commit: str
    files: dict[str, bytes]
    order: list[str]
    warnings: tuple[str, ...] = ()


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
    #: The patches the comparison parsed, for sync to apply without parsing them again.
    parses: ParseCache = field(default_factory=ParseCache, compare=False, repr=False)

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


@dataclass(frozen=True)
class Commit:
    """A commit sync made on the review branch (JSON ``commits[]``).

    ``patches`` names the patches the commit changes; empty for a commit
    that was only replayed onto a new parent.
    """

    sha: str
    subject: str
    patches: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"sha": self.sha, "subject": self.subject, "patches": list(self.patches)}


@dataclass(frozen=True)
class Conflict:
    """A patch or a replayed commit that did not apply (JSON ``conflicts[]``).

    ``patch`` is ``None`` for a replayed commit, ``commit`` ``None`` for a
    patch applied on top; ``message`` is what a maintainer needs to see.
    """

    patch: str | None
    commit: str | None
    files: tuple[str, ...] = ()
    message: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"patch": self.patch, "commit": self.commit, "files": list(self.files), "message": self.message}


@dataclass(frozen=True)
class ReviewBranch:
    """A target's review branch against its branch (``check --json`` ``review_branch``)."""

    name: str
    head: str | None
    #: Commits on the review branch that the branch lacks.
    commits: int
    #: Whether those commits hold the update to the KOTD checked (not merged yet).
    pending: bool

    def to_json(self) -> dict[str, object]:
        return {"name": self.name, "head": self.head, "commits": self.commits, "pending": self.pending}
