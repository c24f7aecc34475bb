"""Benchmark ``patchsync sync`` on a real kernel tree (issue 4, section 7).

Debian's linux-source-6.1 (78,635 files) is imported once as ``base`` into
``benchmarks/out/sync/linux.git`` with ``git fast-import``; on top go 200
patch commits, each changing one source file and adding its patch file
under ``debian.ec2/patches``.  The KOTD changes 20 of those patches, the
first commit's among them, so development mode replays all 200.

Measured, each in a fresh child process (peak RSS from getrusage: the
largest of the Python process and the git processes it ran):
``git rebase --force-rebase base`` replaying the 200 commits in a worktree,
a development-mode sync and a released-mode sync of the same change.

    python -m benchmarks.sync [--runs N] [--source /usr/src/linux-source-6.1.tar.xz]
"""

from __future__ import annotations

import argparse
import difflib
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from benchmarks.machine import machine

OUT = Path(__file__).resolve().parent / "out" / "sync"
REPO = OUT / "linux.git"
SOURCE = Path("/usr/src/linux-source-6.1.tar.xz")
PATCHES_DIR = "debian.ec2/patches"
#: Issue 4, section 7: 200 patch commits, 20 of them changed by the KOTD.
COMMITS = 200
CHANGED = 20
DATE = "1700000000 +0000"


def git(*args: str, repo: Path = REPO, input: bytes | None = None, cwd: Path | None = None) -> bytes:
    cmd = ["git", *args] if cwd else ["git", f"--git-dir={repo}", *args]
    return subprocess.run(cmd, input=input, capture_output=True, check=True, cwd=cwd).stdout


def _data(payload: bytes) -> bytes:
    return b"data %d\n" % len(payload) + payload + b"\n"


def import_base(source: Path) -> None:
    """The kernel tarball as one commit on refs/heads/base, through git fast-import."""
    if (REPO / "refs" / "heads" / "base").exists() or b"base" in git("branch", "--list", "base"):
        return
    print(f"importing {source} (once) ...", file=sys.stderr)
    started = time.monotonic()
    proc = subprocess.Popen(["git", f"--git-dir={REPO}", "fast-import", "--quiet", "--depth=0"], stdin=subprocess.PIPE)
    assert proc.stdin is not None
    out = proc.stdin
    out.write(b"commit refs/heads/base\n")
    out.write(b"author Linux <linux@example.org> " + DATE.encode() + b"\n")
    out.write(b"committer Linux <linux@example.org> " + DATE.encode() + b"\n")
    out.write(_data(b"Linux 6.1 (linux-source-6.1)\n"))
    files = 0
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
            files += 1
    out.close()
    if proc.wait():
        raise SystemExit("git fast-import failed")
    print(f"imported {files} files in {time.monotonic() - started:.1f} s", file=sys.stderr)


def _pick_files(count: int) -> list[str]:
    """``count`` C files spread over the tree (one per directory), deterministic."""
    listing = git("ls-tree", "-r", "--name-only", "base").decode().splitlines()
    seen: set[str] = set()
    picked: list[str] = []
    for path in listing:
        folder = path.rsplit("/", 1)[0]
        if path.endswith(".c") and folder not in seen and path.count("/") >= 2:
            seen.add(folder)
            picked.append(path)
    step = len(picked) // count
    return picked[::step][:count]


def _patch(path: str, old: str, new: str, subject: str) -> bytes:
    head = f"From: SUSE <xen@suse.example>\nSubject: {subject}\nPatch-mainline: n/a\n\n---\n"
    body = "".join(
        difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    )
    return (head + body).encode()


def _changed(text: str, tag: str) -> str:
    lines = text.splitlines(keepends=True)
    at = min(20, len(lines))
    return "".join([*lines[:at], f"/* xen: {tag} */\n", *lines[at:]])


def build_branch() -> tuple[dict[str, bytes], dict[str, bytes], list[str]]:
    """The ec2 branch (200 patch commits) and the tree's and KOTD's patches."""
    paths = _pick_files(COMMITS)
    tree: dict[str, bytes] = {}
    kotd: dict[str, bytes] = {}
    order: list[str] = []
    stream = [b"reset refs/heads/ec2\nfrom refs/heads/base\n\n"]
    for i, path in enumerate(paths):
        old = git("cat-file", "blob", f"base:{path}").decode("utf-8", "surrogateescape")
        name = f"xen3-bench-{i:03d}.diff"
        order.append(name)
        tree[name] = _patch(path, old, _changed(old, f"patch {i}"), name)
        kotd[name] = (
            _patch(path, old, _changed(old, f"patch {i}, v2"), name) if i % (COMMITS // CHANGED) == 0 else tree[name]
        )
        new = _changed(old, f"patch {i}").encode("utf-8", "surrogateescape")
        stream.append(b"commit refs/heads/ec2\n")
        stream.append(b"author Xen <xen@example.org> " + DATE.encode() + b"\n")
        stream.append(b"committer Xen <xen@example.org> " + DATE.encode() + b"\n")
        stream.append(_data(f"UBUNTU: [Xen] {name}\n".encode()))
        stream.append(b"M 100644 inline " + path.encode() + b"\n" + _data(new))
        stream.append(b"M 100644 inline " + f"{PATCHES_DIR}/{name}".encode() + b"\n" + _data(tree[name]))
    git("fast-import", "--quiet", "--force", input=b"".join(stream))
    return tree, kotd, order


CHILD = """
import json, resource, sys, time
from pathlib import Path
from patchsync.config import TargetConfig
from patchsync.gitsync import sync_target
from patchsync.model import PatchDelta, PatchSet, SourceInfo, TargetDrift
spec = json.load(open(sys.argv[1]))
tree = {k: v.encode("latin-1") for k, v in spec["tree"].items()}
kotd = {k: v.encode("latin-1") for k, v in spec["kotd"].items()}
order = spec["order"]
target = TargetConfig(name="bench", repo=spec["repo"], branch="ec2", base="base",
                      patches_dir=spec["patches_dir"], mode=spec["mode"])
source = SourceInfo("https://kotd.example/kernel-source-6.1-1.src.rpm", "kernel-source-6.1-1.src.rpm",
                    "6.1", "1", "patches.xen.tar.bz2", "ab" * 32)
patchset = PatchSet(source, "patches.xen", {"patches.xen/" + n: b for n, b in kotd.items()}, None)
patches = tuple(PatchDelta(n, "unchanged" if tree[n] == kotd[n] else "modified", tree[n], kotd[n]) for n in order)
drift = TargetDrift("bench", spec["mode"], spec["head"], patches, tuple(order), tuple(order))
started = time.perf_counter()
result = sync_target(patchset, target, drift, state_dir=Path(spec["state"]))
elapsed = time.perf_counter() - started
assert result.status == "updated", result.to_json()
rss = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(json.dumps({"seconds": elapsed, "commits": len(result.commits), "rss_mb": rss / 1024}))
"""


def _reset_refs() -> None:
    refs = git("for-each-ref", "--format=%(refname)", "refs/heads/patchsync/", "refs/patchsync/").decode().split()
    for ref in refs:
        git("update-ref", "-d", ref)


def run_sync(mode: str, spec: dict[str, object]) -> dict[str, float]:
    _reset_refs()
    spec_path = OUT / f"spec-{mode}.json"
    spec_path.write_text(json.dumps({**spec, "mode": mode}))
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(spec_path)], capture_output=True, check=True, cwd=root, text=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run_rebase() -> dict[str, float]:
    work = OUT / "rebase-worktree"
    if work.exists():
        git("worktree", "remove", "--force", str(work))
    git("worktree", "add", "-q", "--detach", str(work), "ec2")
    try:
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        subprocess.run(
            [
                "git",
                "-c",
                "user.name=Bench",
                "-c",
                "user.email=bench@example.org",
                "rebase",
                "-q",
                "--force-rebase",
                "base",
            ],
            cwd=work,
            check=True,
            capture_output=True,
        )
        elapsed = time.perf_counter() - started
        rss = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    finally:
        git("worktree", "remove", "--force", str(work))
    return {"seconds": elapsed, "rss_mb": rss / 1024}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--skip-rebase", action="store_true")
    args = parser.parse_args()
    if not REPO.exists():
        REPO.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", str(REPO)], check=True)
    import_base(args.source)
    tree, kotd, order = build_branch()
    files = int(git("ls-tree", "-r", "base").count(b"\n"))
    head = git("rev-parse", "refs/heads/ec2").decode().strip()
    state = OUT / "state"
    shutil.rmtree(state, ignore_errors=True)
    spec = {
        "repo": str(REPO),
        "head": head,
        "state": str(state),
        "patches_dir": PATCHES_DIR,
        "order": order,
        "tree": {k: v.decode("latin-1") for k, v in tree.items()},
        "kotd": {k: v.decode("latin-1") for k, v in kotd.items()},
    }
    print(f"{time.strftime('%Y-%m-%d')}, {machine()}; base: {files} files; {COMMITS} commits, {CHANGED} changed")
    results: dict[str, list[dict[str, float]]] = {"development": [], "released": [], "rebase": []}
    for _ in range(args.runs):
        results["development"].append(run_sync("development", spec))
        results["released"].append(run_sync("released", spec))
    if not args.skip_rebase:
        results["rebase"].append(run_rebase())
    _reset_refs()
    for name, runs in results.items():
        if not runs:
            continue
        seconds = statistics.median(r["seconds"] for r in runs)
        rss = max(r["rss_mb"] for r in runs)
        extra = f", {int(runs[0]['commits'])} commits written" if "commits" in runs[0] else ""
        print(f"{name:12} median {seconds:6.2f} s over {len(runs)} run(s), peak RSS {rss:5.0f} MB{extra}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
