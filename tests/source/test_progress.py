"""The download progress bar: drawn on a terminal only."""

from __future__ import annotations

import io

import pytest

from patchsync.commands import _progress


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_when_stderr_is_not_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert _progress.make_progress("x") is None


def test_bar_on_a_tty_ends_with_a_newline(monkeypatch: pytest.MonkeyPatch) -> None:
    tty = FakeTTY()
    monkeypatch.setattr("sys.stderr", tty)
    progress = _progress.make_progress("kernel-source.src.rpm")
    assert progress is not None
    progress(2**20, 4 * 2**20)
    progress(4 * 2**20, 4 * 2**20)
    text = tty.getvalue()
    assert text.startswith("\rkernel-source.src.rpm [")
    assert text.endswith("    4.0/4.0 MiB\n")
