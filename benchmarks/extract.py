"""Benchmark ``patchsync extract`` against the manual way and libarchive (issue 2, section 8).

Not a test: run by hand, paste the table into docs/benchmarks.md.

    python -m benchmarks.extract [--runs 7] [--size 150000000] [--codecs gzip,zstd,xz]

Generates (once, cached in benchmarks/out/, which git ignores) a src.rpm per
codec with rpmbuild: a random 150 MB "Linux tarball" plus the patch tarball
(the real SUSE patches of ../shared/corpus when present, else the sample
fixture patches) and series.conf.  Then, with the page cache warm, times
the median wall clock and peak RSS of:

- ``patchsync extract X --output DIR`` (extracts AND untars the patches,
  checking sizes and digests),
- ``rpm2cpio X | cpio -i patches.xen.tar.bz2`` (the manual way),
- ``bsdtar -xf X patches.xen.tar.bz2`` (libarchive, C),
- plain rpmfile (``RPMFile.extractfile``) for reference.

With ``--decoders``, it times instead, in this process, the payload walk
(``read_members`` of the tarball and series.conf) with patchsync's own
gzip and xz decoders (raw inflate after its own gzip header parse; xz
blocks decoded as raw LZMA2) against the standard library's checking ones
(zlib in gzip mode as ``gzip`` uses it, with CRC-32 and ISIZE;
``lzma.LZMADecompressor(FORMAT_XZ)``, with the stream's SHA-256): issue 9
asks the own code to justify itself by this measurement.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.machine import machine

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
CORPUS = REPO.parent / "shared" / "corpus" / "suse-xen"
SAMPLE = REPO / "tests" / "data" / "kotd" / "2.6.32.10"
TARBALL = "patches.xen.tar.bz2"
#: rpm's %_source_payload per codec; the levels only change build time on random data.
PAYLOADS = {"gzip": "w9.gzdio", "zstd": "w19.zstdio", "xz": "w2.xzdio", "bzip2": "w9.bzdio", "lzma": "w2.lzdio"}

_RPMFILE = """
import sys, rpmfile
with rpmfile.open(sys.argv[1]) as rpm:
    fh = rpm.extractfile(sys.argv[2])
    open(sys.argv[2], "wb").write(fh.read())
"""


def patches() -> tuple[dict[str, bytes], bytes, str]:
    if CORPUS.is_dir():
        files = {p.name: p.read_bytes() for d in ("v2", "same") for p in sorted((CORPUS / d).iterdir())}
        label = f"{len(files)} real SUSE patches from ../shared/corpus"
    else:
        files = {p.name: p.read_bytes() for p in sorted((SAMPLE / "patches.xen").iterdir())}
        label = f"{len(files)} sample patches"
    series = b"".join(b"+xen\tpatches.xen/" + n.encode() + b"\n" for n in files)
    return files, series, label


def generate(codec: str, size: int) -> Path:
    sys.path.insert(0, str(REPO))
    from tests.rpmbuild import build_with

    dest = OUT / f"{codec}-{size}"
    found = sorted(dest.glob("*.src.rpm"))
    if found:
        return found[0]
    rpmbuild = shutil.which("rpmbuild")
    if rpmbuild is None:
        sys.exit("rpmbuild is needed to generate the benchmark packages")
    files, series, _label = patches()
    print(f"generating {codec} ({size} bytes of filler) ...", file=sys.stderr, flush=True)
    start = time.monotonic()
    path = build_with(
        rpmbuild, dest, patches=files, series_conf=series, payload=PAYLOADS[codec], extra_size=size, codec=codec
    )
    print(f"  {path.name}: {path.stat().st_size} bytes in {time.monotonic() - start:.0f} s", file=sys.stderr)
    return path


#: GNU time reports a child's peak RSS correctly; wait4() on a child forked from this
#: process counts the parent's pages it shared until exec (about 15 MB here).
GNU_TIME = Path("/usr/bin/time")


def run_once(argv: Sequence[str], cwd: Path) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (KiB) of one run, its children included."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    rss_file = cwd / ".maxrss"
    if GNU_TIME.exists():
        argv = [str(GNU_TIME), "-f", "%M", "-o", str(rss_file), *argv]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {err}")
    # Linux reports ru_maxrss in KiB; wait4 includes the children the child waited for.
    rss = int(rss_file.read_text().split()[-1]) if rss_file.exists() else usage.ru_maxrss
    return wall, usage.ru_utime + usage.ru_stime, rss


def measure(name: str, make_argv: object, pkg: Path, runs: int) -> tuple[float, float, float]:
    """Median wall and CPU seconds, and the largest peak RSS in MiB."""
    assert callable(make_argv)
    walls: list[float] = []
    cpus: list[float] = []
    rss: list[int] = []
    for i in range(runs + 1):
        with tempfile.TemporaryDirectory(prefix="bench-", dir=OUT) as tmp:
            wall, cpu, peak = run_once(make_argv(pkg, Path(tmp)), Path(tmp))
        if i:  # the first run warms the page cache
            walls.append(wall)
            cpus.append(cpu)
            rss.append(peak)
    return statistics.median(walls), statistics.median(cpus), max(rss) / 1024


def _stdlib_gzip(src: Any) -> Iterator[bytes]:
    """gzip as the standard library reads it: zlib in gzip mode, CRC-32 and ISIZE checked."""
    import zlib

    from patchsync.rpm import decompress

    dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
    data = src.read_view()
    while data:
        yield dec.decompress(data, decompress.OUT_CHUNK)
        while dec.unconsumed_tail:
            yield dec.decompress(dec.unconsumed_tail, decompress.OUT_CHUNK)
        if dec.eof:
            return
        data = src.read_view()


def _stdlib_xz(src: Any) -> Iterator[bytes]:
    """xz as the standard library reads it: the whole container, its check computed."""
    import lzma

    from patchsync.rpm import decompress

    return decompress._streaming(src, lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ), (lzma.LZMAError,))


def decoders(packages: dict[str, Path], runs: int) -> None:
    """Print the own-versus-standard-library table for the gzip and xz packages."""
    sys.path.insert(0, str(REPO))
    from patchsync.rpm import decompress
    from patchsync.rpm.payload import read_members

    stdlib = {"gzip": _stdlib_gzip, "xz": _stdlib_xz}
    print(f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}; Python {platform.python_version()}.")
    print(f"Median wall and CPU time of {runs} in-process walks (warm page cache) to the tarball and series.conf.\n")
    print("| decoder | " + " | ".join(c for c in packages if c in stdlib) + " |")
    print("|---|" + "---|" * sum(c in stdlib for c in packages))
    rows: dict[str, list[str]] = {"patchsync's own": [], "standard library": []}
    for codec, pkg in packages.items():
        if codec not in stdlib:
            continue
        own = decompress.DECOMPRESSORS[codec]
        for label, fn in (("patchsync's own", own), ("standard library", stdlib[codec])):
            decompress.DECOMPRESSORS[codec] = fn  # type: ignore[assignment]
            walls: list[float] = []
            cpus: list[float] = []
            for i in range(runs + 1):
                wall, cpu = time.perf_counter(), time.process_time()
                read_members(pkg, [TARBALL, "series.conf"])
                if i:  # the first run warms the page cache
                    walls.append(time.perf_counter() - wall)
                    cpus.append(time.process_time() - cpu)
            rows[label].append(f"{statistics.median(walls):.3f} s ({statistics.median(cpus):.3f} s CPU)")
        decompress.DECOMPRESSORS[codec] = own
    for label, cells in rows.items():
        print(f"| {label} | " + " | ".join(cells) + " |")
    print(f"\nLoad average {os.getloadavg()[0]:.1f} at the end.")


def tools() -> dict[str, object]:
    py = sys.executable
    found: dict[str, object] = {
        "patchsync extract": lambda pkg, tmp: [
            py,
            "-m",
            "patchsync",
            "extract",
            str(pkg),
            "--output",
            str(tmp / "o"),
            "-q",
        ],
    }
    if shutil.which("rpm2cpio") and shutil.which("cpio"):
        found["rpm2cpio | cpio -i"] = lambda pkg, tmp: [
            "sh",
            "-c",
            f"rpm2cpio '{pkg}' | cpio -i --quiet {TARBALL}",
        ]
    if shutil.which("bsdtar"):
        found["bsdtar -xf"] = lambda pkg, tmp: ["bsdtar", "-xf", str(pkg), TARBALL]
    found["plain rpmfile"] = lambda pkg, tmp: [py, "-c", _RPMFILE, str(pkg), TARBALL]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--size", type=int, default=150_000_000, help="bytes of random filler")
    parser.add_argument("--codecs", default="gzip,zstd,xz")
    parser.add_argument("--decoders", action="store_true", help="own gzip/xz decoders against the standard library's")
    args = parser.parse_args(argv)
    codecs = args.codecs.split(",")
    OUT.mkdir(parents=True, exist_ok=True)
    packages = {c: generate(c, args.size) for c in codecs}
    if args.decoders:
        decoders(packages, args.runs)
        return 0
    results: dict[str, dict[str, tuple[float, float, float]]] = {}
    for name, make_argv in tools().items():
        for codec, pkg in packages.items():
            results.setdefault(name, {})[codec] = measure(name, make_argv, pkg, args.runs)
            print(f"{name:22} {codec:5} {results[name][codec][0]:.3f} s", file=sys.stderr, flush=True)
    _files, _series, label = patches()
    sizes = ", ".join(f"{c} {p.stat().st_size / 1e6:.0f} MB" for c, p in packages.items())
    print(f"Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}; Python {platform.python_version()}.")
    print(f"Packages: {sizes}; the patch tarball holds {label}.")
    load = os.getloadavg()[0]
    print(
        f"Median wall and CPU (user + system) time of {args.runs} runs with a warm page cache, and the"
        f" peak RSS of any run; load average {load:.1f} at the end.\n"
    )
    print("| command | " + " | ".join(codecs) + " |")
    print("|---|" + "---|" * len(codecs))
    for name, row in results.items():
        cells = [f"{wall:.3f} s ({cpu:.3f} s CPU), {rss:.0f} MB" for wall, cpu, rss in (row[c] for c in codecs)]
        cell = name.replace("|", "\\|")  # a pipe would end the Markdown cell
        print(f"| `{cell}` | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
