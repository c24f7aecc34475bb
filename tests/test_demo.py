"""`make demo` runs on a fresh machine: no rpmbuild, no nginx, no internet, nothing left behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT


def test_demo_runs_and_cleans_up(tmp_path: Path) -> None:
    env = dict(os.environ, TMPDIR=str(tmp_path), PATH="/usr/bin:/bin")
    result = subprocess.run(
        [sys.executable, "-m", "tests.demo"], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    # The mirror was signed with a key gpg made at demo time, and every step verified it.
    made = re.search(
        r"with a key made just now by gpg: ([0-9A-F]{40}) (patchsync demo KOTD key <kotd@demo\.invalid>)\n", out
    )
    assert made is not None, out
    signer = f"signed by {made[1]} {made[2]}"
    assert f"kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm: {signer}\n" in out
    assert re.search(
        r"^KOTD kernel-source-2\.6\.32\.10-0\.0\.3\.bbbb222\.src\.rpm \(patches\.xen\.tar\.bz2 sha256 [0-9a-f]{12}\), "
        + re.escape(signer)
        + "$",
        out,
        re.M,
    )
    assert (
        "patchsync: error: $DEMO/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm: signature: none:"
        " the main header carries no OpenPGP signature, and source.keys requires one\nexit status 2\n"
    ) in out
    # Discovery picked the newest kernel-source, not a decoy, and extract wrote the patches.
    assert "$DEMO/downloads/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n" in out
    assert "  patches.xen/xen-balloon-last-credit  (417 bytes)\n" in out
    assert "  series.conf  (1088 bytes)\n" in out
    assert "exit status 2; $DEMO/nope exists: False" in out
    # The config it used is shown, as a user would copy it.
    natty = 'name = "natty-ec2"\nrepo = "$DEMO/ubuntu-natty"\nbranch = "ec2"\nbase = "v2.6.32"\nmode = "development"\n'
    assert natty in out
    assert '[state]\ndir = "$DEMO/state"\n' in out
    # check found the drift between the tree (2.6.32.9) and the KOTD (2.6.32.10) ...
    assert "lucid-ec2: drift: 2 unchanged, 1 metadata, 1 modified, 1 added (released, " in out
    assert "M  xen-balloon-max-target\n" in out
    assert "A  xen-balloon-last-credit\n" in out
    # ... sync wrote it as new commits (released) and as a rewrite (development) ...
    released = out.split("$ git log --oneline ec2..patchsync/lucid-ec2\n", 1)[1].split("\n$ ", 1)[0]
    assert [line.split(" ", 1)[1] for line in released.splitlines()] == [
        "UBUNTU: [Xen] xen-balloon-last-credit: add from kernel-source 2.6.32.10-0.0.3.bbbb222",
        "UBUNTU: [Xen] xen-features-no-hvm: update from kernel-source 2.6.32.10-0.0.3.bbbb222",
        "UBUNTU: [Xen] xen-balloon-max-target: update from kernel-source 2.6.32.10-0.0.3.bbbb222",
    ]
    development = out.split("$ git log --oneline --reverse v2.6.32..patchsync/natty-ec2\n", 1)[1].split("\n\n", 1)[0]
    assert [line.split(" ", 1)[1] for line in development.splitlines()] == [
        "UBUNTU: [Xen] xen3-fixup-common",
        "UBUNTU: [Xen] xen-balloon-max-target",
        "UBUNTU: [Config] ec2: enable CONFIG_XEN",
        "UBUNTU: [Xen] xen-features-no-hvm",
        "UBUNTU: [Xen] xen-netfront-rx-copy",
        "UBUNTU: [Xen] xen-balloon-last-credit: add from kernel-source 2.6.32.10-0.0.3.bbbb222",
    ]
    assert "$ git status --short --branch\n## ec2\n" in out
    # ... and the second sync changed nothing and skipped the payload.
    assert out.count('"status": "up-to-date"') == 2
    assert '"payload": "skipped"' in out
    # Two sources in one config: each tree synced against its own branch's KOTD, one run in history.
    several = out.split("$ patchsync sync --no-mail\n")[-1]
    assert re.search(r"^source head: KOTD kernel-source-2\.6\.32\.10-0\.0\.3\.bbbb222\.src\.rpm ", several, re.M)
    assert re.search(r"^source sle11-sp1: KOTD kernel-source-2\.6\.32\.9-0\.0\.1\.aaaa111\.src\.rpm ", several, re.M)
    assert re.search(r"^hardy-ec2 \(released\): up to date at [0-9a-f]{12}$", several, re.M)
    assert "up-to-date head 2.6.32.10-0.0.3.bbbb222, sle11-sp1 2.6.32.9-0.0.1.aaaa111  " in several
    assert list(tmp_path.iterdir()) == []
