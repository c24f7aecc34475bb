"""The tarball cache: extracted patches keyed by the digests the RPM header lists.

A KOTD is rebuilt daily but ``patches.xen.tar.bz2`` changes far less
often.  The header of each src.rpm lists the tarball's and series.conf's
digests (FILEDIGESTS); when both match an entry here, the patches are taken
from the cache and the 150 MB payload is never downloaded.

Layout: ``state.dir/tarballs/<sha256 of the key>/`` holding ``meta.json``,
``files/<path inside the tarball>`` and ``series.conf``; each entry is
written into a temporary folder beside it and renamed into place, so a
reader sees a whole entry or none.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..model import PatchSet
from ..patches.series import SERIES_CONF
from ..rpm.header import PackageHeaders
from ..statedir import StateDir, fsync_dir

log = logging.getLogger(__name__)

#: Entries kept; older ones (by last use) are removed.
KEEP_ENTRIES = 4


@dataclass(frozen=True)
class CacheKey:
    """The tarball's digest and series.conf's (``None`` when the package has none)."""

    tarball: str
    series: str | None

    @property
    def dirname(self) -> str:
        return hashlib.sha256(f"{self.tarball}\0{self.series or ''}".encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    """Cached patches and where they were first extracted from."""

    file: str
    top: str
    tarball_sha256: str
    files: dict[str, bytes]
    series_conf: bytes | None


def key_for(headers: PackageHeaders, tarball: str) -> CacheKey | None:
    """The cache key of ``tarball`` in a package, from its header; ``None`` without a digest."""
    entry = headers.file(tarball)
    if entry is None or not entry.digest:
        return None
    series = headers.file(SERIES_CONF)
    series_key = f"{series.algo}:{series.digest}" if series is not None and series.digest else None
    return CacheKey(tarball=f"{entry.algo}:{entry.digest}", series=series_key)


def _root(state_dir: Path) -> Path:
    return StateDir(state_dir).tarballs


def lookup(state_dir: Path, key: CacheKey) -> CacheEntry | None:
    """The cached patches for ``key``, or ``None``."""
    folder = _root(state_dir) / key.dirname
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        if meta["tarball"] != key.tarball or meta["series"] != key.series:
            return None
        files = {name: (folder / "files" / name).read_bytes() for name in meta["files"]}
        series_path = folder / SERIES_CONF
        series_conf = series_path.read_bytes() if meta["has_series_conf"] else None
        os.utime(folder)  # last use, for pruning
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: unusable cache entry (%s); ignoring it", folder, exc)
        return None
    return CacheEntry(
        file=meta["file"],
        top=meta["top"],
        tarball_sha256=meta["tarball_sha256"],
        files=files,
        series_conf=series_conf,
    )


def store(state_dir: Path, key: CacheKey, patchset: PatchSet) -> None:
    """Keep ``patchset``'s files under ``key``; atomic, and a no-op when present."""
    root = _root(state_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / key.dirname
    if final.exists():
        return
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".new-"))
    try:
        for name, data in patchset.files.items():
            path = PurePosixPath(name)
            # extract_patchset refuses such names; a cache must not trust that blindly.
            if path.is_absolute() or ".." in path.parts:
                raise ValueError(f"unsafe path {name!r}")
            target = tmp / "files" / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        if patchset.series_conf is not None:
            (tmp / SERIES_CONF).write_bytes(patchset.series_conf)
        meta = {
            "tarball": key.tarball,
            "series": key.series,
            "file": patchset.source.file,
            "top": patchset.top,
            "tarball_sha256": patchset.source.tarball_sha256,
            "files": sorted(patchset.files),
            "has_series_conf": patchset.series_conf is not None,
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        _fsync_tree(tmp)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():
                raise
            # Another run (the daemon and a manual check) stored it first.
            shutil.rmtree(tmp, ignore_errors=True)
            return
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root)


def _fsync_tree(folder: Path) -> None:
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(dirpath))


def _prune(root: Path) -> None:
    entries = sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.stat().st_mtime_ns,
        reverse=True,
    )
    for old in entries[KEEP_ENTRIES:]:
        with contextlib.suppress(OSError):
            shutil.rmtree(old)
