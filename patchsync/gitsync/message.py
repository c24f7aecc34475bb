"""Commit identities, subjects and trailers for the commits sync writes."""

from __future__ import annotations

import os
import pwd
import re
import time
from dataclasses import dataclass

from ..config import TargetConfig
from ..errors import ConfigError, GitError, PatchError
from ..model import SourceInfo
from ..names import control_problem
from .repo import run_git

#: Trailers that mark a commit as written by patchsync (README, "Trailers").
TRAILER_SOURCE = "Patchsync-Source"
TRAILER_SHA256 = "Patchsync-Tarball-SHA256"

_IDENT = re.compile(r"^\s*([^<>]*?)\s*<([^<>\s]+)>\s*$")
_TRAILER_LINE = re.compile(rb"^[A-Za-z0-9][A-Za-z0-9-]*: ")


@dataclass(frozen=True)
class Identities:
    author: bytes
    committer: bytes

    @property
    def committer_name_email(self) -> bytes:
        # "Name <email> 1700000000 +0000" -> "Name <email>"
        return self.committer.rsplit(b" ", 2)[0]


def _timezone(now: float) -> str:
    offset = time.localtime(now).tm_gmtoff // 60
    sign = "+" if offset >= 0 else "-"
    return f"{sign}{abs(offset) // 60:02d}{abs(offset) % 60:02d}"


def _ident(spec: str, key: str, repo: str, now: float) -> bytes:
    if not spec:
        # git var honours GIT_*_NAME/EMAIL/DATE and user.name/user.email,
        # exactly as git commit would.
        try:
            return run_git(repo, ["var", f"GIT_{key.upper()}_IDENT"]).stdout.strip()
        except GitError as exc:
            # git's own words ("unable to auto-detect email address") say
            # neither which user nor what to set: say both, in one line.
            raise ConfigError(
                f'no commit {key} identity for user {_user()}: set author = "Name <email>" in the '
                f"[[target]], or user.name and user.email in that user's git config ({exc.message})",
                where=repo,
            ) from None
    m = _IDENT.match(spec)
    if not m or not m[1]:
        raise ConfigError(f"'{key}' must look like 'Name <email>', not {spec!r}")
    return f"{m[1]} <{m[2]}> {int(now)} {_timezone(now)}".encode()


def _user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return f"uid {os.geteuid()}"


def identities(target: TargetConfig, now: float) -> Identities:
    """The author and committer of the commits sync writes for ``target``.

    ``author`` and ``committer`` stand in for each other, so one configured
    identity is used for both (and for ``Signed-off-by:``), never mixed with
    whatever identity git would work out for the process; only with neither
    set does git's configuration decide.  Resolved before any object is
    written, so a missing identity is one clear error.
    """
    author = target.author or target.committer
    committer = target.committer or target.author
    return Identities(
        _ident(author, "author", target.repo, now),
        _ident(committer, "committer", target.repo, now),
    )


#: The body of each commit released mode (and an added patch in development
#: mode) creates, by status; the same placeholders as the subject templates.
BODIES = {
    "metadata": "{package} {version}-{release} changed the description of {name}; the code is the same.",
    "refreshed": "{package} {version}-{release} refreshed {name}: same changes, new context or line numbers.",
    "modified": "{package} {version}-{release} changed {name}; the old version is reverted and the new one applied.",
    "renamed": "{package} {version}-{release} renamed {previous_name} to {name}.",
    "added": "{package} {version}-{release} added {name}.",
    "removed": "{package} {version}-{release} dropped {name}; it is reverted here.",
}


#: Header fields of a SUSE patch that the commit adding it repeats: what
#: the patch is, and which bugs and upstream commits it answers.
ORIGIN_FIELDS = ("Subject", "References")
#: Longest value kept; the patch file in the commit has the whole header.
ORIGIN_MAX_CHARS = 300
_DIFF_START = (b"--- ", b"+++ ", b"diff ", b"Index: ", b"@@ ")


def patch_origin(patch: bytes) -> list[str]:
    """``Subject:`` and ``References:`` of a patch header, unfolded, one clean line each.

    The header comes from the mirror: every character that could start a
    new line or a trailer in the commit message is flattened to a space.

    >>> patch_origin(b"From: x\\nSubject: xen: fix\\n the console\\nReferences: bnc#1, bnc#2\\n---\\n")
    ['Subject: xen: fix the console', 'References: bnc#1, bnc#2']
    """
    found: dict[str, str] = {}
    current = ""
    for raw in patch.split(b"\n"):
        line = raw.rstrip(b"\r")
        if line == b"---" or line.startswith(_DIFF_START):
            break
        if current and line[:1] in (b" ", b"\t") and line.strip():
            found[current] += " " + line.decode("utf-8", "replace")
            continue
        current = ""
        key, sep, value = line.partition(b":")
        name = key.decode("ascii", "replace")
        if sep and name in ORIGIN_FIELDS and name not in found:
            found[name] = value.decode("utf-8", "replace")
            current = name
    lines = []
    for name in ORIGIN_FIELDS:
        text = " ".join("".join(ch if ch.isprintable() else " " for ch in found.get(name, "")).split())
        if text:
            lines.append(f"{name}: {text[:ORIGIN_MAX_CHARS]}")
    return lines


def added_body(body: str, patch: bytes) -> str:
    """The body of a commit that adds ``patch``: ``body``, then the patch's own Subject and References.

    Indented, so no tool takes them for this commit's trailers.
    """
    origin = patch_origin(patch)
    if not origin:
        return body
    return body + "\n\n" + "\n".join("    " + line for line in origin)


def subject(template: str, *, name: str, previous_name: str | None, source: SourceInfo, package: str) -> str:
    return template.format(
        name=name,
        previous_name=previous_name or name,
        package=package,
        version=source.version,
        release=source.release,
    )


def package_name(source: SourceInfo) -> str:
    """``kernel-source`` from ``kernel-source-2.6.32.10-0.0.3.src.rpm``."""
    suffix = f"-{source.version}-{source.release}"
    stem = source.file.removesuffix(".src.rpm").removesuffix(".nosrc.rpm")
    return stem.removesuffix(suffix) if stem.endswith(suffix) else "kernel-source"


def source_trailers(source: SourceInfo) -> list[tuple[str, str]]:
    return [(TRAILER_SOURCE, source.url or source.file), (TRAILER_SHA256, source.tarball_sha256)]


def trailers(message: bytes) -> dict[str, list[str]]:
    """The trailer block (last paragraph made only of ``Key: value`` lines)."""
    paragraphs = message.rstrip(b"\n").split(b"\n\n")
    if len(paragraphs) < 2:
        return {}
    lines = paragraphs[-1].split(b"\n")
    if not all(_TRAILER_LINE.match(line) for line in lines):
        return {}
    found: dict[str, list[str]] = {}
    for line in lines:
        key, _, value = line.decode("utf-8", "replace").partition(": ")
        found.setdefault(key, []).append(value.strip())
    return found


def add_trailers(message: bytes, new: list[tuple[str, str]], *, signoff: bytes | None = None) -> bytes:
    """``message`` with ``new`` trailers replacing earlier patchsync ones, plus a sign-off."""
    body = message.rstrip(b"\n")
    paragraphs = body.split(b"\n\n")
    block: list[bytes] = []
    if len(paragraphs) > 1 and all(_TRAILER_LINE.match(line) for line in paragraphs[-1].split(b"\n")):
        block = paragraphs.pop().split(b"\n")
    ours = {key.encode() for key, _ in new}
    block = [line for line in block if line.split(b":", 1)[0] not in ours]
    block += [f"{key}: {value}".encode() for key, value in new]
    if signoff is not None:
        line = b"Signed-off-by: " + signoff
        if line not in block:
            block.append(line)
    return b"\n\n".join([*paragraphs, b"\n".join(block)]) + b"\n"


def rename_in_subject(message: bytes, old: str, new: str) -> bytes:
    r"""``message`` with the patch name ``old`` replaced by ``new`` in its subject line only.

    A development-mode rewrite keeps each commit's message, but a subject
    that still names the old patch would misdescribe the commit.  Only a
    whole name is replaced (not ``xen3-foo`` inside ``xen3-foo-2``).

    >>> rename_in_subject(b"[Xen] xen3-old.diff\n\nbody xen3-old.diff\n", "xen3-old.diff", "xen3-new.diff")
    b'[Xen] xen3-new.diff\n\nbody xen3-old.diff\n'
    >>> rename_in_subject(b"[Xen] xen3-old.diff-2\n", "xen3-old.diff", "xen3-new.diff")
    b'[Xen] xen3-old.diff-2\n'
    """
    subject, sep, rest = message.partition(b"\n")
    pattern = re.compile(rb"(?<![\w.-])" + re.escape(old.encode()) + rb"(?![\w.-])")
    return pattern.sub(lambda _: new.encode(), subject) + sep + rest


def new_message(subject_line: str, body: str, target: TargetConfig, source: SourceInfo, ids: Identities) -> bytes:
    """A message for a commit sync creates: subject, BugLink, body, trailers.

    Every name in it was checked where it entered (:mod:`patchsync.names`);
    this last check keeps a line break from anywhere out of the subject
    and the trailers, whose lines tools parse.
    """
    for value in (subject_line, *(v for _, v in source_trailers(source))):
        problem = control_problem(value.replace("\t", " "))
        if problem:
            raise PatchError(f"refusing to write a commit message: {problem}", where=source.file or None)
    parts = [subject_line.encode()]
    if target.buglink:
        # Ubuntu's kernel convention: BugLink first in the body.
        parts.append(f"BugLink: {target.buglink}".encode())
    if body:
        parts.append(body.encode())
    message = b"\n\n".join(parts) + b"\n"
    return add_trailers(message, source_trailers(source), signoff=ids.committer_name_email if target.signoff else None)
