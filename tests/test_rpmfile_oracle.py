"""patchsync's own RPM header reader agrees with rpmfile on real packages.

patchsync reads headers itself (bounds checked before anything is
allocated, no magic-byte scanning, no import cost for ``extract``); rpmfile
is kept as an independent reader to check it against on packages built by
the real rpmbuild.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import rpmfile

from patchsync.rpm.header import read_headers

from .conftest import DATA

PACKAGES = sorted((DATA / "srpms").glob("*/*.src.rpm"))


@pytest.mark.parametrize("path", PACKAGES, ids=[p.parent.name for p in PACKAGES])
def test_header_values_match_rpmfile(path: Path) -> None:
    with path.open("rb") as fh:
        ours, _ = read_headers(fh, str(path))
    with rpmfile.open(str(path)) as theirs:
        h = theirs.headers
    assert (ours.name, ours.version, ours.release) == (
        h["name"].decode(),
        h["version"].decode(),
        h["release"].decode(),
    )
    assert [f.name for f in ours.files] == [b.decode() for b in h["basenames"]]
    sizes = h["filesizes"] if isinstance(h["filesizes"], tuple) else (h["filesizes"],)
    assert [f.size for f in ours.files] == list(sizes)
    # RPMTAG_FILEDIGESTS is called "filemd5s" in rpmfile, after its pre-4.6 name.
    assert [f.digest for f in ours.files] == [d.decode() for d in h["filemd5s"]]
    assert {f.algo for f in ours.files} == {h["filedigestalgo"]}
    assert ours.payload_compressor == h["archive_compression"].decode()


def test_every_codec_is_covered() -> None:
    assert {p.parent.name for p in PACKAGES} >= {"gzip", "bzip2", "xz", "lzma", "zstd"}
