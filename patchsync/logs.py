"""Where patchsync's log records go: stderr, or the journal under systemd.

Both the command line and the daemon's cycle child set logging up the same
way; it lives here so that the daemon takes nothing from the command line.
"""

from __future__ import annotations

import logging
import os
import sys


class _JournalFormatter(logging.Formatter):
    """sd-daemon(3) priority prefixes; the journal adds its own timestamps."""

    PRIORITIES = {
        logging.CRITICAL: 2,
        logging.ERROR: 3,
        logging.WARNING: 4,
        logging.INFO: 6,
        logging.DEBUG: 7,
    }

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{self.PRIORITIES.get(record.levelno, 6)}>"
        return prefix + super().format(record)


def setup_logging(*, verbose: bool, quiet: bool, debug: bool) -> None:
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.ERROR if quiet else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(message)s"))
    elif debug:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("patchsync: %(levelname)s: %(message)s"))
    root = logging.getLogger("patchsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
