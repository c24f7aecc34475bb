"""``make demo``: patchsync's main job on a built-in sample, with no internet and no rpmbuild.

Everything happens in a temporary folder that is removed at the end:

1. a sample KOTD mirror (the committed fixture src.rpms, two versions, plus
   packages discovery must ignore) is served on 127.0.0.1 by Python's
   http.server in a thread; its src.rpms are signed, as SUSE's build
   service signs them, with an OpenPGP key gpg makes on the spot, and the
   config trusts only that key (``source.keys``);
2. ``patchsync fetch`` discovers the newest kernel-source src.rpm there and
   downloads it, verified;
3. ``patchsync extract`` takes patches.xen and series.conf out of it;
4. a sample kernel tree is built: base, one commit per 2.6.32.9 patch and a
   SAUCE commit between them, for a released and a development target, and
   the config file naming them is printed;
5. ``patchsync check`` reports the drift against 2.6.32.10 and names the
   verified signer; an unsigned copy is refused;
6. ``patchsync sync`` writes the review branches, and a second sync is a
   no-op.
7. the config grows a second ``[[source]]`` (a SUSE branch whose KOTD is
   still 2.6.32.9) and a third tree that follows it; one ``sync`` obtains
   each source once and brings each tree to its own source's KOTD.

Each step runs the real CLI as a subprocess, so what is shown is what a
user would type and see.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.signing import GnuPG

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
NEW = "kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm"
OLD = "kernel-source-2.6.32.9-0.0.1.aaaa111.src.rpm"

#: The demo's signing key: made by gpg at demo time, trusted by the demo's config alone.
SIGNER = "patchsync demo KOTD key <kotd@demo.invalid>"

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
    #: The exported certificate of the signing key ("" when gpg is missing: nothing signed).
    cert: str = ""
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
    # A second SUSE branch, whose kernel of the day is still 2.6.32.9.
    stable = root / "mirror" / "kotd" / "SLE11-SP1" / "src"
    stable.mkdir(parents=True)
    shutil.copy2(DATA / "srpms" / "old" / OLD, stable / OLD)
    return mirror


class _MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """http.server with single byte-range support, like a real mirror.

    patchsync reads a src.rpm's headers by Range before deciding to download
    its payload; without Range it falls back to a full download (and says so).
    """

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        path = Path(self.translate_path(self.path))
        if match is None or not path.is_file():
            super().do_GET()
            return
        data = path.read_bytes()
        start = int(match.group(1))
        end = min(int(match.group(2) or len(data) - 1), len(data) - 1)
        if start >= len(data):
            self.send_error(416)
            return
        self.send_response(206)
        self.send_header("Content-Type", "application/x-rpm")
        self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])


@contextlib.contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` with autoindex on a free 127.0.0.1 port; yields its URL."""
    handler = functools.partial(_MirrorHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # A short poll: serve_forever notices shutdown() only between polls (0.5 s by default).
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), name="demo-mirror", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/kotd/HEAD/src/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def sign_header(gnupg: GnuPG, fingerprint: str, path: Path) -> None:
    """Give the src.rpm at ``path`` the header signature rpmsign would (DSAHEADER: an EdDSA key).

    rpmsign needs the rpm tools, which a fresh machine lacks; the signature
    itself is gpg's, over the main header's bytes, like rpmsign's.
    """
    from patchsync.rpm import tags
    from tests import rpmtools

    data = path.read_bytes()
    blob = data[rpmtools.main_header_start(data) : rpmtools.payload_start(data)]
    signature = gnupg.run("--local-user", fingerprint, "--detach-sign", stdin=blob)
    path.write_bytes(
        rpmtools.rewrite_signature(data, add={tags.SIGTAG_DSA: (tags.TYPE_BIN, len(signature), signature)})
    )


def sign_mirror(demo: Demo, mirror: Path) -> None:
    gpg = shutil.which("gpg")
    if gpg is None:
        print("gpg is not installed: the mirror stays unsigned and source.keys empty")
        return
    # A short home: gpg-agent's socket path must stay under the 108 bytes of sun_path.
    gnupg = GnuPG(demo.root / "g", gpg)
    try:
        fingerprint = gnupg.generate(SIGNER, "ed25519")
        cert = gnupg.export(fingerprint, demo.root / "kotd-signing.asc")
        for name in (OLD, NEW):
            sign_header(gnupg, fingerprint, mirror / name)
        sign_header(gnupg, fingerprint, mirror.parents[1] / "SLE11-SP1" / "src" / OLD)
    finally:
        gnupg.close()
        shutil.rmtree(gnupg.home, ignore_errors=True)
    demo.cert = str(cert)
    print(f"signed the kernel-source src.rpms with a key made just now by gpg: {fingerprint} {SIGNER}")
    print("$DEMO/kotd-signing.asc is its certificate; the config trusts it alone (source.keys)")


def step_mirror(demo: Demo) -> None:
    say("A sample KOTD mirror on 127.0.0.1, its src.rpms signed")
    mirror = demo.root / "mirror" / "kotd" / "HEAD" / "src"
    sign_mirror(demo, mirror)
    print(f"{demo.url} lists:")
    for path in sorted(mirror.iterdir()):
        print(f"  {path.name}")
    demo.config = demo.root / "patchsync.toml"
    keys = f'keys = ["{demo.cert}"]\n' if demo.cert else ""
    demo.config.write_text(
        f'[source]\nurl = "{demo.url}"\ntarball = "patches.xen.tar.bz2"\n{keys}[state]\ndir = "{demo.root / "state"}"\n'
    )


def step_fetch(demo: Demo) -> None:
    say("Discover and download the newest kernel-source src.rpm (fetch)")
    result = patchsync(demo, "fetch", "--output", str(demo.root / "downloads"))
    demo.found["src_rpm"] = result.stdout.strip().splitlines()[-1]


def step_extract(demo: Demo) -> None:
    say("Take patches.xen and series.conf out of it (extract), in pure Python")
    src_rpm = demo.found.get("src_rpm") or str(DATA / "srpms" / "gzip" / NEW)
    out = demo.root / "extracted"
    patchsync(demo, "extract", src_rpm, "--output", str(out), *(["--key", demo.cert] if demo.cert else []))
    for path in sorted(out.rglob("*")):
        if path.is_file():
            print(f"  {path.relative_to(out)}  ({path.stat().st_size} bytes)")
    say("A hostile or damaged src.rpm is refused in one line, and nothing is written")
    bad = demo.root / "truncated.src.rpm"
    bad.write_bytes(Path(src_rpm).read_bytes()[:-100])
    result = patchsync(demo, "extract", str(bad), "--output", str(demo.root / "nope"), check=False)
    print(f"exit status {result.returncode}; $DEMO/nope exists: {(demo.root / 'nope').exists()}")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout


def show_git(demo: Demo, repo: Path, *args: str) -> None:
    print("$ git " + " ".join(shlex.quote(a) for a in args), flush=True)
    print(git(repo, *args).replace(str(demo.root), "$DEMO"), end="", flush=True)


def build_tree(repo: Path) -> None:
    """A kernel tree shaped like Ubuntu's ec2 branch, carrying the 2.6.32.9 patches."""
    shutil.copytree(DATA / "kernel-tree", repo)
    git(repo, "init", "-q", "-b", "ec2")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Linux 2.6.32")
    git(repo, "tag", "v2.6.32")
    kotd = DATA / "kotd" / "2.6.32.9"
    names = [
        line.split()[-1].split("/", 1)[1]
        for line in (kotd / "series.conf").read_text().splitlines()
        if line.startswith("+xen\tpatches.xen/")
    ]
    patches_dir = repo / "debian.ec2" / "patches"
    patches_dir.mkdir(parents=True)
    for i, name in enumerate(names):
        patch = kotd / "patches.xen" / name
        git(repo, "apply", "-p1", str(patch))
        shutil.copy2(patch, patches_dir / name)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", f"UBUNTU: [Xen] {name}")
        if i == 1:
            # Team commits between the patch commits must survive every sync.
            (repo / "debian.ec2" / "config").mkdir(exist_ok=True)
            (repo / "debian.ec2" / "config" / "config.common.ec2").write_text("CONFIG_XEN=y\n")
            git(repo, "add", "-A")
            git(repo, "commit", "-q", "-m", "UBUNTU: [Config] ec2: enable CONFIG_XEN")


def step_tree(demo: Demo) -> None:
    say("A sample kernel tree: base v2.6.32, one commit per 2.6.32.9 patch, a config commit")
    released = demo.root / "ubuntu-lucid"
    build_tree(released)
    development = demo.root / "ubuntu-natty"
    git(demo.root, "clone", "-q", "--bare", str(released), str(development))
    show_git(demo, released, "log", "--oneline", "--reverse", "v2.6.32..ec2")
    with demo.config.open("a") as fh:
        for name, repo, mode in (
            ("lucid-ec2", released, "released"),
            ("natty-ec2", development, "development"),
        ):
            fh.write(
                f'\n[[target]]\nname = "{name}"\nrepo = "{repo}"\nbranch = "ec2"\nbase = "v2.6.32"\nmode = "{mode}"\n'
            )
    demo.found["released"] = str(released)
    demo.found["development"] = str(development)
    say("The config every later command uses ($PATCHSYNC_CONFIG)")
    print(demo.config.read_text().replace(str(demo.root), "$DEMO"), end="", flush=True)


def step_check(demo: Demo) -> None:
    say("Compare the tree's debian.ec2/patches with the KOTD (check; exit status 1 = drift)")
    result = patchsync(demo, "check", "-v", check=False)
    if result.returncode != 1:
        raise SystemExit(f"demo: expected drift (exit status 1), got {result.returncode}")
    if demo.cert:
        say("A src.rpm not signed by a key in source.keys is refused (exit status 2), nothing cached")
        unsigned = demo.root / NEW
        shutil.copy2(DATA / "srpms" / "gzip" / NEW, unsigned)
        result = patchsync(demo, "check", "--src-rpm", str(unsigned), check=False)
        print(f"exit status {result.returncode}")


def step_sync(demo: Demo) -> None:
    say("Write the update into review branches (sync); the branches themselves are not moved")
    patchsync(demo, "sync", "--no-mail")
    released = Path(demo.found["released"])
    development = Path(demo.found["development"])
    say("released: new commits on top of ec2")
    show_git(demo, released, "log", "--oneline", "ec2..patchsync/lucid-ec2")
    show_git(demo, released, "log", "-1", "--format=%B", "patchsync/lucid-ec2")
    say("development: base..ec2 rewritten, one commit per patch, the config commit kept")
    show_git(demo, development, "log", "--oneline", "--reverse", "v2.6.32..patchsync/natty-ec2")
    say("The working tree and the checked-out branch were not touched")
    show_git(demo, released, "status", "--short", "--branch")
    say("A second sync with the same KOTD makes no commit, and reads only the src.rpm's header")
    patchsync(demo, "sync", "--no-mail", "--json")


def step_sources(demo: Demo) -> None:
    say("Several SUSE branches in one service: a [[source]] per branch, each tree following one")
    stable_url = demo.url.replace("/kotd/HEAD/", "/kotd/SLE11-SP1/")
    hardy = demo.root / "ubuntu-hardy"
    git(demo.root, "clone", "-q", "--bare", demo.found["released"], str(hardy))
    keys = f'keys = ["{demo.cert}"]\n' if demo.cert else ""
    text = (
        f'[[source]]\nname = "head"\nurl = "{demo.url}"\n{keys}'
        f'[[source]]\nname = "sle11-sp1"\nurl = "{stable_url}"\n{keys}'
        f'[state]\ndir = "{demo.root / "state"}"\n'
    )
    for name, repo, mode, source in (
        ("lucid-ec2", demo.found["released"], "released", "head"),
        ("natty-ec2", demo.found["development"], "development", "head"),
        ("hardy-ec2", str(hardy), "released", "sle11-sp1"),
    ):
        text += (
            f'\n[[target]]\nname = "{name}"\nsource = "{source}"\nrepo = "{repo}"\nbranch = "ec2"\n'
            f'base = "v2.6.32"\nmode = "{mode}"\n'
        )
    demo.config.write_text(text)
    print(text.replace(str(demo.root), "$DEMO"), end="", flush=True)
    say("One sync obtains each source once and syncs each tree against its own KOTD")
    patchsync(demo, "sync", "--no-mail")
    patchsync(demo, "history", "--limit", "1")


#: The demo, in order.
STEPS: tuple[Callable[[Demo], None], ...] = (
    step_mirror,
    step_fetch,
    step_extract,
    step_tree,
    step_check,
    step_sync,
    step_sources,
)


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
