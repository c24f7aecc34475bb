"""``patchsync doctor``: check a setup the way the service will use it, before it runs.

Every check runs as the user calling it (run it as the service user) and
leaves nothing behind: write access is proven by creating and removing a
temporary file, the source is listed but nothing is downloaded, the SMTP
server is logged in to but sent nothing.  Each check is one
:class:`Finding`: what was looked at, and either what was found or the
problem and how to fix it.  A check whose premise failed (the branch of a
repository git refuses) is left out rather than reported as a second,
derived failure.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import config as configmod
from .config import Config, SourceConfig, TargetConfig
from .errors import GitError, PatchsyncError, SignatureError
from .gitsync import access

#: Prefix of the temporary files and folders the write checks create (and remove).
PROBE_PREFIX = ".patchsync-doctor-"

#: How a group of maintainers and the service user share a repository (README, step 3).
SHARE_FIX = "chgrp -R <group> {repo} && chmod -R g+rwX {repo} && git -C {repo} config core.sharedRepository group"


@dataclass(frozen=True)
class Finding:
    """One check's outcome (JSON ``checks[]``)."""

    check: str
    ok: bool
    detail: str
    fix: str = ""
    target: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"check": self.check, "target": self.target, "ok": self.ok, "detail": self.detail, "fix": self.fix}


def _ok(check: str, detail: str, target: str | None = None) -> Finding:
    return Finding(check, True, detail, target=target)


def _fail(check: str, problem: str, fix: str, target: str | None = None) -> Finding:
    return Finding(check, False, problem, fix, target)


def diagnose(path: str | os.PathLike[str]) -> list[Finding]:
    """Every check of the setup the config file at ``path`` describes, in order."""
    try:
        config = configmod.load(path)
    except PatchsyncError as exc:
        # Nothing else can be checked without a config.
        return [_fail("config", str(exc), f"correct the file, then run `patchsync --config {os.fspath(path)} doctor`")]
    if config.targets:
        names = ", ".join(f"{t.name} ({t.mode})" for t in config.targets)
        findings = [_ok("config", f"{config.path}: loads; targets: {names}")]
    else:
        findings = [_fail("config", f"{config.path}: no [[target]]", "add a [[target]] table per kernel tree branch")]
    findings.append(_state_dir(config))
    findings.append(_database(config))
    for target in config.targets:
        findings.extend(_target(target))
    # With several [[source]] tables each is checked, its name first.
    several = len(config.sources) > 1
    findings.extend(_source(src, several=several) for src in config.sources)
    if config.report is not None:
        findings.append(_smtp(config))
    findings.extend(_keys(src, several=several) for src in config.sources if src.keys)
    return findings


# -- writing without leaving anything ---------------------------------------------


def _nearest_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _write_problem(folder: Path, *, make_folder: bool = False) -> str:
    """Why this user cannot create a file (or a folder) in ``folder``; "" when it can.

    Trying is the only reliable answer: permission bits say nothing about
    ACLs, a read-only mount or systemd's ``ProtectSystem=``.
    """
    try:
        if make_folder:
            os.rmdir(tempfile.mkdtemp(prefix=PROBE_PREFIX, dir=folder))
        else:
            fd, name = tempfile.mkstemp(prefix=PROBE_PREFIX, dir=folder)
            os.close(fd)
            os.unlink(name)
    except OSError as exc:
        return f"cannot write in {folder}: {exc.strerror}"
    return ""


# -- the checks -------------------------------------------------------------------


def _state_dir(config: Config) -> Finding:
    wanted = Path(config.state.dir)
    existing = _nearest_existing(wanted)
    fix = f"create it for this user (install -d -o {access.current_user()} {wanted}), or set state.dir"
    if not existing.is_dir():
        return _fail("state.dir", f"{wanted}: {existing} is not a folder", fix)
    problem = _write_problem(existing, make_folder=existing != wanted)
    if problem:
        return _fail("state.dir", f"{wanted}: {problem}", fix)
    if existing == wanted:
        return _ok("state.dir", f"{wanted}: writable")
    return _ok("state.dir", f"{wanted}: does not exist yet; can be created in {existing}")


def _database(config: Config) -> Finding:
    from .database import MIGRATIONS
    from .state import inspect_database

    known = len(MIGRATIONS)
    try:
        where, version = inspect_database(config.state)
    except PatchsyncError as exc:
        return _fail(
            "database",
            str(exc),
            "check state.database, that this machine reaches the server, and that ~/.pgpass, "
            "$PGPASSFILE or the credential db-password holds this user's password",
        )
    if version is None:
        return _ok("database", f"{where}: does not exist yet; the first sync creates it (schema version {known})")
    if version > known:
        return _fail(
            "database",
            f"{where}: schema version {version} is newer than this patchsync knows ({known})",
            "upgrade patchsync here (both machines of a pair run the same version)",
        )
    if version == 0:
        return _ok("database", f"{where}: connected; empty, the first cycle creates the schema (version {known})")
    if version < known:
        return _ok("database", f"{where}: schema version {version}; patchsync migrates it to {known} on start")
    return _ok("database", f"{where}: schema version {version} (current)")


def _target(target: TargetConfig) -> list[Finding]:  # noqa: PLR0912, PLR0915  one check after another, in the order doctor prints them
    name, repo = target.name, target.repo
    found: list[Finding] = []

    def ok(check: str, detail: str) -> None:
        found.append(_ok(check, detail, name))

    def fail(check: str, problem: str, fix: str) -> None:
        found.append(_fail(check, problem, fix, name))

    try:
        dirs = access.open_dirs(repo)
    except GitError as exc:
        if "git refuses it" in exc.message:
            fix = f"as this user: git config --global --add safe.directory {repo}"
        else:
            fix = "set repo to the path of the kernel tree's repository"
        fail("repository", str(exc), fix)
        return found
    ok("repository", f"{repo}: git accepts it")

    if target.remote:
        head = _server_branch(target, ok, fail)
    else:
        head = access.branch_commit(repo, target.branch)
        if head is None:
            fail("branch", f"{repo}: no branch {target.branch!r}", f"set branch to one of: git -C {repo} branch --list")
        else:
            ok("branch", f"{target.branch} is {head[:12]}")
    if target.base:
        # With a remote, as fetched from the server (or found here).
        base = access.commit_of(repo, target.base_rev) or access.commit_of(repo, target.base)
        if base is None:
            fail(
                "base",
                f"{repo}: no branch or commit {target.base!r}",
                f"fetch it (git -C {repo} fetch --tags <upstream>) or set base to the upstream "
                "ref the patch commits sit on",
            )
        elif target.mode == "development" and head is not None and not access.is_ancestor(repo, base, head):
            # Development sync rewrites base..branch: it refuses a base off to the side.
            fail(
                "base",
                f"{repo}: {target.base} ({base[:12]}) is not an ancestor of {target.branch}",
                f"set base to the upstream ref the patch commits sit on (git -C {repo} describe --tags {head[:12]})",
            )
        else:
            ok("base", f"{target.base} is {base[:12]}")
    if head is not None:
        kind = access.kind_at(repo, head, target.patches_dir)
        if kind != "tree":
            what = "does not exist" if kind is None else "is not a folder"
            fail(
                "patches_dir",
                f"{repo}: {target.patches_dir} {what} on {target.branch}",
                "set patches_dir to the folder of the tree that holds the patch files",
            )
        else:
            ok("patches_dir", f"{target.patches_dir} exists on {target.branch}")

    share = SHARE_FIX.format(repo=repo)
    problem = _write_problem(dirs.objects) or _write_problem(dirs.objects / "pack")
    if problem:
        fail("objects", problem, share)
    else:
        ok("objects", f"{dirs.objects}: writable")
    problem = _refs_problem(dirs, target.review_ref)
    if problem:
        fail("review_ref", f"{target.review_ref}: {problem}", share)
    else:
        ok("review_ref", f"{target.review_ref} can be written")

    try:
        from .gitsync.message import identities

        ids = identities(target, time.time())
    except PatchsyncError as exc:
        fail("identity", str(exc), 'set author = "Name <email>" in the [[target]]')
    else:
        ok("identity", "commits by " + ids.committer_name_email.decode("utf-8", "replace"))
    return found


def _server_branch(
    target: TargetConfig, ok: Callable[[str, str], None], fail: Callable[[str, str, str], None]
) -> str | None:
    """With a ``remote``: the server answers and has ``branch``; the commit to look into (as last fetched)."""
    from .gitsync.remote import server_branch

    repo = target.repo
    try:
        sha = server_branch(target)
    except GitError as exc:
        fail(
            "remote",
            str(exc),
            f"check the remote's URL (git -C {repo} remote -v) and that this user can reach it (keys, credentials)",
        )
        return None
    if sha is None:
        fail(
            "branch", f"{target.remote}: no branch {target.branch!r} on the server", "set branch to one the server has"
        )
        return None
    ok("remote", f"{target.remote}: answers; {target.branch} is {sha[:12]} there")
    # Looked into as this clone last fetched it; the first cycle fetches it.
    return access.commit_of(repo, target.branch_ref)


def _refs_problem(dirs: access.RepoDirs, ref: str) -> str:
    """Why the ref (and its reflog) could not be created or moved by this user; "" when it can."""
    if dirs.reftable is not None:
        return _write_problem(dirs.reftable)
    # A loose ref is written as <ref>.lock next to it, then renamed, and
    # its reflog under logs/; each folder may not exist yet.
    folders = [dirs.common_dir / ref, dirs.common_dir / "logs" / ref]
    for folder in folders:
        existing = _nearest_existing(folder.parent)
        problem = _write_problem(existing, make_folder=existing != folder.parent)
        if problem:
            return problem
    return ""


def _source(src: SourceConfig, *, several: bool) -> Finding:
    from .source.discover import list_candidates, newest
    from .source.http import Http
    from .source.pipeline import keyring_for

    named = f"source {src.name}: " if several else ""
    if not src.url:
        return _fail("source", f"{named}source.url is not set", "set source.url to the KOTD's src/ folder")
    # Discovery keeps conditional-GET validators in state.dir; doctor keeps
    # them in a folder of its own, thrown away afterwards.  No retries: a
    # check should answer in seconds.
    try:
        with (
            tempfile.TemporaryDirectory(prefix=PROBE_PREFIX) as cache,
            Http(timeout=src.timeout_seconds, retries=0) as http,
        ):
            # With keys, a signed repomd.xml is verified as a cycle would.
            listing = list_candidates(http, src.url, src.package, Path(cache), keyring=keyring_for(src))
            candidate = newest(listing.candidates, src.url, src.package)
    except SignatureError as exc:
        return _fail(
            "source",
            f"{named}{exc}",
            "add the certificate of the key that signs the mirror's repodata to source.keys, "
            "or have the mirror sign repomd.xml again",
        )
    except PatchsyncError as exc:
        return _fail(
            "source",
            f"{named}{exc}",
            f"set source.url to a folder that lists {src.package}-<version>-<release>.src.rpm files",
        )
    count = len(listing.candidates)
    return _ok(
        "source",
        f"{named}{src.url}: {count} src.rpm{'s' if count != 1 else ''} ({listing.via}), newest {candidate.file}",
    )


def _smtp(config: Config) -> Finding:
    from .mail import login

    report = config.report
    assert report is not None
    where = f"{report.smtp_host}:{report.smtp_port}"
    try:
        login(report)
    except PatchsyncError as exc:
        return _fail(
            "smtp",
            str(exc),
            "check report.smtp_host, smtp_port, ssl/starttls, username and the password "
            "(password_file or the credential smtp-password)",
        )
    who = f"; login as {report.username} accepted" if report.username else ""
    return _ok("smtp", f"{where} answers{who} (nothing sent)")


def _keys(src: SourceConfig, *, several: bool) -> Finding:
    from .rpm.signature import load_keyring

    # Loading the config already refused a missing or unreadable key file
    # (the config line names it); what is left to show is whom they trust.
    fingerprints = load_keyring(src.keys).fingerprints
    named = f"source {src.name}: " if several else ""
    return _ok("keys", f"{named}{len(fingerprints)} certificates: {', '.join(fingerprints)}")
