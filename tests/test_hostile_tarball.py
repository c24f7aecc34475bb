"""Bounded work for any tarball (issue 10, class 3): declared sizes are checked first.

The bombs are built here, at test time: a tar header declaring gigabytes,
followed by that many zero bytes as concatenated bzip2 streams (a few KB
on disk).  Each is read in a child process under an address-space limit,
so a regression fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import bz2
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from patchsync.errors import TarballError
from patchsync.patches.tarball import MAX_EXTENDED, MAX_MEMBER, MAX_TOTAL, read_tarball

from .limits import run_limited

GIB = 1024**3
_ZEROS_64M = bz2.compress(b"\0" * (64 << 20), 9)


def header(name: str, type_: bytes, size: int) -> bytes:
    """One raw ustar header block (tarfile refuses to write the hostile ones)."""
    info = tarfile.TarInfo(name)
    info.type = type_
    info.size = 0
    block = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
    block[124:136] = b"%011o\0" % size
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def bomb(type_: bytes, declared: int) -> bytes:
    """A bzip2 tarball: one header of ``type_`` declaring ``declared`` bytes, and that many zeros."""
    streams = [bz2.compress(header("patches.xen/././@LongLink", type_, declared))]
    streams += [_ZEROS_64M] * (declared // (64 << 20) + 1)
    return b"".join(streams)


def read_limited(data: bytes, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """read_tarball(data) in a child process limited to MEMORY_LIMIT bytes of address space."""
    path = tmp_path / "bomb.tar.bz2"
    path.write_bytes(data)
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from patchsync.errors import PatchsyncError\n"
        "from patchsync.patches.tarball import read_tarball\n"
        "try:\n"
        "    read_tarball(Path(sys.argv[1]).read_bytes(), where='bomb')\n"
        "except PatchsyncError as exc:\n"
        "    print(exc, file=sys.stderr)\n"
        "    sys.exit(2)\n"
    )

    return run_limited(code, str(path), timeout=60)


@pytest.mark.parametrize(
    ("type_", "what"),
    [(tarfile.XHDTYPE, "pax header"), (tarfile.GNUTYPE_LONGNAME, "GNU long name"), (tarfile.XGLTYPE, "pax global")],
)
def test_an_extended_header_declaring_gigabytes_is_refused_under_the_memory_bound(
    tmp_path: Path, type_: bytes, what: str
) -> None:
    data = bomb(type_, 3 * GIB)
    assert len(data) < 20_000, what  # a small download, a huge declaration
    proc = read_limited(data, tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == (
        f"bomb: extended header (type {type_!r}) declares {3 * GIB} bytes, over the {MAX_EXTENDED} limit\n"
    )


def test_members_up_to_every_limit_stay_under_the_memory_bound(tmp_path: Path) -> None:
    """Regular members of zeros: the most read_tarball keeps, then one more byte."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for i, size in enumerate([MAX_MEMBER, MAX_TOTAL - MAX_MEMBER, 1]):
            info = tarfile.TarInfo(f"patches.xen/p{i}")
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    proc = read_limited(bz2.compress(buf.getvalue(), 1), tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr == f"bomb: members total over the {MAX_TOTAL} bytes limit\n"


def test_the_memory_limit_is_real(tmp_path: Path) -> None:
    """The child's limit does stop a real 3 GB allocation (so the test above proves something)."""
    proc = run_limited("b = bytearray(3 * 1024**3)")
    assert proc.returncode != 0
    assert "MemoryError" in proc.stderr


def test_a_chain_of_pax_headers_is_bounded() -> None:
    chain = b"".join(header(f"x{i}", tarfile.XHDTYPE, 0) for i in range(2000))
    with pytest.raises(TarballError) as info:
        read_tarball(bz2.compress(chain + b"\0" * 1024), where="chain")
    assert str(info.value).startswith("chain: ")


def test_a_legitimate_long_name_still_reads() -> None:
    buf = io.BytesIO()
    name = "patches.xen/" + "x" * 200
    with tarfile.open(fileobj=buf, mode="w:bz2", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = 3
        tar.addfile(info, io.BytesIO(b"ab\n"))
    top, files = read_tarball(buf.getvalue(), where="ok")
    assert (top, files) == ("patches.xen", {name: b"ab\n"})
