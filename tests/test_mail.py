"""SMTP delivery and the outbox against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from patchsync import mail
from patchsync.config import ReportConfig
from patchsync.errors import MailError
from patchsync.state import State
from tests.smtp import SmtpServer, self_signed

T0 = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
MESSAGE = (
    b"From: patchsync@example.org\r\nTo: kernel-team@example.org\r\nSubject: [patchsync] test\r\n"
    b"Message-ID: <patchsync-1@example.org>\r\n\r\nbody\r\n"
)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


def _report(server: SmtpServer, **kw: object) -> ReportConfig:
    fields: dict[str, object] = {
        "to": ("kernel-team@example.org", "Other <other@example.org>"),
        "from_": "patchsync <patchsync@example.org>",
        "smtp_host": "127.0.0.1",
        "smtp_port": server.port,
    }
    fields.update(kw)
    return ReportConfig(**fields)  # type: ignore[arg-type]


def _queue(state: State, key: str, subject: str = "[patchsync] test") -> int:
    mail_id = state.queue_mail(
        run_id=None,
        dedup_key=key,
        message_id=f"<{key}@example.org>",
        targets=["lucid-ec2"],
        subject=subject,
        message=MESSAGE.replace(b"[patchsync] test", subject.encode()),
        created=T0,
    )
    assert mail_id is not None
    return mail_id


def test_send_delivers_to_every_recipient(smtp: SmtpServer) -> None:
    smtp.start()
    mail.send(_report(smtp), MESSAGE)
    (got,) = smtp.received
    assert got.mail_from == "patchsync@example.org"
    assert got.rcpt_tos == ["kernel-team@example.org", "other@example.org"]
    assert got.message["Subject"] == "[patchsync] test"
    assert got.data == MESSAGE


def test_send_to_a_server_that_is_down_is_one_line(smtp: SmtpServer) -> None:
    with pytest.raises(MailError) as info:
        mail.send(_report(smtp), MESSAGE)
    assert str(info.value) == f"smtp://127.0.0.1:{smtp.port}: cannot send: [Errno 111] Connection refused"


def test_outbox_keeps_mail_while_the_server_is_down_and_sends_it_once_up(tmp_path: Path, smtp: SmtpServer) -> None:
    with State(tmp_path) as state:
        first = _queue(state, "k1", "[patchsync] first")
        second = _queue(state, "k2", "[patchsync] second")
        mail.flush_outbox(state, _report(smtp))
        assert "Connection refused" in state.unsent()[0].last_error
        assert [m.id for m in state.unsent()] == [first, second]
        # Only the first was attempted: a dead server is not hammered.
        assert [m.attempts for m in state.unsent()] == [1, 0]

        smtp.start()
        mail.flush_outbox(state, _report(smtp))
        assert [r.message["Subject"] for r in smtp.received] == ["[patchsync] first", "[patchsync] second"]
        assert state.unsent() == []
        # Nothing is sent twice.
        mail.flush_outbox(state, _report(smtp))
        assert len(smtp.received) == 2


def test_password_file_logs_in(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.login = ("patchsync", "s3cret")
    smtp.start()
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    mail.send(_report(smtp, username="patchsync", password_file=str(secret)), MESSAGE)
    assert [r.authenticated for r in smtp.received] == [True]


def test_password_from_environment(smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp.login = ("patchsync", "from-env")
    smtp.start()
    monkeypatch.setenv("PATCHSYNC_SMTP_PASSWORD", "from-env")
    mail.send(_report(smtp, username="patchsync"), MESSAGE)
    assert [r.authenticated for r in smtp.received] == [True]


def test_password_from_systemd_credential(tmp_path: Path, smtp: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp.login = ("patchsync", "from-credential")
    smtp.start()
    (tmp_path / "smtp-password").write_text("from-credential")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    mail.send(_report(smtp, username="patchsync"), MESSAGE)
    assert [r.authenticated for r in smtp.received] == [True]


def test_refused_login_keeps_the_mail_queued(tmp_path: Path, smtp: SmtpServer) -> None:
    smtp.login = ("patchsync", "right")
    smtp.start()
    secret = tmp_path / "password"
    secret.write_text("wrong")
    report = _report(smtp, username="patchsync", password_file=str(secret))
    with pytest.raises(MailError) as info:
        mail.send(report, MESSAGE)
    assert str(info.value) == (
        f"smtp://127.0.0.1:{smtp.port}: login as 'patchsync' refused: 5.7.8 Authentication credentials invalid"
    )
    with State(tmp_path / "state") as state:
        _queue(state, "k1")
        mail.flush_outbox(state, report)
        assert [m.attempts for m in state.unsent()] == [1]
    assert smtp.received == []


def test_username_without_any_password_is_refused_before_connecting(smtp: SmtpServer) -> None:
    with pytest.raises(MailError, match=r"username 'patchsync' is set but no password"):
        mail.send(_report(smtp, username="patchsync"), MESSAGE)


def test_unreadable_password_file_names_the_file(tmp_path: Path, smtp: SmtpServer) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(MailError) as info:
        mail.send(_report(smtp, username="patchsync", password_file=str(missing)), MESSAGE)
    assert str(info.value) == f"{missing}: cannot read the SMTP password: No such file or directory"


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "ssl"])
def test_tls_is_verified_and_logs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, smtp: SmtpServer, implicit: bool
) -> None:
    context, cert = self_signed(tmp_path)
    smtp.tls, smtp.implicit_tls, smtp.login = context, implicit, ("patchsync", "s3cret")
    smtp.start()
    monkeypatch.setenv("PATCHSYNC_SMTP_PASSWORD", "s3cret")
    report = _report(smtp, username="patchsync", ssl=implicit, starttls=not implicit)
    # Not trusted yet: a self-signed certificate is refused, the mail is not sent.
    with pytest.raises(MailError, match="CERTIFICATE_VERIFY_FAILED"):
        mail.send(report, MESSAGE)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    mail.send(report, MESSAGE)
    assert [r.authenticated for r in smtp.received] == [True]


def test_a_server_without_starttls_is_refused(smtp: SmtpServer) -> None:
    smtp.start()
    with pytest.raises(MailError) as info:
        mail.send(_report(smtp, starttls=True), MESSAGE)
    assert str(info.value) == f"smtp://127.0.0.1:{smtp.port}: cannot send: STARTTLS extension not supported by server."
    assert smtp.received == []
