"""Find the newest ``<package>-<version>-<release>.src.rpm`` in the KOTD directory.

Candidates come from RPM-MD metadata when the directory or its parent is a
repository (it names each package's sha256; with ``source.keys``, its
``repomd.xml.asc`` is verified first), else from the HTML index page,
else, for a local path, from the directory itself.  The newest is picked by
rpm's own ordering; one older than the KOTD the last successful sync
wrote is a mirror going backwards and is refused.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

from ..errors import DownloadError, SignatureError, SourceError
from ..model import SourceInfo
from ..names import package_problem
from .http import Http, Page, get_page
from .index import directory_url, parse_index
from .repodata import parse_primary, primary_location
from .rpmvercmp import evr_key, evrcmp

if TYPE_CHECKING:
    from ..rpm.signature import Keyring

log = logging.getLogger(__name__)

SRC_SUFFIX = ".src.rpm"
#: Arch of source packages in primary.xml (``nosrc`` ones lack sources).
SRC_ARCH = "src"


@dataclass(frozen=True)
class Candidate:
    """One src.rpm of the configured package."""

    file: str
    url: str  # an absolute URL, or a local path
    version: str
    release: str
    sha256: str | None = None
    size: int | None = None

    @property
    def evr(self) -> tuple[str, str]:
        return (self.version, self.release)


@dataclass(frozen=True)
class Listing:
    """The candidates of a directory and whether its listing was unchanged (304)."""

    candidates: tuple[Candidate, ...]
    not_modified: bool
    via: str  # "repodata", "index" or "directory"


def split_name(file: str, package: str) -> tuple[str, str] | None:
    """(version, release) when ``file`` is exactly ``<package>-<version>-<release>.src.rpm``.

    >>> split_name("kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm", "kernel-source")
    ('2.6.32.10', '0.0.3.bbbb222')
    >>> split_name("kernel-source-vanilla-2.6.32.10-0.0.3.src.rpm", "kernel-source") is None
    True
    >>> split_name("kernel-source-2.6.32.10-0.0.3.nosrc.rpm", "kernel-source") is None
    True
    """
    if not file.endswith(SRC_SUFFIX) or "/" in file:
        return None
    parts = file[: -len(SRC_SUFFIX)].rsplit("-", 2)
    if len(parts) != 3 or parts[0] != package or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def is_local(url: str) -> bool:
    return "://" not in url or url.startswith("file://")


def local_path(url: str) -> Path:
    return Path(url[len("file://") :] if url.startswith("file://") else url)


def _from_repodata(http: Http, url: str, package: str, cache_dir: Path, keyring: Keyring | None) -> Listing | None:
    base = directory_url(url)
    # The KOTD src/ directory is itself a repository, or the src/ folder of one.
    for repo_root in dict.fromkeys((base, urljoin(base, ".."))):
        repomd_url = urljoin(repo_root, "repodata/repomd.xml")
        try:
            repomd = get_page(http, repomd_url, cache_dir)
        except DownloadError as exc:
            # The first request of a poll: a server that cannot be reached
            # (or fails) is the configured URL's problem, and that is the
            # URL the user knows; repomd.xml is only how it is asked.
            raise DownloadError(exc.message, where=url) from exc
        if repomd is None:
            continue
        if keyring is not None:
            repomd = _verified_repomd(http, repomd, cache_dir, keyring)
        primary_url = primary_location(repomd.body, repomd_url)
        primary = get_page(http, primary_url, cache_dir)
        if primary is None:
            raise SourceError("primary metadata named by repomd.xml is missing", where=primary_url)
        found = tuple(
            Candidate(file=p.file, url=p.url, version=p.version, release=p.release, sha256=p.sha256, size=p.size)
            for p in parse_primary(primary.body, primary_url)
            if p.name == package and p.arch == SRC_ARCH
        )
        log.debug("%s: %d %s src.rpms in repository metadata", repo_root, len(found), package)
        return Listing(found, not_modified=repomd.not_modified and primary.not_modified, via="repodata")
    return None


def _verified_repomd(http: Http, repomd: Page, cache_dir: Path, keyring: Keyring) -> Page:
    """``repomd`` once its signature verifies, or the one read again if that is what verifies.

    A mirror that publishes a new KOTD while it is polled can answer the
    old ``repomd.xml`` and the new signature (or the reverse).  Both are
    read once more before a mismatch is called a bad signature: a refused
    signature stops the cycle and is mailed, and must not be a race.
    """
    try:
        _check_repomd(http, repomd, cache_dir, keyring)
    except SignatureError as exc:
        again = get_page(http, repomd.url, cache_dir)
        if again is None:
            raise
        log.info("%s: %s; reading repomd.xml and its signature again", repomd.url, exc)
        _check_repomd(http, again, cache_dir, keyring)
        return again
    return repomd


def _check_repomd(http: Http, repomd: Page, cache_dir: Path, keyring: Keyring) -> None:
    """Verify ``repomd.xml.asc`` before anything ``repomd.xml`` names is trusted.

    A repository without one is only warned about: SUSE's KOTD trees are
    not all signed that way, and every src.rpm's own header signature is
    verified anyway.  One that does not verify is refused.
    """
    from ..rpm.signature import verify_detached

    asc_url = repomd.url + ".asc"
    asc = get_page(http, asc_url, cache_dir)
    if asc is None:
        log.warning(
            "%s: no repomd.xml.asc: the repository metadata is not signed (each src.rpm's header signature still is)",
            repomd.url,
        )
        return
    signer = verify_detached(repomd.body, [asc.body], keyring, where=asc_url, binary=False)
    log.info("%s: signed by %s", repomd.url, signer.signer)


def list_candidates(http: Http, url: str, package: str, cache_dir: Path, *, keyring: Keyring | None = None) -> Listing:
    """Every src.rpm of ``package`` at ``url`` (HTTP(S) directory or local directory).

    With a ``keyring``, repository metadata that carries ``repomd.xml.asc``
    is used only when that signature verifies by one of its keys.
    """
    if is_local(url):
        path = local_path(url)
        try:
            names = sorted(os.listdir(path))
        except OSError as exc:
            raise SourceError(f"cannot list directory: {exc.strerror}", where=path) from None
        found = []
        for name in names:
            evr = split_name(name, package)
            if evr is not None and (path / name).is_file():
                found.append(Candidate(file=name, url=str(path / name), version=evr[0], release=evr[1]))
        return Listing(tuple(found), not_modified=False, via="directory")
    listing = _from_repodata(http, url, package, cache_dir, keyring)
    if listing is not None:
        return listing
    page = get_page(http, directory_url(url), cache_dir)
    if page is None:
        raise SourceError("HTTP 404 Not Found", where=url)
    links = parse_index(page.body.decode("utf-8", "replace"), directory_url(url))
    found = []
    for link in links:
        evr = split_name(link.name, package)
        if evr is not None:
            found.append(Candidate(file=link.name, url=link.url, version=evr[0], release=evr[1]))
    return Listing(tuple(found), not_modified=page.not_modified, via="index")


def newest(candidates: tuple[Candidate, ...], url: str, package: str) -> Candidate:
    """The newest candidate by rpm's ordering; none at all is an error naming ``url``."""
    if not candidates:
        raise SourceError(f"no {package}-<version>-<release>.src.rpm found", where=url)
    return max(candidates, key=lambda c: evr_key(c.evr))


def check_not_backwards(candidate: Candidate, last: SourceInfo | None, url: str) -> None:
    """Refuse a newest version older than ``last``, the KOTD the last successful sync wrote."""
    if last is not None and evrcmp(candidate.evr, (last.version, last.release)) < 0:
        raise SourceError(
            f"mirror went backwards: newest is {candidate.file}, older than {last.file} taken before"
            " (nothing synced; pass --src-rpm to take it anyway)",
            where=url,
        )


def check_package(candidate: Candidate, package: str, header: tuple[str, str, str] | None) -> None:
    """Refuse a src.rpm whose header disagrees with its file name, or whose version cannot be used.

    The going-backwards guard and the version in commit subjects both rest
    on the version the file name (or the repository metadata) announced;
    the package must hold that version, so a file named ``...-2.6.32.11-...``
    holding 2.6.32.9 is refused rather than taken as newer.  ``header`` is
    (name, version, release) from the package itself, None where the
    header was not read this time (unchanged since the last poll).
    """
    name, version, release = header if header is not None else (package, candidate.version, candidate.release)
    problem = package_problem(name, version, release)
    if problem:
        raise SourceError(f"{candidate.file}: {problem}", where=candidate.url)
    announced = (package, candidate.version, candidate.release)
    if candidate.version and (name, version, release) != announced:
        raise SourceError(
            f"{candidate.file} holds {name}-{version}-{release}, not {'-'.join(announced)};"
            " refusing a package whose header disagrees with its name",
            where=candidate.url,
        )
