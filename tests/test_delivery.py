"""Delivery through a real SMTP server on loopback: exactly once, across faults and restarts."""

from __future__ import annotations

import email
import email.policy
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta

import pytest
import sqlalchemy as sa

from publisher.audience.subscribers import (
    add_subscriber,
    find_subscriber,
    list_subscribers,
    remove_subscriber,
)
from publisher.config import Config
from publisher.inbound.apply import subscriber_events
from publisher.mail.delivery.send import SendOptions, editions_to_send, send_edition, start_delivery
from publisher.mail.editions import create_edition
from publisher.site.gather import gather
from publisher.store.database import Store, open_store
from publisher.store.schema import deliveries, subscribers
from publisher.store.statuses import SubscriberStatus
from tests.conftest import MovableClock, Site, SmtpServer, publisher_environment, start_publisher
from tests.test_cli import run

SECRET = {"PUBLISHER_SECRET": "a-test-secret-of-enough-length"}


def use_smtp(site: Site, server: SmtpServer, **delivery: object) -> Config:
    settings = {"retry_backoff": 0, **delivery}
    lines = "".join(f"{key} = {value!r}\n".replace("'", '"') for key, value in settings.items())
    text = site.config_path.read_text().replace("[mail]\n", '[mail]\ntransport = "smtp"\n', 1)
    text += (
        f'\n[mail.smtp]\nhost = "{server.host}"\nport = {server.port}\nsecurity = "none"\n'
        f"timeout = 5\n\n[delivery]\n{lines}"
    )
    site.config_path.write_text(text)
    return site.config()


def subscribe(store: Store, count: int, digests: tuple[str, ...] = ("daily",)) -> list[str]:
    emails = [f"reader{n:04d}@example.org" for n in range(count)]
    for address in emails:
        add_subscriber(store, address, f"Reader {address[6:10]}", digests, MovableClock().now)
    return emails


def new_edition(site: Site, store: Store, clock: MovableClock) -> int:
    gather(store, site.config(), clock)
    outcome = create_edition(store, site.config(), "daily", clock)
    assert outcome.edition is not None
    return outcome.edition.id


def test_every_confirmed_subscriber_receives_exactly_one_message(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    emails = subscribe(store, 12)
    add_subscriber(store, "pending@example.org", "P", ("daily",), clock.now, status="pending")
    subscribe_culture_only = add_subscriber(
        store, "culture@example.org", "C", ("culture",), clock.now
    )
    assert subscribe_culture_only[0].status == SubscriberStatus.CONFIRMED
    remove_subscriber(store, emails[0], clock.now)
    edition_id = new_edition(site, store, clock)
    report = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert sorted(smtp_server.handler.recipients()) == emails[1:]
    assert (report.sent, report.failed) == (11, 0)
    again = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert again.sent == 0
    assert len(smtp_server.handler.recipients()) == 11
    assert editions_to_send(store) == []


def test_messages_carry_every_header_and_their_own_unsubscribe_url(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    subscribe(store, 3)
    edition_id = new_edition(site, store, clock)
    send_edition(store, config, edition_id, SECRET, clock=clock)
    parsed = [
        email.message_from_bytes(m.data, policy=email.policy.default)
        for m in smtp_server.handler.received
    ]
    urls = {}
    for message in parsed:
        for header in (
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "List-Id",
            "List-Unsubscribe",
            "List-Unsubscribe-Post",
            "Reply-To",
        ):
            assert message[header], header
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message.get_content_type() == "multipart/alternative"
        text, html = (part.get_content() for part in message.iter_parts())
        [url] = re.findall(
            r"https://gazette\.example\.org/unsubscribe/daily/[\w.\-]+", message["List-Unsubscribe"]
        )
        assert url in html
        assert url in text
        urls[str(message["To"])] = url
    assert len(set(urls.values())) == 3
    for message in parsed:
        html = message.get_body(("html",)).get_content()
        others = [u for to, u in urls.items() if to != str(message["To"])]
        assert not any(other in html for other in others)


def test_temporary_failures_are_retried_and_delivered_once(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, max_attempts=5)
    emails = subscribe(store, 4)
    smtp_server.handler.temporary_failures = 3
    edition_id = new_edition(site, store, clock)
    report = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert sorted(smtp_server.handler.recipients()) == emails
    assert report.sent == 4
    with store.transaction() as connection:
        attempts = connection.scalar(
            sa.select(sa.func.sum(deliveries.c.attempts)).where(
                deliveries.c.edition_id == edition_id
            )
        )
    assert attempts == 4 + 3  # one each, and the three refused tries


def test_permanent_failure_fails_one_and_bounces_after_the_limit(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, bounce_limit=2)
    emails = subscribe(store, 5)
    smtp_server.handler.refused[emails[2]] = "550 5.1.1 no such user"
    first = send_edition(store, config, new_edition(site, store, clock), SECRET, clock=clock)
    assert (first.sent, first.failed) == (4, 1)
    assert emails[2] not in smtp_server.handler.recipients()
    site.write_article(
        "news/next.md", '---\ntitle: "Next"\ndate: 2026-11-25T11:00:00Z\n---\nNext.\n'
    )
    second = send_edition(store, config, new_edition(site, store, clock), SECRET, clock=clock)
    assert second.failed == 1
    statuses = {s.email: s.status for s in list_subscribers(store)}
    assert statuses[emails[2]] == SubscriberStatus.BOUNCED
    assert statuses[emails[0]] == SubscriberStatus.CONFIRMED


def test_refusal_at_rcpt_is_one_hard_bounce_event_counted_once(
    site: Site, store_url: str, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, bounce_limit=3)
    emails = subscribe(store, 3)
    smtp_server.handler.refused[emails[1]] = "550 5.1.1 no such user"
    edition_id = new_edition(site, store, clock)
    report = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert (report.sent, report.failed) == (2, 1)
    send_edition(store, config, edition_id, SECRET, clock=clock)  # nothing left: no new event
    refused = find_subscriber(store, emails[1])
    assert refused is not None
    assert (refused.hard_bounces, refused.status) == (1, SubscriberStatus.CONFIRMED)
    with store.transaction() as connection:
        row_id = connection.scalar(
            sa.select(deliveries.c.id).where(deliveries.c.subscriber_id == refused.id)
        )
    [event] = subscriber_events(store, refused.id)
    assert (event.kind, event.code, event.source) == ("hard_bounce", "550", "smtp")
    assert (event.delivery_id, event.edition_id) == (row_id, edition_id)
    assert "5.1.1 no such user" in event.diagnostic
    for other in (emails[0], emails[2]):
        found = find_subscriber(store, other)
        assert found is not None
        assert (found.hard_bounces, subscriber_events(store, found.id)) == (0, [])
    shown = run(site, "subscribers", "show", emails[1], env={"PUBLISHER_STORE_URL": store_url})
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.count("hard bounce") == 1
    assert "bounces counted: 1 of 3" in shown.stdout


def test_dropped_connection_mid_batch_loses_and_doubles_nothing(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    emails = subscribe(store, 8)
    smtp_server.handler.drop_on_rcpt = {3, 6}
    send_edition(store, config, new_edition(site, store, clock), SECRET, clock=clock)
    assert sorted(smtp_server.handler.recipients()) == emails


def test_drop_after_data_is_uncertain_and_resent_only_when_asked(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    emails = subscribe(store, 3)
    smtp_server.handler.drop_after_data = {2}
    edition_id = new_edition(site, store, clock)
    report = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert report.uncertain == 1
    assert send_edition(store, config, edition_id, SECRET, clock=clock).sent == 0
    ids_before = Counter(
        email.message_from_bytes(m.data)["Message-ID"] for m in smtp_server.handler.received
    )
    retried = send_edition(
        store, config, edition_id, SECRET, SendOptions(retry_uncertain=True), clock=clock
    )
    assert retried.sent == 1
    ids_after = Counter(
        email.message_from_bytes(m.data)["Message-ID"] for m in smtp_server.handler.received
    )
    [resent_id] = [i for i, c in ids_after.items() if c == 2]
    assert ids_before[resent_id] == 1
    assert sorted(set(smtp_server.handler.recipients())) == emails


def test_stale_edition_is_not_sent_unless_forced(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server, max_age="2d")
    subscribe(store, 2)
    edition_id = new_edition(site, store, clock)
    clock.advance(days=3)
    report = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert report.stale
    assert smtp_server.handler.received == []
    forced = send_edition(store, config, edition_id, SECRET, SendOptions(force=True), clock=clock)
    assert forced.sent == 2


def test_ledger_is_frozen_when_delivery_starts(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    subscribe(store, 2)
    edition_id = new_edition(site, store, clock)
    assert start_delivery(store, edition_id, clock.now) == 2
    add_subscriber(store, "late@example.org", "Late", ("daily",), clock.now)
    send_edition(store, config, edition_id, SECRET, clock=clock)
    assert "late@example.org" not in smtp_server.handler.recipients()


def test_a_frozen_ledger_has_planner_statistics_on_postgresql(
    site: Site, store: Store, clock: MovableClock
) -> None:
    if store.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's planner works from its indexes without statistics")
    subscribe(store, 2)
    edition_id = new_edition(site, store, clock)
    start_delivery(store, edition_id, clock.now)
    with store.transaction() as connection:
        # -1 until the table is first analyzed or vacuumed; ANALYZE counts its rows.
        counted = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE relname = 'deliveries'"
        ).scalar()
    assert counted == 2


def test_subscriber_who_leaves_after_the_ledger_is_frozen_is_skipped(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    emails = subscribe(store, 3)
    edition_id = new_edition(site, store, clock)
    start_delivery(store, edition_id, clock.now)
    remove_subscriber(store, emails[1], clock.now)
    report = send_edition(store, config, edition_id, SECRET, clock=clock)
    assert report.skipped == 1
    assert emails[1] not in smtp_server.handler.recipients()


def test_maildir_outbox_is_the_default_transport(
    site: Site, store: Store, clock: MovableClock
) -> None:
    import mailbox

    subscribe(store, 3)
    report = send_edition(
        store, site.config(), new_edition(site, store, clock), SECRET, clock=clock
    )
    assert report.sent == 3
    box = mailbox.Maildir(site.root / "outbox", create=False)
    assert sorted(str(message["To"]).split("<")[1].rstrip(">") for message in box) == sorted(
        f"reader{n:04d}@example.org" for n in range(3)
    )


# Processes: kill -9 and concurrent workers ------------------------------------------------


def run_send(site: Site, *args: str) -> subprocess.Popen[str]:
    return start_publisher(site, "send", *args, **SECRET)


def wait_for(condition: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def site_with_store(site: Site, url: str) -> None:
    text = site.config_path.read_text().replace('url = "sqlite:///publisher.db"', f'url = "{url}"')
    site.config_path.write_text(text)


@pytest.mark.parametrize("connections", [1, 4])
@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_kill_minus_nine_mid_send_then_resume_delivers_everyone_once_more_at_most(
    site: Site,
    clock: MovableClock,
    smtp_server: SmtpServer,
    request: pytest.FixtureRequest,
    database: str,
    connections: int,
) -> None:
    if database == "postgresql":
        site_with_store(site, request.getfixturevalue("postgres_url"))
    config = use_smtp(site, smtp_server, batch_size=10, max_age="3650d")
    site.config_path.write_text(
        site.config_path.read_text().replace(
            "timeout = 5\n", f"timeout = 5\nconnections = {connections}\n"
        )
    )
    config = site.config()
    assert config.mail is not None
    assert config.mail.smtp is not None
    assert config.mail.smtp.connections == connections
    with open_store(config.store_url) as store:
        emails = subscribe(store, 60)
        edition_id = new_edition(site, store, clock)
    smtp_server.handler.delay = 0.02
    process = run_send(site, str(edition_id))
    wait_for(lambda: len(smtp_server.handler.received) >= 20)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    delivered_before = len(smtp_server.handler.received)
    assert delivered_before < 60
    smtp_server.handler.delay = 0
    resumed = run_send(site, str(edition_id))
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == emails  # nobody missing
    doubled = [address for address, count in counts.items() if count > 1]
    # Per connection: one accepted but not yet committed, one in flight (see delivery.py).
    assert len(doubled) <= 2 * connections
    assert max(counts.values()) <= 2


@pytest.mark.parametrize(
    ("command", "stop_signal", "connections"),
    [("send", signal.SIGTERM, 4), ("send", signal.SIGINT, 1), ("publish", signal.SIGTERM, 1)],
)
def test_a_send_stopped_by_a_signal_records_all_it_sent_and_resumes_without_a_double(
    site: Site,
    clock: MovableClock,
    smtp_server: SmtpServer,
    command: str,
    stop_signal: signal.Signals,
    connections: int,
) -> None:
    config = use_smtp(site, smtp_server, batch_size=10, max_age="3650d")
    site.config_path.write_text(
        site.config_path.read_text().replace(
            "timeout = 5\n", f"timeout = 5\nconnections = {connections}\n"
        )
    )
    with open_store(config.store_url) as store:
        emails = subscribe(store, 60)
        if command == "send":
            arguments = ["send", str(new_edition(site, store, clock))]
        else:  # `publish --digest` makes the edition itself, then sends it
            arguments = ["publish", "--digest"]
    smtp_server.handler.delay = 0.02
    process = start_publisher(site, *arguments, **SECRET)
    wait_for(lambda: len(smtp_server.handler.received) >= 20)
    process.send_signal(stop_signal)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 128 + stop_signal, err
    assert f"{command}: stopped by {stop_signal.name}" in out
    taken = smtp_server.handler.recipients()
    assert 20 <= len(taken) < 60
    with open_store(config.store_url) as store, store.transaction() as connection:
        rows = connection.execute(
            sa.select(deliveries.c.status, deliveries.c.lease_owner)
            .join_from(deliveries, subscribers, subscribers.c.id == deliveries.c.subscriber_id)
            .add_columns(subscribers.c.email)
        ).all()
    # Every message the server took is recorded sent; the rest wait, leased by no one.
    assert sorted(row.email for row in rows if row.status == "sent") == sorted(taken)
    assert {(row.status, row.lease_owner) for row in rows if row.email not in taken} == {
        ("pending", None)
    }
    smtp_server.handler.delay = 0
    resumed = run_send(site)  # every edition not fully delivered
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == emails
    assert set(counts.values()) == {1}


@pytest.mark.parametrize("workers", [2])
def test_concurrent_send_processes_on_sqlite_never_double(
    site: Site, clock: MovableClock, smtp_server: SmtpServer, workers: int
) -> None:
    config = use_smtp(site, smtp_server, batch_size=5, max_age="3650d")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 60)
        edition_id = new_edition(site, store, clock)
    smtp_server.handler.delay = 0.005
    processes = [run_send(site, str(edition_id)) for _ in range(workers)]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == emails
    assert set(counts.values()) == {1}


def test_three_send_processes_share_one_edition_on_postgresql(
    site: Site, clock: MovableClock, smtp_server: SmtpServer, postgres_url: str
) -> None:
    site_with_store(site, postgres_url)
    config = use_smtp(site, smtp_server, batch_size=5, max_age="3650d")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 90)
        edition_id = new_edition(site, store, clock)
    smtp_server.handler.delay = 0.005
    processes = [run_send(site, str(edition_id)) for _ in range(3)]
    for process in processes:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == emails
    assert set(counts.values()) == {1}
    with open_store(config.store_url) as store, store.transaction() as connection:
        owners = connection.execute(
            sa.select(sa.func.count()).select_from(deliveries).where(deliveries.c.status == "sent")
        ).scalar()
    assert owners == 90


# Long host names ----------------------------------------------------------------------------

LONG_HOST = "publisher-worker-0123456789.eu-central-1.compute.internal.xy"


def dead_pid() -> int:
    """The id of a process of this host that has ended."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(timeout=60)
    return process.pid


def test_send_from_a_long_host_name_delivers_and_frees_its_dead_leases_at_once_on_postgresql(
    site: Site,
    clock: MovableClock,
    smtp_server: SmtpServer,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert len(LONG_HOST) == 60
    monkeypatch.setattr(socket, "gethostname", lambda: LONG_HOST)
    site_with_store(site, postgres_url)
    config = use_smtp(site, smtp_server, max_age="3650d", lease="1d")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 5)
        first = new_edition(site, store, clock)
        report = send_edition(store, config, first, SECRET, clock=clock)
        assert (report.sent, report.failed) == (5, 0)
        assert sorted(smtp_server.handler.recipients()) == emails
        # A send on this host died (kill -9) holding every row of the next edition for a day.
        site.write_article("news/late.md", "---\ntitle: Late news\ndate: 2026-11-25\n---\nLate.\n")
        second = new_edition(site, store, clock)
        start_delivery(store, second, clock())
        owner = f"{LONG_HOST}:{dead_pid()}:0123abcd"
        with store.transaction() as connection:
            connection.execute(
                deliveries.update()
                .where(deliveries.c.edition_id == second)
                .values(lease_owner=owner, lease_until=clock() + timedelta(days=1))
            )
        again = send_edition(store, config, second, SECRET, clock=clock)
    assert (again.sent, again.failed) == (5, 0)
    assert sorted(smtp_server.handler.recipients()) == sorted(emails * 2)


def can_rename_the_host() -> bool:
    try:
        done = subprocess.run(["unshare", "--uts", "true"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def send_on_host(site: Site, host: str, edition_id: int) -> subprocess.Popen[str]:
    """`publisher send` in a UTS namespace of its own, whose host name is `host`."""
    rename_then_run = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host]
    return subprocess.Popen(
        [*rename_then_run, sys.executable, "-m", "publisher", "send", str(edition_id)],
        cwd=site.root,
        env=publisher_environment(**SECRET),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_killed_send_on_a_long_named_host_is_resumed_at_once_by_the_next_on_postgresql(
    site: Site, clock: MovableClock, smtp_server: SmtpServer, postgres_url: str
) -> None:
    """The issue's reproducer: the host really is called by a 60-character name."""
    if not can_rename_the_host():
        pytest.skip("unshare --uts is not permitted here (the in-process test above still runs)")
    site_with_store(site, postgres_url)
    config = use_smtp(site, smtp_server, batch_size=10, max_age="3650d", lease="1d")
    with open_store(config.store_url) as store:
        emails = subscribe(store, 40)
        edition_id = new_edition(site, store, clock)
    smtp_server.handler.delay = 0.02
    first = send_on_host(site, LONG_HOST, edition_id)
    wait_for(lambda: len(smtp_server.handler.received) >= 10 or first.poll() is not None)
    first.send_signal(signal.SIGKILL)
    _, err = first.communicate(timeout=60)
    assert first.returncode == -signal.SIGKILL, err
    smtp_server.handler.delay = 0
    second = send_on_host(site, LONG_HOST, edition_id)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "0 pending" in out  # the dead send's day-long lease did not hold anyone back
    counts = Counter(smtp_server.handler.recipients())
    assert sorted(counts) == emails
    assert max(counts.values()) <= 2


# What send says ------------------------------------------------------------------------------


def test_send_logs_its_batches_at_info_so_the_default_level_keeps_them_quiet(
    site: Site, clock: MovableClock
) -> None:
    with open_store(site.config().store_url) as store:
        subscribe(store, 3)
        first = new_edition(site, store, clock)
        site.write_article("news/late.md", "---\ntitle: Late news\ndate: 2026-11-25\n---\nLate.\n")
        second = new_edition(site, store, clock)
    quiet = run_send(site, "--force", str(first))
    out, err = quiet.communicate(timeout=120)
    assert quiet.returncode == 0, err
    assert f"edition {first}: 3 sent" in out
    assert err == ""
    chatty = start_publisher(site, "--log-level", "info", "send", "--force", str(second), **SECRET)
    _, err = chatty.communicate(timeout=120)
    assert chatty.returncode == 0, err
    assert f"INFO publisher.send: edition {second}: 3 sent, 0 failed, 0 uncertain so far" in err
    assert "WARNING" not in err
