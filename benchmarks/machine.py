"""What a benchmark ran on, for the line printed under its table."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> str:
    """CPUs usable by this process, the architecture and the CPU model."""
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {platform.machine()}, {model}"
