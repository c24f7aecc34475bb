"""Resource bombs run in a child process under a memory limit, so a regression fails the test, not the machine.

The bound is the one the README promises for any input, address space
included: :data:`MEMORY_LIMIT`.  ``run_limited`` runs a snippet of Python
in a child with ``RLIMIT_AS`` set; a MemoryError there is the child's
exit status, never the test runner's.
"""

from __future__ import annotations

import resource
import subprocess
import sys

from .conftest import REPO_ROOT

#: Peak memory any input may cost (issue 10, class 3), address space included.
MEMORY_LIMIT = 200 * 1024 * 1024


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def run_limited(code: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``python -c code args...`` in a child limited to :data:`MEMORY_LIMIT` bytes of address space."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        preexec_fn=_limit,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=timeout,
        check=False,
    )
