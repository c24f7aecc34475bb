"""Every payload rpm writes: v6 (stripped cpio), uncompressed, hard links, pre-4.14 packages.

Packages are built at test time by the real rpmbuild (binary packages: the
ones with directories, symlinks and hard links) and read against
``rpm2cpio | cpio`` or, for v6 which rpm 4.18's rpm2cpio refuses,
``rpm2archive``.
"""

from __future__ import annotations

import gzip
import io
import logging
import subprocess
import tarfile
from pathlib import Path

import pytest

from patchsync.errors import IntegrityError, RpmError
from patchsync.rpm import cpio, tags
from patchsync.rpm.header import RpmFileEntry, member_key, parse_headers
from patchsync.rpm.payload import read_members
from tests import rpmtools
from tests.conftest import require_tool
from tests.rpmbuild import PAYLOADS, build_binary

#: A hard-link set of three, a file, an empty file, a symlink and a directory.
INSTALL = r"""
mkdir -p %{buildroot}/data/sub
printf 'hello hard links\n' > %{buildroot}/data/aaaa
ln %{buildroot}/data/aaaa %{buildroot}/data/bbbb
ln %{buildroot}/data/aaaa %{buildroot}/data/sub/cccc
printf 'single\n' > %{buildroot}/data/single
: > %{buildroot}/data/empty
ln -s aaaa %{buildroot}/data/link
"""
REGULAR = ["/data/aaaa", "/data/bbbb", "/data/empty", "/data/single", "/data/sub/cccc"]
KINDS = {**{codec: PAYLOADS[codec] for codec in PAYLOADS}, "uncompressed": "w.ufdio"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dest = tmp_path_factory.mktemp("rpms")
    return {kind: build_binary(dest / kind, name="links", install=INSTALL, payload=p) for kind, p in KINDS.items()}


def rpm2cpio_files(path: Path, dest: Path) -> dict[str, bytes]:
    """The package's regular files as ``rpm2cpio | cpio -idm`` writes them."""
    rpm2cpio, cpio_tool = require_tool("rpm2cpio"), require_tool("cpio")
    archive = subprocess.run([rpm2cpio, str(path)], check=True, capture_output=True).stdout
    dest.mkdir()
    subprocess.run([cpio_tool, "-idm", "--quiet"], input=archive, cwd=dest, check=True)
    regular = [p for p in dest.rglob("*") if p.is_file() and not p.is_symlink()]
    return {"/" + p.relative_to(dest).as_posix(): p.read_bytes() for p in regular}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_payload_and_every_hard_link(built: dict[str, Path], tmp_path: Path, kind: str) -> None:
    want = rpm2cpio_files(built[kind], tmp_path / "cpio")
    assert sorted(want) == REGULAR
    headers, found = read_members(built[kind], REGULAR, verify_payload=True)
    assert found == {member_key(name): data for name, data in want.items()}
    if kind == "uncompressed":
        # rpm writes no compressor tag for w.ufdio and reads the payload as "gzip" passed through.
        assert headers.payload_compressor == "gzip"
        assert headers.total_size == built[kind].stat().st_size


def test_one_hard_link_alone(built: dict[str, Path]) -> None:
    """The data of a set is stored with its last file: asking for the first alone still finds it."""
    _h, found = read_members(built["gzip"], ["data/aaaa"])
    assert found == {"data/aaaa": b"hello hard links\n"}


def test_a_symlink_is_not_a_member(built: dict[str, Path]) -> None:
    with pytest.raises(RpmError, match=r"/data/link is not a regular file"):
        read_members(built["gzip"], ["/data/link"])


def to_stripped(archive: bytes, files: tuple[RpmFileEntry, ...]) -> bytes:
    """A newc archive rewritten in rpm's stripped format (lib/cpio.c), as rpm writes v6 payloads."""
    by_key = {member_key(f.name): fx for fx, f in enumerate(files)}
    out = bytearray()
    pos = 0
    while True:
        fields = [int(archive[pos + 6 + 8 * i : pos + 14 + 8 * i], 16) for i in range(13)]
        namesize, size = fields[11], fields[6]
        name = archive[pos + 110 : pos + 110 + namesize - 1].decode()
        start = pos + 110 + namesize
        start += -start % 4
        data = archive[start : start + size]
        pos = start + size + (-size % 4)
        out += b"\0" * (-len(out) % 4)
        if name == cpio.TRAILER:
            out += archive[archive.index(b"070701", start - 110 - namesize - 3) :]
            return bytes(out)
        out += b"07070X" + f"{by_key[member_key(name)]:08x}".encode() + b"\0\0"
        out += data


def test_stripped_payload_with_hard_links(built: dict[str, Path], tmp_path: Path) -> None:
    pkg = built["uncompressed"].read_bytes()
    headers = parse_headers(pkg, "x")
    stripped = to_stripped(pkg[headers.payload_offset :], headers.files)
    assert stripped.count(b"07070X") == len(headers.files)
    path = tmp_path / "stripped.rpm"
    path.write_bytes(rpmtools.replace_payload(pkg, stripped))
    _h, found = read_members(path, REGULAR)
    _h, want = read_members(built["uncompressed"], REGULAR)
    assert found == want
    # Compressed as well: the walker sees the same stream.
    path.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(stripped)))
    assert read_members(path, REGULAR)[1] == want


def test_stripped_index_past_the_file_list_is_refused(built: dict[str, Path], tmp_path: Path) -> None:
    pkg = built["uncompressed"].read_bytes()
    start = parse_headers(pkg, "x").payload_offset
    path = tmp_path / "bad.rpm"
    path.write_bytes(rpmtools.replace_payload(pkg, b"07070X000000ff\0\0" + pkg[start:]))
    with pytest.raises(RpmError, match="cpio entry for file 255, the header lists 8"):
        read_members(path, REGULAR)


def rpm2archive_files(path: Path) -> dict[str, bytes]:
    """The regular files of a package as rpm2archive (which reads stripped payloads) writes them."""
    rpm2archive = require_tool("rpm2archive")
    with path.open("rb") as fh:
        out = subprocess.run([rpm2archive, "-"], stdin=fh, check=True, capture_output=True).stdout
    files: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(out), mode="r:*") as tar:
        for member in tar:
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                files[member.name.removeprefix("./")] = extracted.read()
    return files


@pytest.mark.parametrize("sample", ["attrtest-1.0-1.noarch-rpmv6.rpm", "libhello-1.0.1-1.x86_64-rpmv6.rpm"])
def test_v6_samples_byte_for_byte(rpm_samples: Path, sample: str) -> None:
    path = rpm_samples / sample
    want = rpm2archive_files(path)
    headers = parse_headers(path.read_bytes(), sample)
    names = [f.name for f in headers.files if f.is_regular]
    assert len(names) == len(want)
    _h, found = read_members(path, names, verify_payload=True)
    assert found == want


def pre_414(built: dict[str, Path], tmp_path: Path) -> Path:
    """The gzip package as rpm before 4.14 wrote it: no payload digest (the MD5 refreshed to match)."""
    pkg = built["gzip"].read_bytes()
    for tag in (tags.TAG_PAYLOADDIGEST, tags.TAG_PAYLOADDIGESTALGO, 5097):  # 5097: RPMTAG_PAYLOADDIGESTALT
        pkg = rpmtools.rename_main_tag(pkg, tag, tag + 60000)
    path = tmp_path / "old.rpm"
    path.write_bytes(pkg)
    headers = parse_headers(pkg, "old.rpm")
    assert headers.payload_digest is None
    assert headers.header_md5 is not None
    return path


def test_pre_414_payload_is_checked_with_the_md5(
    built: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = pre_414(built, tmp_path)
    with caplog.at_level(logging.WARNING):
        _h, found = read_members(path, REGULAR, verify_payload=True)
    assert found["data/single"] == b"single\n"
    assert "checking the payload with the signature's MD5, a weak digest" in caplog.text
    # Same content, other compressed bytes: only the MD5 over header + payload can tell.
    pkg = path.read_bytes()
    start = parse_headers(pkg, "x").payload_offset
    recompressed = tmp_path / "recompressed.rpm"
    recompressed.write_bytes(rpmtools.replace_payload(pkg, gzip.compress(gzip.decompress(pkg[start:]), 1)))
    assert read_members(recompressed, REGULAR)[1] == found
    with pytest.raises(IntegrityError, match="header\\+payload MD5 mismatch"):
        read_members(recompressed, REGULAR, verify_payload=True)


def test_md5_file_digests(tmp_path: Path) -> None:
    """Packages with MD5 file digests (rpm's default before 4.12) are verified with them."""
    path = build_binary(tmp_path, name="md5", install=INSTALL, defines={"_binary_filedigest_algorithm": "1"})
    headers, found = read_members(path, REGULAR)
    assert {f.algo for f in headers.files} == {tags.PGPHASHALGO_MD5}
    assert found == {member_key(k): v for k, v in rpm2cpio_files(path, tmp_path / "cpio").items()}
