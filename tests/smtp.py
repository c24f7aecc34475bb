"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), started and stopped at will."""

from __future__ import annotations

import email
import email.policy
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    authenticated: bool = False

    @property
    def message(self) -> EmailMessage:
        # As a mail reader sees it: CRLF line ends become newlines.
        msg = email.message_from_bytes(self.data.replace(b"\r\n", b"\n"), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class SmtpServer:
    """Collects every accepted mail in ``received``; ``start()`` may come late."""

    port: int = field(default_factory=free_port)
    login: tuple[str, str] | None = None
    received: list[Received] = field(default_factory=list)
    _controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.received.append(
            Received(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                bytes(envelope.original_content),
                bool(session.authenticated),
            )
        )
        return "250 OK"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login.decode(), data.password.decode()) == self.login
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            # LOGIN is left out: smtplib sends it with an initial response,
            # which aiosmtpd 1.4 does not answer.  Plain-text AUTH without
            # TLS is fine on loopback.
            kwargs = {
                "authenticator": self._authenticate,
                "auth_require_tls": False,
                "auth_exclude_mechanism": ["LOGIN"],
            }
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server on a free port, not started yet (tests start it when "up")."""
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()
