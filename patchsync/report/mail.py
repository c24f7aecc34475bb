"""The emailed report of one cycle (issue 5, section 4); no I/O.

One text/plain mail for all targets, readable in mutt, with one
``<patch>.diff`` attachment per changed patch.  Mails about a target thread
together: every mail references a fixed per-target thread root and the
previous mail about that target, so a lost or deleted mail never breaks
the thread.
"""

from __future__ import annotations

import email.policy
import hashlib
import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from .. import __version__
from ..config import TargetConfig
from ..model import STATUSES, UNCHECKED, SourceInfo
from ..runs import CycleResult, TargetRun
from . import next_step

#: More changed patches than this and the interdiffs come as one combined
#: ``interdiff.diff`` (issue 5, section 4): mail clients choke on hundreds
#: of attachments.
MAX_ATTACHMENTS = 50
COMBINED_NAME = "interdiff.diff"

#: Longest error text quoted in a subject; the body has the whole message.
SUBJECT_ERROR_CHARS = 100

#: Drift statuses counted in a one-target subject, in report order; held
#: patches are the team's own business and unchanged ones no news.
_SUBJECT_STATUSES = tuple(s for s in STATUSES if s not in ("unchanged", "held"))

_FALLBACK_DOMAIN = "patchsync.invalid"

#: Fold and encode only past RFC 5322's hard limit of 998 characters: at
#: the default 78 the stdlib folds a long Subject right after the colon
#: (readers then show a leading space) and sends any body with a long
#: line, such as a commit subject, as quoted-printable, which is unreadable
#: in a raw mailbox.
POLICY = email.policy.default.clone(max_line_length=998)


@dataclass(frozen=True)
class Report:
    """A rendered report, ready for the outbox."""

    message: EmailMessage
    subject: str
    message_id: str
    dedup_key: str
    targets: tuple[str, ...]

    def as_bytes(self) -> bytes:
        return self.message.as_bytes()


def dedup_key(result: CycleResult) -> str:
    """Equal for two cycles that would tell the reader the same thing.

    The same tarball (by digest, not file name: a KOTD rebuilt with a new
    release number but the same patches is no news) and, per target, the
    same status and review branch head.
    """
    tarball: str | list[str] = result.source.tarball_sha256 if result.source else ""
    if result.several_sources:
        tarball = [s.info.tarball_sha256 if s.info else "" for s in result.sources]
    data = {
        "tarball_sha256": tarball,
        "targets": sorted([t.name, t.status, t.head] for t in result.targets),
        "error": result.error,
        "dry_run": result.dry_run,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def mail_domain(sender: str) -> str:
    """The right-hand side of Message-IDs: the sender's domain."""
    _, addr = parseaddr(sender)
    local, at, domain = addr.rpartition("@")
    return domain if at and local and re.fullmatch(r"[A-Za-z0-9.-]+", domain) else _FALLBACK_DOMAIN


def _id_part(name: str) -> str:
    """A target name made safe for a msg-id; distinct names stay distinct.

    >>> _id_part("lucid-ec2")
    'lucid-ec2'
    >>> _id_part("a@b")
    'a_b-7508d8b5'
    """
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", name)
    if safe != name:
        safe += "-" + hashlib.sha256(name.encode()).hexdigest()[:8]
    return safe


def thread_root(target: str, domain: str) -> str:
    """The fixed Message-ID every mail about ``target`` refers to."""
    return f"<patchsync.{_id_part(target)}@{domain}>"


def message_id(key: str, domain: str) -> str:
    """Stable: re-rendering the same report gives the same Message-ID.

    Short on purpose: a folded msg-id confuses some readers, and the targets
    are named in X-Patchsync-Targets and References anyway.
    """
    return f"<patchsync-{key[:24]}@{domain}>"


def _shorten(text: str, limit: int = SUBJECT_ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _conflict_name(target: TargetRun) -> str:
    if not target.conflicts:
        return "unknown patch"
    first = target.conflicts[0]
    return first.patch or (f"commit {first.commit[:12]}" if first.commit else "unknown patch")


def subject(result: CycleResult, package: str) -> str:
    """``[patchsync] kernel-source <version>-<release>: <what happened>``.

    With several sources no one version stands for the cycle: the subject
    names the package and counts targets across the sources.
    """
    head = f"[patchsync] {package}"
    if result.several_sources:
        head += f" ({len(result.sources)} sources)"
    elif result.source is not None:
        head += f" {result.source.version}-{result.source.release}"
    if result.dry_run:
        head += " (dry run)"
    if result.error and not result.targets:
        return f"{head}: error: {_shorten(result.error)}"
    if result.error:
        # Several sources, some failed: the others' targets still count.
        return f"{head}: {_many_targets(result.targets)}; error: {_shorten(result.error, 60)}"
    if len(result.targets) == 1:
        return f"{head}: {_one_target(result.targets[0])}"
    return f"{head}: {_many_targets(result.targets)}"


def _one_target(target: TargetRun) -> str:
    parts = [f"{target.counts[s]} {s}" for s in _SUBJECT_STATUSES if target.counts.get(s)]
    if target.status == "error":
        return "; ".join([*parts, f"error: {_shorten(target.error)}"])
    if target.status == "conflict":
        return "; ".join([*parts, f"conflict in {_conflict_name(target)}"])
    if parts:
        return ", ".join(parts)
    return {"up-to-date": "up to date", "in-sync": "in sync"}.get(target.status, target.status)


def _many_targets(targets: Sequence[TargetRun]) -> str:
    def count(status: str) -> list[TargetRun]:
        return [t for t in targets if t.status == status]

    parts: list[str] = []
    for status, one, many in (
        ("updated", "{n} target updated", "{n} targets updated"),
        ("drift", "{n} target with drift", "{n} targets with drift"),
        ("conflict", "{n} conflict", "{n} conflicts"),
        ("error", "{n} error", "{n} errors"),
        ("up-to-date", "{n} up to date", "{n} up to date"),
        ("in-sync", "{n} in sync", "{n} in sync"),
    ):
        found = count(status)
        if not found:
            continue
        text = (one if len(found) == 1 else many).format(n=len(found))
        if status == "conflict":
            text += " (" + ", ".join(f"{t.name}: {_conflict_name(t)}" for t in found) + ")"
        elif status == "error":
            text += " (" + ", ".join(f"{t.name}: {_shorten(t.error, 60)}" for t in found) + ")"
        parts.append(text)
    return ", ".join(parts) or "no targets"


def body(result: CycleResult, targets: Mapping[str, TargetConfig] | None = None) -> str:
    """The text/plain part: what ran on what, then each target (``targets``: their config, by name).

    With several sources, one section per source: its KOTD (or why it
    could not be obtained), then its targets.
    """
    if result.several_sources:
        return _body_by_source(result, targets or {})
    lines: list[str] = []
    if result.source is not None:
        lines += _source_lines(result.source, result.targets)
    when = f"{result.started:%Y-%m-%d %H:%M:%S %Z} - {result.finished:%H:%M:%S %Z}"
    run = f"#{result.run_id} " if result.run_id is not None else ""
    lines.append(f"Run:      {run}{result.trigger}, {when}")
    if result.dry_run:
        lines.append("Dry run:  nothing was written")
    if result.error:
        lines += ["", "The cycle failed:", *_indent(result.error, "  ")]
    for target in result.targets:
        lines += ["", *_target_lines(target, (targets or {}).get(target.name))]
    lines += ["", "-- ", f"patchsync {__version__}"]
    return "\n".join(lines) + "\n"


def _source_lines(src: SourceInfo, targets: Sequence[TargetRun]) -> list[str]:
    return [
        f"Source:   {src.file}",
        *([f"URL:      {src.url}"] if src.url and src.url != src.file else []),
        f"Tarball:  {src.tarball}",
        f"SHA-256:  {src.tarball_sha256}",
        _signature(src),
        # "tarball unchanged since <file>" explains a quiet report; next
        # to a list of changes it reads as a contradiction.
        *([f"Note:     {src.note}"] if src.note and not _lists_changes(targets) else []),
    ]


def _body_by_source(result: CycleResult, targets: Mapping[str, TargetConfig]) -> str:
    when = f"{result.started:%Y-%m-%d %H:%M:%S %Z} - {result.finished:%H:%M:%S %Z}"
    run = f"#{result.run_id} " if result.run_id is not None else ""
    lines = [f"Run:      {run}{result.trigger}, {when}"]
    if result.dry_run:
        lines.append("Dry run:  nothing was written")
    for source in result.sources:
        lines += ["", f"== source {source.name} =="]
        if source.info is not None:
            lines += _source_lines(source.info, result.targets_of(source.name))
        if source.error:
            lines += ["", "Obtaining the KOTD failed; its targets were not compared:", *_indent(source.error, "  ")]
        for target in result.targets_of(source.name):
            lines += ["", *_target_lines(target, targets.get(target.name))]
    lines += ["", "-- ", f"patchsync {__version__}"]
    return "\n".join(lines) + "\n"


def _signature(src: SourceInfo) -> str:
    """Who signed the KOTD, as verified; or that nothing was checked, in the words ``config check`` uses."""
    sig = src.signature
    if sig is None:
        return f"Signature: {UNCHECKED.removeprefix('signature: ')}"
    return f"Signed:   {sig.signer} ({sig.signed_at:%Y-%m-%d %H:%M:%S} UTC)"


def _lists_changes(targets: Sequence[TargetRun]) -> bool:
    return any(t.patches or t.commits or t.conflicts for t in targets)


def review_command(conf: TargetConfig) -> str:
    """The command that shows a maintainer what sync wrote for ``conf``.

    >>> review_command(TargetConfig("lucid-ec2", "/srv/git/lucid", "ec2"))
    'git -C /srv/git/lucid log -p ec2..patchsync/lucid-ec2'
    >>> review_command(TargetConfig("n", "/srv/n", "ec2", base="v2.6.32", mode="development"))
    'git -C /srv/n range-diff v2.6.32..ec2 v2.6.32..patchsync/n'
    """
    review = conf.review_ref.removeprefix("refs/heads/")
    repo = shlex.quote(conf.repo)
    if conf.mode == "development":
        return f"git -C {repo} range-diff {conf.base}..{conf.branch} {conf.base}..{review}"
    return f"git -C {repo} log -p {conf.branch}..{review}"


def _where_lines(target: TargetRun, conf: TargetConfig | None) -> list[str]:
    """The repository, the review branch and how to review it."""
    lines = [f"  repository    {conf.repo}"] if conf is not None else []
    if target.ref:
        head = f" at {target.head[:12]}" if target.head else ""
        lines.append(f"  review branch {target.ref}{head}")
        if conf is not None and target.commits:
            lines.append(f"  review with   {review_command(conf)}")
    return lines


def _target_lines(target: TargetRun, conf: TargetConfig | None = None) -> list[str]:
    lines = [f"{target.name} ({target.mode}): {target.status}", *_where_lines(target, conf)]
    if target.counts:
        names = [s for s in STATUSES if s in target.counts]
        widths = [max(len(s), len(str(target.counts[s]))) for s in names]
        lines += [
            "",
            "  " + "  ".join(s.rjust(w) for s, w in zip(names, widths, strict=True)),
            "  " + "  ".join(str(target.counts[s]).rjust(w) for s, w in zip(names, widths, strict=True)),
        ]
    if target.patches:
        lines.append("")
        width = max(len(p.status) for p in target.patches)
        for patch in target.patches:
            was = f" (was {patch.previous_name})" if patch.previous_name else ""
            lines.append(f"  {patch.status.ljust(width)}  {patch.name}{was}")
    if target.order_changes:
        lines += ["", "  series order changed: " + ", ".join(target.order_changes)]
    if target.commits:
        lines += ["", "  commits:"]
        lines += [f"    {c.sha[:12]} {c.subject}" for c in target.commits]
    for conflict in target.conflicts:
        what = conflict.patch or "?"
        if conflict.commit:
            what += f" (replaying commit {conflict.commit[:12]})"
        lines += ["", f"  conflict in {what}"]
        if conflict.files:
            lines.append("    files: " + ", ".join(conflict.files))
        lines += _indent(conflict.message, "    | ")
        if conflict.patch:
            lines.append(f"    next: {next_step(conflict.patch)}")
    if target.error:
        lines += ["", "  error:", *_indent(target.error, "    ")]
    if target.warnings:
        lines += ["", "  warnings:"]
        lines += [f"    - {w}" for w in target.warnings]
    return lines


def _indent(text: str, prefix: str) -> list[str]:
    return [(prefix + line).rstrip() for line in text.rstrip("\n").splitlines()] or [prefix.rstrip()]


def attachments(result: CycleResult) -> list[tuple[str, str]]:
    """(file name, interdiff) per changed patch, or one combined file beyond the limit."""
    items: list[tuple[str, str, str]] = []  # (target, patch, interdiff)
    for target in result.targets:
        for patch in target.patches:
            text = target.interdiffs.get(patch.name, "")
            if text:
                items.append((target.name, patch.name, text))
    if len(items) > MAX_ATTACHMENTS:
        several = len(result.targets) > 1
        chunks = []
        for target_name, name, text in items:
            label = f"{target_name}: {name}" if several else name
            chunks.append(f"### {label}\n{text if text.endswith(chr(10)) else text + chr(10)}")
        return [(COMBINED_NAME, "".join(chunks))]
    files: list[tuple[str, str]] = []
    used: dict[str, str] = {}
    for target_name, name, text in items:
        filename = name.replace("/", "_") + ".diff"
        if used.get(filename) == text:
            # The same change in two targets (trees on one KOTD): once is enough.
            continue
        if filename in used:
            # The same patch changed differently in two targets: keep both, told apart.
            filename = f"{target_name}_{filename}"
        used[filename] = text
        files.append((filename, text))
    return files


def render(
    result: CycleResult,
    *,
    package: str,
    sender: str,
    recipients: Sequence[str],
    previous: Mapping[str, str | None],
    targets: Sequence[TargetConfig] = (),
) -> Report:
    """The whole mail; ``previous`` maps a target to its last mail's Message-ID.

    ``targets`` (the config's) name each target's repository and the
    command that reviews its branch in the body.
    """
    key = dedup_key(result)
    domain = mail_domain(sender)
    msgid = message_id(key, domain)
    subj = subject(result, package)
    msg = EmailMessage(policy=POLICY)
    msg["Subject"] = subj
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = format_datetime(result.finished)
    msg["Message-ID"] = msgid
    # RFC 3834: a machine wrote this; vacation responders and ticket
    # systems must not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    references: list[str] = []
    for target in result.targets:
        for ref in (thread_root(target.name, domain), previous.get(target.name)):
            if ref and ref not in references and ref != msgid:
                references.append(ref)
    if references:
        # The newest mail of the first target is the parent; References
        # carries every target's root and last mail so each thread holds.
        parent = next((previous[t.name] for t in result.targets if previous.get(t.name)), references[0])
        msg["In-Reply-To"] = parent
        msg["References"] = " ".join(references)
    msg["X-Patchsync-Targets"] = ", ".join(t.name for t in result.targets)
    if result.source is not None:
        msg["X-Patchsync-Tarball-SHA256"] = result.source.tarball_sha256
        sig = result.source.signature
        # For mail filters: the signer's fingerprint, or that nothing was checked.
        msg["X-Patchsync-Signer"] = sig.fingerprint if sig is not None else "unchecked"
    elif result.several_sources:
        msg["X-Patchsync-Sources"] = ", ".join(s.name for s in result.sources)
    msg.set_content(body(result, {t.name: t for t in targets}))
    for filename, text in attachments(result):
        _attach_diff(msg, filename, text)
    return Report(
        message=msg, subject=subj, message_id=msgid, dedup_key=key, targets=tuple(t.name for t in result.targets)
    )


def _attach_diff(msg: EmailMessage, filename: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        # Patches are bytes and may not be UTF-8 (the compare side decodes
        # them losslessly with surrogateescape): ship the exact bytes.
        data = text.encode("utf-8", "surrogateescape")
        msg.add_attachment(data, maintype="text", subtype="x-diff", filename=filename)
        return
    msg.add_attachment(text, subtype="x-diff", filename=filename)
