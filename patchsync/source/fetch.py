"""Find and download the src.rpm to use: ``patchsync fetch`` and the first half of ``obtain``."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..errors import ConfigError
from ..model import PayloadState
from .discover import (
    Candidate,
    check_not_backwards,
    check_package,
    is_local,
    list_candidates,
    local_path,
    newest,
    split_name,
)
from .download import PART_SUFFIX, Downloaded, Progress, download
from .http import Http
from .laststate import read_last_synced
from .probe import Probe

log = logging.getLogger(__name__)

SRPMS_DIR = "srpms"
HTTP_CACHE_DIR = "http-cache"


def srpms_dir(config: Config) -> Path:
    """Where downloaded src.rpms are kept."""
    return Path(config.state.dir) / SRPMS_DIR


def make_http(config: Config) -> Http:
    return Http(timeout=config.source.timeout_seconds, retries=config.source.retries)


@dataclass(frozen=True)
class Fetched:
    """A complete, verified src.rpm and how it was obtained."""

    path: Path
    candidate: Candidate
    payload: PayloadState
    bytes_transferred: int


def find(config: Config, http: Http, *, src_rpm: str | None, allow_backwards: bool) -> tuple[Candidate, bool]:
    """The src.rpm to use and whether the listing was unchanged since the last poll (304)."""
    state_dir = Path(config.state.dir)
    if src_rpm is not None:
        return _explicit(src_rpm, config.source.package), False
    if not config.source.url:
        raise ConfigError("'source.url' is not set: nowhere to look for src.rpms", where=config.path)
    listing = list_candidates(http, config.source.url, config.source.package, state_dir / HTTP_CACHE_DIR)
    candidate = newest(listing.candidates, config.source.url, config.source.package)
    if not allow_backwards:
        check_not_backwards(candidate, read_last_synced(state_dir), config.source.url)
    log.info("newest %s: %s (from %s)", config.source.package, candidate.file, listing.via)
    return candidate, listing.not_modified


def _explicit(src_rpm: str, package: str) -> Candidate:
    if is_local(src_rpm):
        path = local_path(src_rpm)
        evr = split_name(path.name, package) or ("", "")
        return Candidate(file=path.name, url=str(path), version=evr[0], release=evr[1])
    name = unquote(urlsplit(src_rpm).path.rstrip("/").rsplit("/", 1)[-1])
    evr = split_name(name, package) or ("", "")
    return Candidate(file=name, url=src_rpm, version=evr[0], release=evr[1])


def fetch(
    config: Config,
    *,
    src_rpm: str | None = None,
    allow_backwards: bool = False,
    dest_dir: Path | None = None,
    progress: Progress | None = None,
) -> Fetched:
    """Discover and download the newest src.rpm (``patchsync fetch``); no header shortcut."""
    with make_http(config) as http:
        candidate, _ = find(config, http, src_rpm=src_rpm, allow_backwards=allow_backwards)
        if is_local(candidate.url):
            return Fetched(local_path(candidate.url), candidate, "local", 0)
        got = download_candidate(config, http, candidate, dest_dir or srpms_dir(config), probed=None, progress=progress)
        check_package(candidate, config.source.package, (got.headers.name, got.headers.version, got.headers.release))
        return Fetched(got.path, candidate, "downloaded" if got.transferred else "cached", http.bytes_received)


def download_candidate(
    config: Config, http: Http, candidate: Candidate, dest: Path, *, probed: Probe | None, progress: Progress | None
) -> Downloaded:
    got = download(
        http,
        candidate.url,
        dest,
        candidate.file,
        max_bytes=config.source.max_bytes,
        sha256=candidate.sha256,
        size=candidate.size,
        prefix=probed.prefix if probed is not None else b"",
        progress=progress,
    )
    if dest == srpms_dir(config):
        prune_srpms(dest, keep=config.state.retain_srpms, current=got.path)
    return got


def prune_srpms(folder: Path, *, keep: int, current: Path) -> None:
    """Keep the ``keep`` most recent src.rpms (``state.retain_srpms``), ``current`` among them, and no stale .part."""
    from ..housekeeping import prune_srpms as prune_complete

    os.utime(current)  # the one just used counts as the newest
    prune_complete(folder, keep)
    for part in folder.glob("*" + PART_SUFFIX):
        part.unlink(missing_ok=True)
