"""`patchsync extract` on real src.rpms: byte for byte, and every kind of bad input refused cleanly."""

from __future__ import annotations

import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from patchsync.cli import main
from patchsync.errors import PatchsyncError, TarballError
from patchsync.extract import extract_patchset, write_patchset
from patchsync.model import PatchSet, SourceInfo
from tests import rpmtools
from tests.conftest import DATA, REPO_ROOT, require_tool
from tests.rpmbuild import EPOCH, build_srpm

CODECS = ("gzip", "bzip2", "xz", "lzma", "zstd")
NEW = DATA / "kotd" / "2.6.32.10"
NEVR = "kernel-source-2.6.32.10-0.0.3.bbbb222"


def fixture(codec: str) -> Path:
    return DATA / "srpms" / codec / f"{NEVR}.src.rpm"


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def expected_tree() -> dict[str, bytes]:
    files = {f"patches.xen/{p.name}": p.read_bytes() for p in (NEW / "patches.xen").iterdir()}
    files["series.conf"] = (NEW / "series.conf").read_bytes()
    return files


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("codec", CODECS)
def test_extract_each_codec_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str], codec: str) -> None:
    out = tmp_path / "out"
    rc, stdout, err = run_cli(capsys, "extract", str(fixture(codec)), "--output", str(out))
    assert (rc, err) == (0, "")
    assert tree(out) == expected_tree()
    assert stdout == f"{out}: 5 files under patches.xen/ and series.conf from {NEVR}.src.rpm\n"
    # Nothing else beside the output: the temporary folder was renamed, not copied.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("codec", CODECS)
def test_extract_matches_rpm2cpio_cpio_tar(tmp_path: Path, codec: str) -> None:
    """The manual way of seed/EC2Kernel.txt gives the same files."""
    rpm2cpio, cpio, tar = (require_tool(t) for t in ("rpm2cpio", "cpio", "tar"))
    manual = tmp_path / "manual"
    manual.mkdir()
    archive = subprocess.run([rpm2cpio, str(fixture(codec))], check=True, capture_output=True).stdout
    subprocess.run([cpio, "-idm", "--quiet"], input=archive, cwd=manual, check=True)
    subprocess.run([tar, "-xjf", "patches.xen.tar.bz2"], cwd=manual, check=True)
    want = {k: v for k, v in tree(manual).items() if k.startswith("patches.xen/") or k == "series.conf"}
    out = tmp_path / "out"
    assert main(["extract", str(fixture(codec)), "--output", str(out), "--verify-payload", "-q"]) == 0
    assert tree(out) == want


def test_extract_patchset_source(tmp_path: Path) -> None:
    ps = extract_patchset(fixture("zstd"), "patches.xen.tar.bz2")
    assert ps.top == "patches.xen"
    assert ps.series_conf == (NEW / "series.conf").read_bytes()
    assert ps.source.version == "2.6.32.10"
    assert ps.source.release == "0.0.3.bbbb222"
    assert ps.source.payload == "local"
    import hashlib

    tarball = rpmtools_tarball(fixture("zstd"))
    assert ps.source.tarball_sha256 == hashlib.sha256(tarball).hexdigest()
    given = SourceInfo(
        url="http://x/k.src.rpm", file="k.src.rpm", version="v", release="r", tarball="t", tarball_sha256=""
    )
    ps2 = extract_patchset(fixture("zstd"), source=given)
    assert ps2.source.url == "http://x/k.src.rpm"
    assert ps2.source.tarball_sha256 == ps.source.tarball_sha256


def rpmtools_tarball(path: Path) -> bytes:
    from patchsync.rpm.payload import read_members

    return read_members(path, ["patches.xen.tar.bz2"])[1]["patches.xen.tar.bz2"]


@pytest.mark.parametrize("codec", ["xz", "zstd"])
def test_extract_real_suse_patches(tmp_path: Path, corpus: Path, codec: str) -> None:
    """Real patches.xen files (read in place) survive rpmbuild -> extract unchanged."""
    patches = {p.name: p.read_bytes() for p in sorted((corpus / "v2").iterdir()) if p.is_file()}
    patches.update({p.name: p.read_bytes() for p in sorted((corpus / "same").iterdir()) if p.is_file()})
    series = b"".join(b"+xen\tpatches.xen/" + n.encode() + b"\n" for n in patches)
    pkg = build_srpm(tmp_path / "srpm", patches=patches, series_conf=series, codec=codec)
    out = tmp_path / "out"
    assert main(["extract", str(pkg), "--output", str(out), "-q"]) == 0
    got = tree(out)
    assert got.pop("series.conf") == series
    assert got == {f"patches.xen/{k}": v for k, v in patches.items()}


def test_extract_without_config_imports_no_git(tmp_path: Path) -> None:
    """extract needs no config file and never pays for git, the scheduler or HTTP."""
    out = tmp_path / "out"
    code = (
        "import sys\n"
        "from patchsync.cli import main\n"
        f"rc = main(['extract', {str(fixture('gzip'))!r}, '--output', {str(out)!r}, '-q'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('git', 'apscheduler', 'requests', 'tomllib'))\n"
        "print(rc, heavy)\n"
    )
    env = dict(os.environ, PATCHSYNC_CONFIG=str(tmp_path / "missing.toml"))
    res = subprocess.run(
        [sys.executable, "-c", code], check=False, cwd=REPO_ROOT, env=env, capture_output=True, text=True
    )
    assert (res.stdout, res.stderr) == ("0 []\n", "")
    assert tree(out) == expected_tree()


# --- bad input -------------------------------------------------------------


def _assert_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, pkg: Path, message: str, *extra: str) -> None:
    out = tmp_path / "out"
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, stdout, err = run_cli(capsys, "extract", str(pkg), "--output", str(out), *extra)
    assert rc == 2
    assert stdout == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"patchsync: error: {pkg}"), lines[0]
    assert message in lines[0], lines[0]
    assert "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "in" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data)
    return path


def _good() -> bytes:
    return fixture("gzip").read_bytes()


@pytest.mark.parametrize(
    ("name", "make", "message"),
    [
        ("empty", lambda: b"", "empty file, not an RPM package"),
        ("truncated-in-lead", lambda: _good()[:50], "truncated: the RPM headers need"),
        ("truncated-in-header", lambda: _good()[:3000], "truncated: the RPM headers need"),
        ("truncated-in-payload", lambda: _good()[:-100], "truncated: "),
        ("padded", lambda: _good() + b"\0" * 10, "10 bytes of trailing garbage"),
        ("text", lambda: b"just some text\n" * 20, "not an RPM package (no RPM lead magic)"),
        (
            "html",
            lambda: b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head></html>\n",
            "it is an HTML/XML page",
        ),
        (
            "absurd-entries",
            lambda: _good()[:96] + struct.pack(">4s4xII", b"\x8e\xad\xe8\x01", 0x7FFFFFF0, 64) + b"\0" * 4096,
            "declares 2147483632 index entries",
        ),
        (
            "absurd-data",
            lambda: (
                _good()[: rpmtools.main_header_start(_good())]
                + struct.pack(">4s4xII", b"\x8e\xad\xe8\x01", 10, 0x40000000)
                + b"\0" * 4096
            ),
            "main header declares 1073741824 bytes of data",
        ),
        ("header-digest", lambda: _flip(_good(), b"tests from the project's own"), "main header SHA256 mismatch"),
        ("corrupt-payload", lambda: _flip_payload(_good()), "corrupt gzip payload"),
        (
            "unknown-compressor",
            lambda: rpmtools.patch_main_header(_good(), b"\0gzip\0", b"\0lz4x\0"),
            "unknown payload compressor 'lz4x'",
        ),
        ("member-digest", lambda: _tamper_member(_good()), "patches.xen.tar.bz2 does not match the header's SHA256"),
    ],
)
def test_bad_package(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, make: object, message: str) -> None:
    assert callable(make)
    pkg = _write(tmp_path, f"{name}.src.rpm", make())
    _assert_refused(capsys, tmp_path, pkg, message)


def _flip(data: bytes, marker: bytes) -> bytes:
    pos = data.index(marker)
    return data[:pos] + bytes([data[pos] ^ 0x20]) + data[pos + 1 :]


def _flip_payload(data: bytes) -> bytes:
    start = rpmtools.payload_start(data)
    out = bytearray(data)
    for i in range(start + 12, start + 60):
        out[i] ^= 0x55
    return bytes(out)


def _tamper_member(data: bytes) -> bytes:
    import gzip

    archive = bytearray(gzip.decompress(data[rpmtools.payload_start(data) :]))
    pos = archive.index(b"BZh9")
    archive[pos + 40] ^= 0xFF
    return rpmtools.replace_payload(data, gzip.compress(bytes(archive)))


def test_payload_digest_mismatch_only_with_verify_payload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    data = _good()
    again = gzip.compress(gzip.decompress(data[rpmtools.payload_start(data) :]), compresslevel=1)
    pkg = _write(tmp_path, "recompressed.src.rpm", rpmtools.replace_payload(data, again))
    _assert_refused(capsys, tmp_path, pkg, "payload digest mismatch", "--verify-payload")
    out = tmp_path / "ok"
    assert main(["extract", str(pkg), "--output", str(out), "-q"]) == 0


def test_missing_tarball(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _assert_refused(
        capsys,
        tmp_path,
        fixture("xz"),
        f"no patches.kabi.tar.bz2 in {NEVR}; it has patches.xen.tar.bz2",
        "--tarball",
        "patches.kabi.tar.bz2",
    )


@pytest.mark.parametrize("spelling", ["./patches.xen.tar.bz2", "/patches.xen.tar.bz2"])
def test_tarball_named_with_a_prefix(tmp_path: Path, spelling: str) -> None:
    """``--tarball ./name`` and ``/name`` find the member the header calls ``name``."""
    out = tmp_path / "out"
    assert main(["extract", str(fixture("gzip")), "--tarball", spelling, "--output", str(out), "-q"]) == 0
    assert tree(out) == expected_tree()


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _assert_refused(capsys, tmp_path, tmp_path / "nope.src.rpm", "cannot read: No such file or directory")


# --- hostile tarballs --------------------------------------------------------


def _tar(*members: tuple[tarfile.TarInfo, bytes | None], mode: str = "w:bz2") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        for info, data in members:
            info.mtime = EPOCH
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buf.getvalue()


def _file(name: str, data: bytes = b"patch\n") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _special(name: str, kind: bytes, link: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info, None


def _oversize() -> bytes:
    """A header declaring a 2 GB member; the refusal must come before any data is read."""
    info = tarfile.TarInfo("patches.xen/huge")
    info.size = 2 * 1024**3
    info.mtime = EPOCH
    raw = info.tobuf(tarfile.GNU_FORMAT) + b"\0" * 1024
    import bz2

    return bz2.compress(raw)


HOSTILE = {
    "absolute": (lambda: _tar(_file("/etc/cron.d/evil")), "absolute path '/etc/cron.d/evil' refused"),
    "dotdot": (lambda: _tar(_file("patches.xen/../../evil")), "path 'patches.xen/../../evil' with '..' refused"),
    "symlink": (
        lambda: _tar(_file("patches.xen/a"), _special("patches.xen/b", tarfile.SYMTYPE, "/etc/passwd")),
        "link 'patches.xen/b' -> '/etc/passwd' refused",
    ),
    "hardlink": (
        lambda: _tar(_file("patches.xen/a"), _special("patches.xen/b", tarfile.LNKTYPE, "patches.xen/a")),
        "link 'patches.xen/b' -> 'patches.xen/a' refused",
    ),
    "device": (
        lambda: _tar(_file("patches.xen/a"), _special("patches.xen/sda", tarfile.BLKTYPE)),
        "'patches.xen/sda' is not a regular file",
    ),
    "fifo": (
        lambda: _tar(_file("patches.xen/a"), _special("patches.xen/p", tarfile.FIFOTYPE)),
        "'patches.xen/p' is not a regular file",
    ),
    "duplicate": (
        lambda: _tar(_file("patches.xen/a"), _file("patches.xen/b"), _file("patches.xen/a", b"other\n")),
        "duplicate member 'patches.xen/a'",
    ),
    "two-tops": (
        lambda: _tar(_file("patches.xen/a"), _file("patches.suse/b")),
        "'patches.suse/b' is outside the top folder 'patches.xen'",
    ),
    "no-folder": (lambda: _tar(_file("loose-patch")), "file 'loose-patch' is not inside a top folder"),
    "oversize": (_oversize, "member 'patches.xen/huge' has 2147483648 bytes, over the 33554432 limit"),
    "not-a-tarball": (lambda: b"BZh9" + b"\0" * 100, "not a readable tarball"),
    "empty": (_tar, "the tarball has no files"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tarball(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    make, message = HOSTILE[case]
    pkg = build_srpm(tmp_path / "in", patches={}, tarball_bytes=make(), series_conf=b"+xen\tpatches.xen/a\n")
    _assert_refused(capsys, tmp_path, pkg, f"{pkg}: patches.xen.tar.bz2: {message}")


def test_tarball_xz_and_gz_are_read(tmp_path: Path) -> None:
    from patchsync.patches.tarball import read_tarball

    for mode in ("w:xz", "w:gz", "w"):
        top, files = read_tarball(_tar(_file("patches.xen/a", b"A\n"), mode=mode), where="t")
        assert (top, files) == ("patches.xen", {"patches.xen/a": b"A\n"})


def test_file_and_folder_of_one_name(tmp_path: Path) -> None:
    from patchsync.patches.tarball import read_tarball

    with pytest.raises(TarballError, match=r"'patches\.xen/a' is both a file and a folder"):
        read_tarball(_tar(_file("patches.xen/a"), _file("patches.xen/a/b")), where="t")


# --- writing -----------------------------------------------------------------


def _patchset(files: dict[str, bytes], top: str = "patches.xen") -> PatchSet:
    src = SourceInfo(url="u", file="f", version="v", release="r", tarball="t", tarball_sha256="")
    return PatchSet(source=src, top=top, files=files, series_conf=b"s\n")


def test_write_into_an_empty_existing_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    write_patchset(_patchset({"patches.xen/a": b"A"}), out)
    assert tree(out) == {"patches.xen/a": b"A", "series.conf": b"s\n"}


def test_write_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine").write_text("keep me")
    with pytest.raises(PatchsyncError, match="exists and is not an empty folder"):
        write_patchset(_patchset({"patches.xen/a": b"A"}), out)
    assert tree(out) == {"mine": b"keep me"}


def test_write_failure_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    bad = _patchset({"patches.xen/a": b"A", "patches.xen/../../escape": b"x"})
    with pytest.raises(TarballError, match="refusing to write"):
        write_patchset(bad, out)
    assert list(tmp_path.iterdir()) == []


def test_write_failure_removes_the_parents_it_made(tmp_path: Path) -> None:
    out = tmp_path / "new" / "deeper" / "out"
    bad = _patchset({"patches.xen/../../escape": b"x"})
    with pytest.raises(TarballError, match="refusing to write"):
        write_patchset(bad, out)
    assert list(tmp_path.iterdir()) == []
    write_patchset(_patchset({"patches.xen/a": b"A"}), out)
    assert tree(tmp_path) == {"new/deeper/out/patches.xen/a": b"A", "new/deeper/out/series.conf": b"s\n"}


def test_write_failure_on_disk_leaves_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(PatchsyncError, match="cannot create the output folder"):
        write_patchset(_patchset({"patches.xen/a": b"A"}), blocker / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_fixtures_script_is_committed_with_its_inputs() -> None:
    """The committed src.rpms can be regenerated: script, spec and patch sources are in the tree."""
    for path in (
        "make-fixtures.py",
        "kernel-source.spec.in",
        "kotd/2.6.32.9/series.conf",
        "kotd/2.6.32.10/series.conf",
    ):
        assert (DATA / path).is_file(), path
    assert shutil.which("python3")
