"""`publisher inbound` on a real Maildir and from a pipe, as an MTA runs it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import sqlalchemy as sa

from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.mail.delivery.send import start_delivery
from publisher.mail.editions import create_edition
from publisher.mail.transport.returnpath import UNSUBSCRIBE, make_return_token
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.schema import deliveries, events
from publisher.store.statuses import SubscriberStatus
from tests.conftest import MovableClock, Site, run_publisher
from tests.inbound_mail import inbound_message

SECRET = "a-test-secret-of-enough-length"


def run(site: Site, *args: str, stdin: bytes = b"", **env: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(site.root, *args, stdin=stdin, PUBLISHER_SECRET=SECRET, **env)


def make_maildir(root: Path, messages: dict[str, bytes]) -> Path:
    for part in ("cur", "new", "tmp"):
        (root / part).mkdir(parents=True)
    for index, (name, raw) in enumerate(messages.items()):
        folder = "new" if index % 2 else "cur"
        suffix = "" if folder == "new" else ":2,S"
        (root / folder / f"17956{index:05d}.M1P1.host.{name}{suffix}").write_bytes(raw)
    return root


def subscribe(site: Site, *emails: str) -> None:
    with open_store(site.config().store_url) as store:
        for address in emails:
            add_subscriber(store, address, "", ("daily", "culture"), MovableClock()())


def unsubscribe_token(site: Site, email: str) -> str:
    """A mailto token for `email`'s delivery of a fresh daily edition."""
    config, clock = site.config(), MovableClock()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        outcome = create_edition(store, config, "daily", clock)
        assert outcome.edition is not None
        start_delivery(store, outcome.edition.id, clock())
        with store.transaction() as connection:
            row = connection.scalar(sa.select(deliveries.c.id).where(deliveries.c.email == email))
    return make_return_token(SECRET.encode(), UNSUBSCRIBE, int(row))


def statuses(site: Site, *emails: str) -> list[tuple[str, int, tuple[str, ...]]]:
    with open_store(site.config().store_url) as store:
        found = [find_subscriber(store, address) for address in emails]
    return [(s.status, s.hard_bounces, s.digests) for s in found if s is not None]


def test_maildir_messages_are_applied_and_filed_never_deleted(site: Site, tmp_path: Path) -> None:
    subscribe(site, "ann@example.net", "bob@example.com", "heidi@example.net", "kim@example.com")
    token = unsubscribe_token(site, "kim@example.com")
    messages = {
        "postfix": inbound_message("postfix_dsn"),
        "exim": inbound_message("exim_bounce"),
        "arf": inbound_message("arf_report"),
        "unsubscribe": inbound_message("unsubscribe", unsubscribe_token=token),
        "vacation": inbound_message("vacation"),
        "human": inbound_message("human_reply"),
    }
    maildir = make_maildir(tmp_path / "Maildir", messages)
    result = run(site, "inbound", "--maildir", str(maildir))
    assert result.returncode == 0, result.stderr
    assert (
        "inbound: 6 read (2 hard bounce, 0 soft bounce, 1 complaint, 1 unsubscribe, "
        "1 auto reply, 1 unknown); 0 already seen, 0 for no subscriber, 0 errors"
    ) in result.stdout
    assert list((maildir / "new").iterdir()) == list((maildir / "cur").iterdir()) == []
    filed = (maildir / ".processed/cur").iterdir()
    processed = {path.name.split(".")[-1].split(":")[0] for path in filed}
    assert processed == {"postfix", "exim", "arf", "unsubscribe", "vacation"}
    [human] = (maildir / ".unrecognized/cur").iterdir()
    assert human.read_bytes() == messages["human"]
    assert statuses(site, "ann@example.net", "heidi@example.net", "kim@example.com") == [
        (SubscriberStatus.CONFIRMED, 1, ("culture", "daily")),
        (SubscriberStatus.COMPLAINED, 0, ()),
        (SubscriberStatus.CONFIRMED, 0, ("culture",)),
    ]
    again = run(site, "inbound", "--maildir", str(maildir))
    assert "inbound: 0 read" in again.stdout


def test_a_message_piped_twice_is_one_event(site: Site) -> None:
    subscribe(site, "bob@example.com")
    for _ in range(2):
        result = run(site, "inbound", "-", stdin=inbound_message("exim_bounce"))
        assert result.returncode == 0, result.stderr
    assert statuses(site, "bob@example.com") == [
        (SubscriberStatus.CONFIRMED, 1, ("culture", "daily"))
    ]
    with open_store(site.config().store_url) as store, store.transaction() as connection:
        assert connection.scalar(sa.select(sa.func.count()).select_from(events)) == 1
    shown = run(site, "subscribers", "show", "bob@example.com")
    assert shown.returncode == 0, shown.stderr
    assert "hard bounce" in shown.stdout
    assert "5.1.1" in shown.stdout
    assert "bounces counted: 1 of 3" in shown.stdout


def test_three_hard_bounces_by_pipe_mark_the_subscriber_bounced(site: Site) -> None:
    subscribe(site, "dave@example.org")
    for number in range(3):
        raw = inbound_message("sendmail_dsn").replace(b"5AQ7W0xH012345@", f"{number}@".encode())
        assert run(site, "inbound", "-", stdin=raw).returncode == 0
    assert statuses(site, "dave@example.org")[0][:2] == (SubscriberStatus.BOUNCED, 3)


def test_pipe_exits_75_when_the_store_is_unavailable(site: Site, tmp_path: Path) -> None:
    missing = f"sqlite:///{tmp_path}/no/such/folder/store.db"
    result = run(
        site, "inbound", "-", stdin=inbound_message("exim_bounce"), PUBLISHER_STORE_URL=missing
    )
    assert result.returncode == 75
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_piped_messages_are_kept_in_the_configured_maildir(site: Site) -> None:
    site.config_path.write_text(site.config_path.read_text() + '\n[inbound]\nmaildir = "inbox"\n')
    assert run(site, "inbound", "-", stdin=inbound_message("human_reply")).returncode == 0
    assert run(site, "inbound", "-", stdin=inbound_message("vacation")).returncode == 0
    [kept] = [p for p in (site.root / "inbox/.unrecognized/new").iterdir()]
    assert kept.read_bytes() == inbound_message("human_reply")
    assert len(list((site.root / "inbox/.processed/new").iterdir())) == 1


def test_inbound_without_a_mailbox_is_one_clear_error(site: Site) -> None:
    result = run(site, "inbound")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no [inbound] maildir or imap_host" in result.stderr


def test_a_folder_that_is_not_a_maildir_is_named(site: Site, tmp_path: Path) -> None:
    result = run(site, "inbound", "--maildir", str(tmp_path))
    assert result.returncode == 1
    assert f"{tmp_path}: not a Maildir" in result.stderr


def test_show_names_an_unknown_subscriber(site: Site) -> None:
    result = run(site, "subscribers", "show", "nobody@example.org")
    assert result.returncode == 1
    assert "no subscriber nobody@example.org" in result.stderr


def test_a_store_failure_leaves_the_message_where_it_was(site: Site, tmp_path: Path) -> None:
    subscribe(site, "bob@example.com")
    with open_store(site.config().store_url) as store, store.transaction() as connection:
        connection.execute(sa.text("DROP TABLE events"))
    maildir = make_maildir(tmp_path / "Maildir", {"exim": inbound_message("exim_bounce")})
    result = run(site, "inbound", "--maildir", str(maildir))
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert "no such table: events" in result.stderr  # named by the store, one line
    assert len(list((maildir / "cur").iterdir())) == 1
    piped = run(site, "inbound", "-", stdin=inbound_message("exim_bounce"))
    assert piped.returncode == 75
