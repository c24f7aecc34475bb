"""Retention of cached src.rpms.

Only patchsync's own things are ever deleted: ``*.src.rpm`` files under
``state.dir/srpms/`` beyond ``state.retain_srpms`` (newest kept) here, and
``refs/patchsync/backup/<target>/*`` beyond ``state.retain_backups``, which
:func:`patchsync.gitsync.sync_target` prunes in the same ref transaction
that writes a new backup.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .config import Config

log = logging.getLogger(__name__)

SRPM_DIR = "srpms"


def prune_srpms(directory: Path, keep: int) -> list[Path]:
    """Delete all but the ``keep`` newest ``*.src.rpm`` files; return the deleted ones."""
    try:
        files = [p for p in directory.glob("*.src.rpm") if p.is_file() and not p.is_symlink()]
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


def prune(config: Config) -> None:
    prune_srpms(Path(config.state.dir) / SRPM_DIR, config.state.retain_srpms)
