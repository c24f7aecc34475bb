"""A download progress bar on stderr, only when stderr is a terminal."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable

#: Redraw at most this often (seconds): a 150 MB download has thousands of chunks.
REDRAW_EVERY = 0.1


def make_progress(label: str) -> Callable[[int, int | None], None] | None:
    """A ``progress(received, total)`` callback, or ``None`` when stderr is not a TTY (systemd, pipes)."""
    if not sys.stderr.isatty():
        return None
    last = 0.0

    def progress(received: int, total: int | None) -> None:
        nonlocal last
        now = time.monotonic()
        done = total is not None and received >= total
        if now - last < REDRAW_EVERY and not done:
            return
        last = now
        width = max(10, min(40, shutil.get_terminal_size().columns - 40))
        mib = received / 2**20
        if total:
            filled = int(width * received / total)
            bar = "#" * filled + "-" * (width - filled)
            text = f"\r{label[:30]} [{bar}] {mib:7.1f}/{total / 2**20:.1f} MiB"
        else:
            text = f"\r{label[:30]} {mib:7.1f} MiB"
        sys.stderr.write(text + ("\n" if done else ""))
        sys.stderr.flush()

    return progress
