#!/usr/bin/env python3
"""Issue 6 benchmark: what a poll costs, first and repeated, against nginx on 127.0.0.1.

Builds a ~150 MB kernel-source src.rpm (random "linux tarball" + the patch
tarball, gzip payload; not committed), serves it with nginx and measures,
with bytes counted from nginx's access log:

* the first obtain (empty state: full download, verify, extract),
* a repeat obtain of the same file (header probe, tarball cache hit),
* a new release with the same tarball (header only),
* a repeat when the listing is unchanged (repodata answering 304).

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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.machine import machine
from patchsync import config as configmod
from patchsync.source import obtain
from tests.rpmbuild import build_srpm
from tests.servers import start_nginx, stop

PATCHES = {f"xen3-patch-{i:03d}": (f"--- a/f{i}\n+++ b/f{i}\n@@ -1 +1 @@\n-a\n+b\n" * 50).encode() for i in range(300)}


def run(config: configmod.Config, server_log: object, label: str, rows: list[tuple[str, str, str, str]]) -> None:
    before = len(server_log())  # type: ignore[operator]
    started = time.perf_counter()
    result = obtain(config)
    wall = time.perf_counter() - started
    sent = sum(e.bytes_sent for e in server_log()[before:])  # type: ignore[operator]
    rows.append((label, result.source.payload, f"{sent:,}", f"{wall:.2f}"))
    print(f"{label:45} {result.source.payload:10} {sent:>14,} B {wall:6.2f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3, help="repeat polls to take the median of")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="patchsync-poll-") as tmp:
        work = Path(tmp)
        src = work / "www" / "src"
        src.mkdir(parents=True)
        print(f"building two {args.size_mb} MB src.rpms ...", flush=True)
        first = build_srpm(work / "build", patches=PATCHES, release="0.0.1.a", extra_size=args.size_mb * 2**20)
        rebuild = build_srpm(work / "build", patches=PATCHES, release="0.0.2.b", extra_size=args.size_mb * 2**20)
        shutil.copyfile(first, src / first.name)
        server = start_nginx(work / "www", work / "nginx")
        rows: list[tuple[str, str, str, str]] = []
        try:
            config = configmod.parse(
                {"source": {"url": server.url + "src/"}, "state": {"dir": str(work / "state")}}, "bench"
            )
            print(f"src.rpm: {first.stat().st_size:,} bytes")
            run(config, server.log, "first poll (empty state)", rows)
            walls = []
            for i in range(args.repeat):
                run(config, server.log, f"repeat poll, same file ({i + 1})", rows)
                walls.append(float(rows[-1][3]))
            print(f"median repeat: {statistics.median(walls):.2f} s")
            shutil.copyfile(rebuild, src / rebuild.name)
            run(config, server.log, "new release, same tarball", rows)
            subprocess.run(["createrepo_c", "--quiet", str(src)], check=True)
            run(config, server.log, "repodata added (first metadata fetch)", rows)
            run(config, server.log, "repodata unchanged (304)", rows)
        finally:
            stop(server.process)
    print()
    print(f"machine: {machine()}; {time.strftime('%Y-%m-%d')}")
    print("| poll | payload | bytes sent (nginx log) | wall (s) |")
    print("|---|---|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
