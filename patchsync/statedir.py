"""``state.dir``: what lives where in it, and how its files are written.

The one module that knows the folder's layout; every other module asks it
for a path instead of joining names of its own::

    state.dir/
      patchsync.sqlite3    the state database: run history, the KOTD last seen
                           and last synced, the mail outbox (patchsync.state);
                           absent when state.database names a PostgreSQL one
      http-cache/          index pages and repository metadata with their
                           validators, for conditional GETs (source.http)
      source-probe.json    the src.rpm probed last, its tarball's digests and,
                           with source.keys, its verified signer and the
                           keyring it was verified under, so an unchanged
                           mirror costs no header probe
                           (source-probe-<name>.json for each other [[source]])
      tarballs/            extracted tarball contents keyed by their digests
                           (source.tarcache)
      srpms/               downloaded src.rpms (the newest state.retain_srpms)
                           and the .part of an interrupted download
      locks/               cycle.lock, daemon.lock, repo-<key>.lock (patchsync.lock)
      tmp/repo-<key>/      object quarantines of a sync in progress (gitsync)

Who writes what: ``check`` and ``fetch`` write only the caches
(``http-cache/``, ``source-probe.json``, ``tarballs/``, ``srpms/``) and
their lock; they never create or change the database.  ``sync`` and the
daemon also record the run, and what was seen and synced, in the
database, and use ``tmp/`` while they write objects.

Files are replaced atomically (:func:`write_atomic`: a temporary file,
fsync, rename, fsync of the folder), so a reader sees the old or the new
file and a crash leaves no half of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

#: The source a single ``[source]`` table stands for (``config.DEFAULT_SOURCE``).
DEFAULT_SOURCE = "default"
#: The SQLite database (the default backend of :mod:`patchsync.database`).
DB_NAME = "patchsync.sqlite3"
#: Suffix of a download in progress in ``srpms/``.
PART_SUFFIX = ".part"
SRPM_SUFFIX = ".src.rpm"


class StateDir:
    """The paths of one ``state.dir``; nothing is created until something is written."""

    __slots__ = ("root",)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"StateDir({str(self.root)!r})"

    @property
    def database(self) -> Path:
        return self.root / DB_NAME

    @property
    def http_cache(self) -> Path:
        return self.root / "http-cache"

    def probe_record_of(self, source: str) -> Path:
        """The probe record of one ``[[source]]``: each follows its own tarball."""
        # The default source keeps the name a single-source installation has.
        suffix = "" if source == DEFAULT_SOURCE else f"-{source}"
        return self.root / f"source-probe{suffix}.json"

    @property
    def tarballs(self) -> Path:
        return self.root / "tarballs"

    @property
    def srpms(self) -> Path:
        return self.root / "srpms"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def cycle_lock(self) -> Path:
        return self.locks / "cycle.lock"

    @property
    def daemon_lock(self) -> Path:
        return self.locks / "daemon.lock"

    def repo_lock(self, repo: str | os.PathLike[str]) -> Path:
        """The lock file of one repository, keyed by its resolved path."""
        return self.locks / f"{_repo_key(repo)}.lock"

    def quarantines(self, repo: str | os.PathLike[str]) -> Path:
        """Where a sync of ``repo`` keeps its object quarantines; keyed like its lock."""
        return self.root / "tmp" / _repo_key(repo)


def _repo_key(repo: str | os.PathLike[str]) -> str:
    return "repo-" + hashlib.sha256(os.fsencode(os.path.realpath(repo))).hexdigest()[:16]


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data``: readers see the old or the new file, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def prune_srpms(directory: Path, keep: int, *, current: Path | None = None) -> list[Path]:
    """Delete all but the ``keep`` newest ``*.src.rpm`` in ``directory``; return the deleted ones.

    ``current``, the file just used, counts as the newest, and a stale
    ``.part`` goes with it: a download that completed leaves none of its own.
    Only regular files patchsync could have written are deleted, never a
    symlink a user put there.
    """
    if current is not None:
        os.utime(current)
        for part in directory.glob("*" + PART_SUFFIX):
            part.unlink(missing_ok=True)
    try:
        files = [p for p in directory.glob("*" + SRPM_SUFFIX) if p.is_file() and not p.is_symlink()]
    except OSError:
        return []
    # Newest first by modification time, name as a stable tie-breaker.
    files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
    deleted = []
    for old in files[keep:]:
        try:
            old.unlink()
        except FileNotFoundError:
            continue
        log.info("pruned %s", old)
        deleted.append(old)
    return deleted
