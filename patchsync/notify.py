"""sd_notify(3) without libsystemd: one datagram to ``$NOTIFY_SOCKET``.

The protocol is newline-separated ``KEY=value`` assignments sent as a
single datagram to the AF_UNIX socket named in ``$NOTIFY_SOCKET`` (a path,
or ``@name`` for a socket in the abstract namespace).  Outside systemd the
variable is unset and every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def _address(value: str) -> str | bytes | None:
    if value.startswith("/"):
        return value
    if value.startswith("@"):
        # Linux abstract namespace: a leading NUL instead of "@".
        return b"\0" + value[1:].encode()
    return None


def notify(*assignments: str, env: Mapping[str, str] | None = None) -> bool:
    """Send ``READY=1``, ``STATUS=...`` and the like; ``False`` when not under systemd."""
    environ = os.environ if env is None else env
    target = environ.get("NOTIFY_SOCKET", "")
    if not target:
        return False
    address = _address(target)
    if address is None:
        # vsock: and other transports: systemd >= 253 only; not worth a
        # dependency for a service that runs on the host.
        log.debug("unsupported NOTIFY_SOCKET %r", target)
        return False
    payload = "\n".join(assignments).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            # Never block: a receiver that stopped reading fills its queue,
            # and a blocked send would wedge the scheduler thread (and the
            # shutdown that waits for it).  A dropped datagram is harmless.
            sock.setblocking(False)
            sock.connect(address)
            sock.send(payload)
    except BlockingIOError:
        log.debug("notify socket %s is full; dropped %r", target, payload)
        return False
    except OSError as exc:
        # systemd going away must not take the daemon down with it.
        log.warning("cannot notify systemd at %s: %s", target, exc.strerror or exc)
        return False
    return True


def watchdog_seconds(env: Mapping[str, str] | None = None) -> float | None:
    """How often to send ``WATCHDOG=1``: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3) advises.

    >>> watchdog_seconds({"WATCHDOG_USEC": "30000000"})
    15.0
    >>> watchdog_seconds({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    True
    >>> watchdog_seconds({}) is None
    True
    """
    environ = os.environ if env is None else env
    try:
        usec = int(environ.get("WATCHDOG_USEC", "0"))
    except ValueError:
        return None
    pid = environ.get("WATCHDOG_PID")
    if usec <= 0 or (pid is not None and pid != str(os.getpid())):
        return None
    return usec / 1_000_000 / 2
