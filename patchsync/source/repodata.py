"""Packages from RPM-MD repository metadata (``repodata/repomd.xml`` -> primary.xml).

Preferred over an index page because the metadata names each package's
sha256 and size, which the download then verifies.  Parsed incrementally
with ``xml.etree.ElementTree.iterparse`` straight from the decompressor.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin

import zstandard

from ..errors import SourceError

# XML namespaces of createrepo's metadata (rpm-software-management/createrepo_c).
NS_REPO = "{http://linux.duke.edu/metadata/repo}"
NS_COMMON = "{http://linux.duke.edu/metadata/common}"
XML_BASE = "{http://www.w3.org/XML/1998/namespace}base"

#: Decompressed primary.xml larger than this is refused (a decompression bomb).
MAX_PRIMARY_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class RepoPackage:
    """One package as primary.xml describes it."""

    name: str
    arch: str
    version: str
    release: str
    url: str
    sha256: str | None
    size: int | None

    @property
    def file(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def primary_location(repomd: bytes, repomd_url: str) -> str:
    """The absolute URL of primary.xml(.gz/.zst/...) named by ``repomd.xml``."""
    try:
        root = ET.fromstring(repomd)
    except ET.ParseError as exc:
        raise SourceError(f"not valid repomd.xml: {exc}", where=repomd_url) from None
    for data in root.iter(f"{NS_REPO}data"):
        if data.get("type") == "primary":
            location = data.find(f"{NS_REPO}location")
            if location is not None and location.get("href"):
                # hrefs are relative to the repository root, repomd.xml's grandparent.
                base = location.get(XML_BASE) or urljoin(repomd_url, "..")
                return urljoin(base if base.endswith("/") else base + "/", location.get("href", ""))
    raise SourceError("repomd.xml names no primary metadata", where=repomd_url)


class _Capped(io.RawIOBase):
    """A read-only stream that refuses to yield more than ``limit`` bytes."""

    def __init__(self, inner: io.BufferedIOBase, limit: int, where: str) -> None:
        self.inner, self.left, self.where = inner, limit, where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        self.left -= len(data)
        if self.left < 0:
            raise SourceError(f"primary metadata expands past {MAX_PRIMARY_BYTES} bytes", where=self.where)
        buffer[: len(data)] = data
        return len(data)


def _decompressed(data: bytes, url: str) -> IO[bytes]:
    raw = io.BytesIO(data)
    name = url.rsplit("?", 1)[0]
    # All in memory (BytesIO): nothing to close, so no context managers.
    inner: io.BufferedIOBase
    if name.endswith(".gz"):
        inner = gzip.GzipFile(fileobj=raw)
    elif name.endswith(".zst"):
        inner = zstandard.ZstdDecompressor().stream_reader(raw)  # type: ignore[assignment,unused-ignore]
    elif name.endswith(".xz"):
        inner = lzma.LZMAFile(raw)  # noqa: SIM115
    elif name.endswith(".bz2"):
        inner = bz2.BZ2File(raw)
    else:
        inner = raw
    return io.BufferedReader(_Capped(inner, MAX_PRIMARY_BYTES, url))


def _text(element: ET.Element, tag: str) -> str:
    child = element.find(f"{NS_COMMON}{tag}")
    return (child.text or "").strip() if child is not None else ""


def parse_primary(data: bytes, primary_url: str) -> Iterator[RepoPackage]:
    """Every package in ``primary.xml`` (compressed as its name says), one at a time."""
    repo_root = urljoin(primary_url, "..")
    try:
        for _, element in ET.iterparse(_decompressed(data, primary_url), events=("end",)):
            if element.tag != f"{NS_COMMON}package":
                continue
            version = element.find(f"{NS_COMMON}version")
            location = element.find(f"{NS_COMMON}location")
            checksum = element.find(f"{NS_COMMON}checksum")
            size = element.find(f"{NS_COMMON}size")
            if version is None or location is None or not location.get("href"):
                raise SourceError("a <package> lacks <version> or <location href>", where=primary_url)
            base = location.get(XML_BASE) or repo_root
            sha256 = None
            if checksum is not None and checksum.get("type") == "sha256" and checksum.text:
                sha256 = checksum.text.strip().lower()
            package_size = size.get("package") if size is not None else None
            yield RepoPackage(
                name=_text(element, "name"),
                arch=_text(element, "arch"),
                version=version.get("ver", ""),
                release=version.get("rel", ""),
                url=urljoin(base if base.endswith("/") else base + "/", location.get("href", "")),
                sha256=sha256,
                size=int(package_size) if package_size and package_size.isdigit() else None,
            )
            # Packages are independent: drop each one once read, so memory
            # stays flat however large the repository.
            element.clear()
    except ET.ParseError as exc:
        raise SourceError(f"not valid primary metadata: {exc}", where=primary_url) from None
    except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError) as exc:
        raise SourceError(f"cannot decompress primary metadata: {exc}", where=primary_url) from None
