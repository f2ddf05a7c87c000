"""`publisher run`: the publishing daemon, an APScheduler 3.x scheduler with a persistent job store.

Jobs are registered from the config at every start. They take only names as arguments (they
are pickled into the job store) and find the config and store in the running daemon. Only one
daemon per store schedules; others wait as standbys (a lock file on SQLite, an advisory lock
on PostgreSQL).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy.engine import Engine

from publisher.clock import Clock, system_clock
from publisher.config import Config, DigestConfig, duration_text, load_config
from publisher.mail.delivery.send import editions_to_send, send_edition
from publisher.mail.editions import create_edition
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import Store, create_engine, open_store
from publisher.store.locks import ActiveLock, StandbyMark, active_lock
from publisher.store.schema import SCHEDULER_JOBS_TABLE
from publisher.web.static import build_static_site

log = logging.getLogger(__name__)

PUBLISH_JOB = "publish"
INBOUND_JOB = "inbound"
DIGEST_JOB_PREFIX = "digest:"
PERSISTENT, VOLATILE = "default", "volatile"


# Slots --------------------------------------------------------------------------------------


def digest_trigger(config: Config, digest: DigestConfig) -> CronTrigger:
    """The digest's crontab in its timezone (the site's unless it names its own)."""
    return CronTrigger.from_crontab(digest.schedule, timezone=config.digest_zone(digest))


def slot_key(fire_time: datetime, zone: ZoneInfo) -> str:
    """A fire time as local wall-clock time and zone name: `2026-10-25T01:30 Europe/London`.

    APScheduler 3.x fires a 01:30 job twice on the night clocks go back (at +01:00, then at
    +00:00); both fires have the same wall-clock time, so they share one slot and one edition.
    """
    # Through UTC: astimezone() to the same zone keeps a nonexistent wall time unchanged.
    local = fire_time.astimezone(UTC).astimezone(zone)
    return f"{local:%Y-%m-%dT%H:%M} {zone.key}"


def previous_fire_time(trigger: CronTrigger, now: datetime) -> datetime | None:
    """The trigger's latest fire time at or before `now` (None if it has never fired in a year)."""
    lookback = timedelta(hours=1)
    while lookback <= timedelta(days=800):
        candidate = trigger.get_next_fire_time(None, now - lookback)
        latest: datetime | None = None
        while candidate is not None and candidate <= now:
            latest = candidate
            # Step in UTC: wall-clock arithmetic on a zoned time goes backwards at fall-back.
            after = candidate.astimezone(UTC) + timedelta(seconds=1)
            candidate = trigger.get_next_fire_time(candidate, after)
        if latest is not None:
            return latest
        lookback *= 4
    return None


# The running daemon, as jobs see it ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Runtime:
    config: Config
    store: Store
    environ: Mapping[str, str]
    stop: threading.Event
    clock: Clock


_runtime: Runtime | None = None


def _current() -> Runtime:
    if _runtime is None:
        raise RuntimeError("a publisher job ran outside `publisher run`")
    return _runtime


@contextmanager
def _job_log(name: str) -> Iterator[Callable[[str], None]]:
    """One line when a job starts, one when it ends with its result and duration."""
    started = time.monotonic()
    results: list[str] = []
    log.info("job %s: start", name)
    try:
        yield results.append
    except Exception:
        log.exception("job %s: failed after %.1fs", name, time.monotonic() - started)
        raise
    log.info("job %s: done in %.1fs: %s", name, time.monotonic() - started, "; ".join(results))


def publish_job() -> None:
    """Gather, publish articles whose time has come, build the feeds and the static site."""
    runtime = _current()
    with _job_log(PUBLISH_JOB) as result:
        report = gather(runtime.store, runtime.config, runtime.clock)
        result(report.summary())
        for error in report.all_errors():
            log.warning("%s", error)
        result(build(runtime.store, runtime.config).summary())
        result(build_static_site(runtime.config, runtime.environ, runtime.clock).summary())


def digest_job(name: str) -> None:
    """Make the edition of digest `name` for the slot that just fired, then send it."""
    runtime = _current()
    with _job_log(f"{DIGEST_JOB_PREFIX}{name}") as result:
        run_digest_slot(runtime, name, runtime.clock(), result)


def run_digest_slot(
    runtime: Runtime, name: str, now: datetime, result: Callable[[str], None]
) -> None:
    """Create (once per slot) and send the edition for the latest fire time at or before `now`."""
    config = runtime.config
    digest = config.digest(name)
    fire_time = previous_fire_time(digest_trigger(config, digest), now) or now
    slot = slot_key(fire_time, config.digest_zone(digest))
    outcome = create_edition(runtime.store, config, name, lambda: now, slot=slot)
    result(outcome.message)
    for edition in outcome.editions:  # one per article for a digest of mode "each"
        if edition.delivered_at is not None or runtime.stop.is_set():
            continue
        report = send_edition(
            runtime.store,
            config,
            edition.id,
            runtime.environ,
            clock=runtime.clock,
            stop=runtime.stop,
        )
        result(report.summary())


def queued_sends_job() -> None:
    """Carry out the sends queued from the dashboard or the API."""
    from publisher.mail.delivery.requests import run_queued_sends

    runtime = _current()
    lines = run_queued_sends(
        runtime.store, runtime.config, runtime.environ, runtime.clock, runtime.stop
    )
    for line in lines:
        log.info("%s", line)


def inbound_job() -> None:
    """Read the configured mailboxes: bounces, complaints, mailto unsubscribes."""
    from publisher.inbound.mailboxes import read_mailboxes
    from publisher.inbound.readers import Inbound

    runtime = _current()
    with _job_log(INBOUND_JOB) as result:
        inbound = Inbound(runtime.store, runtime.config, runtime.environ, runtime.clock)
        report = read_mailboxes(inbound, runtime.environ)
        result(report.summary())
        for error in report.errors:
            log.warning("%s", error)


def resume_job() -> None:
    """Finish sending editions an earlier run left half delivered."""
    runtime = _current()
    with _job_log("resume") as result:
        pending = editions_to_send(runtime.store, started_only=True)
        if not pending:
            result("nothing to resume")
        for edition_id in pending:
            if runtime.stop.is_set():
                break
            report = send_edition(
                runtime.store,
                runtime.config,
                edition_id,
                runtime.environ,
                clock=runtime.clock,
                stop=runtime.stop,
            )
            result(report.summary())


# Registering jobs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One job the config asks for: what runs, when, and how late it may still run."""

    id: str
    trigger: IntervalTrigger | CronTrigger
    function: Callable[..., None]
    arguments: tuple[str, ...]
    grace_seconds: int
    schedule: str  # as `publisher check` shows it
    timezone: str
    every: timedelta | None = None  # interval jobs only

    def next_run(self, now: datetime) -> datetime | None:
        """When the job would run next if the daemon started at `now`."""
        if self.every is not None:
            return now + self.every
        fire: datetime | None = self.trigger.get_next_fire_time(None, now)
        return fire


def wanted_jobs(config: Config) -> list[JobSpec]:
    """The jobs the config asks for: publish, read inbound mail (when set up), each digest."""
    jobs = [_interval_job(config, PUBLISH_JOB, publish_job, config.schedule.publish_every)]
    if config.inbound.every and (config.inbound.maildir or config.inbound.imap_host):
        jobs.append(_interval_job(config, INBOUND_JOB, inbound_job, config.inbound.every))
    grace = int(config.schedule.misfire_grace.total_seconds())
    for digest in config.digests:
        jobs.append(
            JobSpec(
                id=f"{DIGEST_JOB_PREFIX}{digest.name}",
                trigger=digest_trigger(config, digest),
                function=digest_job,
                arguments=(digest.name,),
                grace_seconds=grace,
                schedule=digest.schedule,
                timezone=config.digest_zone(digest).key,
            )
        )
    return jobs


def _interval_job(
    config: Config, job_id: str, function: Callable[..., None], every: timedelta
) -> JobSpec:
    seconds = every.total_seconds()
    return JobSpec(
        id=job_id,
        trigger=IntervalTrigger(seconds=seconds, timezone=config.site.zone),
        function=function,
        arguments=(),
        grace_seconds=max(1, int(seconds)),
        schedule=f"every {duration_text(every)}",
        timezone=config.site.timezone,
        every=every,
    )


def register_jobs(scheduler: BackgroundScheduler, config: Config) -> None:
    """Bring the job store in line with the config: add or update jobs, drop removed digests.

    A job whose trigger is unchanged keeps its stored next run time, so a slot that passed
    while the daemon was down still runs (within the grace time) on this start.
    """
    wanted = {job.id: job for job in wanted_jobs(config)}
    for stored in scheduler.get_jobs(jobstore=PERSISTENT):
        if stored.id not in wanted:
            log.info("removing job %s: no longer in the config", stored.id)
            stored.remove()
    for job in wanted.values():
        existing = scheduler.get_job(job.id, jobstore=PERSISTENT)
        if existing is not None and str(existing.trigger) == str(job.trigger):
            existing.modify(misfire_grace_time=job.grace_seconds, coalesce=True, max_instances=1)
            continue
        scheduler.add_job(
            job.function,
            job.trigger,
            args=list(job.arguments),
            id=job.id,
            name=job.id,
            jobstore=PERSISTENT,
            replace_existing=True,
            misfire_grace_time=job.grace_seconds,
            coalesce=True,
            max_instances=1,
        )


def new_scheduler(config: Config, engine: Engine) -> BackgroundScheduler:
    """A scheduler in the site's zone, its jobs kept in the store's own database."""
    scheduler = BackgroundScheduler(
        timezone=config.site.zone,
        jobstores={
            PERSISTENT: SQLAlchemyJobStore(engine=engine, tablename=SCHEDULER_JOBS_TABLE),
            VOLATILE: MemoryJobStore(),
        },
        executors={"default": ThreadPoolExecutor(max_workers=4)},
        job_defaults={"coalesce": True, "max_instances": 1},
    )
    scheduler.add_listener(_log_missed_run, EVENT_JOB_MISSED)
    return scheduler


def _log_missed_run(event: JobExecutionEvent) -> None:
    log.warning(
        "job %s: the run due at %s was missed by more than its grace time; skipped",
        event.job_id,
        event.scheduled_run_time.isoformat(),
    )


@dataclass(frozen=True, slots=True)
class PlannedJob:
    job: str
    schedule: str
    timezone: str
    next_run: datetime | None


def planned_jobs(config: Config, now: datetime) -> list[PlannedJob]:
    """The jobs `publisher run` would schedule, and when each would run next."""
    return [
        PlannedJob(job.id, job.schedule, job.timezone, job.next_run(now))
        for job in wanted_jobs(config)
    ]


# One active scheduler per store -------------------------------------------------------------


# The daemon ---------------------------------------------------------------------------------


def run_daemon(
    config_path: Path,
    environ: Mapping[str, str],
    stop: threading.Event,
    clock: Clock = system_clock,
) -> None:
    """Wait to become the active scheduler, then run jobs until `stop` is set.

    If the active lock is lost (the database connection holding it went away), the jobs stop
    and the daemon becomes a standby again, so a database blip never leaves two schedulers.
    """
    config = load_config(config_path, environ)
    poll = config.schedule.standby_poll.total_seconds()
    with open_store(config.store_url) as store:
        lock = active_lock(config, store.engine)
        mark = StandbyMark(config, store.engine)
        while not stop.is_set():
            if not _wait_until_active(lock, mark, stop, poll):
                break
            try:
                _schedule_while_active(config, store, environ, stop, clock, lock, poll)
            finally:
                lock.release()
    log.info("stopped")


def _wait_until_active(
    lock: ActiveLock, mark: StandbyMark, stop: threading.Event, poll: float
) -> bool:
    if lock.try_acquire():
        return True
    log.info("standby: another publisher run is active on this store; waiting")
    mark.hold()
    try:
        while not lock.try_acquire():
            if stop.wait(poll):
                return False
        return True
    finally:
        mark.release()


def _schedule_while_active(
    config: Config,
    store: Store,
    environ: Mapping[str, str],
    stop: threading.Event,
    clock: Clock,
    lock: ActiveLock,
    poll: float,
) -> None:
    global _runtime
    log.info("active: this process schedules the jobs")
    _runtime = Runtime(config, store, environ, stop, clock)
    job_engine = create_engine(config.store_url)
    scheduler = new_scheduler(config, job_engine)
    try:
        scheduler.start(paused=True)
        register_jobs(scheduler, config)
        # The first publish runs at start, not one interval later. APScheduler fires by the
        # real clock whatever `clock` says, so "now" here is the real one too.
        scheduler.modify_job(
            PUBLISH_JOB, jobstore=PERSISTENT, next_run_time=datetime.now(config.site.zone)
        )
        # Every publish interval, not just at start: a send that stopped because the mail
        # server stayed down (outage_patience) carries on once the server is back.
        every = config.schedule.publish_every.total_seconds()
        scheduler.add_job(
            resume_job,
            "interval",
            seconds=every,
            next_run_time=datetime.now(UTC),
            id="resume",
            jobstore=VOLATILE,
        )
        # Sends queued from the web start within one standby poll.
        scheduler.add_job(
            queued_sends_job,
            "interval",
            seconds=poll,
            next_run_time=datetime.now(UTC),
            id="queued-sends",
            jobstore=VOLATILE,
        )
        scheduler.resume()
        for job in scheduler.get_jobs(jobstore=PERSISTENT):
            log.info("job %s: next run %s", job.id, _local(job.next_run_time, config))
        while not stop.wait(poll):
            if not lock.still_held():
                log.error("lost the active lock (database connection gone?); back to standby")
                break
    finally:
        log.info("stopping jobs: letting running ones finish their messages in flight")
        stop_without_losing_slots(scheduler)
        job_engine.dispose()
        _runtime = None


def stop_without_losing_slots(scheduler: BackgroundScheduler) -> None:
    """Shut down, waiting for running jobs, without touching the persistent jobs' next runs.

    APScheduler 3.x makes one last pass over due jobs after `shutdown()`; its executor refuses
    them, yet their next run time is moved on, which would lose a slot due at that moment.
    Detaching the persistent store first keeps it as it was; the next start runs the slot.
    """
    if scheduler.running:
        scheduler.pause()
        scheduler.remove_jobstore(PERSISTENT, shutdown=False)
    scheduler.shutdown(wait=True)


def _local(moment: datetime | None, config: Config) -> str:
    return "never" if moment is None else moment.astimezone(config.site.zone).isoformat()
