#!/usr/bin/env python3
"""Regenerate the committed src.rpm fixtures with the real ``rpmbuild -bs``.

Run from the repository root: ``python3 tests/data/make-fixtures.py``.

Inputs (all the project's own, written for these tests):
  kotd/<version>/patches.xen/*   sample Xen patches against kernel-tree/
  kotd/<version>/series.conf     SUSE-style series with guards
  kernel-source.spec.in          the spec template

Outputs:
  srpms/<codec>/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm
      one per payload codec rpm writes (gzip, bzip2, xz, lzma, zstd)
  srpms/old/kernel-source-2.6.32.9-0.0.1.aaaa111.src.rpm
      the previous KOTD (gzip), for discovery and compare demos

Build time, build host and tarball member times are pinned, so a rebuild
with the same rpm version gives the same bytes.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent
sys.path.insert(0, str(DATA.parent.parent))

from tests.rpmbuild import PAYLOADS, build_with  # noqa: E402

#: (version, release, codecs) of each fixture package.
FIXTURES = (
    ("2.6.32.10", "0.0.3.bbbb222", tuple(PAYLOADS)),
    ("2.6.32.9", "0.0.1.aaaa111", ("old",)),
)


def read_patches(version: str) -> tuple[dict[str, bytes], bytes]:
    root = DATA / "kotd" / version
    patches = {p.name: p.read_bytes() for p in sorted((root / "patches.xen").iterdir())}
    return patches, (root / "series.conf").read_bytes()


def main() -> int:
    rpmbuild = shutil.which("rpmbuild")
    if rpmbuild is None:
        print("make-fixtures: rpmbuild is not installed (Debian: apt-get install rpm)", file=sys.stderr)
        return 1
    for version, release, outputs in FIXTURES:
        patches, series = read_patches(version)
        for out in outputs:
            dest = DATA / "srpms" / out
            for old in dest.glob("*.src.rpm"):
                old.unlink()
            path = build_with(
                rpmbuild,
                dest,
                patches=patches,
                series_conf=series,
                codec="gzip" if out == "old" else out,
                version=version,
                release=release,
            )
            print(f"{path.relative_to(DATA)}: {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
