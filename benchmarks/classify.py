"""Benchmark: classify 10,000 patch pairs, and read 1,000 patches from a branch.

Run by hand from the source tree (``python -m benchmarks.classify``); it
prints a Markdown table for docs/benchmarks.md.  Pairs are generated from the real
SUSE patches in ``../shared/corpus/suse-xen`` (read in place): a unique
header line makes every patch distinct bytes, so nothing is shared or
cached between pairs.

* a realistic day: 95 % of the pairs byte-identical, 5 % changed (the
  corpus' v1/v2 pairs); the target is under 2 s;
* the worst case: every pair changed;
* patchutils' ``interdiff`` over a sample of the same pairs, extrapolated
  to 10,000 (one process per pair, as a shell loop would run it);
* ``read_patches`` on a branch carrying 1,000 patch files, with the git
  processes it starts counted through ``GIT_TRACE``, next to a
  ``git show`` per file.
"""

from __future__ import annotations

import gc
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from benchmarks.machine import machine
from patchsync.compare import compare
from patchsync.gitsync.tree import read_patches

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "suse-xen"
PAIRS = 10_000
CHANGED_SHARE = 0.05
INTERDIFF_SAMPLE = 200
TREE_FILES = 1_000

T = TypeVar("T")


def corpus_pairs() -> tuple[list[tuple[bytes, bytes]], list[bytes]]:
    """(v1, v2) pairs, and every corpus file, from the real patches."""
    if not CORPUS.is_dir():
        sys.exit(f"corpus not found at {CORPUS}")
    pairs = [(p.read_bytes(), (CORPUS / "v2" / p.name).read_bytes()) for p in sorted((CORPUS / "v1").iterdir())]
    singles = [p.read_bytes() for d in ("v1", "v2", "same") for p in sorted((CORPUS / d).iterdir())]
    return pairs, singles


def generate(changed_share: float) -> tuple[dict[str, bytes], dict[str, bytes], list[str]]:
    """KOTD and tree files for PAIRS patches, ``changed_share`` of them changed."""
    pairs, singles = corpus_pairs()
    kotd: dict[str, bytes] = {}
    tree: dict[str, bytes] = {}
    order: list[str] = []
    every = round(1 / changed_share) if changed_share else 0
    for i in range(PAIRS):
        name = f"xen3-bench-{i:05d}.diff"
        tag = f"X-Bench: {i}\n".encode()
        if every and i % every == 0:
            old, new = pairs[(i // every) % len(pairs)]
            tree[name], kotd[name] = tag + old, tag + new
        else:
            data = singles[i % len(singles)]
            # Two equal but distinct objects: the identity check must compare bytes.
            tree[name], kotd[name] = tag + data, b"".join([tag, data])
        order.append(name)
    return kotd, tree, order


def timed(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    best = float("inf")
    result: T | None = None
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def peak_memory(fn: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def bench_compare(label: str, share: float, rows: list[tuple[str, str, str]]) -> None:
    kotd, tree, order = generate(share)
    for details in (False, True):
        # The worst case with interdiffs takes a minute: once is enough.
        repeat = 1 if share == 1.0 and details else 3
        seconds, result = timed(lambda d=details: compare(kotd, order, tree, order, details=d), repeat)  # type: ignore[misc]
        peak = peak_memory(lambda d=details: compare(kotd, order, tree, order, details=d))  # type: ignore[misc]
        changed = sum(1 for p in result.patches if p.status != "unchanged")
        what = "statuses + interdiffs (`check -v`)" if details else "statuses (`check`)"
        rows.append(
            (f"{label}: {PAIRS:,} pairs, {changed:,} changed, {what}", f"{seconds:.2f} s", f"{peak / 2**20:.0f} MiB")
        )


def bench_interdiff(rows: list[tuple[str, str, str]]) -> None:
    tool = shutil.which("interdiff")
    if tool is None:
        rows.append(("patchutils interdiff", "not installed", ""))
        return
    pairs, singles = corpus_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        jobs: list[tuple[Path, Path]] = []
        for i in range(INTERDIFF_SAMPLE):
            old, new = pairs[i % len(pairs)] if i % 2 else (singles[i % len(singles)],) * 2
            a, b = root / f"{i}.old", root / f"{i}.new"
            a.write_bytes(old)
            b.write_bytes(new)
            jobs.append((a, b))
        changed_jobs = jobs[1::2]
        same_jobs = jobs[0::2]

        def run(batch: list[tuple[Path, Path]]) -> int:
            for a, b in batch:
                subprocess.run([tool, "-p1", str(a), str(b)], capture_output=True, check=False)
            return len(batch)

        t_changed, _ = timed(lambda: run(changed_jobs), repeat=1)
        t_same, _ = timed(lambda: run(same_jobs), repeat=1)
    per_changed = t_changed / len(changed_jobs)
    per_same = t_same / len(same_jobs)
    day = per_same * PAIRS * (1 - CHANGED_SHARE) + per_changed * PAIRS * CHANGED_SHARE
    rows.append(
        (
            f"patchutils `interdiff -p1`, one process per pair: realistic day "
            f"(extrapolated from {len(same_jobs)} identical + {len(changed_jobs)} changed pairs)",
            f"{day:.1f} s",
            "",
        )
    )
    rows.append(
        ("patchutils `interdiff -p1`: worst case, all changed (extrapolated)", f"{per_changed * PAIRS:.1f} s", "")
    )


def bench_tree(rows: list[tuple[str, str, str]]) -> None:
    _, singles = corpus_pairs()
    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "tree.git"
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        # One fast-import stream: a commit per patch, as a target tree has.
        stream: list[bytes] = []
        for i in range(TREE_FILES):
            data = f"X-Bench: {i}\n".encode() + singles[i % len(singles)]
            msg = f"UBUNTU: [Xen] patch {i}".encode()
            stream.append(b"commit refs/heads/ec2\n")
            stream.append(b"committer Bench <bench@example.org> 1700000000 +0000\n")
            stream.append(b"data %d\n%s\n" % (len(msg), msg))
            stream.append(b"M 100644 inline debian.ec2/patches/p%05d.diff\n" % i)
            stream.append(b"data %d\n%s\n" % (len(data), data))
        subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=b"".join(stream), check=True)
        seconds, tp = timed(lambda: read_patches(str(repo), "ec2", "debian.ec2/patches"))
        # GIT_TRACE logs one "built-in" line per git process started.
        trace = Path(tmp) / "trace"
        os.environ["GIT_TRACE"] = str(trace)
        try:
            read_patches(str(repo), "ec2", "debian.ec2/patches")
        finally:
            del os.environ["GIT_TRACE"]
        started = sum(1 for line in trace.read_text().splitlines() if "trace: built-in: git" in line)
        assert len(tp.files) == TREE_FILES
        rows.append(
            (
                f"`read_patches`: {TREE_FILES:,} patch files and their history order from a bare branch",
                f"{seconds:.2f} s",
                f"{started} git processes",
            )
        )
        names = list(tp.files)[:100]

        def per_file() -> int:
            for n in names:
                subprocess.run(
                    ["git", "show", f"ec2:debian.ec2/patches/{n}"], cwd=repo, capture_output=True, check=True
                )
            return len(names)

        t_show, _ = timed(per_file, repeat=1)
        rows.append(
            (
                f"for comparison: `git show` per file (extrapolated from 100 to {TREE_FILES:,})",
                f"{t_show * TREE_FILES / len(names):.2f} s",
                f"{TREE_FILES:,} git processes",
            )
        )


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    bench_compare("realistic day", CHANGED_SHARE, rows)
    bench_compare("worst case", 1.0, rows)
    bench_interdiff(rows)
    bench_tree(rows)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}, Python {platform.python_version()}.")
    print(f"Peak RSS of the whole benchmark process: {maxrss / 1024:.0f} MiB.\n")
    print("| what | time | memory / processes |")
    print("|---|---|---|")
    for what, t, extra in rows:
        print(f"| {what} | {t} | {extra} |")


if __name__ == "__main__":
    main()
