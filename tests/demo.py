"""``make demo``: patchsync's main job on a built-in sample, with no internet and no rpmbuild.

Everything happens in a temporary folder that is removed at the end:

1. a sample KOTD mirror (the committed fixture src.rpms, two versions, plus
   packages discovery must ignore) is served on 127.0.0.1 by Python's
   http.server in a thread;
2. ``patchsync fetch`` discovers the newest kernel-source src.rpm there and
   downloads it, verified;
3. ``patchsync extract`` takes patches.xen and series.conf out of it.

Each step runs the real CLI as a subprocess, so what is shown is what a
user would type and see.  New steps (a sample kernel tree, ``check``,
``sync``) go into ``STEPS`` below.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
NEW = "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"
OLD = "kernel-source-2.6.32.9-0.0.1.aaaa111.src.rpm"

#: What a KOTD src/ directory holds besides kernel-source: discovery must skip these.
DECOYS = (
    "kernel-syms-2.6.32.10-0.0.3.bbbb222.src.rpm",
    "kernel-docs-2.6.32.10-0.0.3.bbbb222.src.rpm",
    "kernel-source-vanilla-2.6.32.11-0.0.1.cccc333.src.rpm",
    "kernel-source-2.6.32.11-0.0.1.cccc333.nosrc.rpm",
)


@dataclass
class Demo:
    """State shared by the steps: the temporary root and what earlier steps produced."""

    root: Path
    url: str = ""
    config: Path = Path()
    found: dict[str, str] = field(default_factory=dict)


def say(text: str) -> None:
    print(f"\n\033[1m== {text}\033[0m" if sys.stdout.isatty() else f"\n== {text}", flush=True)


def patchsync(demo: Demo, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the real CLI and show the command line and its output."""
    shown = ["patchsync", *args]
    print("$ " + " ".join(shlex.quote(a) for a in shown).replace(str(demo.root), "$DEMO"), flush=True)
    env = dict(os.environ, PYTHONPATH=str(REPO), PATCHSYNC_CONFIG=str(demo.config))
    result = subprocess.run(
        [sys.executable, "-m", "patchsync", *args], env=env, capture_output=True, text=True, check=False
    )
    for stream in (result.stdout, result.stderr):
        if stream:
            print(stream.replace(str(demo.root), "$DEMO"), end="", flush=True)
    if check and result.returncode != 0:
        raise SystemExit(f"demo: `patchsync {args[0]}` failed with exit status {result.returncode}")
    return result


def make_mirror(root: Path) -> Path:
    mirror = root / "mirror" / "kotd" / "HEAD" / "src"
    mirror.mkdir(parents=True)
    shutil.copy2(DATA / "srpms" / "old" / OLD, mirror / OLD)
    shutil.copy2(DATA / "srpms" / "gzip" / NEW, mirror / NEW)
    for name in DECOYS:
        (mirror / name).write_bytes(b"not the package you are looking for\n")
    return mirror


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` with autoindex on a free 127.0.0.1 port; yields its URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="demo-mirror", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/kotd/HEAD/src/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def step_mirror(demo: Demo) -> None:
    say("A sample KOTD mirror on 127.0.0.1")
    print(f"{demo.url} lists:")
    for path in sorted((demo.root / "mirror" / "kotd" / "HEAD" / "src").iterdir()):
        print(f"  {path.name}")
    demo.config = demo.root / "patchsync.toml"
    demo.config.write_text(
        f'[source]\nurl = "{demo.url}"\ntarball = "patches.xen.tar.bz2"\n[state]\ndir = "{demo.root / "state"}"\n'
    )


def step_fetch(demo: Demo) -> None:
    say("Discover and download the newest kernel-source src.rpm (fetch)")
    result = patchsync(demo, "fetch", "--output", str(demo.root / "downloads"))
    demo.found["src_rpm"] = result.stdout.strip().splitlines()[-1]


def step_extract(demo: Demo) -> None:
    say("Take patches.xen and series.conf out of it (extract), in pure Python")
    src_rpm = demo.found.get("src_rpm") or str(DATA / "srpms" / "gzip" / NEW)
    out = demo.root / "extracted"
    patchsync(demo, "extract", src_rpm, "--output", str(out))
    for path in sorted(out.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(out)}  ({path.stat().st_size} bytes)")
    say("A hostile or damaged src.rpm is refused in one line, and nothing is written")
    bad = demo.root / "truncated.src.rpm"
    bad.write_bytes(Path(src_rpm).read_bytes()[:-100])
    result = patchsync(demo, "extract", str(bad), "--output", str(demo.root / "nope"), check=False)
    print(f"exit status {result.returncode}; $DEMO/nope exists: {(demo.root / 'nope').exists()}")


#: The demo, in order.  TODO(lead): add a sample kernel tree (tests/data/kernel-tree
#: with the 2.6.32.9 patches of tests/data/kotd applied as commits) and the
#: `check` and `sync` steps here.
STEPS: tuple[Callable[[Demo], None], ...] = (step_mirror, step_fetch, step_extract)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="patchsync-demo-") as tmp:
        root = Path(tmp)
        mirror = make_mirror(root)
        with serve(mirror.parents[2]) as url:
            demo = Demo(root=root, url=url)
            for step in STEPS:
                step(demo)
    say("Done; the temporary folder is gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
