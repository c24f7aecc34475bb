"""Overall deadlines: a transfer and a cycle end in bounded time, whatever the peer does.

A timeout per read is not a deadline: a server that sends one byte just
inside it keeps every read alive, and the buffered reads below requests
and smtplib wait for a whole chunk or line made of such bytes.  So the
deadline is enforced on the sockets themselves: a :class:`Deadline`
shuts down every socket it watches when it passes, which wakes whatever
read or write is blocked on them (headers, body, an SMTP reply) with an
end of stream; the code above sees a broken connection and asks
:meth:`Deadline.passed` whether to report the deadline instead.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import weakref
from collections.abc import Callable


class Deadline:
    """A point in (monotonic) time, and the sockets to cut when it passes.

    ``what`` names the setting it comes from, for the one-line error, e.g.
    ``source.deadline_seconds (1800 s)``.  The watcher thread starts with
    the first watched socket, so a deadline that never meets the network
    costs nothing.
    """

    def __init__(self, seconds: float, what: str, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.what = what
        self.clock = clock
        self.at = clock() + seconds
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._fired = False

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()

    def remaining(self) -> float:
        return max(0.0, self.at - self.clock())

    def passed(self) -> bool:
        return self._fired or self.clock() >= self.at

    def bound(self, timeout: float) -> float:
        """``timeout``, cut to what is left (never 0, which would mean non-blocking)."""
        return max(0.001, min(timeout, self.remaining()))

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        with self._lock:
            if self._fired:
                _shut(sock)
                return
            self._sockets.add(sock)
            if self._timer is None:
                self._timer = threading.Timer(self.remaining(), self._fire)
                self._timer.daemon = True
                self._timer.start()

    def cancel(self) -> None:
        """Stop watching (the work is done); the sockets are left alone."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._sockets = weakref.WeakSet()

    def _fire(self) -> None:
        with self._lock:
            self._fired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for an SSLSocket: its own would
    # drop the TLS object under a read running in another thread.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
