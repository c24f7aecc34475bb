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

from ..config import Config, SourceConfig
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


def make_http(source: SourceConfig) -> Http:
    return Http(timeout=source.timeout_seconds, retries=source.retries, deadline_seconds=source.deadline_seconds)


def keyring_for(source: SourceConfig) -> Keyring | None:
    """The certificates of ``source.keys``; ``None`` when it is empty (signatures not checked)."""
    if not source.keys:
        return None
    from ..rpm.signature import load_keyring

    return load_keyring(source.keys)


class Shared:
    """One cycle's memory of what it already listed, probed and downloaded.

    Two sources may follow the same src.rpm with different tarballs
    (``patches.xen`` and ``patches.arch`` of one KOTD): the second one
    takes the listing, the header probe and the download the first one
    made, so the mirror serves each once.  Keyed by URL, so sources on
    different mirrors share nothing.  Each source still checks what it
    takes against its own guard and its own ``keys``.
    """

    def __init__(self) -> None:
        self.found: dict[tuple[str, str, str], tuple[Candidate, bool]] = {}
        self.probed: dict[str, Probe | None] = {}
        self.downloaded: dict[str, Downloaded] = {}


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
    config: Config,
    source: SourceConfig,
    http: Http,
    *,
    src_rpm: str | None,
    last_synced: SourceInfo | None,
    keyring: Keyring | None,
    shared: Shared | None = None,
) -> tuple[Candidate, bool]:
    """The src.rpm to use and whether the listing was unchanged since the last poll (304).

    ``src_rpm`` is taken as given; a discovered one older than
    ``last_synced`` is a mirror going backwards and refused.  ``keyring``
    verifies the repository metadata's ``repomd.xml.asc``.
    """
    if src_rpm is not None:
        return _explicit(src_rpm, source.package), False
    if not source.url:
        key = "source.url" if len(config.sources) == 1 else f"source {source.name!r} url"
        raise ConfigError(f"'{key}' is not set: nowhere to look for src.rpms", where=config.path)
    # A listing verified under other keys is not this source's to take.
    memo = (source.url, source.package, keyring.digest if keyring is not None else "")
    if shared is not None and memo in shared.found:
        candidate, not_modified = shared.found[memo]
    else:
        cache = StateDir(config.state.dir).http_cache
        listing = list_candidates(http, source.url, source.package, cache, keyring=keyring)
        candidate = newest(listing.candidates, source.url, source.package)
        not_modified = listing.not_modified
        log.info("newest %s: %s (from %s)", source.package, candidate.file, listing.via)
        if shared is not None:
            shared.found[memo] = candidate, not_modified
    # Each source has its own guard, also when it shares the listing.
    check_not_backwards(candidate, last_synced, source.url)
    return candidate, not_modified


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
    source: SourceConfig | None = None,
    src_rpm: str | None = None,
    last_synced: SourceInfo | None = None,
    dest_dir: Path | None = None,
    progress: Progress | None = None,
) -> Fetched:
    """Discover and download the newest src.rpm (``patchsync fetch``); no header shortcut."""
    source = source or config.source
    keyring = keyring_for(source)
    with make_http(source) as http:
        candidate, _ = find(config, source, http, src_rpm=src_rpm, last_synced=last_synced, keyring=keyring)
        if is_local(candidate.url):
            path = local_path(candidate.url)
            signature = verify_local(path, keyring=keyring).signature if keyring is not None else None
            return Fetched(path, candidate, "local", 0, signature)
        got = _download(config, source, http, candidate, dest_dir, known=None, progress=progress, keyring=keyring)
        check_package(candidate, source.package, _nvr(got.headers))
        payload: PayloadState = "downloaded" if got.transferred else "cached"
        return Fetched(got.path, candidate, payload, http.bytes_received, got.signature)


def _download(
    config: Config,
    source: SourceConfig,
    http: Http,
    candidate: Candidate,
    dest_dir: Path | None,
    *,
    known: KnownHeaders | None,
    progress: Progress | None,
    keyring: Keyring | None,
    shared: Shared | None = None,
) -> Downloaded:
    """Download ``candidate`` into ``dest_dir``, by default the src.rpm cache (which is then pruned)."""
    if shared is not None and dest_dir is None and candidate.url in shared.downloaded:
        got = shared.downloaded[candidate.url]
        if keyring is None:
            return dataclasses.replace(got, signature=None)
        from ..rpm.signature import verify_header

        # Verified under another source's keys: this source trusts only its own.
        return dataclasses.replace(got, signature=verify_header(got.headers, keyring))
    cache = StateDir(config.state.dir).srpms
    got = download(
        http,
        candidate.url,
        dest_dir or cache,
        candidate.file,
        max_bytes=source.max_bytes,
        sha256=candidate.sha256,
        size=candidate.size,
        known=known,
        progress=progress,
        keyring=keyring,
    )
    if dest_dir is None:
        prune_srpms(cache, config.state.retain_srpms, current=got.path)
        if shared is not None:
            shared.downloaded[candidate.url] = got
    return got


def obtain(
    config: Config,
    *,
    source: SourceConfig | None = None,
    src_rpm: str | None = None,
    last_synced: SourceInfo | None = None,
    progress: Progress | None = None,
    shared: Shared | None = None,
) -> PatchSet:
    """The patch set of ``source``'s newest KOTD src.rpm (or of ``src_rpm``, a local path or URL).

    ``source`` defaults to the config's first (in a single-source config,
    its only) source.  ``shared`` lets the sources of one cycle share what
    was listed, probed and downloaded (:class:`Shared`).

    ``PatchSet.source`` says what it cost: ``bytes_transferred`` (body bytes
    received by every request of the run) and ``payload`` (``skipped`` when
    the header showed a cached tarball, ``downloaded``, ``cached`` when the
    src.rpm was already complete in ``state.dir``, ``local`` for a file);
    ``signature`` who signed its header (``None`` without ``source.keys``).
    """
    from ..extract import extract_patchset

    source = source or config.source
    state_dir = StateDir(config.state.dir)
    tarball = source.tarball
    package = source.package
    keyring = keyring_for(source)
    with make_http(source) as http:
        candidate, not_modified = find(
            config, source, http, src_rpm=src_rpm, last_synced=last_synced, keyring=keyring, shared=shared
        )

        if is_local(candidate.url):
            patchset = extract_patchset(local_path(candidate.url), tarball, keyring=keyring)
            src = patchset.source
            check_package(candidate, package, (package, src.version, src.release))
            return _with_source(patchset, url=candidate.url, payload="local", transferred=0, signature=src.signature)

        # Issue 6: decide from the header alone whether anything changed.
        key: tarcache.CacheKey | None = None
        probed: Probe | None = None
        signature: SignatureInfo | None = None
        remembered = _remembered(_read_probe(state_dir, source.name), candidate, not_modified, keyring)
        if remembered is not None:
            key, signature = remembered
            log.info("%s: unchanged since the last poll; header not fetched again", candidate.url)
        else:
            if shared is not None and candidate.url in shared.probed:
                probed = shared.probed[candidate.url]
            else:
                probed = probe(http, candidate.url)
                if shared is not None:
                    shared.probed[candidate.url] = probed
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
                _write_probe(state_dir, candidate, key, keyring, signature, source=source.name)
            skipped = _from_cache(
                candidate, probed, hit, tarball=tarball, transferred=http.bytes_received, signature=signature
            )
            log.info("%s: %s; payload not downloaded", candidate.file, skipped.source.note)
            return skipped

        # The probe's headers are parsed once: the download and the extraction take them as read.
        known = KnownHeaders(probed.headers, probed.prefix, signature) if probed is not None else None
        got = _download(
            config, source, http, candidate, None, known=known, progress=progress, keyring=keyring, shared=shared
        )
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
            _write_probe(state_dir, candidate, full_key, keyring, got.signature, source=source.name)
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


def _read_probe(state_dir: StateDir, source: str) -> dict[str, Any] | None:
    try:
        data = json.loads(state_dir.probe_record_of(source).read_text(encoding="utf-8"))
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
    *,
    source: str,
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
    write_atomic(state_dir.probe_record_of(source), json.dumps(record).encode())
