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


class HostError(PatchsyncError):
    """The machine or the database refused: a full disk, a read-only file system, a permission."""


#: The modules whose exceptions are a database failing, not a bug.
_DATABASE_MODULES = ("sqlite3", "sqlalchemy", "psycopg")


def as_error(exc: BaseException) -> PatchsyncError:
    """Any exception as the one-line error a user sees and a run records.

    The operating system and the database fail in ways patchsync cannot
    prevent (a full disk, a read-only mount, a permission, a name too
    long); those are errors about a file, not bugs.  Anything else is a
    bug, called ``internal error``.  Only the CLI decides what to print.

    >>> str(as_error(FileNotFoundError(2, "No such file or directory", "/s/x")))
    '/s/x: No such file or directory'
    >>> str(as_error(KeyError("k")))
    "internal error: KeyError: 'k'"
    """
    if isinstance(exc, PatchsyncError):
        return exc
    if isinstance(exc, OSError):
        names = [os.fsdecode(n) for n in (exc.filename, exc.filename2) if n is not None]
        return HostError(exc.strerror or str(exc) or type(exc).__name__, where=" -> ".join(names) or None)
    if type(exc).__module__.split(".")[0] in _DATABASE_MODULES:
        # SQLAlchemy wraps the driver's exception; its own text adds the SQL
        # statement and a link, neither of which helps whoever reads the line.
        cause = getattr(exc, "orig", None) or exc
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        return HostError(f"state database: {reason}")
    return InternalError(f"internal error: {type(exc).__name__}: {exc}")


class InternalError(PatchsyncError):
    """A bug: an exception patchsync did not expect (``--debug`` shows the traceback)."""
