"""Run ``patchsync daemon`` as a real subprocess, with a real sd_notify socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests import stalled

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Upper bound for anything the daemon should do "soon" (start up, reach a
#: cycle); generous so a loaded CI machine does not fail the suite.
SOON = 20.0


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_config(path: Path, tables: dict[str, Any]) -> Path:
    """A TOML config from ``{"source": {...}, "target": [{...}], ...}``."""
    lines: list[str] = []
    for name, table in tables.items():
        for entry in table if isinstance(table, list) else [table]:
            lines.append(f"[[{name}]]" if isinstance(table, list) else f"[{name}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in entry.items()]
            lines.append("")
    path.write_text("\n".join(lines))
    return path


def patchsync_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def run_patchsync(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "patchsync", "--config", str(config), *args],
        cwd=REPO_ROOT,
        env=env or patchsync_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class NotifySocket:
    """systemd's side of sd_notify: a datagram socket drained by a thread, as systemd does."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.messages: list[str] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.1)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._drain, daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(65536).decode())
            except TimeoutError:
                continue
            except OSError:
                return

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = SOON) -> str:
        found: list[str] = []

        def seen() -> bool:
            found[:] = [m for m in list(self.messages) if predicate(m)]
            return bool(found)

        wait_until(seen, f"a matching notification (got {self.messages[:5]!r}...)", timeout)
        return found[0]

    def close(self) -> None:
        self._closed.set()
        self._thread.join()
        self.sock.close()


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_log(self, needle: str, timeout: float = SOON) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"{needle!r} not in the daemon's log:\n{self.text()}")

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(SOON)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def start_daemon(
    config: Path,
    log: Path,
    *,
    stall: tuple[Path, str] | None = None,
    verbose: bool = True,
    new_session: bool = False,
    **env: str,
) -> Daemon:
    """The daemon; with ``stall`` (path, stage), every sync stalls there (see tests/stalled.py).

    ``new_session``: in a process group of its own, so a test that stands
    in for a machine dying kills the daemon, its cycle and the git
    processes the cycle runs at once.
    """
    module = "patchsync"
    if stall is not None:
        module = "tests.stalled"
        env[stalled.ENV] = f"{stall[0]}:{stall[1]}"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--config", str(config), *(["-v"] if verbose else []), "daemon"],
        cwd=REPO_ROOT,
        env=patchsync_env(**env),
        stdin=subprocess.DEVNULL,
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=new_session,
    )
    handle.close()
    return Daemon(proc, log)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = SOON) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
