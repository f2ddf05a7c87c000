"""Digests of mode "each" (one message per article) and the `order` of a digest's articles."""

from __future__ import annotations

import email
import email.policy
import mailbox
import signal
import threading
from collections import Counter
from email.message import EmailMessage

from publisher.config import Config
from publisher.daemon.scheduler import Runtime, run_digest_slot
from publisher.mail.editions import create_edition, list_editions
from publisher.site.gather import gather
from publisher.store.database import Store, open_store
from tests.conftest import MovableClock, Site, SmtpServer
from tests.test_delivery import SECRET, run_send, subscribe, use_smtp, wait_for

EACH = '\n[[digests]]\nname = "posts"\ntitle = "Every story"\nmode = "each"\n'


def story(site: Site, slug: str, date: str, image: bool = False) -> None:
    hero = "image:\n  url: ../images/lantern-festival.jpg\n  alt: Lanterns\n" if image else ""
    site.write_article(
        f"news/{slug}.md",
        f'---\ntitle: "Story {slug}"\ndate: {date}\nslug: {slug}\ncategories: [News]\n'
        f"authors:\n  - name: Ann Writer\n{hero}---\n\n"
        f"The first paragraph of {slug}.\n\nThe second paragraph of {slug}, in full.\n",
    )


def with_each_digest(site: Site) -> Config:
    site.config_path.write_text(site.config_path.read_text() + EACH)
    return site.config()


def three_new_stories(site: Site, store: Store, clock: MovableClock) -> None:
    for number, slug in enumerate(("alpha", "beta", "gamma")):
        story(site, slug, f"2026-11-25T1{number}:00:00Z", image=slug == "alpha")
    clock.advance(hours=4)
    gather(store, site.config(), clock)


def test_each_mode_makes_one_edition_per_new_article_titled_by_it(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = with_each_digest(site)
    gather(store, config, clock)
    first = create_edition(store, config, "posts", clock)
    assert first.edition is None  # a new "each" digest starts with the next article
    three_new_stories(site, store, clock)
    outcome = create_edition(store, config, "posts", clock)
    subjects = [edition.subject for edition in outcome.editions]
    assert subjects == ["Story alpha", "Story beta", "Story gamma"]
    alpha = outcome.editions[0]
    assert "The second paragraph of alpha, in full." in alpha.text
    assert "The second paragraph of alpha, in full." in alpha.html
    assert "By Ann Writer" in alpha.text
    assert 'class="hero"' in alpha.html
    assert create_edition(store, config, "posts", clock).edition is None


def test_each_mode_with_a_slot_makes_its_editions_once(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = with_each_digest(site)
    gather(store, config, clock)
    create_edition(store, config, "posts", clock)
    three_new_stories(site, store, clock)
    made = create_edition(store, config, "posts", clock, slot="2026-11-26T07:30")
    again = create_edition(store, config, "posts", clock, slot="2026-11-26T07:30")
    assert [e.id for e in again.editions] == [e.id for e in made.editions]
    assert not again.created
    assert len(list_editions(store, "posts")) == 3


def test_order_oldest_puts_the_oldest_story_first_and_newest_is_the_default(
    site: Site, store: Store, clock: MovableClock
) -> None:
    gather(store, site.config(), clock)
    create_edition(store, site.config(), "daily", clock)
    three_new_stories(site, store, clock)
    newest = create_edition(store, site.config(), "daily", clock).edition
    assert newest is not None
    assert [g.rsplit(":", 1)[1] for g in newest.article_guids] == ["gamma", "beta", "alpha"]
    text = site.config_path.read_text().replace("max_articles = 20", 'order = "oldest"')
    site.config_path.write_text(text)
    for slug, date in (("delta", "2026-11-25T16:00:00Z"), ("epsilon", "2026-11-25T15:00:00Z")):
        story(site, slug, date)
    clock.advance(hours=4)
    gather(store, site.config(), clock)
    oldest = create_edition(store, site.config(), "daily", clock).edition
    assert oldest is not None
    assert [g.rsplit(":", 1)[1] for g in oldest.article_guids] == ["epsilon", "delta"]


def test_three_articles_reach_each_subscriber_once_each_across_a_kill_minus_nine(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    with_each_digest(site)
    config = use_smtp(site, smtp_server, batch_size=5, max_age="3650d")
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        create_edition(store, config, "posts", clock)
        emails = subscribe(store, 20, ("posts",))
        three_new_stories(site, store, clock)
        assert len(create_edition(store, config, "posts", clock).editions) == 3
    smtp_server.handler.delay = 0.02
    process = run_send(site)
    wait_for(lambda: len(smtp_server.handler.received) >= 25)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert len(smtp_server.handler.received) < 60
    smtp_server.handler.delay = 0
    resumed = run_send(site)
    _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    received: Counter[tuple[str, str]] = Counter()
    for message in smtp_server.handler.received:
        parsed = email.message_from_bytes(message.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        received[(message.recipients[0], str(parsed["Subject"]))] += 1
    expected = {
        (address, f"Story {slug}") for address in emails for slug in ("alpha", "beta", "gamma")
    }
    assert set(received) == expected  # three messages per subscriber, nobody missing
    doubled = [key for key, count in received.items() if count > 1]
    assert len(doubled) <= 1  # only the message in flight at the kill (one connection)


def test_the_scheduler_sends_every_edition_of_an_each_slot_and_a_second_fire_sends_none(
    site: Site, store: Store, clock: MovableClock
) -> None:
    config = with_each_digest(site)
    gather(store, config, clock)
    create_edition(store, config, "posts", clock)
    subscribe(store, 2, ("posts",))
    three_new_stories(site, store, clock)
    runtime = Runtime(config, store, SECRET, threading.Event(), clock)
    lines: list[str] = []
    for _ in range(2):
        run_digest_slot(runtime, "posts", clock.now, lines.append)
    box = mailbox.Maildir(config.maildir, create=False)
    subjects = Counter(
        str(email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)["Subject"])
        for key in box.iterkeys()
    )
    assert subjects == {"Story alpha": 2, "Story beta": 2, "Story gamma": 2}
    assert "3 new editions" in lines[0]
