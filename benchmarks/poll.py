#!/usr/bin/env python3
"""Issue 6 and 12 benchmark: what a poll costs, first and repeated, against nginx on 127.0.0.1.

Builds a ~150 MB kernel-source src.rpm (random "linux tarball" + the patch
tarball, gzip payload; not committed), serves it with nginx and measures,
with bytes counted from nginx's access log:

* the first obtain (empty state: full download, verify, extract),
* a repeat obtain of the same file (header probe, tarball cache hit),
* a new release with the same tarball (header only),
* a repeat when the listing is unchanged (repodata answering 304),

once unsigned with ``source.keys`` empty, and once with both src.rpms
signed by ``rpmsign`` (an RSA-4096 key made by gpg for the run) and
``repomd.xml.asc`` signed too, with ``source.keys`` naming that key: the
difference is what verification costs.  The header signature check alone
is timed too (RSA-4096 and Ed25519, median of many).

Run from the source tree: ``python benchmarks/poll.py [--size-mb 150]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine
from patchsync import config as configmod
from patchsync.rpm.header import parse_headers
from patchsync.rpm.signature import load_keyring, verify_header
from patchsync.source import obtain
from tests.rpmbuild import build_srpm
from tests.servers import LogEntry, start_nginx, stop
from tests.signing import GnuPG

PATCHES = {f"xen3-patch-{i:03d}": (f"--- a/f{i}\n+++ b/f{i}\n@@ -1 +1 @@\n-a\n+b\n" * 50).encode() for i in range(300)}
Row = tuple[str, str, str, str, str]


def run(
    config: configmod.Config, server_log: Callable[[], list[LogEntry]], label: str, keys: str, rows: list[Row]
) -> None:
    before = len(server_log())
    started = time.perf_counter()
    result = obtain(config)
    wall = time.perf_counter() - started
    sent = sum(e.bytes_sent for e in server_log()[before:])
    signer = "verified" if result.source.signature else "unchecked"
    rows.append((label, keys, f"{result.source.payload}, {signer}", f"{sent:,}", f"{wall:.3f}"))
    print(f"{label:40} {keys:6} {result.source.payload:10} {signer:9} {sent:>14,} B {wall:7.3f} s", flush=True)


def polls(
    work: Path, name: str, srpms: tuple[Path, Path], *, keys: list[Path], signer: tuple[GnuPG, str] | None, repeat: int
) -> list[Row]:
    """The poll sequence against a fresh mirror and a fresh state.dir; ``signer`` signs repomd.xml."""
    src = work / name / "www" / "src"
    src.mkdir(parents=True)
    first, rebuild = srpms
    shutil.copyfile(first, src / first.name)
    server = start_nginx(work / name / "www", work / name / "nginx")
    label = "yes" if keys else "no"
    rows: list[Row] = []
    try:
        source = {"url": server.url + "src/", "keys": [str(k) for k in keys]}
        config = configmod.parse({"source": source, "state": {"dir": str(work / name / "state")}}, "bench")
        run(config, server.log, "first poll (empty state)", label, rows)
        walls = []
        for i in range(repeat):
            run(config, server.log, f"repeat poll, same file ({i + 1})", label, rows)
            walls.append(float(rows[-1][4]))
        print(f"median repeat: {statistics.median(walls):.3f} s")
        shutil.copyfile(rebuild, src / rebuild.name)
        run(config, server.log, "new release, same tarball", label, rows)
        subprocess.run(["createrepo_c", "--quiet", str(src)], check=True)
        if signer is not None:
            repomd = src / "repodata" / "repomd.xml"
            signer[0].sign_detached(repomd, signer[1], repomd.with_name("repomd.xml.asc"))
        run(config, server.log, "repodata added (first metadata fetch)", label, rows)
        run(config, server.log, "repodata unchanged (304)", label, rows)
    finally:
        stop(server.process)
    return rows


def verify_cost(gnupg: GnuPG, work: Path, unsigned: Path, count: int) -> list[tuple[str, float]]:
    """Median seconds of one verify_header() on a parsed header, per key algorithm."""
    out = []
    for algo in ("rsa4096", "ed25519"):
        uid = f"Bench {algo} <{algo}@bench.invalid>"
        fpr = gnupg.generate(uid, algo)
        cert = gnupg.export(fpr, work / f"{algo}.asc")
        signed = gnupg.sign_rpm(unsigned, fpr, work / f"{algo}.src.rpm")
        with signed.open("rb") as fh:
            headers = parse_headers(fh.read(1 << 20), signed.name)
        keyring = load_keyring([cert])
        times = []
        for _ in range(count):
            started = time.perf_counter()
            verify_header(headers, keyring)
            times.append(time.perf_counter() - started)
        out.append((algo, statistics.median(times)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3, help="repeat polls to take the median of")
    parser.add_argument("--verify-count", type=int, default=200, help="header verifications to take the median of")
    args = parser.parse_args()
    gpg = shutil.which("gpg")
    if gpg is None:
        parser.error("gpg is needed to make the signing key")
    with tempfile.TemporaryDirectory(prefix="patchsync-poll-") as tmp:
        work = Path(tmp)
        print(f"building two {args.size_mb} MB src.rpms ...", flush=True)
        first = build_srpm(work / "build", patches=PATCHES, release="0.0.1.a", extra_size=args.size_mb * 2**20)
        rebuild = build_srpm(work / "build", patches=PATCHES, release="0.0.2.b", extra_size=args.size_mb * 2**20)
        print(f"src.rpm: {first.stat().st_size:,} bytes")
        gnupg = GnuPG(work / "g", gpg)
        try:
            fpr = gnupg.generate("Bench KOTD <kotd@bench.invalid>", "rsa4096")
            cert = gnupg.export(fpr, work / "kotd.asc")
            (work / "signed").mkdir()
            signed = [gnupg.sign_rpm(p, fpr, work / "signed" / p.name) for p in (first, rebuild)]
            rows = polls(work, "unsigned", (first, rebuild), keys=[], signer=None, repeat=args.repeat)
            rows += polls(work, "signed", (signed[0], signed[1]), keys=[cert], signer=(gnupg, fpr), repeat=args.repeat)
            costs = verify_cost(gnupg, work, first, args.verify_count)
        finally:
            gnupg.close()
    print()
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print("| poll | source.keys | payload, signature | bytes sent (nginx log) | wall (s) |")
    print("|---|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print("| header signature | verify_header() median (ms) |")
    print("|---|---:|")
    for algo, seconds in costs:
        print(f"| {algo} | {seconds * 1000:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
