"""sd_notify against a real datagram socket, like systemd's."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from patchsync import notify


def test_sends_one_datagram_to_a_path_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "notify"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        monkeypatch.setenv("NOTIFY_SOCKET", str(path))
        assert notify.notify("READY=1", "STATUS=next run 21:30 UTC")
        assert server.recv(4096) == b"READY=1\nSTATUS=next run 21:30 UTC"


def test_abstract_namespace_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"patchsync-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(b"\0" + name.encode())
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        assert notify.notify("WATCHDOG=1")
        assert server.recv(4096) == b"WATCHDOG=1"


def test_without_systemd_it_is_a_no_op() -> None:
    assert notify.notify("READY=1") is False


def test_a_vanished_socket_is_a_warning_not_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "gone"))
    assert notify.notify("READY=1") is False
    assert f"cannot notify systemd at {tmp_path / 'gone'}: No such file or directory" in caplog.text


def test_watchdog_for_this_process_only() -> None:
    assert notify.watchdog_seconds({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}) == 1.0
    assert notify.watchdog_seconds({"WATCHDOG_USEC": "garbage"}) is None
