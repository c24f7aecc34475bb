"""Read a remote src.rpm's headers alone, by HTTP Range (issue 6: poll cheaply).

The lead, signature header and main header sit in the first few hundred
kilobytes of a 150 MB kernel-source src.rpm and list every file with its
size and digest.  Fetch a small range first and extend it by what the
headers themselves declare (``NeedMoreData.needed``) until they parse.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from http import HTTPStatus

import requests

from ..errors import DownloadError, PatchsyncError
from ..rpm.header import NeedMoreData, PackageHeaders, parse_headers
from .http import Http, content_range, describe

log = logging.getLogger(__name__)

#: First range requested; real kernel-source headers are tens of kilobytes.
PROBE_START = 64 * 1024
#: Give up probing (and download in full) past this: rpm itself refuses
#: headers over 256 MB, but no sane src.rpm comes near this.
PROBE_MAX = 32 * 1024 * 1024


@dataclass(frozen=True)
class Probe:
    """The parsed headers and the bytes fetched to read them (the file's start)."""

    headers: PackageHeaders
    prefix: bytes


def probe(http: Http, url: str, *, start: int = PROBE_START) -> Probe | None:  # noqa: PLR0912  one read loop, each answer handled in place
    """The headers of the src.rpm at ``url``, or ``None`` (logged) when only a full download will do.

    ``None`` when the server ignores Range (answers 200) or the headers do
    not parse; the full download then verifies, and names any problem.
    """
    buf = bytearray()
    want = start
    total: int | None = None
    while True:
        response = http.get(url, {"Range": f"bytes={len(buf)}-{want - 1}"})
        try:
            if response.status_code == HTTPStatus.OK:
                log.warning("%s: server ignores Range requests; downloading the whole file to read its headers", url)
                return None
            if response.status_code == HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE:
                log.warning("%s: file ends before its headers do; downloading it to see why", url)
                return None
            if response.status_code != HTTPStatus.PARTIAL_CONTENT:
                raise DownloadError(f"HTTP {response.status_code} {response.reason}", where=url)
            header = response.headers.get("Content-Range", "")
            parsed = content_range(header)
            if parsed is None or parsed[0] != len(buf):
                log.warning("%s: unusable Content-Range %r; downloading the whole file", url, header or None)
                return None
            if parsed[1] is not None:
                total = parsed[1]
            before = len(buf)
            try:
                for chunk in http.iter_body(response):
                    buf += chunk
                    if len(buf) > want:
                        # More than asked for: a confused server; parse what is in.
                        del buf[want:]
                        break
            except requests.RequestException as exc:
                # The full download resumes and retries properly; the probe is only a shortcut.
                log.warning("%s: reading the headers failed (%s); downloading the whole file", url, describe(exc))
                return None
        finally:
            response.close()
        if len(buf) == before:
            log.warning("%s: server sent an empty range; downloading the whole file", url)
            return None
        try:
            headers = parse_headers(bytes(buf), url)
        except NeedMoreData as exc:
            if total is not None and len(buf) >= total:
                log.warning("%s: file ends before its headers do; downloading it to see why", url)
                return None
            if exc.needed > PROBE_MAX:
                log.warning("%s: headers declare %d bytes; downloading the whole file instead", url, exc.needed)
                return None
            want = max(exc.needed, len(buf) + 1)
            if total is not None:
                want = min(want, total)
            continue
        except PatchsyncError as exc:
            log.warning("%s: cannot read the headers (%s); downloading the whole file", url, exc.message)
            return None
        log.debug("%s: headers read from the first %d bytes", url, len(buf))
        return Probe(headers=headers, prefix=bytes(buf))
