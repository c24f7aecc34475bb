"""Find, fetch and unpack the newest KOTD src.rpm: ``obtain()`` and ``fetch()``.

:func:`obtain` is the one entry point ``check``, ``sync`` and the daemon use;
it returns the patch set at the least transfer that proves it:

1. discover the newest src.rpm (or take ``src_rpm``), refusing one older
   than ``last_synced``, the KOTD the last successful sync wrote;
2. read its headers alone by HTTP Range and look the tarball's and
   series.conf's digests up in the tarball cache: a hit costs only the
   header (``payload="skipped"``);
3. otherwise download it (resumable, verified as it arrives), extract the
   tarball and cache its contents.

When the index answered 304 and the newest file is the one probed last
time, even the header probe is skipped.

With ``source.keys``, the header's OpenPGP signature is verified in step 2
(or as the download's headers arrive, or when a local or cached file is
read) before any digest the header lists is looked up or trusted; a
refusal raises before anything is cached.  A skipped probe reuses the
signer remembered with the probe, only while the keys are exactly those it
was verified with.

It records nothing: what it observed is in the returned
``PatchSet.source``, and the caller (the cycle) decides what goes into the
state database.  It writes only the caches of ``state.dir``
(:mod:`patchsync.statedir`).

:func:`fetch` is ``patchsync fetch``: discovery and the download, no
header shortcut and no extraction.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..config import Config
from ..errors import ConfigError
from ..model import PatchSet, PayloadState, SignatureInfo, SourceInfo
from ..rpm.header import PackageHeaders
from ..rpm.verify import KnownHeaders
from ..statedir import StateDir, prune_srpms, write_atomic
from . import tarcache
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
from .download import Downloaded, Progress, download, verify_local
from .http import Http
from .probe import Probe, probe

if TYPE_CHECKING:
    from ..rpm.signature import Keyring

log = logging.getLogger(__name__)


def make_http(config: Config) -> Http:
    return Http(
        timeout=config.source.timeout_seconds,
        retries=config.source.retries,
        deadline_seconds=config.source.deadline_seconds,
    )


def keyring_for(config: Config) -> Keyring | None:
    """The certificates of ``source.keys``; ``None`` when it is empty (signatures not checked)."""
    if not config.source.keys:
        return None
    from ..rpm.signature import load_keyring

    return load_keyring(config.source.keys)


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A complete, verified src.rpm and how it was obtained."""

    path: Path
    candidate: Candidate
    payload: PayloadState
    bytes_transferred: int
    #: Who signed the header; ``None`` when ``source.keys`` is empty.
    signature: SignatureInfo | None = None


def find(
    config: Config, http: Http, *, src_rpm: str | None, last_synced: SourceInfo | None, keyring: Keyring | None
) -> tuple[Candidate, bool]:
    """The src.rpm to use and whether the listing was unchanged since the last poll (304).

    ``src_rpm`` is taken as given; a discovered one older than
    ``last_synced`` is a mirror going backwards and refused.  ``keyring``
    verifies the repository metadata's ``repomd.xml.asc``.
    """
    if src_rpm is not None:
        return _explicit(src_rpm, config.source.package), False
    if not config.source.url:
        raise ConfigError("'source.url' is not set: nowhere to look for src.rpms", where=config.path)
    cache = StateDir(config.state.dir).http_cache
    listing = list_candidates(http, config.source.url, config.source.package, cache, keyring=keyring)
    candidate = newest(listing.candidates, config.source.url, config.source.package)
    check_not_backwards(candidate, last_synced, config.source.url)
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
    last_synced: SourceInfo | None = None,
    dest_dir: Path | None = None,
    progress: Progress | None = None,
) -> Fetched:
    """Discover and download the newest src.rpm (``patchsync fetch``); no header shortcut."""
    keyring = keyring_for(config)
    with make_http(config) as http:
        candidate, _ = find(config, http, src_rpm=src_rpm, last_synced=last_synced, keyring=keyring)
        if is_local(candidate.url):
            path = local_path(candidate.url)
            signature = verify_local(path, keyring=keyring).signature if keyring is not None else None
            return Fetched(path, candidate, "local", 0, signature)
        got = _download(config, http, candidate, dest_dir, known=None, progress=progress, keyring=keyring)
        check_package(candidate, config.source.package, _nvr(got.headers))
        payload: PayloadState = "downloaded" if got.transferred else "cached"
        return Fetched(got.path, candidate, payload, http.bytes_received, got.signature)


def _download(
    config: Config,
    http: Http,
    candidate: Candidate,
    dest_dir: Path | None,
    *,
    known: KnownHeaders | None,
    progress: Progress | None,
    keyring: Keyring | None,
) -> Downloaded:
    """Download ``candidate`` into ``dest_dir``, by default the src.rpm cache (which is then pruned)."""
    cache = StateDir(config.state.dir).srpms
    got = download(
        http,
        candidate.url,
        dest_dir or cache,
        candidate.file,
        max_bytes=config.source.max_bytes,
        sha256=candidate.sha256,
        size=candidate.size,
        known=known,
        progress=progress,
        keyring=keyring,
    )
    if dest_dir is None:
        prune_srpms(cache, config.state.retain_srpms, current=got.path)
    return got


def obtain(
    config: Config,
    *,
    src_rpm: str | None = None,
    last_synced: SourceInfo | None = None,
    progress: Progress | None = None,
) -> PatchSet:
    """The patch set of the newest KOTD src.rpm (or of ``src_rpm``, a local path or URL).

    ``PatchSet.source`` says what it cost: ``bytes_transferred`` (body bytes
    received by every request of the run) and ``payload`` (``skipped`` when
    the header showed a cached tarball, ``downloaded``, ``cached`` when the
    src.rpm was already complete in ``state.dir``, ``local`` for a file);
    ``signature`` who signed its header (``None`` without ``source.keys``).
    """
    from ..extract import extract_patchset

    state_dir = StateDir(config.state.dir)
    tarball = config.source.tarball
    package = config.source.package
    keyring = keyring_for(config)
    with make_http(config) as http:
        candidate, not_modified = find(config, http, src_rpm=src_rpm, last_synced=last_synced, keyring=keyring)

        if is_local(candidate.url):
            patchset = extract_patchset(local_path(candidate.url), tarball, keyring=keyring)
            src = patchset.source
            check_package(candidate, package, (package, src.version, src.release))
            return _with_source(patchset, url=candidate.url, payload="local", transferred=0, signature=src.signature)

        # Issue 6: decide from the header alone whether anything changed.
        key: tarcache.CacheKey | None = None
        probed: Probe | None = None
        signature: SignatureInfo | None = None
        remembered = _remembered(_read_probe(state_dir), candidate, not_modified, keyring)
        if remembered is not None:
            key, signature = remembered
            log.info("%s: unchanged since the last poll; header not fetched again", candidate.url)
        else:
            probed = probe(http, candidate.url)
            if probed is not None:
                if keyring is not None:
                    from ..rpm.signature import verify_header

                    # Before the header's digests key the tarball cache.
                    signature = verify_header(probed.headers, keyring)
                key = tarcache.key_for(probed.headers, tarball)
        check_package(candidate, package, _nvr(probed.headers) if probed is not None else None)
        hit = tarcache.lookup(state_dir.root, key) if key is not None else None
        if key is not None and hit is not None:
            if probed is not None:
                _write_probe(state_dir, candidate, key, keyring, signature)
            skipped = _from_cache(
                candidate, probed, hit, tarball=tarball, transferred=http.bytes_received, signature=signature
            )
            log.info("%s: %s; payload not downloaded", candidate.file, skipped.source.note)
            return skipped

        # The probe's headers are parsed once: the download and the extraction take them as read.
        known = KnownHeaders(probed.headers, probed.prefix, signature) if probed is not None else None
        got = _download(config, http, candidate, None, known=known, progress=progress, keyring=keyring)
        check_package(candidate, package, _nvr(got.headers))
        # Verified, signature included, as it arrived (or, when already complete, by verify_local).
        patchset = extract_patchset(got.path, tarball, headers=got.headers)
        payload: PayloadState = "downloaded" if got.transferred else "cached"
        result = _with_source(
            patchset, url=candidate.url, payload=payload, transferred=http.bytes_received, signature=got.signature
        )
        full_key = tarcache.key_for(got.headers, tarball)
        if full_key is not None:
            tarcache.store(state_dir.root, full_key, result)
            _write_probe(state_dir, candidate, full_key, keyring, got.signature)
        return result


def _nvr(headers: PackageHeaders) -> tuple[str, str, str]:
    return headers.name, headers.version, headers.release


def _from_cache(
    candidate: Candidate,
    probed: Probe | None,
    hit: tarcache.CacheEntry,
    *,
    tarball: str,
    transferred: int,
    signature: SignatureInfo | None,
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
        signature=signature,
    )
    return PatchSet(source=source, top=hit.top, files=dict(hit.files), series_conf=hit.series_conf)


def _with_source(
    patchset: PatchSet, *, url: str, payload: PayloadState, transferred: int, signature: SignatureInfo | None
) -> PatchSet:
    source = dataclasses.replace(
        patchset.source, url=url, payload=payload, bytes_transferred=transferred, signature=signature
    )
    return dataclasses.replace(patchset, source=source)


def _read_probe(state_dir: StateDir) -> dict[str, Any] | None:
    try:
        data = json.loads(state_dir.probe_record.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and {"url", "tarball", "series"} <= data.keys() else None


def _remembered(
    record: dict[str, Any] | None, candidate: Candidate, not_modified: bool, keyring: Keyring | None
) -> tuple[tarcache.CacheKey, SignatureInfo | None] | None:
    """The cache key (and signer) of the last probe when it still holds for ``candidate``.

    With a keyring, only a probe verified under exactly these certificates
    counts: a key added, removed or revoked since means probing again.
    """
    if record is None or record.get("url") != candidate.url:
        return None
    if not (not_modified or (candidate.sha256 is not None and record.get("sha256") == candidate.sha256)):
        return None
    signature = None
    if keyring is not None:
        signature = SignatureInfo.from_json(record.get("signature"))
        if signature is None or record.get("keyring") != keyring.digest:
            return None
    return tarcache.CacheKey(tarball=record["tarball"], series=record["series"]), signature


def _write_probe(
    state_dir: StateDir,
    candidate: Candidate,
    key: tarcache.CacheKey,
    keyring: Keyring | None,
    signature: SignatureInfo | None,
) -> None:
    record: dict[str, Any] = {
        "url": candidate.url,
        "sha256": candidate.sha256,
        "tarball": key.tarball,
        "series": key.series,
    }
    if keyring is not None and signature is not None:
        record["keyring"] = keyring.digest
        record["signature"] = signature.to_json()
    write_atomic(state_dir.probe_record, json.dumps(record).encode())
