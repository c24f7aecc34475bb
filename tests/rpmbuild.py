"""Build real src.rpms with ``rpmbuild -bs`` for tests and fixtures.

Used by the tests (packages built at test time, e.g. from the corpus or with
a large filler source) and by ``tests/data/make-fixtures.py``.
"""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

#: Payload codec -> rpm's ``%_source_payload`` value (``w<level>.<io>``).
#: Levels are low where a higher one only costs build time on filler data.
PAYLOADS: dict[str, str] = {
    "gzip": "w9.gzdio",
    "bzip2": "w9.bzdio",
    "xz": "w2.xzdio",
    "lzma": "w2.lzdio",
    "zstd": "w19.zstdio",
}
#: A fixed time for tarball members and rpm's build time, so rebuilt fixtures differ less.
EPOCH = 1262304000  # 2010-01-01, the era of 2.6.32
FILLER = "linux-2.6.32.tar.bz2"

#: The spec template, with {name} {version} {release} {sources} placeholders.
SPEC_TEMPLATE = Path(__file__).resolve().parent / "data" / "kernel-source.spec.in"


def make_tarball(files: Mapping[str, bytes], *, compression: str = "bz2") -> bytes:
    """A tarball of regular files (paths taken as given), reproducible byte for byte."""
    buf = io.BytesIO()
    mode = f"w:{compression}" if compression else "w"
    with tarfile.open(fileobj=buf, mode=mode, format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        dirs = sorted({str(Path(p).parent) for p in files if str(Path(p).parent) != "."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            info.mtime = EPOCH
            tar.addfile(info)
        for path in sorted(files):
            info = tarfile.TarInfo(path)
            info.size = len(files[path])
            info.mode = 0o644
            info.mtime = EPOCH
            tar.addfile(info, io.BytesIO(files[path]))
    return buf.getvalue()


def _compression(tarball: str) -> str:
    for ext, comp in ((".bz2", "bz2"), (".xz", "xz"), (".gz", "gz")):
        if tarball.endswith(ext):
            return comp
    return ""


def _top(tarball: str) -> str:
    return tarball.split(".tar", 1)[0]


def build_srpm(
    dest: Path,
    *,
    patches: Mapping[str, bytes],
    series_conf: bytes | None = None,
    codec: str = "gzip",
    name: str = "kernel-source",
    version: str = "2.6.32.10",
    release: str = "0.0.3.bbbb222",
    tarball: str = "patches.xen.tar.bz2",
    extra_size: int = 0,
    tarball_bytes: bytes | None = None,
    extra_sources: Mapping[str, bytes] | None = None,
    payload: str | None = None,
) -> Path:
    """Build ``<name>-<version>-<release>.src.rpm`` into ``dest`` with the real rpmbuild.

    ``patches`` (name -> bytes) go under the tarball's top folder;
    ``tarball_bytes`` replaces the generated tarball (hostile tarballs);
    ``extra_size`` adds a random filler source the size of a Linux tarball;
    ``payload`` overrides the ``%_source_payload`` chosen for ``codec`` (e.g. ``w3.zstdio``).
    """
    from tests.conftest import require_tool

    return build_with(
        require_tool("rpmbuild"),
        dest,
        patches=patches,
        series_conf=series_conf,
        codec=codec,
        payload=payload,
        name=name,
        version=version,
        release=release,
        tarball=tarball,
        extra_size=extra_size,
        tarball_bytes=tarball_bytes,
        extra_sources=extra_sources,
    )


def build_with(
    rpmbuild: str,
    dest: Path,
    *,
    patches: Mapping[str, bytes],
    series_conf: bytes | None = None,
    codec: str = "gzip",
    payload: str | None = None,
    name: str = "kernel-source",
    version: str = "2.6.32.10",
    release: str = "0.0.3.bbbb222",
    tarball: str = "patches.xen.tar.bz2",
    extra_size: int = 0,
    tarball_bytes: bytes | None = None,
    extra_sources: Mapping[str, bytes] | None = None,
) -> Path:
    """:func:`build_srpm` with an explicit rpmbuild (for scripts outside pytest)."""
    payload = payload or PAYLOADS[codec]
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rpmbuild-", dir=dest) as tmp:
        top = Path(tmp)
        sources = top / "SOURCES"
        sources.mkdir()
        files: dict[str, bytes] = dict(extra_sources or {})
        if tarball_bytes is None:
            folder = _top(tarball)
            tarball_bytes = make_tarball(
                {f"{folder}/{k}": v for k, v in patches.items()}, compression=_compression(tarball)
            )
        files[tarball] = tarball_bytes
        if series_conf is not None:
            files["series.conf"] = series_conf
        for fname, data in files.items():
            (sources / fname).write_bytes(data)
        if extra_size:
            with (sources / FILLER).open("wb") as fh:
                left = extra_size
                while left:
                    n = min(left, 1 << 20)
                    fh.write(os.urandom(n))
                    left -= n
            files[FILLER] = b""
        lines = [f"Source{i}:        {fname}" for i, fname in enumerate(sorted(files))]
        spec = top / f"{name}.spec"
        spec.write_text(
            SPEC_TEMPLATE.read_text().format(name=name, version=version, release=release, sources="\n".join(lines))
        )
        for f in (*sources.iterdir(), spec):
            os.utime(f, (EPOCH, EPOCH))
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), HOME=str(top))
        subprocess.run(
            [
                rpmbuild,
                "-bs",
                "--quiet",
                "--define",
                f"_topdir {top}",
                "--define",
                f"_sourcedir {sources}",
                "--define",
                f"_srcrpmdir {dest}",
                "--define",
                f"_source_payload {payload}",
                "--define",
                "_source_filedigest_algorithm 8",
                "--define",
                "use_source_date_epoch_as_buildtime 1",
                "--define",
                "_buildhost patchsync-fixtures",
                str(spec),
            ],
            check=True,
            env=env,
            capture_output=True,
        )
    out = dest / f"{name}-{version}-{release}.src.rpm"
    assert out.is_file(), out
    return out


BINARY_SPEC = """\
Name: {name}
Version: 1
Release: 1
Summary: patchsync test package
License: MIT
BuildArch: noarch
%description
A package built by patchsync's tests.
%install
{install}
%files
{files}
"""


def build_binary(
    dest: Path,
    *,
    name: str,
    install: str,
    files: str = "/data",
    payload: str = "w9.gzdio",
    defines: Mapping[str, str] | None = None,
) -> Path:
    """Build the noarch binary package ``<name>-1-1.noarch.rpm`` into ``dest`` with ``rpmbuild -bb``.

    ``install`` is the spec's %install script (files go under ``%{buildroot}``);
    binary packages are the ones with directories, symlinks and hard links.
    """
    from tests.conftest import require_tool

    rpmbuild = require_tool("rpmbuild")
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rpmbuild-", dir=dest) as tmp:
        top = Path(tmp)
        spec = top / f"{name}.spec"
        spec.write_text(BINARY_SPEC.format(name=name, install=install, files=files))
        args = [rpmbuild, "-bb", "--quiet", "--define", f"_topdir {top}", "--define", f"_rpmdir {dest}"]
        for key, value in {
            "_binary_payload": payload,
            "_build_id_links": "none",
            "_rpmfilename": "%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm",
            **(defines or {}),
        }.items():
            args += ["--define", f"{key} {value}"]
        env = dict(os.environ, SOURCE_DATE_EPOCH=str(EPOCH), HOME=str(top))
        subprocess.run([*args, str(spec)], check=True, env=env, capture_output=True)
    out = dest / f"{name}-1-1.noarch.rpm"
    assert out.is_file(), out
    return out
