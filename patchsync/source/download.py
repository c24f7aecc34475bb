"""Download a src.rpm into the cache: resumable, capped, verified as it arrives.

The file streams to ``<dir>/<file>.part`` and is renamed into place only
once the header signature (with ``source.keys``), the RPM's own digests (header SHA256, RPMTAG_PAYLOADDIGEST, the
declared size) and, when the repository metadata named one, the file's
sha256 all match.  Every byte goes through one
:class:`~patchsync.rpm.verify.StreamVerifier` and one sha256 as it arrives;
no second pass.

What is left behind on failure (see README, "Download"):

* the transfer broke off (connection closed, stall, truncated body, retries
  exhausted): the ``.part`` stays, and the next run resumes it with a Range
  request after re-hashing it by a plain read;
* the bytes are wrong (digest or size mismatch, not an RPM, an HTML error
  page, over ``source.max_bytes``): the ``.part`` is deleted, since resuming
  bad bytes can only fail again.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING

import requests

from ..errors import DownloadError, IntegrityError, PatchsyncError, SignatureError
from ..model import SignatureInfo
from ..rpm.header import PackageHeaders
from ..rpm.verify import KnownHeaders, StreamVerifier
from ..statedir import PART_SUFFIX, fsync_dir
from .http import Http, content_range, describe

if TYPE_CHECKING:
    from ..rpm.signature import Keyring

log = logging.getLogger(__name__)

READ_CHUNK = 1024 * 1024
# RFC 9110 14.4: a 416 answer's "Content-Range: bytes */complete-length".
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/(\d+)$")

#: ``progress(received, total)``: called as bytes arrive; ``total`` may be None.
Progress = Callable[[int, int | None], None]


@dataclass(frozen=True)
class Downloaded:
    """A complete, verified src.rpm in the cache."""

    path: Path
    headers: PackageHeaders
    sha256: str
    #: False when the file was already complete in the cache.
    transferred: bool
    #: Who signed the header; ``None`` when no keyring was given (nothing checked).
    signature: SignatureInfo | None = None


class _Sink:
    """The .part file with the verifier and sha256 that have seen exactly its bytes."""

    def __init__(self, part: Path, where: str, keyring: Keyring | None, known: KnownHeaders | None = None) -> None:
        self.part = part
        self.where = where
        self.keyring = keyring
        self.known = known
        self.reset()

    def reset(self) -> None:
        self.verifier = StreamVerifier(self.where, keyring=self.keyring, known=self.known)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def feed(self, chunk: bytes) -> None:
        self.verifier.feed(chunk)
        self.sha256.update(chunk)
        self.size += len(chunk)

    def load_part(self) -> None:
        """Re-hash what an earlier attempt left, by a plain read."""
        self.reset()
        with self.part.open("rb") as fh:
            while chunk := fh.read(READ_CHUNK):
                self.feed(chunk)

    def discard(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.part.unlink()
        self.reset()


def verify_local(path: Path, *, sha256: str | None = None, keyring: Keyring | None = None) -> Downloaded:
    """Check a complete file in the cache the same way a download is checked."""
    sink = _Sink(path, str(path), keyring)
    sink.load_part()
    headers = sink.verifier.finish()
    digest = sink.sha256.hexdigest()
    if sha256 is not None and digest != sha256:
        raise IntegrityError(f"sha256 {digest} does not match the repository's {sha256}", where=path)
    return Downloaded(path=path, headers=headers, sha256=digest, transferred=False, signature=sink.verifier.signature)


def download(
    http: Http,
    url: str,
    dest_dir: Path,
    file_name: str,
    *,
    max_bytes: int,
    sha256: str | None = None,
    size: int | None = None,
    known: KnownHeaders | None = None,
    progress: Progress | None = None,
    keyring: Keyring | None = None,
) -> Downloaded:
    """Fetch ``url`` to ``dest_dir/file_name``, verified; reuse a complete, sound copy.

    ``known`` is the start of the file and its headers when the caller
    already has them (the header probe), so those bytes are not fetched
    twice nor the headers parsed twice.  With a
    ``keyring``, a package whose header signature it refuses is never kept:
    the download stops once the headers are in, and a cached copy is
    removed (it was kept before ``source.keys`` required a signature).
    """
    dest_dir.mkdir(parents=True, exist_ok=True)
    final = dest_dir / file_name
    if final.exists():
        try:
            return verify_local(final, sha256=sha256, keyring=keyring)
        except SignatureError as exc:
            # Downloading it again would fetch the same refused bytes; say so about the URL.
            final.unlink()
            raise SignatureError(exc.message, where=url) from None
        except PatchsyncError as exc:
            log.warning("%s: cached copy is not sound (%s); downloading again", final, exc)
            final.unlink()
    if size is not None and size > max_bytes:
        raise DownloadError(f"the repository lists {size} bytes, over source.max_bytes ({max_bytes})", where=url)

    part = dest_dir / (file_name + PART_SUFFIX)
    sink = _Sink(part, url, keyring, known)
    try:
        if part.exists():
            sink.load_part()
            log.info("%s: resuming after %d bytes already in %s", url, sink.size, part)
        elif known is not None:
            with part.open("wb") as fh:
                fh.write(known.prefix)
            sink.feed(known.prefix)
    except PatchsyncError as exc:
        # What an earlier run left is not the start of a sound package.
        log.warning("%s: discarding %s (%s)", url, part, exc)
        sink.discard()

    try:
        _transfer(http, url, sink, max_bytes=max_bytes, size=size, progress=progress)
        headers = sink.verifier.finish()
    except _Discard:
        sink.discard()
        raise
    except DownloadError:
        raise  # the network failed us: what arrived is sound, keep it to resume
    except PatchsyncError:
        sink.discard()  # wrong bytes: resuming them can only fail again
        raise
    digest = sink.sha256.hexdigest()
    if sha256 is not None and digest != sha256:
        sink.discard()
        raise IntegrityError(f"sha256 {digest} does not match the repository's {sha256}", where=url)
    with part.open("rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, final)
    fsync_dir(dest_dir)
    return Downloaded(path=final, headers=headers, sha256=digest, transferred=True, signature=sink.verifier.signature)


class _Discard(DownloadError):
    """A download failure after which the .part must not be resumed."""


def _bad(message: str, url: str) -> DownloadError:
    return _Discard(message, where=url)


def _transfer(  # noqa: PLR0912, PLR0915  one retry loop: each answer's handling beside the others
    http: Http, url: str, sink: _Sink, *, max_bytes: int, size: int | None, progress: Progress | None
) -> None:
    """Bring ``sink`` to the whole file, resuming by Range after each break."""
    started = http.clock()
    attempt = 0
    total: int | None = size
    while True:
        headers = {"Range": f"bytes={sink.size}-"} if sink.size else {}
        response = http.get(url, headers)
        try:
            if response.status_code == HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE and sink.size:
                complete = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", "").strip())
                if complete is not None and int(complete.group(1)) == sink.size:
                    return  # the .part already holds the whole file
                log.info("%s: server refused to resume at %d; starting over", url, sink.size)
                sink.discard()
                sink.part.touch()
                continue
            if response.status_code == HTTPStatus.PARTIAL_CONTENT and sink.size:
                parsed = content_range(response.headers.get("Content-Range", ""))
                if parsed is None or parsed[0] != sink.size:
                    raise _bad(f"server answered Range {sink.size}- with {response.headers.get('Content-Range')}", url)
                total = parsed[1] if parsed[1] is not None else total
                mode = "ab"
            elif response.status_code == HTTPStatus.OK:
                if sink.size:
                    log.info("%s: server ignored the Range request; downloading from the start", url)
                sink.reset()
                length = response.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else total
                mode = "wb"
            else:
                raise _bad(f"HTTP {response.status_code} {response.reason}", url)
            if total is not None and total > max_bytes:
                raise _bad(f"the server declares {total} bytes, over source.max_bytes ({max_bytes})", url)
            with sink.part.open(mode) as fh:
                try:
                    for chunk in http.iter_body(response):
                        if sink.size + len(chunk) > max_bytes:
                            raise _bad(f"more than source.max_bytes ({max_bytes}) bytes", url)
                        fh.write(chunk)
                        sink.feed(chunk)
                        if progress is not None:
                            progress(sink.size, total)
                except requests.RequestException as exc:
                    problem = describe(exc)
                else:
                    if http.deadline.passed():
                        # Cut by the deadline: an end of stream, not the end of the file.
                        problem = "still arriving"
                    elif total is None or sink.size >= total:
                        return
                    else:
                        problem = "connection closed mid-body"
        finally:
            response.close()
        # A broken transfer: keep what arrived and resume it.
        of_total = f" of {total}" if total is not None else ""
        wait = http.delay(attempt)
        try:
            http.check_budget(
                url, f"transfer broke off after {sink.size}{of_total} bytes: {problem}", attempt, wait, started
            )
        except DownloadError as exc:
            raise DownloadError(f"{exc.message}; {sink.part.name} is kept to resume", where=url) from None
        log.info("%s: %s after %d%s bytes; resuming in %.1f s", url, problem, sink.size, of_total, wait)
        http.sleep(wait)
        attempt += 1
