"""The one way into git: every git process patchsync starts is started here.

:func:`run_git` runs one plumbing command; :func:`start_git` starts the
long-lived ``cat-file --batch`` reader of :class:`.objects.ObjectStore`.
Both give git the same environment (never a prompt), and every failure
becomes one :class:`GitError` line that keeps git's own reason and advice
(:func:`git_message`).

The layer is built on git's plumbing rather than GitPython: the objects a
run reads are asked for in batches (one ``cat-file --batch`` for a whole
patches folder, read-ahead for a replay), which GitPython's object
database, one object per round trip, does not offer; see the commit that
dropped it for the figures.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import GitError


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    full = dict(os.environ)
    if env:
        full.update(env)
    # A sync must never be stopped by git asking for a password or an editor.
    full.setdefault("GIT_TERMINAL_PROMPT", "0")
    return full


def git_message(stderr: bytes, returncode: int) -> str:
    """git's own reason in one line: its ``fatal:`` line, and its last line when that is advice.

    The last line alone loses the reason where git ends with advice (the
    dubious-ownership refusal ends in the ``safe.directory`` command).

    >>> git_message(b"fatal: detected dubious ownership in repository at '/r'\\nTo add an exception "
    ...             b"for this directory, call:\\n\\n\\tgit config --global --add safe.directory /r\\n", 128)
    "fatal: detected dubious ownership in repository at '/r' (git config --global --add safe.directory /r)"
    >>> git_message(b"", 1)
    'exit status 1'
    """
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if not lines:
        return f"exit status {returncode}"
    fatal = next((line for line in lines if line.startswith("fatal: ")), lines[-1])
    return fatal if fatal == lines[-1] else f"{fatal} ({lines[-1]})"


def run_git(
    repo: str | os.PathLike[str],
    args: Sequence[str],
    *,
    input: bytes | None = None,
    stdin: BinaryIO | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git -C repo args`` (``input`` or the file ``stdin`` on its stdin).

    A failure (or outliving ``timeout`` seconds) is a one-line :class:`GitError` in git's words.
    """
    try:
        proc = subprocess.run(
            ["git", "-C", os.fspath(repo), *args],
            input=input,
            stdin=stdin,
            capture_output=True,
            env=_environment(env),
            check=False,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"git {args[0]} failed: no answer within {timeout:g} s", where=os.fspath(repo)) from None
    if check and proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {git_message(proc.stderr, proc.returncode)}", where=os.fspath(repo))
    return proc


def start_git(
    repo: str | os.PathLike[str], args: Sequence[str], *, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``git -C repo args`` with pipes to talk to (a ``cat-file --batch`` reader)."""
    return subprocess.Popen(
        ["git", "-C", os.fspath(repo), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=_environment(env),
    )


def check_repository(repo: str) -> None:
    """:class:`GitError` unless git accepts ``repo`` as a repository (as this user)."""
    if not os.path.isdir(repo):
        raise GitError("no such repository", where=repo)
    proc = run_git(repo, ["rev-parse", "--git-dir"], check=False)
    if proc.returncode != 0:
        message = git_message(proc.stderr, proc.returncode)
        if "not a git repository" in message:
            raise GitError("not a git repository", where=repo)
        raise GitError(f"git rev-parse failed: {message}", where=repo)


def batch_objects(
    repo: str | os.PathLike[str], names: Iterable[str], *, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, str, str, bytes]]:
    """(name, sha, type, content) of each named object that exists, read in one ``git cat-file --batch``."""
    wanted = list(dict.fromkeys(n for n in names if "\n" not in n))
    if not wanted:
        return
    query = "".join(n + "\n" for n in wanted).encode("utf-8", "surrogateescape")
    out = run_git(repo, ["cat-file", "--batch"], input=query, env=env).stdout
    pos = 0
    for name in wanted:
        nl = out.index(b"\n", pos)
        parts = out[pos:nl].split()
        pos = nl + 1
        if len(parts) != 3:
            continue  # "<name> missing"
        size = int(parts[2])
        yield name, parts[0].decode(), parts[1].decode(), out[pos : pos + size]
        pos += size + 1


def read_objects(repo: str, names: Iterable[str]) -> dict[str, tuple[str, bytes]]:
    """name -> (type, content) of each object that exists, read in one ``git cat-file --batch``."""
    return {name: (kind, data) for name, _, kind, data in batch_objects(repo, names)}


def merge_file(ours: Path, base: Path, theirs: Path) -> bytes | None:
    """``git merge-file -p``: ours + (base -> theirs), or None on a conflict."""
    proc = subprocess.run(
        ["git", "merge-file", "-p", "-q", os.fspath(ours), os.fspath(base), os.fspath(theirs)],
        capture_output=True,
        env=_environment(None),
        check=False,
    )
    return proc.stdout if proc.returncode == 0 else None
