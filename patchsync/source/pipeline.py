"""``obtain()``: the newest KOTD patch set, at the least transfer that proves it.

The one entry point ``check``, ``sync`` and the daemon use:

1. discover the newest src.rpm (or take ``src_rpm``);
2. read its headers alone by HTTP Range and look the tarball's and
   series.conf's digests up in the tarball cache: a hit costs only the
   header (``payload="skipped"``);
3. otherwise download it (resumable, verified as it arrives), extract the
   tarball and cache its contents.

When the index answered 304 and the newest file is the one probed last
time, even the header probe is skipped.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

from ..config import Config
from ..model import PatchSet, PayloadState, SourceInfo
from ..rpm.header import PackageHeaders
from . import tarcache
from .discover import Candidate, check_package, is_local, local_path
from .download import Progress
from .fetch import download_candidate, find, make_http, srpms_dir
from .fsutil import write_atomic
from .laststate import LastSynced, write_last_synced
from .probe import Probe, probe

log = logging.getLogger(__name__)

PROBE_STATE = "source-probe.json"


def obtain(
    config: Config,
    *,
    src_rpm: str | None = None,
    allow_backwards: bool = False,
    progress: Progress | None = None,
) -> PatchSet:
    """The patch set of the newest KOTD src.rpm (or of ``src_rpm``, a local path or URL).

    ``PatchSet.source`` says what it cost: ``bytes_transferred`` (body bytes
    received by every request of the run) and ``payload`` (``skipped`` when
    the header showed a cached tarball, ``downloaded``, ``cached`` when the
    src.rpm was already complete in ``state.dir``, ``local`` for a file).
    """
    from ..extract import extract_patchset

    state_dir = Path(config.state.dir)
    tarball = config.source.tarball
    with make_http(config) as http:
        candidate, not_modified = find(config, http, src_rpm=src_rpm, allow_backwards=allow_backwards)
        discovered = src_rpm is None

        package = config.source.package
        if is_local(candidate.url):
            patchset = extract_patchset(local_path(candidate.url), tarball)
            src = patchset.source
            check_package(candidate, package, (package, src.version, src.release))
            result = _with_source(patchset, url=candidate.url, payload="local", transferred=0)
            if discovered:
                _record(state_dir, result.source)
            return result

        # Issue 6: decide from the header alone whether anything changed.
        key: tarcache.CacheKey | None = None
        probed: Probe | None = None
        remembered = _read_probe(state_dir)
        if (
            remembered is not None
            and remembered.get("url") == candidate.url
            and (not_modified or (candidate.sha256 is not None and remembered.get("sha256") == candidate.sha256))
        ):
            key = tarcache.CacheKey(tarball=remembered["tarball"], series=remembered["series"])
            log.info("%s: unchanged since the last poll; header not fetched again", candidate.url)
        else:
            probed = probe(http, candidate.url)
            if probed is not None:
                key = tarcache.key_for(probed.headers, tarball)
        check_package(candidate, package, _nvr(probed.headers) if probed is not None else None)
        hit = tarcache.lookup(state_dir, key) if key is not None else None
        if key is not None and hit is not None:
            if probed is not None:
                _write_probe(state_dir, candidate, key)
            skipped = _from_cache(candidate, probed, hit, tarball=tarball, transferred=http.bytes_received)
            log.info("%s: %s; payload not downloaded", candidate.file, skipped.source.note)
            if discovered:
                _record(state_dir, skipped.source)
            return skipped

        got = download_candidate(config, http, candidate, srpms_dir(config), probed=probed, progress=progress)
        check_package(candidate, package, _nvr(got.headers))
        # Verified as it arrived (or, when already complete, by verify_local).
        patchset = extract_patchset(got.path, tarball)
        payload: PayloadState = "downloaded" if got.transferred else "cached"
        result = _with_source(patchset, url=candidate.url, payload=payload, transferred=http.bytes_received)
        full_key = tarcache.key_for(got.headers, tarball)
        if full_key is not None:
            tarcache.store(state_dir, full_key, result)
            _write_probe(state_dir, candidate, full_key)
        if discovered:
            _record(state_dir, result.source)
        return result


def _nvr(headers: PackageHeaders) -> tuple[str, str, str]:
    return headers.name, headers.version, headers.release


def _from_cache(
    candidate: Candidate, probed: Probe | None, hit: tarcache.CacheEntry, *, tarball: str, transferred: int
) -> PatchSet:
    """The patch set from the tarball cache, for a src.rpm whose payload was not downloaded."""
    headers = probed.headers if probed is not None else None
    source = SourceInfo(
        url=candidate.url,
        file=candidate.file,
        version=headers.version if headers is not None else candidate.version,
        release=headers.release if headers is not None else candidate.release,
        tarball=tarball,
        tarball_sha256=hit.tarball_sha256,
        bytes_transferred=transferred,
        payload="skipped",
        note=f"tarball unchanged since {hit.file}",
    )
    return PatchSet(source=source, top=hit.top, files=dict(hit.files), series_conf=hit.series_conf)


def _with_source(patchset: PatchSet, *, url: str, payload: PayloadState, transferred: int) -> PatchSet:
    source = dataclasses.replace(patchset.source, url=url, payload=payload, bytes_transferred=transferred)
    return dataclasses.replace(patchset, source=source)


def _record(state_dir: Path, source: SourceInfo) -> None:
    write_last_synced(state_dir, LastSynced(version=source.version, release=source.release, file=source.file))


def _read_probe(state_dir: Path) -> dict[str, str] | None:
    try:
        data = json.loads((state_dir / PROBE_STATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"url", "tarball", "series"} <= data.keys() else None


def _write_probe(state_dir: Path, candidate: Candidate, key: tarcache.CacheKey) -> None:
    record = {"url": candidate.url, "sha256": candidate.sha256, "tarball": key.tarball, "series": key.series}
    write_atomic(state_dir / PROBE_STATE, json.dumps(record).encode())
