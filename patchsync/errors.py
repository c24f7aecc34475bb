"""One exception tree for everything patchsync refuses to do.

Only :mod:`patchsync.cli` turns these into a message and an exit status;
library code raises and never prints or exits.  Every error carries the file,
URL or ref it is about, so the one line a user sees names what to look at.
"""

from __future__ import annotations

import os

#: Exit statuses shared by every command (see README, "Exit status").
EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_ERROR = 2


class PatchsyncError(Exception):
    """Base class: a user-facing, one-line problem about ``where``."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, where: str | os.PathLike[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.where = os.fspath(where) if where is not None else None

    def __str__(self) -> str:
        # One line, always: a multi-line message would break log parsers and
        # the "one line on stderr" contract.
        text = " ".join(self.message.split())
        return f"{self.where}: {text}" if self.where else text


class ConfigError(PatchsyncError):
    """The configuration file is missing, unreadable or invalid."""


class SourceError(PatchsyncError):
    """Discovery failed: no candidates, a bad index page, a mirror going backwards."""


class DownloadError(SourceError):
    """The network or the server failed us: timeouts, HTTP errors, short bodies."""


class IntegrityError(PatchsyncError):
    """A digest or size does not match what the package itself declares."""


class SignatureError(IntegrityError):
    """An OpenPGP signature is missing, by a key not trusted, or refused by the OpenPGP policy."""


class RpmError(PatchsyncError):
    """The file is not a well-formed RPM package, or asks for absurd resources."""


class TarballError(PatchsyncError):
    """The patch tarball is missing, corrupt or hostile."""


class PatchError(PatchsyncError):
    """A patch cannot be applied or parsed where it must be."""


class GitError(PatchsyncError):
    """The repository is in a state patchsync will not touch, or git failed."""


class LockError(PatchsyncError):
    """Another patchsync run holds the lock."""


class MailError(PatchsyncError):
    """The report could not be mailed (it stays in the outbox)."""


class StateError(PatchsyncError):
    """The state directory or its database cannot be used."""
