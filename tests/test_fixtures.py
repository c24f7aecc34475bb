"""The committed src.rpm fixtures hold exactly the committed sample patches, and those apply."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from patchsync.rpm.payload import read_members
from tests.conftest import DATA, require_tool

CODECS = ("gzip", "bzip2", "xz", "lzma", "zstd")
PACKAGES = {
    **{
        codec: ("2.6.32.10", DATA / "srpms" / codec / "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm")
        for codec in CODECS
    },
    "old": ("2.6.32.9", DATA / "srpms" / "old" / "kernel-source-2.6.32.9-0.0.1.aaaa111.src.rpm"),
}


def _sources(version: str) -> tuple[dict[str, bytes], bytes]:
    root = DATA / "kotd" / version
    patches = {f"patches.xen/{p.name}": p.read_bytes() for p in (root / "patches.xen").iterdir()}
    return patches, (root / "series.conf").read_bytes()


@pytest.mark.parametrize("name", sorted(PACKAGES))
def test_fixture_holds_the_committed_sources(name: str) -> None:
    version, path = PACKAGES[name]
    headers, found = read_members(path, ["patches.xen.tar.bz2", "series.conf"], verify_payload=True)
    assert headers.version == version
    assert headers.payload_compressor == ("gzip" if name == "old" else name)
    patches, series = _sources(version)
    assert found["series.conf"] == series
    with tarfile.open(fileobj=io.BytesIO(found["patches.xen.tar.bz2"])) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]
    assert files == patches


@pytest.mark.parametrize("version", ["2.6.32.9", "2.6.32.10"])
def test_sample_patches_apply_to_the_sample_tree_in_series_order(tmp_path: Path, version: str) -> None:
    git = require_tool("git")
    work = tmp_path / "tree"
    shutil.copytree(DATA / "kernel-tree", work)
    _patches, series = _sources(version)
    names = [line.split()[-1] for line in series.decode().splitlines() if line.startswith("+xen")]
    assert names, "series.conf lists no xen patches"
    for name in names:
        patch = DATA / "kotd" / version / name
        subprocess.run([git, "apply", "-p1", str(patch)], cwd=work, check=True)
    assert b"xen_arch_setup();" in (work / "arch/x86/kernel/setup.c").read_bytes()
