"""Retention: old src.rpms in the cache and patchsync's own backup refs.

Only two kinds of things are ever deleted, both of them patchsync's own:
``*.src.rpm`` files under ``state.dir/srpms/`` beyond ``state.retain_srpms``
(newest kept), and ``refs/patchsync/backup/<target>/*`` beyond
``state.retain_backups`` per target (newest by their timestamp name kept).
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Sequence
from pathlib import Path

from . import lock
from .config import Config, TargetConfig
from .errors import GitError

log = logging.getLogger(__name__)

SRPM_DIR = "srpms"
BACKUP_PREFIX = "refs/patchsync/backup/"
#: Seconds to wait for a repository another process is syncing.
REPO_LOCK_WAIT = 30.0


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


def _git(repo: str, args: Sequence[str], stdin: str | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=stdin, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        message = (proc.stderr.strip().splitlines() or [f"git {args[0]} failed"])[-1]
        raise GitError(message, where=repo)
    return proc.stdout


def prune_backups(repo: str, target: str, keep: int) -> list[str]:
    """Delete all but the ``keep`` newest backup refs of ``target``; return the deleted refs."""
    prefix = f"{BACKUP_PREFIX}{target}/"
    listing = _git(repo, ["for-each-ref", "--format=%(refname) %(objectname)", prefix])
    refs = sorted((line.split(" ", 1) for line in listing.splitlines() if line), reverse=True)
    old = refs[keep:]
    if not old:
        return []
    # One transaction, each delete guarded by the value just read: a ref
    # someone moved meanwhile is left alone (the whole prune fails safely).
    commands = "".join(f"delete {ref} {sha}\n" for ref, sha in old)
    _git(repo, ["update-ref", "--stdin"], stdin=commands)
    for ref, _ in old:
        log.info("%s: pruned %s", repo, ref)
    return [ref for ref, _ in old]


def prune(config: Config, targets: Sequence[TargetConfig]) -> None:
    prune_srpms(Path(config.state.dir) / SRPM_DIR, config.state.retain_srpms)
    for target in targets:
        with lock.hold(lock.repo_lock_path(config.state.dir, target.repo), wait=REPO_LOCK_WAIT, what="housekeeping"):
            prune_backups(target.repo, target.name, config.state.retain_backups)
