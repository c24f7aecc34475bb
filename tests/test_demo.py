"""`make demo` runs on a fresh machine: no rpmbuild, no nginx, no internet, nothing left behind."""

from __future__ import annotations

import os
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
    # Discovery picked the newest kernel-source, not a decoy, and extract wrote the patches.
    assert "$DEMO/downloads/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n" in out
    assert "  patches.xen/xen-balloon-last-credit  (417 bytes)\n" in out
    assert "  series.conf  (1088 bytes)\n" in out
    assert "exit status 2; $DEMO/nope exists: False" in out
    assert list(tmp_path.iterdir()) == []
