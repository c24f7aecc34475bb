"""Benchmark reading a target tree whose branch sits on a long history.

A kernel tree carries the kernel's whole history (over a million commits
for linux.git); a target's patches folder appears only in the patch
commits on top.  Without a ``series`` file, ``check`` orders the patches
by the history that added them.  This builds ``benchmarks/out/history``
once with ``git fast-import``: H commits of history (each changing one of
5,000 files in 50 folders), tagged ``base``, then P patch commits each
adding one file to ``debian.ec2/patches``, and a ``git gc``.  It then times
``read_target`` (what ``check`` and every cycle run per target) with
``base`` set, where only ``base..branch`` is walked, and without ``base``,
where the whole history is.

    python -m benchmarks.history [--history 200000] [--patches 300] [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from benchmarks.machine import machine
from patchsync.config import TargetConfig
from patchsync.gitsync.tree import read_target

OUT = Path(__file__).resolve().parent / "out" / "history"
PATCHES_DIR = "debian.ec2/patches"


def _build(repo: Path, history: int, patches: int) -> None:
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    proc = subprocess.Popen(["git", f"--git-dir={repo}", "fast-import", "--quiet"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out: IO[bytes] = proc.stdin
    for i in range(history):
        data = f"{i}\n".encode()
        out.write(f"commit refs/heads/ec2\ncommitter A <a@example.org> {1_000_000_000 + i} +0000\ndata 2\nc\n".encode())
        out.write(f"M 100644 inline src/d{i % 50}/f{i % 5000}.c\ndata {len(data)}\n".encode() + data + b"\n")
    out.write(b"reset refs/tags/base\nfrom refs/heads/ec2\n\n")
    for j in range(patches):
        data = f"patch {j}\n".encode()
        out.write(f"commit refs/heads/ec2\ncommitter A <a@example.org> {1_300_000_000 + j} +0000\ndata 2\np\n".encode())
        out.write(f"M 100644 inline {PATCHES_DIR}/p{j:04d}.patch\ndata {len(data)}\n".encode() + data + b"\n")
    out.close()
    if proc.wait() != 0:
        raise SystemExit("git fast-import failed")
    subprocess.run(["git", f"--git-dir={repo}", "gc", "-q"], check=True)


def _time(target: TargetConfig, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        tree = read_target(target)
        times.append(time.perf_counter() - started)
    assert tree.order == sorted(tree.files), "history order"
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--history", type=int, default=200_000, help="commits under base")
    parser.add_argument("--patches", type=int, default=300, help="patch commits on top of base")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    repo = OUT / f"h{args.history}-p{args.patches}.git"
    if not repo.exists():
        shutil.rmtree(OUT, ignore_errors=True)
        OUT.mkdir(parents=True)
        print(f"building {repo.name} ...", file=sys.stderr)
        _build(repo, args.history, args.patches)
    common = {"name": "bench", "repo": str(repo), "branch": "ec2", "patches_dir": PATCHES_DIR, "mode": "released"}
    with_base = _time(TargetConfig(**common, base="base"), args.runs)
    without = _time(TargetConfig(**common), args.runs)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}")
    print(f"{args.history:,} commits under base, {args.patches} patch commits; median of {args.runs}")
    print()
    print("| read_target | time |")
    print("|---|---|")
    print(f"| `base` set: walks base..branch | {with_base:.3f} s |")
    print(f"| no `base`: walks all history | {without:.3f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
