"""One cycle: fetch, check and sync every target, record the run, mail the report.

What ``patchsync sync``, the systemd timer and every daemon tick run.  A
cycle holds the cycle lock in ``state.dir`` from start to end, so a manual
run and the daemon never interleave; a second process waits briefly, then
fails naming the holder.  A target that fails is logged and reported, and
the other targets go on.  Every step is crash-safe on its own (refs are
written atomically by sync, the database in transactions, a mail stays in
the outbox until the server took it), which is what lets the daemon stop a
cycle between steps, or kill it outright, without leaving anything
half-written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import Config, SourceConfig, TargetConfig
from .deadline import Deadline
from .errors import ConfigError, GitError, InternalError, PatchsyncError, as_error
from .model import PatchSet, SourceInfo, TargetDrift
from .patches.parse import ParseCache
from .report import mail as mailreport
from .runs import CycleResult, SourceRun, TargetRun, utcnow
from .state import KEY_LAST_SEEN, KEY_LAST_SYNCED, State, hold_cycle, source_key
from .statedir import StateDir, prune_srpms

if TYPE_CHECKING:
    from .gitsync.remote import Fetched

log = logging.getLogger(__name__)

__all__ = ["CYCLE_LOCK_WAIT", "CycleResult", "run_cycle"]

#: Seconds a second process waits for the cycle lock before giving up and
#: naming the holder (issue 5, section 1: "waits briefly").
CYCLE_LOCK_WAIT = 10.0

#: A cycle ends by this many times ``source.deadline_seconds``: the fetch
#: has one, git, the history and the mail the other.
CYCLE_DEADLINE_FACTOR = 2

StopFlag = Callable[[], bool]


class Stopped(PatchsyncError):
    """The cycle was asked to stop (SIGTERM) and stopped between steps."""


# The pipeline's steps, imported at call time so importing this module
# stays cheap (``patchsync history`` never loads git or HTTP code).
def _obtain(
    config: Config, source: SourceConfig, src_rpm: str | None, last_synced: SourceInfo | None, shared: Any
) -> PatchSet:
    from .source import obtain

    return obtain(config, source=source, src_rpm=src_rpm, last_synced=last_synced, shared=shared)


def _compare(patchset: PatchSet, target: TargetConfig, symbols: tuple[str, ...], parses: ParseCache) -> TargetDrift:
    from .compare import compare_target
    from .gitsync.tree import read_target

    return compare_target(patchset, target, read_target(target), symbols, parses=parses)


def _sync(patchset: PatchSet, target: TargetConfig, drift: TargetDrift, config: Config, dry_run: bool) -> TargetRun:
    from .gitsync import sync_target

    # sync_target prunes backups beyond retain_backups in the same ref
    # transaction that writes a new one.
    return sync_target(
        patchset,
        target,
        drift,
        state_dir=Path(config.state.dir),
        dry_run=dry_run,
        retain_backups=config.state.retain_backups,
    )


def _fetch(target: TargetConfig) -> Fetched:
    from .gitsync import remote

    return remote.fetch(target)


def _sync_remote(
    patchset: PatchSet,
    target: TargetConfig,
    drift: TargetDrift,
    *,
    config: Config,
    state: State,
    fetched: Fetched,
    dry_run: bool,
) -> TargetRun:
    """Sync onto the fetched server branch; push the review branch (and ``branch``, fast-forward)."""
    from .gitsync import remote

    written = state.written(target.name)
    if not dry_run:
        remote.adopt(target, fetched, written.sha if written else None)
    # Sync never moves a ref under refs/remotes/: the server's branch is
    # moved by the push below, only forward.
    run = _sync(patchset, replace(target, base=target.base_rev, update_branch=False), drift, config, dry_run)
    if not target.update_branch or dry_run or run.status not in ("updated", "up-to-date"):
        return run
    if not run.head or run.head == fetched.branch:
        return run
    try:
        remote.push_branch(target, run.head)
    except GitError as exc:
        log.error("target %s: %s", target.name, exc)
        return replace(run, status="error", error=str(exc))
    return replace(run, branch_updated=True, status="updated")


def _housekeeping(config: Config) -> None:
    # Only patchsync's own files: src.rpms beyond retain_srpms.  Backup refs
    # beyond retain_backups are pruned by sync_target as it writes a new one.
    prune_srpms(StateDir(config.state.dir).srpms, config.state.retain_srpms)


def run_cycle(
    config: Config,
    *,
    trigger: str,
    target: str | None = None,
    source: str | None = None,
    src_rpm: str | None = None,
    sync: bool = True,
    dry_run: bool = False,
    mail: bool = True,
    lock_wait: float | None = None,
    stop: StopFlag | None = None,
) -> CycleResult:
    """Run one cycle under the cycle lock and return what it did.

    Raises :class:`~patchsync.errors.LockError` when another cycle holds the
    lock past ``lock_wait`` (default :data:`CYCLE_LOCK_WAIT`) and :class:`Stopped` when ``stop()`` turned true
    between steps; every other failure is recorded in the result.
    """
    targets = select_targets(config, target=target, source=source, src_rpm=src_rpm)
    wait = CYCLE_LOCK_WAIT if lock_wait is None else lock_wait
    # Every cycle ends in bounded time: each fetch by its source's
    # deadline_seconds (its HTTP client's own deadline), the rest by as much again.
    seconds = CYCLE_DEADLINE_FACTOR * sum(s.deadline_seconds for s in cycle_sources(config, targets))
    what = f"its deadline ({CYCLE_DEADLINE_FACTOR} x source.deadline_seconds = {seconds:g} s)"
    with (
        hold_cycle(config.state, wait=wait, what=f"{trigger} cycle") as state,
        Deadline(seconds, what) as deadline,
    ):
        started = utcnow()
        run_id = state.begin_run(trigger, started)
        log.debug("cycle #%d started (%s)", run_id, trigger)
        recorded = False
        try:
            result = _run_steps(
                config,
                state,
                targets,
                trigger=trigger,
                started=started,
                src_rpm=src_rpm,
                sync=sync,
                dry_run=dry_run,
                stop=stop or (lambda: False),
                deadline=deadline,
            )
            result = _with(result, run_id=run_id)
            report = _render(config, state, result)
            result = _with(result, mail=_mail_state(config, result, mail=mail, dry_run=dry_run))
            state.finish_run(run_id, result, report.as_bytes() if report else None)
            recorded = True
            # Checked before the mail (so it is queued where it will be
            # found) and after it (so its outbox row is not lost either).
            result = _same_database(state, result, report)
            if result.mail == "pending" and report is not None:
                result = _with(result, mail=_deliver(config, state, result, report, deadline))
                state.set_run_mail(result.run_id or run_id, result.mail)
            elif mail and config.report is not None and not dry_run:
                # Nothing new to say, but mails a dead server left behind
                # are retried every cycle.
                _flush(config, state, deadline)
            result = _same_database(state, result, report)
        except BaseException as exc:
            # Stopped, a bug, a database or disk failing, Ctrl-C: the run
            # is recorded as stopped or failed, never left "running".
            if not recorded:
                _record_failure(state, run_id, exc, trigger=trigger, started=started, sync=sync, dry_run=dry_run)
            raise
        log.debug("cycle #%d finished: %s (mail: %s)", result.run_id, result.result, result.mail)
        return result


def _same_database(state: State, result: CycleResult, report: mailreport.Report | None) -> CycleResult:
    """Record the run again if its SQLite file was deleted or replaced under it.

    The open connection went on writing to the old file, which disappears
    with it: the run, what it saw and wrote, and every unsent mail would be
    lost without a word.  They are written again into the database now at
    the path (a new, empty one if the file is gone), and a warning says so.
    """
    if not state.replaced():
        return result
    unsent = state.reopen()
    run_id = state.begin_run(result.trigger, result.started)
    result = _with(result, run_id=run_id)
    for source in result.sources:
        if source.info is not None:
            state.put(source_key(KEY_LAST_SEEN, source.name), source.info.to_json())
    if result.synced and not result.dry_run:
        _record_written(state, result)
    state.finish_run(run_id, result, report.as_bytes() if report else None)
    for old in unsent:
        state.queue_mail(
            run_id=None,  # the old file's run ids mean nothing here
            dedup_key=old.dedup_key,
            message_id=old.message_id,
            targets=old.targets,
            subject=old.subject,
            message=old.message,
            created=datetime.fromisoformat(old.created),
        )
    if report is not None and result.mail in ("sent", "queued"):
        mail_id = _queue(state, result, report)
        if mail_id is not None and result.mail == "sent":
            state.mark_sent(mail_id, utcnow())
    log.warning(
        "%s: the state database was deleted or replaced during the run; run #%d and %d unsent mail%s "
        "are recorded again in the one there now",
        state.where,
        run_id,
        len(unsent),
        "" if len(unsent) == 1 else "s",
    )
    return result


def _record_written(state: State, result: CycleResult) -> None:
    """What a successful sync records besides the run (as :func:`_run_steps` does as it goes)."""
    for source in result.sources:
        if source.info is None:
            continue
        runs = result.targets_of(source.name)
        for run in runs:
            if run.status == "updated" and run.head:
                state.record_written(run.name, sha=run.head, ref=run.ref, source_file=source.info.file, when=utcnow())
        if all(r.status in ("updated", "up-to-date") for r in runs):
            state.put(source_key(KEY_LAST_SYNCED, source.name), source.info.to_json())


def _record_failure(
    state: State, run_id: int, exc: BaseException, *, trigger: str, started: datetime, sync: bool, dry_run: bool
) -> None:
    error = "interrupted" if isinstance(exc, KeyboardInterrupt) else str(as_error(exc))
    failed = CycleResult(
        trigger=trigger,
        started=started,
        finished=utcnow(),
        error=error,
        synced=sync,
        dry_run=dry_run,
        stopped=isinstance(exc, Stopped),
        run_id=run_id,
    )
    try:
        state.finish_run(run_id, failed)
    except Exception as second:
        # The database itself is what failed (a full disk): the error the
        # caller raises says so; this run stays "running" in the history.
        log.warning("cycle #%d: cannot record the failure: %s", run_id, as_error(second))


def _with(result: CycleResult, **changes: Any) -> CycleResult:
    return replace(result, **changes)


def _run_steps(
    config: Config,
    state: State,
    targets: tuple[TargetConfig, ...],
    *,
    trigger: str,
    started: datetime,
    src_rpm: str | None,
    sync: bool,
    dry_run: bool,
    stop: StopFlag,
    deadline: Deadline,
) -> CycleResult:
    from .source.pipeline import Shared

    sources: list[_Obtained] = []
    runs: list[TargetRun] = []
    # One cycle lists, probes and downloads a src.rpm that several sources
    # share once; each source still gets its own guard and record.
    shared = Shared()
    # One for all targets: each KOTD patch is parsed once however many
    # targets compare it, and sync applies what the comparison parsed.
    parses = ParseCache()
    for source in cycle_sources(config, targets):
        obtained = _obtain_source(config, state, source, src_rpm, shared)
        sources.append(obtained)
        patchset = obtained.patchset
        if obtained.info is None or patchset is None:
            # A source that fails fails only its own targets.
            continue
        mine: list[TargetRun] = []
        for tconf in (t for t in targets if config.source_name_of(t) == source.name):
            if stop():
                raise Stopped(f"stopped before target {tconf.name!r}")
            if deadline.passed():
                # The report still goes out (what its deadline leaves of the
                # cycle); the targets not reached say why.
                log.error("target %s: not reached: the cycle passed %s", tconf.name, deadline.what)
                mine.append(
                    TargetRun(
                        name=tconf.name,
                        mode=tconf.mode,
                        status="error",
                        source=source.name,
                        ref=tconf.review_ref,
                        error=f"not reached: the cycle passed {deadline.what}",
                    )
                )
                continue
            mine.append(_one_target(config, state, source, patchset, tconf, parses=parses, sync=sync, dry_run=dry_run))
        runs += mine
        if sync and not dry_run and all(r.status in ("updated", "up-to-date") for r in mine):
            state.put(source_key(KEY_LAST_SYNCED, source.name), obtained.info.to_json())
    result = CycleResult(
        trigger=trigger,
        started=started,
        finished=utcnow(),
        sources=tuple(s.run for s in sources),
        targets=tuple(runs),
        error=_sources_error(sources),
        synced=sync,
        dry_run=dry_run,
    )
    if sync and not dry_run and any(s.info is not None for s in sources):
        if stop():
            raise Stopped("stopped before housekeeping")
        if deadline.passed():
            return result
        try:
            _housekeeping(config)
        except PatchsyncError as exc:
            # Pruning old caches is never worth failing a cycle over.
            log.warning("housekeeping: %s", exc)
    return result


def select_targets(
    config: Config, *, target: str | None, source: str | None, src_rpm: str | None
) -> tuple[TargetConfig, ...]:
    """The targets a run covers: ``--target``, else ``--source``'s, else all.

    ``--src-rpm`` stands for one source's KOTD, so with several sources the
    run must say which.
    """
    if target:
        chosen: tuple[TargetConfig, ...] = (config.target(target),)
        follows = config.source_name_of(chosen[0])
        if source and follows != source:
            raise ConfigError(f"target {target!r} follows source {follows!r}, not {source!r}", where=config.path)
    elif source:
        chosen = config.targets_of(config.source_named(source))
    else:
        chosen = config.targets
    if src_rpm and len({config.source_name_of(t) for t in chosen}) > 1:
        raise ConfigError(
            "--src-rpm stands for one source's KOTD: with several sources give --source NAME or --target NAME",
            where=config.path,
        )
    return chosen


def cycle_sources(config: Config, targets: tuple[TargetConfig, ...]) -> tuple[SourceConfig, ...]:
    """The sources ``targets`` follow, in config order: a cycle obtains each once."""
    followed = {config.source_name_of(t) for t in targets}
    return tuple(s for s in config.sources if s.name in followed) or (config.source,)


@dataclass(frozen=True)
class _Obtained:
    run: SourceRun
    patchset: PatchSet | None = None

    @property
    def info(self) -> SourceInfo | None:
        return self.run.info


def _obtain_source(config: Config, state: State, source: SourceConfig, src_rpm: str | None, shared: Any) -> _Obtained:
    try:
        patchset = _obtain(config, source, src_rpm, state.last_synced(source.name), shared)
    except Exception as exc:
        # As for a target below: record and report it, keep the daemon.
        error = _log_failure(exc, "fetching the KOTD" if len(config.sources) == 1 else f"source {source.name}")
        return _Obtained(SourceRun(source.name, error=str(error)))
    # The cycle, not the source side, decides what is recorded: what it
    # saw always, what it synced only once every target took it.
    state.put(source_key(KEY_LAST_SEEN, source.name), patchset.source.to_json())
    return _Obtained(SourceRun(source.name, patchset.source), patchset)


def _sources_error(sources: list[_Obtained]) -> str:
    """The cycle's error: the failed source's message, named when there are several sources."""
    failed = [s.run for s in sources if s.run.error]
    if len(sources) == 1:
        return failed[0].error if failed else ""
    return "; ".join(f"source {s.name}: {s.error}" for s in failed)


def _one_target(
    config: Config,
    state: State,
    source: SourceConfig,
    patchset: PatchSet,
    tconf: TargetConfig,
    *,
    parses: ParseCache,
    sync: bool,
    dry_run: bool,
) -> TargetRun:
    try:
        fetched = _fetch(tconf) if tconf.remote else None
        drift = _compare(patchset, tconf, source.series_symbols, parses)
        if not sync:
            return TargetRun.compared(drift, "in-sync" if drift.in_sync else "drift", source=source.name)
        if fetched is None:
            run = _sync(patchset, tconf, drift, config, dry_run)
        else:
            run = _sync_remote(patchset, tconf, drift, config=config, state=state, fetched=fetched, dry_run=dry_run)
        run = replace(run, source=source.name)
        # The review branch holds patchsync's result (just written, or found
        # there): the shared record of what patchsync wrote, by which the
        # other machine of a pair tells its own writes from a person's.
        if not dry_run and run.status in ("updated", "up-to-date") and run.head != drift.branch_commit:
            written = state.written(tconf.name)
            if written is None or written.sha != run.head:
                state.record_written(
                    tconf.name, sha=run.head, ref=run.ref, source_file=patchset.source.file, when=utcnow()
                )
        return run
    except Exception as exc:
        # A failure, or a bug hit by one target's data, must not cost the
        # other targets their sync, nor the daemon its life.
        error = _log_failure(exc, f"target {tconf.name}")
        return TargetRun(
            name=tconf.name, mode=tconf.mode, status="error", source=source.name, ref=tconf.review_ref, error=str(error)
        )


def _log_failure(exc: Exception, what: str) -> PatchsyncError:
    """Log a step's failure in one line (a bug with its traceback) and return it as an error."""
    error = as_error(exc)
    if isinstance(error, InternalError):
        log.error("%s: %s", what, error, exc_info=exc)
    else:
        log.error("%s: %s", what, error)
    return error


# -- the report ---------------------------------------------------------------


def _render(config: Config, state: State, result: CycleResult) -> mailreport.Report:
    report_conf = config.report
    return mailreport.render(
        result,
        # One package names the mail; sources following different packages share none.
        package=packages.pop() if len(packages := {s.package for s in config.sources}) == 1 else "kernel",
        sender=report_conf.from_ if report_conf else "patchsync@localhost",
        recipients=report_conf.to if report_conf else (),
        previous={t.name: state.previous_message_id(t.name) for t in result.targets},
        targets=config.targets,
    )


def _mail_state(config: Config, result: CycleResult, *, mail: bool, dry_run: bool) -> str:
    if config.report is None or not mail or dry_run:
        return "disabled"
    if config.report.only_on_change and not result.noteworthy:
        return "quiet"
    return "pending"


def _deliver(config: Config, state: State, result: CycleResult, report: mailreport.Report, deadline: Deadline) -> str:
    assert config.report is not None
    mail_id = _queue(state, result, report)
    if mail_id is None:
        log.info("report %r was mailed before; not sending it again", report.subject)
        _flush(config, state, deadline)
        return "duplicate"
    _flush(config, state, deadline)
    return "sent" if all(m.id != mail_id for m in state.unsent()) else "queued"


def _queue(state: State, result: CycleResult, report: mailreport.Report) -> int | None:
    return state.queue_mail(
        run_id=result.run_id,
        dedup_key=report.dedup_key,
        message_id=report.message_id,
        targets=report.targets,
        subject=report.subject,
        message=report.as_bytes(),
        created=result.finished,
    )


def _flush(config: Config, state: State, deadline: Deadline) -> None:
    from .mail import flush_outbox

    assert config.report is not None
    flush_outbox(state, config.report, deadline=deadline)
