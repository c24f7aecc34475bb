"""Benchmark ``patchsync sync`` and ``check`` on a kernel tree (issues 4 and 16).

Debian's linux-source-6.1 (78,635 files) is imported once as ``base`` into
``benchmarks/out/sync/linux.git`` with ``git fast-import``; where that
tarball is missing (or with ``--synthetic``) a generated tree of the same
shape stands in.  On top go branches of N patch commits (``ec2-N``), each
changing one source file and adding its patch file under
``debian.ec2/patches``, so that folder is one flat tree of N entries.

Scenarios, per N: the KOTD changes every tenth patch, the first among them
(``tenth``: development mode rewrites all N commits), only the first patch
(``first``: all N rewritten, one patch swapped) or only the last
(``last``: one commit rewritten).  Each sync runs in a fresh child process
and is measured for wall time, peak RSS (the largest of the Python
process's VmHWM and the git processes it ran) and the bytes it added under
``objects/`` (the new pack is deleted again before the next run).  Next to
those, once per scenario, what changed: the size of the pack ``git
pack-objects --no-reuse-object`` makes of the objects the new head has and
the branch lacks (deltas searched afresh, whatever sync stored).
``check`` is timed as ``read_target`` and ``compare_target`` on the same branch.

    python -m benchmarks.sync [--runs 3] [--commits 200,1000,3000] [--synthetic]
        [--scenarios tenth,first,last] [--modes development,released,check] [--rebase]
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import IO

from benchmarks.machine import machine

OUT = Path(__file__).resolve().parent / "out" / "sync"
SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")
PATCHES_DIR = "debian.ec2/patches"
DATE = "1700000000 +0000"
SCENARIOS = ("tenth", "first", "last")
MODES = ("development", "released", "check")

#: The synthetic stand-in for the kernel tree: folders and files like Linux 6.1's.
SYNTHETIC_DIRS = 4_900
SYNTHETIC_FILES_PER_DIR = 16


def git(repo: Path, *args: str, input: bytes | None = None, cwd: Path | None = None) -> bytes:
    cmd = ["git", *args] if cwd else ["git", f"--git-dir={repo}", *args]
    return subprocess.run(cmd, input=input, capture_output=True, check=True, cwd=cwd).stdout


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def _fast_import(repo: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["git", f"--git-dir={repo}", "fast-import", "--quiet", "--depth=0"], stdin=subprocess.PIPE)


def _base_commit(out: IO[bytes]) -> None:
    out.write(b"commit refs/heads/base\n")
    out.write(b"author Linux <linux@example.org> " + DATE.encode() + b"\n")
    out.write(b"committer Linux <linux@example.org> " + DATE.encode() + b"\n")


def import_kernel(repo: Path, source: Path) -> None:
    """The kernel tarball as one commit on refs/heads/base, through git fast-import."""
    print(f"importing {source} (once) ...", file=sys.stderr)
    proc = _fast_import(repo)
    assert proc.stdin is not None
    out = proc.stdin
    _base_commit(out)
    out.write(_data(b"Linux 6.1 (linux-source-6.1)\n"))
    with tarfile.open(source, "r|xz") as tar:
        for member in tar:
            if not (member.isfile() or member.issym()):
                continue
            path = member.name.split("/", 1)[1] if "/" in member.name else member.name
            if member.issym():
                mode, payload = b"120000", member.linkname.encode()
            else:
                fh = tar.extractfile(member)
                assert fh is not None
                payload = fh.read()
                mode = b"100755" if member.mode & 0o111 else b"100644"
            out.write(b"M " + mode + b" inline " + path.encode() + b"\n" + _data(payload))
    out.close()
    if proc.wait():
        raise SystemExit("git fast-import failed")


def import_synthetic(repo: Path) -> None:
    """A generated tree shaped like Linux 6.1: 4,900 folders of 16 C files, three levels deep."""
    print("importing a synthetic kernel-like tree (once) ...", file=sys.stderr)
    proc = _fast_import(repo)
    assert proc.stdin is not None
    out = proc.stdin
    _base_commit(out)
    out.write(_data(b"Synthetic tree shaped like Linux 6.1\n"))
    for d in range(SYNTHETIC_DIRS):
        folder = f"drivers/sub{d % 70:02d}/dev{d:04d}"
        for f in range(SYNTHETIC_FILES_PER_DIR):
            lines = [f"/* {folder}/file{f:02d}.c */\n"]
            lines += [f"static int f{d}_{f}_{i}(int x)\n{{\n\treturn x + {i * d + f};\n}}\n\n" for i in range(60)]
            out.write(b"M 100644 inline " + f"{folder}/file{f:02d}.c".encode() + b"\n" + _data("".join(lines).encode()))
    out.close()
    if proc.wait():
        raise SystemExit("git fast-import failed")


def _pick_files(repo: Path, count: int) -> list[str]:
    """``count`` C files spread over the tree (one per folder while folders last), deterministic."""
    listing = git(repo, "ls-tree", "-r", "--name-only", "base").decode().splitlines()
    candidates = [p for p in listing if p.endswith(".c") and p.count("/") >= 2]
    seen: set[str] = set()
    first: list[str] = []
    for path in candidates:
        folder = path.rsplit("/", 1)[0]
        if folder not in seen:
            seen.add(folder)
            first.append(path)
    pool = first if len(first) >= count else candidates
    return [pool[i * len(pool) // count] for i in range(count)]


def _patch(path: str, old: str, new: str, subject: str) -> bytes:
    head = f"From: SUSE <xen@suse.example>\nSubject: {subject}\nPatch-mainline: n/a\n\n---\n"
    body = "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    )
    return (head + body).encode("utf-8", "surrogateescape")


def _changed(text: str, tag: str) -> str:
    lines = text.splitlines(keepends=True)
    at = min(20, len(lines))
    return "".join([*lines[:at], f"/* xen: {tag} */\n", *lines[at:]])


def _blobs(repo: Path, paths: list[str]) -> list[str]:
    """Contents of base:PATH for each path, through one ``git cat-file --batch``."""
    out = git(repo, "cat-file", "--batch", input="".join(f"base:{p}\n" for p in paths).encode())
    texts: list[str] = []
    pos = 0
    for _ in paths:
        nl = out.index(b"\n", pos)
        size = int(out[pos:nl].split()[2])
        texts.append(out[nl + 1 : nl + 1 + size].decode("utf-8", "surrogateescape"))
        pos = nl + 2 + size
    return texts


def build_branch(repo: Path, commits: int) -> dict[str, object]:
    """Branch ec2-N (N patch commits on base); the tree's patches, the KOTD's v2 ones, the order."""
    branch = f"ec2-{commits}"
    paths = _pick_files(repo, commits)
    olds = _blobs(repo, paths)
    tree: dict[str, str] = {}
    kotd: dict[str, str] = {}
    order: list[str] = []
    stream = [f"reset refs/heads/{branch}\nfrom refs/heads/base\n\n".encode()]
    for i, (path, old) in enumerate(zip(paths, olds, strict=True)):
        name = f"xen3-bench-{i:04d}.diff"
        order.append(name)
        patch = _patch(path, old, _changed(old, f"patch {i}"), name)
        tree[name] = patch.decode("latin-1")
        kotd[name] = _patch(path, old, _changed(old, f"patch {i}, v2"), name).decode("latin-1")
        new = _changed(old, f"patch {i}").encode("utf-8", "surrogateescape")
        stream.append(f"commit refs/heads/{branch}\n".encode())
        stream.append(b"author Xen <xen@example.org> " + DATE.encode() + b"\n")
        stream.append(b"committer Xen <xen@example.org> " + DATE.encode() + b"\n")
        stream.append(_data(f"UBUNTU: [Xen] {name}\n".encode()))
        stream.append(b"M 100644 inline " + path.encode() + b"\n" + _data(new))
        stream.append(b"M 100644 inline " + f"{PATCHES_DIR}/{name}".encode() + b"\n" + _data(patch))
    git(repo, "fast-import", "--quiet", "--force", input=b"".join(stream))
    head = git(repo, "rev-parse", f"refs/heads/{branch}").decode().strip()
    return {"branch": branch, "head": head, "order": order, "tree": tree, "v2": kotd}


def changed_indexes(scenario: str, commits: int) -> list[int]:
    if scenario == "tenth":
        return list(range(0, commits, 10))
    return [0] if scenario == "first" else [commits - 1]


CHILD = """
import json, resource, sys, time
from pathlib import Path
from patchsync.compare import compare_target
from patchsync.gitsync.tree import read_target
from patchsync.config import TargetConfig
from patchsync.gitsync import sync_target
from patchsync.model import PatchDelta, PatchSet, SourceInfo, TargetDrift
spec = json.load(open(sys.argv[1]))
tree = {k: v.encode("latin-1") for k, v in spec["tree"].items()}
kotd = dict(tree)
for i in spec["changed"]:
    name = spec["order"][i]
    kotd[name] = spec["v2"][name].encode("latin-1")
order = spec["order"]
mode = spec["mode"]
target = TargetConfig(name="bench", repo=spec["repo"], branch=spec["branch"], base="base",
                      patches_dir=spec["patches_dir"], mode="released" if mode == "check" else mode)
source = SourceInfo("https://kotd.example/kernel-source-6.1-1.src.rpm", "kernel-source-6.1-1.src.rpm",
                    "6.1", "1", "patches.xen.tar.bz2", "ab" * 32)
patchset = PatchSet(source, "patches.xen", {"patches.xen/" + n: b for n, b in kotd.items()}, None)
started = time.perf_counter()
if mode == "check":
    drift = compare_target(patchset, target, read_target(target), details=False)
    assert sum(p.status != "unchanged" for p in drift.patches) == len(spec["changed"]), drift
    commits = 0
else:
    patches = tuple(PatchDelta(n, "unchanged" if tree[n] == kotd[n] else "modified", tree[n], kotd[n]) for n in order)
    drift = TargetDrift("bench", mode, spec["head"], patches, tuple(order), tuple(order))
    result = sync_target(patchset, target, drift, state_dir=Path(spec["state"]))
    assert result.status == "updated", result
    commits = len(result.commits)
elapsed = time.perf_counter() - started
# VmHWM, not RUSAGE_SELF: the latter counts the benchmark's own memory,
# which this process had between fork and exec.
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
rss = max(hwm, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"seconds": elapsed, "commits": commits, "rss_mb": rss / 1024}))
"""


def _objects_size(repo: Path) -> int:
    return sum(f.stat().st_size for f in (repo / "objects").rglob("*") if f.is_file())


def _reset(repo: Path, packs: set[Path]) -> None:
    """Drop what a sync wrote: its refs and the pack it added."""
    refs = git(repo, "for-each-ref", "--format=%(refname)", "refs/heads/patchsync/", "refs/patchsync/").decode()
    for ref in refs.split():
        git(repo, "update-ref", "-d", ref)
    for f in (repo / "objects" / "pack").iterdir():
        if f not in packs:
            f.unlink()
    for f in (repo / "objects").glob("[0-9a-f][0-9a-f]/*"):
        f.unlink()


def _pack_size(repo: Path, head: str, old: str) -> int:
    """What git makes of the objects ``head`` has and ``old`` lacks: a pack searched for deltas afresh."""
    args = ["pack-objects", "--revs", "--stdout", "--delta-base-offset", "--no-reuse-object"]
    return len(git(repo, *args, input=f"{head}\n^{old}\n".encode()))


def run_one(repo: Path, spec: dict[str, object], mode: str, *, measure_pack: bool) -> dict[str, float]:
    packs = set((repo / "objects" / "pack").iterdir())
    before = _objects_size(repo)
    spec_path = Path(str(spec["state"])).parent / "spec.json"
    spec_path.write_text(json.dumps({**spec, "mode": mode}))
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec_path)], check=False, capture_output=True, cwd=root, text=True
    )
    if proc.returncode:
        raise SystemExit(f"benchmark child failed:\n{proc.stderr}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    result["added"] = _objects_size(repo) - before
    if measure_pack and mode != "check":
        head = git(repo, "rev-parse", "refs/heads/patchsync/bench").decode().strip()
        result["changed"] = _pack_size(repo, head, str(spec["head"]))
    _reset(repo, packs)
    shutil.rmtree(str(spec["state"]), ignore_errors=True)
    return result


def run_rebase(repo: Path, branch: str) -> dict[str, float]:
    work = repo.parent / "rebase-worktree"
    if work.exists():
        git(repo, "worktree", "remove", "--force", str(work))
    git(repo, "worktree", "add", "-q", "--detach", str(work), branch)
    try:
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        ident = ["-c", "user.name=Bench", "-c", "user.email=bench@example.org"]
        subprocess.run(
            ["git", *ident, "rebase", "-q", "--force-rebase", "base"], cwd=work, check=True, capture_output=True
        )
        elapsed = time.perf_counter() - started
        rss = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    finally:
        git(repo, "worktree", "remove", "--force", str(work))
    return {"seconds": elapsed, "rss_mb": rss / 1024}


def _kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--commits", default="200,1000,3000", help="comma-separated branch lengths")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--synthetic", action="store_true", help="a generated tree even where the tarball exists")
    parser.add_argument("--rebase", action="store_true", help="also time git rebase of the longest branch")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--out", type=Path, default=OUT, help="where the repositories go (default: %(default)s)")
    args = parser.parse_args()
    synthetic = args.synthetic or not args.source.exists()
    repo = args.out / ("synthetic.git" if synthetic else "linux.git")
    if not (repo / "refs" / "heads" / "base").exists() and not (repo / "packed-refs").exists():
        shutil.rmtree(repo, ignore_errors=True)
        repo.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
        import_synthetic(repo) if synthetic else import_kernel(repo, args.source)
    files = int(git(repo, "ls-tree", "-r", "base").count(b"\n"))
    load = os.getloadavg()[0]
    what = "synthetic tree" if synthetic else str(args.source.name)
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {machine()}, load average {load:.1f}")
    print(f"base: {what}, {files} files; median of {args.runs} run(s)")
    print()
    print("| N | mode | scenario | commits written | time | peak RSS | added | git's pack of the new objects |")
    print("|---|---|---|---|---|---|---|---|")
    everything: list[dict[str, object]] = []
    for commits in (int(n) for n in args.commits.split(",")):
        branch = build_branch(repo, commits)
        spec = {**branch, "repo": str(repo), "state": str(args.out / "state"), "patches_dir": PATCHES_DIR}
        for mode in args.modes.split(","):
            for scenario in args.scenarios.split(",") if mode != "check" else ["tenth"]:
                spec["changed"] = changed_indexes(scenario, commits)
                runs = [run_one(repo, spec, mode, measure_pack=i == 0) for i in range(args.runs)]
                seconds = statistics.median(r["seconds"] for r in runs)
                rss = max(r["rss_mb"] for r in runs)
                added = statistics.median(r["added"] for r in runs)
                changed = _kib(runs[0]["changed"]) if "changed" in runs[0] else ""
                written = int(runs[0]["commits"])
                print(
                    f"| {commits:,} | {mode} | {scenario} | {written:,} | {seconds:.2f} s | {rss:.0f} MB "
                    f"| {_kib(added)} | {changed} |",
                    flush=True,
                )
                everything.append({"commits": commits, "mode": mode, "scenario": scenario, "runs": runs})
        if args.rebase and commits == max(int(n) for n in args.commits.split(",")):
            r = run_rebase(repo, str(branch["branch"]))
            print(f"git rebase --force-rebase of {commits} commits: {r['seconds']:.2f} s, {r['rss_mb']:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps(everything, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
