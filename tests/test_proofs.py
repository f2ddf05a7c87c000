"""`publisher digest send-test`: an edition as a subscriber gets it, to a tester, unrecorded."""

from __future__ import annotations

import email
import email.policy
import subprocess
from email.message import EmailMessage

import sqlalchemy as sa

from publisher.audience.subscribers import add_subscriber
from publisher.mail.editions import create_edition
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.schema import deliveries, digest_watermarks, editions
from tests.conftest import MovableClock, Site, SmtpServer, run_publisher
from tests.test_delivery import SECRET, use_smtp


def run(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(site.root, *args, **SECRET)


def store_state(site: Site) -> tuple[object, ...]:
    with open_store(site.config().store_url) as store, store.transaction() as connection:
        return tuple(
            tuple(connection.execute(sa.select(table)).all())
            for table in (editions, deliveries, digest_watermarks)
        )


def received(server: SmtpServer) -> list[tuple[list[str], EmailMessage]]:
    found = []
    for message in server.handler.received:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found.append((message.recipients, parsed))
    return found


def test_send_test_mails_the_next_edition_marked_test_and_records_nothing(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        add_subscriber(store, "reader@example.org", "Reader", ["daily"], clock.now)
    listed = run(site, "digest", "list")
    before = store_state(site)
    result = run(
        site, "digest", "send-test", "daily", "--to", "ed@example.org", "--to", "proof@example.net"
    )
    assert result.returncode == 0, result.stderr
    assert "sent to ed@example.org, proof@example.net" in result.stdout
    messages = received(smtp_server)
    assert [recipients for recipients, _ in messages] == [
        ["ed@example.org"],
        ["proof@example.net"],
    ]
    for recipients, message in messages:
        assert str(message["Subject"]).startswith("[TEST] The Harbour Gazette: ")
        assert recipients[0] in str(message["To"])
        text = message.get_body(("plain",))
        assert isinstance(text, EmailMessage)
        assert "Test Reader" in text.get_content()
        assert "reader@example.org" not in message.as_string()
    assert store_state(site) == before
    assert run(site, "digest", "list").stdout == listed.stdout
    assert "no editions yet" in listed.stdout


def test_send_test_with_nothing_new_sends_the_latest_edition(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    config = use_smtp(site, smtp_server)
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        made = create_edition(store, config, "culture", clock).edition
    assert made is not None
    before = store_state(site)
    result = run(site, "digest", "send-test", "culture", "--to", "ed@example.org")
    assert result.returncode == 0, result.stderr
    [(_, message)] = received(smtp_server)
    assert str(message["Subject"]) == f"[TEST] {made.subject}"
    assert store_state(site) == before


def test_send_test_refuses_a_bad_address_or_digest_in_one_line(site: Site) -> None:
    for args, expected in (
        (("daily", "--to", "not an address"), "bad address"),
        (("weekly", "--to", "ed@example.org"), "no digest named 'weekly'"),
    ):
        result = run(site, "digest", "send-test", *args)
        assert result.returncode == 1
        assert expected in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
