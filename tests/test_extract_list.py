"""``extract --list`` and ``extract --member`` against ``rpm -qpl --dump`` and ``rpm2cpio | cpio`` on every fixture."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from patchsync.cli import main
from tests.conftest import DATA, require_tool
from tests.rpmbuild import build_binary
from tests.test_rpm_payload_kinds import INSTALL, rpm2archive_files, rpm2cpio_files
from tests.test_rpm_v6 import rpm_dump

SRPMS = sorted((DATA / "srpms").glob("*/*.src.rpm"))
V6 = ["attrtest-1.0-1.noarch-rpmv6.rpm", "libhello-1.0.1-1.x86_64-rpmv6.rpm"]


@pytest.fixture(scope="module")
def binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_binary(tmp_path_factory.mktemp("rpm"), name="links", install=INSTALL)


def listing(capsys: pytest.CaptureFixture[str], path: Path, *extra: str) -> str:
    assert main(["extract", str(path), "--list", *extra]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def as_dump(out: str) -> list[tuple[str, int, str]]:
    rows = []
    for line in out.splitlines():
        name, size, algo, digest = line.rsplit(" ", 3)
        assert (algo == "-") == (digest == "-")
        rows.append((name, int(size), "" if digest == "-" else digest))
    return rows


@pytest.mark.parametrize("path", SRPMS, ids=[p.parent.name for p in SRPMS])
def test_list_matches_rpm_dump(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    out = listing(capsys, path)
    assert as_dump(out) == rpm_dump(path)
    assert out.splitlines()[1].startswith("patches.xen.tar.bz2 ")
    assert " sha256 " in out


def test_list_binary_package(capsys: pytest.CaptureFixture[str], binary: Path) -> None:
    assert as_dump(listing(capsys, binary)) == rpm_dump(binary)


@pytest.mark.parametrize("sample", V6)
def test_list_v6(capsys: pytest.CaptureFixture[str], rpm_samples: Path, sample: str) -> None:
    assert as_dump(listing(capsys, rpm_samples / sample)) == rpm_dump(rpm_samples / sample)


def test_list_json(capsys: pytest.CaptureFixture[str], rpm_samples: Path) -> None:
    doc = json.loads(listing(capsys, rpm_samples / V6[1], "--json"))
    assert doc["package"] == "libhello-1.0.1-1"
    assert doc["rpm_format"] == 6
    by_name = {f["name"]: f for f in doc["files"]}
    assert by_name["/usr/lib/.build-id"] == {
        "name": "/usr/lib/.build-id",
        "type": "dir",
        "size": 0,
        "mode": "40755",
        "digest_algorithm": None,
        "digest": None,
        "link_target": None,
    }
    link = by_name["/usr/lib/.build-id/f5/df952a7249f9c435311680c6131da285cae947"]
    assert (link["type"], link["link_target"]) == ("symlink", "../../../../usr/local/lib64/libhello.so")
    lib = by_name["/usr/local/lib64/libhello.so"]
    assert (lib["type"], lib["size"], lib["digest_algorithm"]) == ("file", 10288, "sha256")


def member(capsys: pytest.CaptureFixture[str], path: Path, name: str, out: Path) -> str:
    assert main(["extract", str(path), "--member", name, "--output", str(out), "--verify-payload"]) == 0
    stdout, err = capsys.readouterr()
    assert err == ""
    return stdout


@pytest.mark.parametrize("path", SRPMS, ids=[p.parent.name for p in SRPMS])
def test_member_matches_rpm2cpio(capsys: pytest.CaptureFixture[str], tmp_path: Path, path: Path) -> None:
    want = rpm2cpio_files(path, tmp_path / "cpio")
    for name, data in want.items():
        out = tmp_path / name.strip("/").replace("/", "_")
        stdout = member(capsys, path, name.lstrip("/"), out)
        assert stdout == f"{out / name.lstrip('/')}: from {path.name}\n"
        assert (out / name.lstrip("/")).read_bytes() == data


def test_member_hard_link_symlink_and_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, binary: Path) -> None:
    want = rpm2cpio_files(binary, tmp_path / "cpio")
    member(capsys, binary, "/data/bbbb", tmp_path / "b")
    assert (tmp_path / "b/data/bbbb").read_bytes() == want["/data/bbbb"] == b"hello hard links\n"
    member(capsys, binary, "./data/link", tmp_path / "l")
    assert (tmp_path / "l/data/link").readlink() == Path("aaaa")
    member(capsys, binary, "data/sub", tmp_path / "d")
    assert (tmp_path / "d/data/sub").is_dir()


@pytest.mark.parametrize("sample", V6)
def test_member_v6(capsys: pytest.CaptureFixture[str], tmp_path: Path, rpm_samples: Path, sample: str) -> None:
    want = rpm2archive_files(rpm_samples / sample)
    for i, (name, data) in enumerate(sorted(want.items())):
        member(capsys, rpm_samples / sample, name, tmp_path / str(i))
        assert (tmp_path / str(i) / name).read_bytes() == data


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--member", "nope", "--output", "o"], "no nope in links-1-1"),
        (["--json"], "--json goes with --list"),
        ([], "--output DIR is required to extract (or use --list)"),
        (["--member", "/data/aaaa"], "--output DIR is required"),
    ],
)
def test_member_refusals(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, binary: Path, args: list[str], message: str
) -> None:
    assert main(["extract", str(binary), *[str(tmp_path / a) if a == "o" else a for a in args]]) == 2
    _out, err = capsys.readouterr()
    assert message in err
    assert len(err.splitlines()) == 1


def test_member_output_must_be_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path, binary: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    assert main(["extract", str(binary), "--member", "/data/aaaa", "--output", str(tmp_path / "full")]) == 2
    assert "refusing to overwrite it" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "full").iterdir()) == ["x"]


def test_rpm2cpio_agrees_on_the_binary_listing(binary: Path) -> None:
    """The oracle itself: rpm lists the hard links with their full size."""
    rpm = require_tool("rpm")
    out = subprocess.run([rpm, "-qpl", str(binary)], check=True, capture_output=True, text=True).stdout
    assert "/data/sub/cccc" in out.split()


def test_member_outside_the_output_is_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, binary: Path) -> None:
    """A hostile header naming ``/data/../abc`` writes nothing (the header digests made to match)."""
    from tests import rpmtools

    bad = tmp_path / "bad.rpm"
    bad.write_bytes(rpmtools.patch_main_header(binary.read_bytes(), b"\0single\0", b"\0../abc\0"))
    assert main(["extract", str(bad), "--member", "/data/../abc", "--output", str(tmp_path / "o")]) == 2
    assert "not a plain relative path" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    assert not (tmp_path / "abc").exists()


def test_member_folder_with_verify_payload_checks_the_payload(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, binary: Path
) -> None:
    """No payload byte is needed for a folder, but --verify-payload still means what it says."""
    from tests import rpmtools

    pkg = bytearray(binary.read_bytes())
    pkg[-5] ^= 0x01  # inside the compressed payload
    bad = tmp_path / "bad.rpm"
    bad.write_bytes(bytes(pkg))
    assert main(["extract", str(bad), "--member", "/data/sub", "--output", str(tmp_path / "o"), "-q"]) == 0
    assert (
        main(["extract", str(bad), "--member", "/data/sub", "--output", str(tmp_path / "p"), "--verify-payload"]) == 2
    )
    assert "payload digest mismatch" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert rpmtools.payload_start(bytes(pkg)) < len(pkg) - 5
