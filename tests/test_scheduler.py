"""`publisher run`: jobs on schedule, slots that absorb repeats, restarts, standby, SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from publisher.audience.subscribers import add_subscriber
from publisher.config import Config
from publisher.daemon.scheduler import (
    PERSISTENT,
    Runtime,
    new_scheduler,
    planned_jobs,
    previous_fire_time,
    register_jobs,
    run_daemon,
    run_digest_slot,
    slot_key,
    stop_without_losing_slots,
)
from publisher.mail.editions import create_edition, list_editions
from publisher.site.gather import gather
from publisher.store.database import Store, open_store
from publisher.store.schema import articles
from tests.conftest import MovableClock, Site, SmtpServer, start_publisher

LONDON = ZoneInfo("Europe/London")
SECRET = {"PUBLISHER_SECRET": "a-test-secret-of-enough-length"}


def wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def configure(site: Site, **schedule: str) -> Config:
    lines = "".join(f'{key} = "{value}"\n' for key, value in schedule.items())
    site.config_path.write_text(site.config_path.read_text() + f"\n[schedule]\n{lines}")
    return site.config()


def fires_on(trigger: CronTrigger, day_start: datetime, day_end: datetime) -> list[datetime]:
    fires = []
    fire = trigger.get_next_fire_time(None, day_start)
    while fire is not None and fire < day_end:
        fires.append(fire)
        fire = trigger.get_next_fire_time(fire, fire.astimezone(UTC) + timedelta(seconds=1))
    return fires


@pytest.fixture
def runtime(site: Site, store: Store, clock: MovableClock) -> Runtime:
    """A daemon's view of the sample site, its daily digest at 01:30 London time."""
    text = site.config_path.read_text().replace(
        'schedule = "30 7 * * *"', 'schedule = "30 1 * * *"'
    )
    site.config_path.write_text(text)
    gather(store, site.config(), clock)
    return Runtime(site.config(), store, SECRET, threading.Event(), clock)


# Slots and time zones ---------------------------------------------------------------------


def test_fall_back_night_fires_twice_but_makes_one_edition(runtime: Runtime) -> None:
    trigger = CronTrigger.from_crontab("30 1 * * *", timezone=LONDON)
    fires = fires_on(
        trigger, datetime(2026, 10, 24, 23, tzinfo=UTC), datetime(2026, 10, 25, 23, tzinfo=UTC)
    )
    # APScheduler 3.x fires at 01:30 BST (00:30 UTC) and again at 01:30 GMT (01:30 UTC).
    assert [fire.astimezone(UTC).hour for fire in fires] == [0, 1]
    assert {slot_key(fire, LONDON) for fire in fires} == {"2026-10-25T01:30 Europe/London"}
    for fire in fires:
        run_digest_slot(runtime, "daily", fire, lambda line: None)
    assert len(list_editions(runtime.store)) == 1
    assert list_editions(runtime.store)[0].slot == "2026-10-25T01:30 Europe/London"


def test_spring_forward_night_makes_at_most_one_edition(runtime: Runtime) -> None:
    trigger = CronTrigger.from_crontab("30 1 * * *", timezone=LONDON)
    fires = fires_on(
        trigger, datetime(2026, 3, 28, 23, tzinfo=UTC), datetime(2026, 3, 29, 23, tzinfo=UTC)
    )
    # 01:30 does not exist on 29 March 2026 in London: APScheduler 3.x fires once, at 01:30
    # UTC (02:30 BST), and that is the slot.
    assert [fire.astimezone(UTC).hour for fire in fires] == [1]
    assert slot_key(fires[0], LONDON) == "2026-03-29T02:30 Europe/London"
    for fire in fires:
        run_digest_slot(runtime, "daily", fire, lambda line: None)
        run_digest_slot(runtime, "daily", fire, lambda line: None)
    [edition] = list_editions(runtime.store)
    assert edition.slot == "2026-03-29T02:30 Europe/London"


def test_digest_fires_on_its_crontab_in_its_own_timezone(site: Site) -> None:
    text = site.config_path.read_text().replace(
        'schedule = "30 7 * * *"', 'schedule = "0 9 * * *"\ntimezone = "Asia/Tokyo"'
    )
    site.config_path.write_text(text)
    config = site.config()
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)  # 21:00 in Tokyo
    jobs = {job.job: job for job in planned_jobs(config, now)}
    assert jobs["digest:daily"].timezone == "Asia/Tokyo"
    assert jobs["digest:daily"].next_run == datetime(2026, 11, 26, 0, 0, tzinfo=UTC)
    assert jobs["digest:culture"].next_run == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def test_same_slot_fired_twice_makes_one_edition(runtime: Runtime) -> None:
    fire = datetime(2026, 11, 25, 1, 30, tzinfo=UTC)
    lines: list[str] = []
    run_digest_slot(runtime, "daily", fire, lines.append)
    run_digest_slot(runtime, "daily", fire + timedelta(seconds=40), lines.append)
    assert len(list_editions(runtime.store)) == 1
    assert "already has edition 1" in lines[-1]


def test_previous_fire_time_finds_weekly_and_yearly_slots() -> None:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    weekly = CronTrigger.from_crontab("0 8 * * fri", timezone=LONDON)
    assert previous_fire_time(weekly, now) == datetime(2026, 11, 20, 8, tzinfo=UTC)
    yearly = CronTrigger.from_crontab("0 6 1 1 *", timezone=LONDON)
    assert previous_fire_time(yearly, now) == datetime(2026, 1, 1, 6, tzinfo=UTC)


# The daemon -------------------------------------------------------------------------------


@pytest.fixture
def daemon(site: Site) -> Iterator[Callable[[], threading.Event]]:
    """Start `run_daemon` in a thread; every started daemon is stopped at the end."""
    started: list[tuple[threading.Thread, threading.Event]] = []

    def start() -> threading.Event:
        stop = threading.Event()
        thread = threading.Thread(
            target=run_daemon, args=(site.config_path, SECRET, stop), daemon=True
        )
        thread.start()
        started.append((thread, stop))
        return stop

    yield start
    for thread, stop in started:
        stop.set()
        thread.join(timeout=60)


def count_articles(config: Config) -> int:
    with open_store(config.store_url) as store, store.transaction() as connection:
        return int(connection.scalar(sa.select(sa.func.count()).select_from(articles)) or 0)


def test_publish_job_runs_on_its_interval(
    site: Site, daemon: Callable[[], threading.Event]
) -> None:
    config = configure(site, publish_every="0.5s", standby_poll="0.1s")
    daemon()
    wait_for(lambda: (site.feeds / "rss.xml").exists())
    site.write_article(
        "news/fresh.md", '---\ntitle: "Fresh"\ndate: 2026-11-01T09:00:00Z\n---\nFresh news.\n'
    )
    wait_for(lambda: count_articles(config) == 17)
    wait_for(lambda: b"Fresh" in (site.feeds / "rss.xml").read_bytes())


def stored_next_run(config: Config, job_id: str, moment: datetime) -> None:
    """Pretend the daemon was stopped with this job due at `moment`."""
    with open_store(config.store_url) as store:
        scheduler = new_scheduler(config, store.engine)
        scheduler.start(paused=True)
        register_jobs(scheduler, config)
        scheduler.modify_job(job_id, jobstore=PERSISTENT, next_run_time=moment)
        stop_without_losing_slots(scheduler)
        jobs = BackgroundScheduler()
        job_store = SQLAlchemyJobStore(engine=store.engine, tablename="apscheduler_jobs")
        job_store.start(jobs, PERSISTENT)
        job = job_store.lookup_job(job_id)
        assert job is not None
        assert job.next_run_time == moment


def test_missed_slot_runs_once_on_restart_within_the_grace_time(
    site: Site, daemon: Callable[[], threading.Event], clock: MovableClock
) -> None:
    config = configure(site, publish_every="1h", misfire_grace="6h", standby_poll="0.1s")
    with open_store(config.store_url) as store:
        gather(store, config, clock)
    stored_next_run(config, "digest:daily", datetime.now(UTC) - timedelta(hours=1))
    daemon()
    with open_store(config.store_url) as store:
        wait_for(lambda: len(list_editions(store, "daily")) == 1)
        time.sleep(0.5)  # would a second run sneak in? (coalesce: it must not)
        assert len(list_editions(store, "daily")) == 1


def test_missed_slot_outside_the_grace_time_is_skipped(
    site: Site,
    daemon: Callable[[], threading.Event],
    clock: MovableClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The daily digest's one slot of the year 10 hours ago: with a daily schedule, coalescing
    # would run today's latest slot instead, within the grace time at some hours of the day.
    missed = (datetime.now(UTC) - timedelta(hours=10)).replace(second=0, microsecond=0)
    local = missed.astimezone(ZoneInfo("Europe/London"))
    yearly = f"{local.minute} {local.hour} {local.day} {local.month} *"
    text = site.config_path.read_text().replace('"30 7 * * *"', f'"{yearly}"')
    site.config_path.write_text(text)
    config = configure(site, publish_every="1h", misfire_grace="6h", standby_poll="0.1s")
    with open_store(config.store_url) as store:
        gather(store, config, clock)
    stored_next_run(config, "digest:daily", missed)
    with caplog.at_level("WARNING", logger="publisher.daemon.scheduler"):
        daemon()
        wait_for(lambda: "missed by more than its grace time" in caplog.text)
    with open_store(config.store_url) as store:
        assert list_editions(store, "daily") == []


def test_jobs_of_removed_digests_are_removed(site: Site, clock: MovableClock) -> None:
    config = site.config()
    with open_store(config.store_url) as store:
        scheduler = new_scheduler(config, store.engine)
        scheduler.start(paused=True)
        register_jobs(scheduler, config)
        assert {j.id for j in scheduler.get_jobs()} == {"publish", "digest:daily", "digest:culture"}
        text = site.config_path.read_text().split("[[digests]]")
        site.config_path.write_text("[[digests]]".join(text[:2]))  # keep only "daily"
        register_jobs(scheduler, site.config())
        assert {j.id for j in scheduler.get_jobs()} == {"publish", "digest:daily"}
        scheduler.shutdown(wait=False)


# Processes --------------------------------------------------------------------------------


def start_run(site: Site) -> subprocess.Popen[str]:
    return start_publisher(site, "run", **SECRET)


class Output:
    """Collects a process's output in a thread, so tests can wait for a line."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert process.stdout is not None
        stream = process.stdout
        self.thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self.thread.start()

    def has(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))


def test_standby_takes_over_when_the_active_process_is_killed(site: Site) -> None:
    configure(site, publish_every="1h", standby_poll="0.1s")
    first = start_run(site)
    first_output = Output(first)
    wait_for(lambda: first_output.has("active: this process schedules"))
    second = start_run(site)
    second_output = Output(second)
    try:
        wait_for(lambda: second_output.has("standby: another publisher run is active"))
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        wait_for(lambda: second_output.has("active: this process schedules"))
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
        if first.poll() is None:
            first.kill()


def test_sigterm_during_a_send_loses_and_doubles_nothing(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    from tests.test_delivery import run_send, use_smtp

    config = use_smtp(site, smtp_server, batch_size=5, max_age="3650d")
    configure(site, publish_every="1h", standby_poll="0.1s")
    emails = [f"r{n:03d}@example.org" for n in range(40)]
    with open_store(config.store_url) as store:
        for address in emails:
            add_subscriber(store, address, "", ("daily",), clock.now)
        gather(store, config, clock)
        outcome = create_edition(store, config, "daily", clock)
        assert outcome.edition is not None
        from publisher.mail.delivery.send import start_delivery

        start_delivery(store, outcome.edition.id, clock.now)  # interrupted before: resume it
    smtp_server.handler.delay = 0.05
    process = start_run(site)
    output = Output(process)
    wait_for(lambda: len(smtp_server.handler.received) >= 8)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, "".join(output.lines)
    assert len(smtp_server.handler.received) < 40
    smtp_server.handler.delay = 0
    finish = run_send(site)
    _, err = finish.communicate(timeout=120)
    assert finish.returncode == 0, err
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == emails
    assert set(counts.values()) == {1}


def test_bad_crontab_is_refused_at_start_naming_the_digest(site: Site) -> None:
    text = site.config_path.read_text().replace(
        'schedule = "30 7 * * *"', 'schedule = "30 25 * * *"'
    )
    site.config_path.write_text(text)
    process = start_run(site)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "digests[daily].schedule: bad crontab '30 25 * * *'" in output
    assert "Traceback" not in output


def test_postgresql_advisory_lock_admits_one_active_daemon(postgres_url: str) -> None:
    from publisher.store.database import create_engine
    from publisher.store.locks import AdvisoryLock

    first_engine, second_engine = create_engine(postgres_url), create_engine(postgres_url)
    first, second = AdvisoryLock(first_engine), AdvisoryLock(second_engine)
    try:
        assert first.try_acquire()
        assert first.still_held()
        assert not second.try_acquire()
        assert first.connection is not None
        first.connection.invalidate()  # the active process dies: its session ends
        first.connection = None
        wait_for(second.try_acquire, seconds=30)
        assert second.still_held()
    finally:
        second.release()
        first.release()
        first_engine.dispose()
        second_engine.dispose()


def test_schedule_lists_jobs_without_starting_anything(bare_site: Site) -> None:
    from tests.test_cli import run

    result = run(bare_site, "schedule")
    assert result.returncode == 0, result.stderr
    assert "digest:daily" in result.stdout
    assert "30 7 * * *" in result.stdout
    assert "Europe/London" in result.stdout
    assert not (bare_site.root / "publisher.db").exists()


def test_a_database_blip_does_not_kill_the_scheduler(
    site: Site, postgres_url: str, daemon: Callable[[], threading.Event]
) -> None:
    # `postgres_url` before `daemon`: fixtures end in reverse order, so the daemon stops before
    # its database is dropped.
    text = site.config_path.read_text().replace(
        'url = "sqlite:///publisher.db"', f'url = "{postgres_url}"'
    )
    site.config_path.write_text(text)
    config = configure(site, publish_every="0.3s", standby_poll="0.1s")
    daemon()
    wait_for(lambda: (site.feeds / "rss.xml").exists())
    database = sa.make_url(postgres_url).database
    admin = sa.create_engine(postgres_url.rsplit("/", 1)[0] + "/postgres")
    with admin.connect() as connection:
        killed = connection.execute(
            sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": database},
        ).all()
    admin.dispose()
    assert killed  # every connection of the daemon, the advisory lock's included, was cut
    site.write_article(
        "news/after-blip.md", '---\ntitle: "After"\ndate: 2026-11-01T09:00:00Z\n---\nStill here.\n'
    )
    wait_for(lambda: count_articles(config) == 17)


def test_bad_timezone_is_refused_at_start_naming_the_digest(site: Site) -> None:
    text = site.config_path.read_text().replace(
        'name = "culture"', 'name = "culture"\ntimezone = "Europe/Atlantis"'
    )
    site.config_path.write_text(text)
    process = start_run(site)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "digests[culture].timezone: unknown timezone 'Europe/Atlantis'" in output
    assert "Traceback" not in output
