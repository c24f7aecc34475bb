"""Sending reports: SMTP, and the outbox that makes sure none is lost.

A report is stored in the state database first, then sent, then marked
sent.  A mail that cannot be sent (server down, login refused) stays in
the outbox and the next cycle retries it.  Once the server has answered
250 to DATA the mail is delivered, whatever QUIT brings, and it is marked
sent right then, before QUIT.  The one window that cannot be closed is a
run killed between that 250 and the outbox update (one small database
write): the next cycle sends that one mail again, at most once.  It is
never lost.  Deduplication happens when a report is queued
(:meth:`patchsync.state.State.queue_mail`).
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
from collections.abc import Callable, Sequence
from email.utils import parseaddr
from pathlib import Path

from .config import ReportConfig
from .deadline import Deadline
from .errors import MailError
from .runs import utcnow
from .state import State

log = logging.getLogger(__name__)

#: Seconds for the SMTP connection and each command; a hung server must not
#: hold the cycle lock for long.
SMTP_TIMEOUT_SECONDS = 30.0

PASSWORD_ENV = "PATCHSYNC_SMTP_PASSWORD"
#: systemd's LoadCredential= name (systemd.exec(5), "Credentials").
CREDENTIAL_NAME = "smtp-password"


def _where(report: ReportConfig) -> str:
    scheme = "smtps" if report.ssl else "smtp"
    return f"{scheme}://{report.smtp_host}:{report.smtp_port}"


def password(report: ReportConfig) -> str | None:
    """The SMTP password: ``password_file``, ``$PATCHSYNC_SMTP_PASSWORD``, or the systemd credential."""
    if report.password_file:
        return _read_secret(Path(report.password_file))
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    creds = os.environ.get("CREDENTIALS_DIRECTORY")
    if creds and (Path(creds) / CREDENTIAL_NAME).is_file():
        return _read_secret(Path(creds) / CREDENTIAL_NAME)
    return None


def _read_secret(path: Path) -> str:
    try:
        # One trailing newline is what `echo secret > file` adds; a password
        # never ends in one.
        return path.read_text(encoding="utf-8").removesuffix("\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
        raise MailError(f"cannot read the SMTP password: {reason}", where=path) from None


def send(
    report: ReportConfig,
    message: bytes,
    *,
    recipients: Sequence[str] | None = None,
    timeout: float = SMTP_TIMEOUT_SECONDS,
    deadline: Deadline | None = None,
    delivered: Callable[[], None] | None = None,
) -> None:
    """Deliver one message; every failure is a one-line :class:`MailError`.

    ``timeout`` bounds each SMTP command; ``deadline`` (the cycle's) the
    whole conversation, so a server answering a byte at a time cannot hold
    the cycle past it.  ``delivered`` runs the moment the server took the
    message (its 250 to DATA), before QUIT: the outbox records the mail as
    sent there, so the window in which a killed run sends it again is that
    one call, not a QUIT a slow server may stretch.
    """
    where = _where(report)
    if deadline is not None:
        if deadline.passed():
            raise MailError(f"not sent: the cycle passed {deadline.what}", where=where)
        timeout = deadline.bound(timeout)
    to = [parseaddr(a)[1] or a for a in (recipients or report.to)]
    sender = parseaddr(report.from_)[1] or report.from_
    smtp: smtplib.SMTP | None = None
    refused: dict[str, tuple[int, bytes]] | None = None
    try:
        smtp = _open(report, timeout, deadline)
        refused = smtp.sendmail(sender, to, _crlf(message))
    except smtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"every recipient refused: {', '.join(exc.recipients)}", where=where) from None
    except (smtplib.SMTPException, OSError) as exc:
        if deadline is not None and deadline.passed():
            raise MailError(f"gave up: the cycle passed {deadline.what}", where=where) from None
        raise _failure(report, exc, "cannot send") from None
    finally:
        if smtp is not None and refused is None:
            smtp.close()
    # The server answered 250 to DATA: the mail is delivered (RFC 5321,
    # 4.1.1.4), whatever QUIT then brings (a 421, a dropped connection).
    # Counting that as a failure would resend the same report every cycle.
    assert smtp is not None
    assert refused is not None
    try:
        if delivered is not None:
            delivered()
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        log.info("%s: delivered; QUIT failed: %s", where, exc or type(exc).__name__)
    finally:
        smtp.close()
    if refused:
        # Some recipients got it: the mail counts as sent (resending would
        # duplicate it for the others), the rest is worth a warning.
        log.warning("%s: recipients refused: %s", where, ", ".join(sorted(refused)))


def login(report: ReportConfig, *, timeout: float = SMTP_TIMEOUT_SECONDS) -> None:
    """Connect, say EHLO, start TLS and log in as a send would, then QUIT without sending."""
    smtp: smtplib.SMTP | None = None
    try:
        smtp = _open(report, timeout)
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        raise _failure(report, exc, "cannot connect") from None
    finally:
        if smtp is not None:
            smtp.close()


class _Watched(smtplib.SMTP):
    """An SMTP client whose socket a deadline watches from before the server's greeting."""

    deadline: Deadline | None = None

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        # The one place smtplib makes its socket (SMTP_SSL overrides it too):
        # a greeting trickled a byte at a time is cut by the deadline as well.
        sock = super()._get_socket(host, port, timeout)  # type: ignore[misc]
        if self.deadline is not None:
            self.deadline.watch(sock)
        return sock  # type: ignore[no-any-return]


class _Plain(_Watched):
    def __init__(self, host: str, port: int, timeout: float, deadline: Deadline | None) -> None:
        self.deadline = deadline
        super().__init__(host, port, timeout=timeout)


class _Tls(_Watched, smtplib.SMTP_SSL):
    def __init__(
        self, host: str, port: int, timeout: float, deadline: Deadline | None, context: ssl.SSLContext
    ) -> None:
        self.deadline = deadline
        smtplib.SMTP_SSL.__init__(self, host, port, timeout=timeout, context=context)


def _open(report: ReportConfig, timeout: float, deadline: Deadline | None = None) -> smtplib.SMTP:
    """A connection ready for MAIL FROM: TLS as configured, logged in when a username is set."""
    secret = password(report) if report.username else None
    if report.username and secret is None:
        raise MailError(
            f"username {report.username!r} is set but no password "
            f"(report.password_file, ${PASSWORD_ENV} or the credential {CREDENTIAL_NAME!r})",
            where=_where(report),
        )
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if report.ssl:
        smtp = _Tls(report.smtp_host, report.smtp_port, timeout, deadline, context)
    else:
        smtp = _Plain(report.smtp_host, report.smtp_port, timeout, deadline)
    try:
        if report.starttls:
            smtp.starttls(context=context)
            if deadline is not None and smtp.sock is not None:
                deadline.watch(smtp.sock)  # the TLS socket replaced the plain one
        if report.username:
            assert secret is not None
            smtp.login(report.username, secret)
    except BaseException:
        smtp.close()
        raise
    return smtp


def _failure(report: ReportConfig, exc: smtplib.SMTPException | OSError, doing: str) -> MailError:
    """The one-line error for an SMTP failure, naming the server."""
    where = _where(report)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return MailError(f"login as {report.username!r} refused: {_smtp_text(exc)}", where=where)
    if isinstance(exc, smtplib.SMTPResponseException):
        return MailError(f"server said {exc.smtp_code} {_smtp_text(exc)}", where=where)
    return MailError(f"{doing}: {exc or type(exc).__name__}", where=where)


def _crlf(message: bytes) -> bytes:
    """SMTP lines end in CRLF (RFC 5321, 2.3.8); smtplib leaves bytes as they are."""
    return re.sub(rb"\r?\n", b"\r\n", message)


def _smtp_text(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error
    return text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)


def _marker(state: State, mail_id: int) -> Callable[[], None]:
    return lambda: state.mark_sent(mail_id, utcnow())


def flush_outbox(state: State, report: ReportConfig, *, deadline: Deadline | None = None) -> None:
    """Send every unsent mail, oldest first; failures stay queued for next time.

    What happened is in the outbox (``sent``, ``attempts``, ``last_error``).
    ``deadline`` (the cycle's) bounds the whole flush: what it cuts off
    stays queued for the next cycle.
    """
    error = ""
    after = 0
    while True:
        # Each mail is claimed in the database while it is sent, so two
        # machines sharing the outbox never send the same one.
        with state.claim_unsent(after) as mail:
            if mail is None:
                break
            after = mail.id
            if error:
                # The server is down or refusing us: do not hammer it with
                # the rest; they stay queued.
                continue
            try:
                send(report, mail.message, deadline=deadline, delivered=_marker(state, mail.id))
            except MailError as exc:
                error = str(exc)
                state.mark_failed(mail.id, error)
                log.warning("mail %r stays in the outbox: %s", mail.subject, error)
                continue
        log.info("mailed %r to %s", mail.subject, ", ".join(report.to))
