"""The mailed report: exact subject, body, attachments and threading headers."""

from __future__ import annotations

import email
import email.policy
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from patchsync import __version__
from patchsync.config import TargetConfig
from patchsync.model import STATUSES, SignatureInfo, SourceInfo
from patchsync.report import mail
from patchsync.runs import Commit, Conflict, CycleResult, PatchLine, SourceRun, TargetRun

SOURCE = SourceInfo(
    url="https://kotd.example.org/src/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    file="kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm",
    version="2.6.32.10",
    release="0.0.3.bbbb222",
    tarball="patches.xen.tar.bz2",
    tarball_sha256="5" * 64,
)
STARTED = datetime(2026, 11, 23, 21, 30, tzinfo=UTC)
FINISHED = datetime(2026, 11, 23, 21, 31, 5, tzinfo=UTC)


def _counts(**kw: int) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    counts.update(kw)
    return counts


UPDATED = TargetRun(
    name="lucid-ec2",
    mode="released",
    status="updated",
    counts=_counts(unchanged=40, modified=3, added=2, removed=1),
    patches=(
        PatchLine("xen3-patch-03.diff", "modified"),
        PatchLine("xen3-patch-04.diff", "modified"),
        PatchLine("xen3-patch-05.diff", "modified"),
        PatchLine("xen3-new-1.diff", "added"),
        PatchLine("xen3-new-2.diff", "added"),
        PatchLine("xen3-gone.diff", "removed"),
    ),
    ref="refs/heads/patchsync/lucid-ec2",
    head="a" * 40,
    commits=(
        Commit("1" * 40, "UBUNTU: [Xen] xen3-patch-03.diff: update from kernel-source 2.6.32.10-0.0.3.bbbb222"),
        Commit("2" * 40, "UBUNTU: [Xen] xen3-new-1.diff: add from kernel-source 2.6.32.10-0.0.3.bbbb222"),
    ),
    interdiffs={
        "xen3-patch-03.diff": "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-old\n+new\n",
        "xen3-new-1.diff": "--- /dev/null\n+++ b/y.c\n@@ -0,0 +1 @@\n+y\n",
    },
)
CONFLICT = TargetRun(
    name="maverick-ec2",
    mode="development",
    status="conflict",
    counts=_counts(unchanged=44, modified=1),
    patches=(PatchLine("xen3-patch-07.diff", "modified"),),
    ref="refs/heads/patchsync/maverick-ec2",
    conflicts=(
        Conflict(
            "xen3-patch-07.diff",
            None,
            ("arch/x86/kernel/setup.c",),
            "error: patch failed: arch/x86/kernel/setup.c:12\nerror: arch/x86/kernel/setup.c: patch does not apply\n",
        ),
    ),
)


def _result(*targets: TargetRun, **kw: object) -> CycleResult:
    fields: dict[str, object] = {
        "trigger": "timer",
        "started": STARTED,
        "finished": FINISHED,
        "source": SOURCE,
        "targets": targets,
        "run_id": 12,
    }
    fields.update(kw)
    # A single-source cycle: its one source, named "default", or none when it failed.
    source = fields.pop("source")
    error = str(fields.get("error", ""))
    fields["sources"] = (SourceRun("default", source, "" if source else error),)  # type: ignore[arg-type]
    return CycleResult(**fields)  # type: ignore[arg-type]


TARGETS = (
    TargetConfig("lucid-ec2", "/srv/git/ubuntu lucid", "ec2"),
    TargetConfig("maverick-ec2", "/srv/git/ubuntu-maverick", "ec2", base="v2.6.35", mode="development"),
)


def _render(result: CycleResult, previous: dict[str, str | None] | None = None) -> EmailMessage:
    report = mail.render(
        result,
        package="kernel-source",
        sender="patchsync <patchsync@example.org>",
        recipients=["kernel-team@example.org"],
        previous=previous or {},
        targets=TARGETS,
    )
    # What the SMTP server receives, parsed back as a mail reader would.
    parsed = email.message_from_bytes(report.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_subject_for_one_target_counts_the_drift() -> None:
    assert mail.subject(_result(UPDATED), "kernel-source") == (
        "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 3 modified, 2 added, 1 removed"
    )


def test_subject_for_one_target_names_the_conflicting_patch() -> None:
    assert mail.subject(_result(CONFLICT), "kernel-source") == (
        "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 1 modified; conflict in xen3-patch-07.diff"
    )


def test_subject_for_one_target_names_the_error() -> None:
    broken = TargetRun("lucid-ec2", "released", "error", error="/srv/git/lucid: branch 'ec2' does not exist")
    assert mail.subject(_result(broken), "kernel-source") == (
        "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: error: /srv/git/lucid: branch 'ec2' does not exist"
    )


def test_subject_for_several_targets() -> None:
    other = replace(UPDATED, name="karmic-ec2")
    assert mail.subject(_result(UPDATED, other, CONFLICT), "kernel-source") == (
        "[patchsync] kernel-source 2.6.32.10-0.0.3.bbbb222: 2 targets updated, "
        "1 conflict (maverick-ec2: xen3-patch-07.diff)"
    )


def test_subject_for_a_cycle_that_failed_before_any_target() -> None:
    result = _result(source=None, error="https://kotd.example.org/src/: HTTP 503 Service Unavailable")
    assert mail.subject(result, "kernel-source") == (
        "[patchsync] kernel-source: error: https://kotd.example.org/src/: HTTP 503 Service Unavailable"
    )


def test_subject_shortens_long_errors() -> None:
    result = _result(source=None, error="x" * 300)
    assert mail.subject(result, "kernel-source") == "[patchsync] kernel-source: error: " + "x" * 97 + "..."


def test_signer_is_named_in_the_body_and_a_header() -> None:
    signer = SignatureInfo(
        fingerprint="0123456789ABCDEF0123456789ABCDEF01234567",
        user_id="Kernel of the Day <kotd@example.org>",
        signed_at=datetime(2026, 11, 23, 20, 15, 7, tzinfo=UTC),
        key_id="0123456789ABCDEF",
    )
    msg = _render(_result(UPDATED, source=replace(SOURCE, signature=signer)))
    text = msg.get_body(("plain",))
    assert text is not None
    assert (
        f"SHA-256:  {'5' * 64}\n"
        "Signed:   0123456789ABCDEF0123456789ABCDEF01234567 Kernel of the Day <kotd@example.org>"
        " (2026-11-23 20:15:07 UTC)\n"
        "Run:      "
    ) in text.get_content()
    assert msg["X-Patchsync-Signer"] == "0123456789ABCDEF0123456789ABCDEF01234567"
    assert _render(_result(UPDATED))["X-Patchsync-Signer"] == "unchecked"


def test_body_is_the_exact_text() -> None:
    msg = _render(_result(UPDATED, CONFLICT))
    text = msg.get_body(("plain",))
    assert text is not None
    assert text.get_content() == (
        "Source:   kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n"
        "URL:      https://kotd.example.org/src/kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n"
        "Tarball:  patches.xen.tar.bz2\n"
        f"SHA-256:  {'5' * 64}\n"
        "Signature: not checked (source.keys is empty)\n"
        "Run:      #12 timer, 2026-11-23 21:30:00 UTC - 21:31:05 UTC\n"
        "\n"
        "lucid-ec2 (released): updated\n"
        "  repository    /srv/git/ubuntu lucid\n"
        "  review branch refs/heads/patchsync/lucid-ec2 at aaaaaaaaaaaa\n"
        "  review with   git -C '/srv/git/ubuntu lucid' log -p ec2..patchsync/lucid-ec2\n"
        "\n"
        "  unchanged  metadata  refreshed  modified  added  removed  renamed  held\n"
        "         40         0          0         3      2        1        0     0\n"
        "\n"
        "  modified  xen3-patch-03.diff\n"
        "  modified  xen3-patch-04.diff\n"
        "  modified  xen3-patch-05.diff\n"
        "  added     xen3-new-1.diff\n"
        "  added     xen3-new-2.diff\n"
        "  removed   xen3-gone.diff\n"
        "\n"
        "  commits:\n"
        "    111111111111 UBUNTU: [Xen] xen3-patch-03.diff: update from kernel-source 2.6.32.10-0.0.3.bbbb222\n"
        "    222222222222 UBUNTU: [Xen] xen3-new-1.diff: add from kernel-source 2.6.32.10-0.0.3.bbbb222\n"
        "\n"
        "maverick-ec2 (development): conflict\n"
        "  repository    /srv/git/ubuntu-maverick\n"
        "  review branch refs/heads/patchsync/maverick-ec2\n"
        "\n"
        "  unchanged  metadata  refreshed  modified  added  removed  renamed  held\n"
        "         44         0          0         1      0        0        0     0\n"
        "\n"
        "  modified  xen3-patch-07.diff\n"
        "\n"
        "  conflict in xen3-patch-07.diff\n"
        "    files: arch/x86/kernel/setup.c\n"
        "    | error: patch failed: arch/x86/kernel/setup.c:12\n"
        "    | error: arch/x86/kernel/setup.c: patch does not apply\n"
        "    next: hold xen3-patch-07.diff (the target's 'hold') or update it by hand on the branch, then sync again\n"
        "\n"
        "-- \n"
        f"patchsync {__version__}\n"
    )
    assert text.get_content_type() == "text/plain"


def test_renames_held_warnings_and_errors_are_in_the_body() -> None:
    target = TargetRun(
        name="lucid-ec2",
        mode="development",
        status="error",
        patches=(PatchLine("xen3-b.diff", "renamed", "xen3-a.diff"), PatchLine("xen3-c.diff", "held")),
        order_changes=("xen3-c.diff",),
        warnings=("xen3-d.diff: guarded out by +needs_update",),
        error="/srv/git/lucid: refs/heads/patchsync/lucid-ec2 has commits patchsync did not write",
    )
    text = mail.body(_result(target))
    assert text.split("\n\n", 2)[2].split("\n-- \n")[0] == (
        "  renamed  xen3-b.diff (was xen3-a.diff)\n"
        "  held     xen3-c.diff\n"
        "\n"
        "  series order changed: xen3-c.diff\n"
        "\n"
        "  error:\n"
        "    /srv/git/lucid: refs/heads/patchsync/lucid-ec2 has commits patchsync did not write\n"
        "\n"
        "  warnings:\n"
        "    - xen3-d.diff: guarded out by +needs_update\n"
    )


def test_one_attachment_per_changed_patch_with_its_interdiff() -> None:
    msg = _render(_result(UPDATED))
    parts = [(p.get_filename(), p.get_content_type(), p.get_content()) for p in msg.iter_attachments()]
    assert parts == [
        ("xen3-patch-03.diff.diff", "text/x-diff", "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-old\n+new\n"),
        ("xen3-new-1.diff.diff", "text/x-diff", "--- /dev/null\n+++ b/y.c\n@@ -0,0 +1 @@\n+y\n"),
    ]


def test_non_utf8_interdiff_keeps_its_bytes() -> None:
    raw = b"--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-caf\xe9\n+cafe\n"
    target = replace(UPDATED, interdiffs={"xen3-patch-03.diff": raw.decode("utf-8", "surrogateescape")})
    (part,) = _render(_result(target)).iter_attachments()
    assert part.get_filename() == "xen3-patch-03.diff.diff"
    assert part.get_content_type() == "text/x-diff"
    assert part.get_payload(decode=True) == raw


def test_more_than_fifty_changed_patches_come_as_one_combined_file() -> None:
    names = [f"xen3-p{i:03d}.diff" for i in range(51)]
    target = replace(
        UPDATED,
        patches=tuple(PatchLine(n, "modified") for n in names),
        interdiffs={n: f"--- a/{n}\n+++ b/{n}\n" for n in names},
    )
    (part,) = _render(_result(target)).iter_attachments()
    assert part.get_filename() == "interdiff.diff"
    content = part.get_content()
    assert content.startswith("### xen3-p000.diff\n--- a/xen3-p000.diff\n+++ b/xen3-p000.diff\n### xen3-p001.diff\n")
    assert content.count("### ") == 51
    fifty = replace(target, patches=target.patches[:50])
    assert len(list(_render(_result(fifty)).iter_attachments())) == 50


def test_threading_headers() -> None:
    first = _render(_result(UPDATED))
    assert first["Message-ID"] == mail.message_id(mail.dedup_key(_result(UPDATED)), "example.org")
    assert first["Message-ID"].startswith("<patchsync-")
    # The first mail of a target already refers to the target's thread root,
    # so mails thread even when the previous one is lost.
    assert first["In-Reply-To"] == "<patchsync.lucid-ec2@example.org>"
    assert first["References"] == "<patchsync.lucid-ec2@example.org>"
    later = _render(
        _result(replace(UPDATED, head="b" * 40), CONFLICT),
        previous={"lucid-ec2": first["Message-ID"], "maverick-ec2": None},
    )
    assert later["In-Reply-To"] == first["Message-ID"]
    assert later["References"].split() == [
        "<patchsync.lucid-ec2@example.org>",
        first["Message-ID"],
        "<patchsync.maverick-ec2@example.org>",
    ]
    assert later["Message-ID"] != first["Message-ID"]
    assert later["From"] == "patchsync <patchsync@example.org>"
    assert later["To"] == "kernel-team@example.org"
    assert later["Date"] == "Mon, 23 Nov 2026 21:31:05 +0000"


def test_message_id_is_stable_and_the_dedup_key_ignores_the_release() -> None:
    a = mail.render(_result(UPDATED), package="kernel-source", sender="p@example.org", recipients=["x@y"], previous={})
    b = mail.render(_result(UPDATED), package="kernel-source", sender="p@example.org", recipients=["x@y"], previous={})
    assert a.message_id == b.message_id
    rebuilt = replace(SOURCE, release="0.0.4.cccc333", file="kernel-source-2.6.32.10-0.0.4.cccc333.src.rpm")
    assert mail.dedup_key(_result(UPDATED, source=rebuilt)) == a.dedup_key
    # A new tarball, or a target whose result changed, is news.
    assert mail.dedup_key(_result(UPDATED, source=replace(SOURCE, tarball_sha256="6" * 64))) != a.dedup_key
    assert mail.dedup_key(_result(replace(UPDATED, head="b" * 40))) != a.dedup_key
    assert mail.dedup_key(_result(replace(UPDATED, status="up-to-date"))) != a.dedup_key


@pytest.mark.parametrize(
    ("sender", "domain"),
    [
        ("patchsync@example.org", "example.org"),
        ("P <p@kernel.example>", "kernel.example"),
        ("root", "patchsync.invalid"),
    ],
)
def test_message_id_domain_comes_from_the_sender(sender: str, domain: str) -> None:
    assert mail.mail_domain(sender) == domain


def test_auto_submitted_and_no_unchanged_note_next_to_changes() -> None:
    noted = replace(SOURCE, note=f"tarball unchanged since {SOURCE.file}")
    msg = _render(_result(UPDATED, source=noted))
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",))
    assert text is not None
    assert "unchanged since" not in text.get_content()
    # A report with nothing to list keeps the note: it explains the quiet.
    quiet = TargetRun(name="lucid-ec2", mode="released", status="up-to-date", counts=_counts(unchanged=46))
    text = _render(_result(quiet, source=noted)).get_body(("plain",))
    assert text is not None
    assert f"Note:     tarball unchanged since {SOURCE.file}\n" in text.get_content()


def test_the_same_interdiff_in_two_targets_is_attached_once() -> None:
    twin = replace(UPDATED, name="natty-ec2", ref="refs/heads/patchsync/natty-ec2")
    different = replace(
        UPDATED, name="maverick-ec2", interdiffs={"xen3-patch-03.diff": "--- a/x.c\n+++ b/x.c\n@@ -1 +1 @@\n-o\n+n\n"}
    )
    msg = _render(_result(UPDATED, twin, different))
    names = [part.get_filename() for part in msg.iter_attachments()]
    assert names == ["xen3-patch-03.diff.diff", "xen3-new-1.diff.diff", "maverick-ec2_xen3-patch-03.diff.diff"]


def _two_sources(head_error: str = "") -> CycleResult:
    """lucid-ec2 follows sle11-sp1; maverick-ec2 follows head, whose mirror may have failed."""
    head = SourceRun("head", None if head_error else replace(SOURCE, file="kernel-source-2.6.33-0.0.1.src.rpm"))
    targets = (replace(UPDATED, source="sle11-sp1"),) + (() if head_error else (replace(CONFLICT, source="head"),))
    return CycleResult(
        trigger="timer",
        started=STARTED,
        finished=FINISHED,
        sources=(SourceRun("sle11-sp1", SOURCE), SourceRun("head", head.info, head_error)),
        targets=targets,
        error=f"source head: {head_error}" if head_error else "",
        run_id=12,
    )


def test_one_mail_for_several_sources_has_a_section_per_source() -> None:
    result = _two_sources()
    assert mail.subject(result, "kernel-source") == (
        "[patchsync] kernel-source (2 sources): 1 target updated, 1 conflict (maverick-ec2: xen3-patch-07.diff)"
    )
    msg = _render(result)
    text = msg.get_body(("plain",))
    assert text is not None
    body = text.get_content()
    sle, head = body.split("== source sle11-sp1 ==\n", 1)[1].split("== source head ==\n", 1)
    assert sle.startswith("Source:   kernel-source-2.6.32.10-0.0.3.bbbb222.src.rpm\n")
    assert "\nlucid-ec2 (released): updated\n" in sle
    assert "maverick-ec2" not in sle
    assert head.startswith("Source:   kernel-source-2.6.33-0.0.1.src.rpm\n")
    assert "\nmaverick-ec2 (development): conflict\n" in head
    assert msg["X-Patchsync-Sources"] == "sle11-sp1, head"
    assert msg["X-Patchsync-Tarball-SHA256"] is None
    # Every target's thread still holds.
    assert "<patchsync.lucid-ec2@example.org>" in msg["References"]
    assert "<patchsync.maverick-ec2@example.org>" in msg["References"]


def test_a_failed_source_is_named_in_its_section_and_the_subject() -> None:
    result = _two_sources(head_error="https://kotd.example.org/HEAD/src/: HTTP 503 Service Unavailable")
    assert mail.subject(result, "kernel-source") == (
        "[patchsync] kernel-source (2 sources): 1 target updated; error: source head: "
        "https://kotd.example.org/HEAD/src/: HTTP 503..."
    )
    text = _render(result).get_body(("plain",))
    assert text is not None
    head = text.get_content().split("== source head ==\n", 1)[1]
    assert head.startswith(
        "\nObtaining the KOTD failed; its targets were not compared:\n"
        "  https://kotd.example.org/HEAD/src/: HTTP 503 Service Unavailable\n"
    )
