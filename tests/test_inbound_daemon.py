"""`publisher run` reads the configured mailbox every `[inbound] every`."""

from __future__ import annotations

import threading
from collections.abc import Callable

from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.daemon.scheduler import INBOUND_JOB, planned_jobs
from publisher.inbound.apply import subscriber_events
from publisher.store.database import open_store
from tests.conftest import MovableClock, Site
from tests.inbound_mail import inbound_message
from tests.test_scheduler import configure, daemon, wait_for

__all__ = ["daemon"]  # the fixture, imported for pytest


def with_inbound(site: Site, every: str) -> None:
    site.config_path.write_text(
        site.config_path.read_text() + f'\n[inbound]\nmaildir = "inbox"\nevery = "{every}"\n'
    )


def test_the_daemon_reads_the_mailbox_on_its_interval(
    site: Site, daemon: Callable[[], threading.Event]
) -> None:
    with_inbound(site, "0.2s")
    config = configure(site, publish_every="1h", standby_poll="0.1s")
    with open_store(config.store_url) as store:
        add_subscriber(store, "bob@example.com", "", ("daily",), MovableClock()())
    inbox = site.root / "inbox"
    for part in ("cur", "new", "tmp"):
        (inbox / part).mkdir(parents=True)
    daemon()
    (inbox / "new" / "1795600000.M1P1.host").write_bytes(inbound_message("exim_bounce"))

    def bounce_recorded() -> bool:
        with open_store(config.store_url) as store:
            found = find_subscriber(store, "bob@example.com")
            return found is not None and len(subscriber_events(store, found.id)) == 1

    wait_for(bounce_recorded)
    wait_for(lambda: len(list((inbox / ".processed/cur").iterdir())) == 1)
    assert list((inbox / "new").iterdir()) == []


def test_the_inbound_job_is_planned_only_when_configured(site: Site) -> None:
    now = MovableClock()()
    assert INBOUND_JOB not in [job.job for job in planned_jobs(site.config(), now)]
    with_inbound(site, "5m")
    jobs = {job.job: job for job in planned_jobs(site.config(), now)}
    assert jobs[INBOUND_JOB].schedule == "every 5m"
