"""Server failures pause a run instead of failing its recipients, against real loopback servers."""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import time, timedelta
from time import monotonic

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from publisher.audience.subscribers import remove_subscriber
from publisher.mail.delivery.ledger import RemainingRows, editions_with_rows, remaining_rows
from publisher.mail.delivery.send import (
    SendOptions,
    ServerOutage,
    editions_to_send,
    send_edition,
    start_delivery,
)
from publisher.store.database import Store, open_store
from publisher.store.schema import deliveries, editions
from tests.conftest import (
    SAMPLE_NOW,
    MovableClock,
    RecordingHandler,
    Site,
    SmtpServer,
    free_port,
)
from tests.test_cli import run
from tests.test_delivery import SECRET, new_edition, subscribe, use_smtp


class SleepingClock:
    """A `sleep` that moves the test clock instead of waiting, and runs `at` hooks on the way."""

    def __init__(self, clock: MovableClock) -> None:
        self.clock = clock
        self.slept: list[float] = []
        self.hooks: list[tuple[float, object]] = []

    def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(seconds=seconds)
        for when, hook in list(self.hooks):
            if sum(self.slept) >= when:
                self.hooks.remove((when, hook))
                hook()  # type: ignore[operator]


@contextmanager
def server_on(port: int, handler: RecordingHandler) -> Iterator[Controller]:
    controller = Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def row_states(store: Store, edition_id: int) -> list[tuple[str, int]]:
    with store.transaction() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.status, deliveries.c.attempts).where(
                deliveries.c.edition_id == edition_id
            )
        )
        return [(status, attempts) for status, attempts in rows]


def test_outage_three_times_the_retry_budget_delivers_every_row_once_the_server_is_back(
    site: Site, store: Store, clock: MovableClock
) -> None:
    handler = RecordingHandler()
    port = free_port()
    absent = SmtpServer("127.0.0.1", port, handler)
    config = use_smtp(site, absent, retry_backoff=2.0)  # every setting at its default
    budget = sum(2.0 * 2**n for n in range(config.delivery.max_attempts - 1))
    emails = subscribe(store, 20)
    edition_id = new_edition(site, store, clock)
    sleep = SleepingClock(clock)
    with server_on_later(sleep, 3 * budget, port, handler):
        report = send_edition(store, config, edition_id, SECRET, clock=clock, sleep=sleep)
    assert sum(sleep.slept) >= 3 * budget
    counts = Counter(handler.recipients())
    assert sorted(counts) == emails
    assert set(counts.values()) == {1}
    assert (report.sent, report.failed, report.retryable) == (20, 0, 0)
    assert set(row_states(store, edition_id)) == {("sent", 1)}


@contextmanager
def server_on_later(
    sleep: SleepingClock, after: float, port: int, handler: RecordingHandler
) -> Iterator[None]:
    controllers: list[Controller] = []

    def start() -> None:
        controllers.append(Controller(handler, hostname="127.0.0.1", port=port, ready_timeout=10))
        controllers[0].start()

    sleep.hooks.append((after, start))
    try:
        yield
    finally:
        for controller in controllers:
            controller.stop()


def test_server_that_never_returns_stops_the_run_with_every_row_pending(
    site: Site, store: Store, clock: MovableClock
) -> None:
    handler = RecordingHandler()
    port = free_port()
    config = use_smtp(site, SmtpServer("127.0.0.1", port, handler), outage_patience="10m")
    emails = subscribe(store, 6)
    edition_id = new_edition(site, store, clock)
    sleep = SleepingClock(clock)
    with pytest.raises(ServerOutage, match=r"unavailable for 0:10:00.*publisher send"):
        send_edition(store, config, edition_id, SECRET, clock=clock, sleep=sleep)
    assert 590 <= sum(sleep.slept) <= 600
    assert set(row_states(store, edition_id)) == {("pending", 0)}
    assert editions_to_send(store) == [edition_id]
    with server_on(port, handler):
        report = send_edition(store, config, edition_id, SECRET, clock=clock, sleep=sleep)
    assert sorted(handler.recipients()) == emails
    assert report.sent == 6
    assert editions_to_send(store) == []


def test_wrong_host_fails_no_row(site: Site, store: Store, clock: MovableClock) -> None:
    wrong = SmtpServer("mail.does-not-exist.invalid", 25, RecordingHandler())
    config = use_smtp(site, wrong, outage_patience="2m")
    subscribe(store, 4)
    edition_id = new_edition(site, store, clock)
    with pytest.raises(ServerOutage, match=r"mail\.does-not-exist\.invalid"):
        send_edition(store, config, edition_id, SECRET, clock=clock, sleep=SleepingClock(clock))
    assert set(row_states(store, edition_id)) == {("pending", 0)}
    assert remaining_rows(store, edition_id).pending == 4


@pytest.mark.parametrize(
    "reply", ["454 4.7.0 Throttling: too many messages", "451 4.7.1 rate limit exceeded"]
)
def test_throttling_slows_the_run_down_and_loses_nothing(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer, reply: str
) -> None:
    config = use_smtp(site, smtp_server)
    emails = subscribe(store, 10)
    smtp_server.handler.rcpt_replies = [reply] * 4
    sleep = SleepingClock(clock)
    edition_id = new_edition(site, store, clock)
    report = send_edition(store, config, edition_id, SECRET, clock=clock, sleep=sleep)
    assert sleep.slept == [1.0, 2.0, 4.0]  # first retry at once, then growing pauses
    assert sorted(smtp_server.handler.recipients()) == emails
    assert (report.sent, report.failed) == (10, 0)
    assert set(row_states(store, edition_id)) == {("sent", 1)}  # no attempt spent on throttling


def test_per_recipient_temporary_reply_still_counts_against_that_row(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, max_attempts=2)
    emails = subscribe(store, 3)
    smtp_server.handler.refused[emails[1]] = "450 4.2.2 mailbox full"
    edition_id = new_edition(site, store, clock)
    report = send_edition(
        store, config, edition_id, SECRET, clock=clock, sleep=SleepingClock(clock)
    )
    assert (report.sent, report.retryable) == (2, 1)
    assert remaining_rows(store, edition_id).retryable == 1
    assert editions_to_send(store) == [edition_id]  # not delivered while a row may still go


def test_send_command_stops_with_one_line_and_exit_1_when_the_server_stays_down(
    site: Site, clock: MovableClock
) -> None:
    handler = RecordingHandler()
    port = free_port()
    absent = SmtpServer("127.0.0.1", port, handler)
    config = use_smtp(site, absent, outage_patience="1s", max_age="3650d")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 3)
        edition_id = new_edition(site, store, clock)
    result = run(site, "send", str(edition_id), env=SECRET)
    assert result.returncode == 1
    assert "mail server has been unavailable" in result.stderr
    assert "Traceback" not in result.stderr
    with open_store(config.store_url) as store:
        assert set(row_states(store, edition_id)) == {("pending", 0)}
    with server_on(port, handler):
        again = run(site, "send", env=SECRET)
    assert again.returncode == 0, again.stderr
    assert sorted(handler.recipients()) == emails


def test_retry_options_are_accepted_together(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    subscribe(store, 2)
    edition_id = new_edition(site, store, clock)
    options = SendOptions(retry_failed=True, retry_uncertain=True)
    assert send_edition(store, config, edition_id, SECRET, options, clock=clock).sent == 2


# Nothing is final by accident: --retry-failed and --retry-uncertain ---------------------------


def test_retry_failed_resends_only_the_temporarily_failed_rows_once(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, max_attempts=2)
    emails = subscribe(store, 5)
    smtp_server.handler.refused[emails[1]] = "550 5.1.1 no such user"
    smtp_server.handler.refused[emails[2]] = "452 4.2.2 mailbox full"
    edition_id = new_edition(site, store, clock)
    start_delivery(store, edition_id, clock.now)
    remove_subscriber(store, emails[3], clock.now)
    first = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert (first.sent, first.failed, first.retryable, first.skipped) == (2, 1, 1, 1)
    assert remaining_rows(store, edition_id) == RemainingRows(retryable=1, failed=1)
    assert f"publisher send {edition_id} --retry-failed" in first.summary()
    smtp_server.handler.refused.clear()
    assert send_edition(store, config, edition_id, SECRET, clock=clock).sent == 0
    retried = send_edition(
        store, config, edition_id, SECRET, SendOptions(retry_failed=True), clock=clock
    )
    assert (retried.sent, retried.failed) == (1, 0)
    again = send_edition(
        store, config, edition_id, SECRET, SendOptions(retry_failed=True), clock=clock
    )
    assert again.sent == 0
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == [emails[0], emails[2], emails[4]]
    assert set(counts.values()) == {1}
    assert editions_to_send(store) == []


def test_retry_uncertain_without_an_edition_finds_every_edition_with_uncertain_rows(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, max_age="3650d")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 3)
        smtp_server.handler.drop_after_data = {2}
        first = new_edition(site, store, clock)
        send_edition(store, config, first, SECRET, clock=clock)
        site.write_article(
            "news/next.md", '---\ntitle: "Next"\ndate: 2026-11-25T11:00:00Z\n---\nNext.\n'
        )
        smtp_server.handler.drop_after_data = {5}
        second = new_edition(site, store, clock)
        send_edition(store, config, second, SECRET, clock=clock)
        assert editions_with_rows(store, "uncertain") == [first, second]
        # A store from before this rule: an edition marked delivered despite its uncertain row.
        with store.transaction() as connection:
            connection.execute(
                editions.update().where(editions.c.id == first).values(delivered_at=clock.now)
            )
    before = Counter(smtp_server.handler.recipients())
    plain = run(site, "send", env=SECRET)
    assert plain.returncode == 1  # rows remain that need a decision
    assert f"publisher send {second} --retry-uncertain" in plain.stdout
    assert Counter(smtp_server.handler.recipients()) == before
    result = run(site, "send", "--retry-uncertain", env=SECRET)
    assert result.returncode == 0, result.stderr
    resent = Counter(smtp_server.handler.recipients()) - before
    assert resent == Counter({emails[1]: 2})  # its uncertain row in each edition, once
    again = run(site, "send", "--retry-uncertain", env=SECRET)
    assert again.returncode == 0, again.stderr
    assert "every edition is delivered" in again.stdout
    assert Counter(smtp_server.handler.recipients()) - before == resent


# Pacing: [mail.smtp] daily_limit -----------------------------------------------------------


def with_smtp_setting(site: Site, line: str) -> None:
    text = site.config_path.read_text().replace("timeout = 5\n", f"timeout = 5\n{line}\n", 1)
    site.config_path.write_text(text)


def test_daily_limit_pauses_the_run_until_the_next_day_in_the_site_zone(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    use_smtp(site, smtp_server, batch_size=3)
    with_smtp_setting(site, "daily_limit = 5")
    config = site.config()
    zone = config.site.zone
    emails = subscribe(store, 12)
    edition_id = new_edition(site, store, clock)
    sleep = SleepingClock(clock)
    report = send_edition(store, config, edition_id, SECRET, clock=clock, sleep=sleep)
    assert report.sent == 12
    assert sorted(smtp_server.handler.recipients()) == emails
    with store.transaction() as connection:
        sent_at = connection.execute(
            sa.select(deliveries.c.sent_at).where(deliveries.c.edition_id == edition_id)
        ).scalars()
        per_day = Counter(moment.astimezone(zone).date().isoformat() for moment in sent_at)
    start = SAMPLE_NOW.astimezone(zone).date()
    assert per_day == {
        start.isoformat(): 5,
        (start + timedelta(days=1)).isoformat(): 5,
        (start + timedelta(days=2)).isoformat(): 2,
    }
    assert len(sleep.slept) == 2  # one pause at each limit, each ending at midnight
    assert clock.now.astimezone(zone).time() == time(0, 0)


def test_rate_limit_spaces_out_the_starts_of_messages(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    use_smtp(site, smtp_server, batch_size=2)
    with_smtp_setting(site, "rate_limit = 4")
    subscribe(store, 5)
    edition_id = new_edition(site, store, clock)
    started = monotonic()
    report = send_edition(store, site.config(), edition_id, SECRET, clock=clock)
    assert report.sent == 5
    assert monotonic() - started >= 4 / 4  # five starts, at least 1/4 s apart
    assert len(smtp_server.handler.recipients()) == 5


def test_daily_limit_counts_what_other_editions_sent_that_day(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    use_smtp(site, smtp_server)
    with_smtp_setting(site, "daily_limit = 4")
    config = site.config()
    subscribe(store, 3)
    first = new_edition(site, store, clock)
    assert send_edition(store, config, first, SECRET, clock=clock).sent == 3
    site.write_article(
        "news/next.md", '---\ntitle: "Next"\ndate: 2026-11-25T11:00:00Z\n---\nNext.\n'
    )
    second = new_edition(site, store, clock)
    sleep = SleepingClock(clock)
    stop = threading.Event()
    sleep.hooks.append((1, stop.set))  # stop at the first pause, as the daemon's stop would
    report = send_edition(store, config, second, SECRET, clock=clock, sleep=sleep, stop=stop)
    assert report.sent == 1
    assert remaining_rows(store, second).pending == 2


def test_daemon_carries_on_a_send_the_outage_stopped_once_the_server_is_back(
    site: Site, clock: MovableClock
) -> None:
    from tests.test_scheduler import Output, configure, start_run, wait_for

    handler = RecordingHandler()
    port = free_port()
    config = use_smtp(
        site, SmtpServer("127.0.0.1", port, handler), outage_patience="1s", max_age="3650d"
    )
    configure(site, publish_every="1s", standby_poll="0.1s")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 5)
        edition_id = new_edition(site, store, clock)
        start_delivery(store, edition_id, clock.now)  # a send the server's outage interrupted
    process = start_run(site)
    output = Output(process)
    try:
        wait_for(lambda: output.has("mail server has been unavailable"))
        with server_on(port, handler):
            wait_for(lambda: len(handler.received) >= 5)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, "".join(output.lines)
    assert sorted(handler.recipients()) == emails
