"""Stall a sync at one of its write steps, so that a test can kill it there.

:func:`stall_at` is a checkpoint for :func:`patchsync.gitsync.sync_target`.
Run as ``python -m tests.stalled ARGS...``, this module is ``patchsync
ARGS...`` with every sync stalled where ``$STALL_AT`` (``PATH:STAGE``) says;
the daemon's cycle child is started with multiprocessing's "spawn", which
imports the parent's main module again (as ``__mp_main__``), so the stall
is installed there too.
"""

from __future__ import annotations

import functools
import os
import sys
import time
from pathlib import Path

import patchsync.gitsync

#: ``PATH:STAGE``: where the sync announces the stall, and at which step.
ENV = "STALL_AT"


def stall_at(path: Path, stage: str) -> patchsync.gitsync.Checkpoint:
    """A checkpoint that writes ``path`` and sleeps for an hour at ``stage``."""

    def checkpoint(at: str) -> None:
        if at == stage:
            path.write_text(stage)
            time.sleep(3600)

    return checkpoint


def _install() -> None:
    path, _, stage = os.environ.get(ENV, "").rpartition(":")
    if path:
        patchsync.gitsync.sync_target = functools.partial(
            patchsync.gitsync.sync_target, checkpoint=stall_at(Path(path), stage)
        )


_install()

if __name__ == "__main__":
    from patchsync.cli import main

    sys.exit(main())
