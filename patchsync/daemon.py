"""``patchsync daemon``: run a cycle on a schedule until told to stop.

Design (issue 5, sections 1 and 2):

* APScheduler 3's BlockingScheduler owns the main thread; the cycle job
  has ``coalesce=True`` and ``max_instances=1`` so a slow cycle delays the
  next one instead of stacking them, and a ``misfire_grace_time`` of an
  hour so a run that comes late (a suspended machine, a busy pool) still
  happens instead of APScheduler's default of 1 s silently skipping it.
  Runs that are skipped anyway are logged.
* Each cycle runs in a child process (multiprocessing "spawn": a fresh
  interpreter, no threads inherited).  Signals reach only the main thread
  and a blocked socket read cannot be interrupted, so the daemon never
  waits on a cycle to notice a signal.  On SIGTERM/SIGINT the daemon stops
  scheduling and sends the child SIGTERM; the child stops at the next step
  boundary (before the next target, before housekeeping).  A child still
  busy after :data:`STOP_GRACE_SECONDS` is killed: every step is crash-safe
  by itself (sync writes refs last and atomically, the database commits
  whole transactions, a mail leaves the outbox only once sent), so a kill
  leaves the old state or the new one, never a mix.  The daemon then
  exits 0, well within systemd's default 90 s and the issue's 10 s.
* SIGHUP reloads the config file: a valid one replaces the old (and the
  schedule is updated); an invalid one is logged and the old one kept.
* Under systemd (``$NOTIFY_SOCKET``) it sends READY=1, STATUS= with the
  last and next run, and WATCHDOG=1 from a scheduler job (so a wedged
  scheduler stops the pings and systemd restarts it).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass
from datetime import datetime, tzinfo
from types import FrameType
from typing import Any

from . import config as configmod
from . import lock, notify
from .config import Config, ScheduleConfig
from .errors import EXIT_ERROR, ConfigError, InternalError, LockError, as_error
from .runs import utcnow
from .state import daemon_key, open_state
from .statedir import StateDir

log = logging.getLogger(__name__)

#: Seconds a cycle may take after SIGTERM to reach a step boundary before it
#: is killed; with the daemon's own shutdown this stays under 10 s.
STOP_GRACE_SECONDS = 7.0

#: A run up to this late still happens (coalesced into one); see above.
MISFIRE_GRACE_SECONDS = 3600

CYCLE_JOB = "cycle"
WATCHDOG_JOB = "watchdog"

#: Exit status of a cycle child that could not take the cycle lock.
_EXIT_LOCKED = 75  # EX_TEMPFAIL, sysexits.h
#: Exit status of a cycle child that crashed (an uncaught exception would be 1, like a conflict).
_EXIT_CRASHED = 70  # EX_SOFTWARE, sysexits.h


def running_daemon(state_dir: str | os.PathLike[str]) -> str | None:
    """Who holds the daemon lock (``pid N daemon``), or ``None`` when no daemon runs."""
    return lock.holder(StateDir(state_dir).daemon_lock)


# -- cron ---------------------------------------------------------------------

_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def crontab_weekdays(field: str) -> str:
    """A crontab day-of-week field as APScheduler 3 day names.

    APScheduler 3 numbers weekdays from Monday = 0, crontab(5) from
    Sunday = 0 (and 7), so ``from_crontab("0 0 * * 1")`` would fire on
    Tuesdays.  Expanding the field to names avoids the mismatch.

    >>> crontab_weekdays("1-5")
    'mon,tue,wed,thu,fri'
    >>> crontab_weekdays("0,7")
    'sun'
    >>> crontab_weekdays("*/2")
    'tue,thu,sat,sun'
    >>> crontab_weekdays("sat-sun")
    Traceback (most recent call last):
    ValueError: day-of-week range 'sat-sun' runs backwards
    """
    if field == "*":
        return "*"
    days: set[int] = set()
    for part in field.lower().split(","):
        rng, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"bad day-of-week step in {part!r}")
        if rng == "*":
            lo, hi = 0, 6
        else:
            first, dash, last = rng.partition("-")
            lo = _cron_day(first)
            hi = _cron_day(last) if dash else (6 if step_text else lo)
            if hi < lo:
                raise ValueError(f"day-of-week range {rng!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    return ",".join(_CRON_DAYS[(d + 1) % 7] for d in sorted((d - 1) % 7 for d in days))


def _cron_day(text: str) -> int:
    text = text.strip()
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    value = int(text)
    if not 0 <= value <= 7:
        raise ValueError(f"day of week {value} is not 0-7")
    return value


def build_trigger(schedule: ScheduleConfig, *, where: str, timezone: tzinfo | None = None) -> Any:
    """The APScheduler trigger for ``[schedule]``; a bad crontab is a ConfigError."""
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    jitter = schedule.jitter_seconds or None
    if schedule.interval_seconds:
        return IntervalTrigger(seconds=schedule.interval_seconds, jitter=jitter, timezone=timezone)
    fields = schedule.cron.split()
    try:
        minute, hour, day, month, weekdays = fields
        return CronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=crontab_weekdays(weekdays),
            jitter=jitter,
            timezone=timezone,
        )
    except ValueError as exc:
        raise ConfigError(
            f"'schedule.cron' {schedule.cron!r} is not a valid crontab line: {exc}", where=where
        ) from None


# -- the cycle child ------------------------------------------------------------


@dataclass(frozen=True)
class LogSetup:
    """How the child sets up logging: the same as the daemon's own."""

    verbose: bool = False
    quiet: bool = False
    debug: bool = False


def _child_main(config: Config, logs: LogSetup) -> None:
    """Entry point of the cycle child process."""
    from .cycle import Stopped, run_cycle
    from .logs import setup_logging

    setup_logging(verbose=logs.verbose, quiet=logs.quiet, debug=logs.debug)
    stop = threading.Event()

    def on_term(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    # Ctrl-C in a terminal reaches the whole process group; the daemon
    # decides how the child stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        result = run_cycle(config, trigger="daemon", stop=stop.is_set)
    except LockError as exc:
        log.warning("cycle skipped: %s", exc)
        raise SystemExit(_EXIT_LOCKED) from None
    except Stopped as exc:
        log.warning("cycle %s", exc)
        raise SystemExit(0) from None
    except Exception as exc:
        # Everything a cycle meets is recorded in its result; this is a bug,
        # or the state database (a shared server restarting, say) or its
        # disk failing: one line for those, and the next tick tries again.
        error = as_error(exc)
        if isinstance(error, InternalError):
            log.exception("the cycle crashed")
            raise SystemExit(_EXIT_CRASHED) from None
        log.error("cycle failed: %s", error)
        raise SystemExit(EXIT_ERROR) from None
    raise SystemExit(result.exit_code)


# -- the daemon ---------------------------------------------------------------


class Daemon:
    """The scheduler, its signal handling and the cycle child."""

    def __init__(self, config: Config, logs: LogSetup | None = None) -> None:
        self.config = config
        self.logs = logs or LogSetup()
        self._stopping = threading.Event()
        self._child: multiprocessing.process.BaseProcess | None = None
        self._child_lock = threading.Lock()
        self._last_run = ""
        self._scheduler: Any = None

    def build_scheduler(self, trigger: Any) -> Any:
        """The scheduler with the cycle job (and the watchdog job under systemd); not started."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
        from apscheduler.schedulers.blocking import BlockingScheduler

        scheduler = BlockingScheduler()
        scheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_ERROR)
        scheduler.add_job(
            self._cycle_job,
            trigger,
            id=CYCLE_JOB,
            name="patchsync cycle",
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS,
        )
        interval = notify.watchdog_seconds()
        if interval:
            scheduler.add_job(
                notify.notify, "interval", args=("WATCHDOG=1",), seconds=interval, id=WATCHDOG_JOB, coalesce=True
            )
        return scheduler

    def run(self) -> int:
        """Run until SIGTERM/SIGINT; returns the exit status (0)."""
        from apscheduler.events import EVENT_SCHEDULER_STARTED

        state_dir = self.config.state.dir
        with lock.hold(StateDir(state_dir).daemon_lock, wait=0, what="daemon"):
            trigger = build_trigger(self.config.schedule, where=self.config.path)
            with open_state(self.config.state):
                pass  # create and migrate the database before the first cycle
            # APScheduler logs through its own logger; give it ours so its
            # warnings look like every other line (and reach the journal).
            aps = logging.getLogger("apscheduler")
            aps.handlers[:] = logging.getLogger("patchsync").handlers
            aps.propagate = False
            aps.setLevel(logging.WARNING)
            self._scheduler = scheduler = self.build_scheduler(trigger)
            previous = {
                sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
            }
            try:
                scheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
                log.info("daemon started (pid %d), schedule: %s", os.getpid(), _describe(self.config.schedule))
                scheduler.start()
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
            self._stop_child()
            notify.notify("STOPPING=1")
            with open_state(self.config.state) as state:
                state.delete(daemon_key(state.host))
            log.info("daemon stopped")
        return 0

    # -- events and signals (main thread) --

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # Only set flags and hand work to a thread: a signal handler runs
        # between two bytecodes of whatever the main thread was doing,
        # possibly inside the scheduler while it holds its locks.
        if signum == signal.SIGHUP:
            threading.Thread(target=self.reload, name="reload", daemon=True).start()
            return
        if self._stopping.is_set():
            return
        self._stopping.set()
        log.info("received %s, stopping", signal.Signals(signum).name)
        threading.Thread(target=self._shutdown, name="shutdown", daemon=True).start()

    def _shutdown(self) -> None:
        notify.notify("STOPPING=1", "STATUS=stopping")
        scheduler = self._scheduler
        if scheduler is not None and scheduler.running:
            scheduler.shutdown(wait=False)

    def _on_started(self, event: Any) -> None:
        notify.notify("READY=1", f"STATUS={self._status()}")
        self._publish()

    def _on_event(self, event: Any) -> None:
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED

        if event.code == EVENT_JOB_MISSED:
            log.warning(
                "missed the run due at %s (more than %d s late)", event.scheduled_run_time, MISFIRE_GRACE_SECONDS
            )
        elif event.code == EVENT_JOB_ERROR:
            log.error("the cycle job failed: %s", event.exception)
        elif event.job_id == CYCLE_JOB:
            log.warning("skipped the run due at %s: the previous cycle is still running", event.scheduled_run_times[0])

    def reload(self) -> bool:
        """Re-read the config file; an invalid one is logged and the old one kept."""
        path = self.config.path
        try:
            new = configmod.load(path)
            trigger = build_trigger(new.schedule, where=path)
            if new.state.dir != self.config.state.dir:
                raise ConfigError(
                    f"'state.dir' cannot change on reload ({self.config.state.dir} -> {new.state.dir}); "
                    "restart the daemon",
                    where=path,
                )
            if new.state.database != self.config.state.database:
                raise ConfigError("'state.database' cannot change on reload; restart the daemon", where=path)
        except ConfigError as exc:
            log.error("reload failed, keeping the old configuration: %s", exc)
            return False
        changed = new.schedule != self.config.schedule
        self.config = new
        if changed and self._scheduler is not None and self._scheduler.running:
            self._scheduler.reschedule_job(CYCLE_JOB, trigger=trigger)
        log.info("reloaded %s%s", path, f"; schedule: {_describe(new.schedule)}" if changed else "")
        self._publish()
        return True

    # -- the cycle job (a scheduler worker thread) --

    def _cycle_job(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        with self._child_lock:
            if self._stopping.is_set():
                return
            child = ctx.Process(target=_child_main, args=(self.config, self.logs), name="patchsync-cycle")
            child.start()
            self._child = child
        started = utcnow()
        child.join()
        with self._child_lock:
            self._child = None
        code = child.exitcode
        outcome = {
            0: "ok",
            1: "drift or conflict",
            2: "error",
            _EXIT_LOCKED: "skipped (locked)",
            _EXIT_CRASHED: "crashed",
        }.get(code if code is not None else -1, f"killed (exit {code})")
        self._last_run = f"{started:%Y-%m-%d %H:%M:%S} UTC {outcome}"
        notify.notify(f"STATUS={self._status()}")
        self._publish()
        # The one line per cycle a journal shows by default; the child's
        # own lines are debug, so -v does not say "finished" twice.
        log.info("%s; next run %s", self._cycle_summary(started, code, outcome), self._next_run_text())

    def _cycle_summary(self, started: datetime, code: int | None, outcome: str) -> str:
        """``cycle #12 (started 06:30:04 UTC): updated, mail sent``, from the run the child recorded."""
        when = f"started {started:%H:%M:%S} UTC"
        if code in (0, 1, 2):
            try:
                with open_state(self.config.state) as state:
                    rows = state.runs(limit=1)
            except Exception as exc:
                log.warning("cannot read the run the cycle recorded: %s", exc)
                rows = []
            if rows and rows[0].started >= started.isoformat():
                row = rows[0]
                mail = f", mail {row.mail}" if row.mail not in ("", "disabled") else ""
                return f"cycle #{row.id} ({when}): {row.result}{mail}"
        return f"cycle ({when}): {outcome}"

    def _next_run_text(self) -> str:
        nxt = self.next_run() if self._scheduler is not None and self._scheduler.running else None
        return f"{nxt:%Y-%m-%d %H:%M:%S %Z}".strip() if nxt else "none (stopping)"

    def _stop_child(self) -> None:
        with self._child_lock:
            child = self._child
        if child is None or not child.is_alive():
            return
        log.info("asking the running cycle to stop")
        child.terminate()  # SIGTERM: stop at the next step boundary
        child.join(STOP_GRACE_SECONDS)
        if child.is_alive():
            log.warning("the cycle did not stop within %g s; killing it", STOP_GRACE_SECONDS)
            child.kill()
            child.join()

    # -- status --

    def next_run(self) -> datetime | None:
        job = self._scheduler.get_job(CYCLE_JOB) if self._scheduler is not None else None
        return job.next_run_time if job is not None else None

    def _status(self) -> str:
        nxt = self.next_run()
        parts = [f"last run: {self._last_run or 'none yet'}"]
        parts.append(f"next run: {nxt.astimezone().strftime('%Y-%m-%d %H:%M:%S %Z') if nxt else 'none'}")
        return "; ".join(parts)

    def _publish(self) -> None:
        """Write the daemon's pid and next run into the database for ``patchsync status``."""
        nxt = self.next_run()
        try:
            with open_state(self.config.state) as state:
                state.put(
                    daemon_key(state.host),
                    {
                        "pid": os.getpid(),
                        "schedule": _describe(self.config.schedule),
                        "next_run": nxt.isoformat() if nxt else None,
                        "last_run": self._last_run or None,
                    },
                )
        except Exception as exc:
            log.warning("cannot record the daemon status: %s", exc)


def _describe(schedule: ScheduleConfig) -> str:
    text = f"every {schedule.interval_seconds} s" if schedule.interval_seconds else f"cron {schedule.cron!r}"
    return text + (f", jitter {schedule.jitter_seconds} s" if schedule.jitter_seconds else "")
