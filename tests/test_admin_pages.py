"""The dashboard's pages through a TestClient: overview, subscribers, editions, articles,
sources, each action, and `publisher articles list`."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import lxml.html
import pytest
from click.testing import CliRunner

import publisher.store.subscribers as store_subscribers
import publisher.web.admin.subscribers as admin_subscribers
from publisher.audience.subscribers import add_subscriber, find_subscriber, request_subscription
from publisher.cli import main
from publisher.inbound.apply import subscriber_events
from publisher.mail.delivery.requests import run_queued_sends
from publisher.store.statuses import SubscriberStatus
from tests.admin_site import ADMIN, ENVIRON, Dashboard, dashboard, published_site
from tests.conftest import MovableClock, Site


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Dashboard]:
    with dashboard(published_site(site, clock), clock) as opened:
        opened.sign_in()
        yield opened


def page_text(html: str) -> str:
    return " ".join(lxml.html.document_fromstring(html).text_content().split())


def test_overview_draws_each_chart_as_svg_beside_a_table_of_its_numbers(web: Dashboard) -> None:
    for number in range(3):
        add_subscriber(web.store, f"reader{number}@example.org", "", ("daily",), web.clock())
    page = web.client.get("/admin/")
    assert page.status_code == 200
    document = lxml.html.document_fromstring(page.text)
    figures = document.xpath("//figure[contains(@class, 'chart')]")
    assert len(figures) == 2
    for figure in figures:
        [svg] = figure.xpath(".//*[local-name()='svg']")
        assert svg.get("role") == "img"
        assert figure.xpath(".//table")
    [confirmed] = figures[0].xpath(".//table//tr[th='confirmed']/td/text()")
    assert confirmed == "3"
    assert "Bounce rate" in page.text
    assert "Daemon" in page.text


def test_a_search_past_the_count_limit_says_more_than_and_pages_while_pages_are_full(
    web: Dashboard, monkeypatch: pytest.MonkeyPatch
) -> None:
    for number in range(60):
        add_subscriber(web.store, f"bulk{number:02d}@example.org", "", ("daily",), web.clock())
    monkeypatch.setattr(store_subscribers, "FOUND_COUNT_LIMIT", 10)
    monkeypatch.setattr(admin_subscribers, "FOUND_COUNT_LIMIT", 10)
    first = web.client.get("/admin/subscribers", params={"q": "bulk"})
    second = web.client.get("/admin/subscribers", params={"q": "bulk", "page": "2"})
    assert "More than 10 found; page 1." in page_text(first.text)
    assert 'rel="next"' in first.text
    assert "More than 10 found; page 2." in page_text(second.text)
    assert "bulk59@example.org" in second.text
    assert 'rel="next"' not in second.text  # ten rows: the last page


def test_subscribers_are_found_by_address_prefix_or_name_words_in_pages_of_50(
    web: Dashboard,
) -> None:
    for number in range(60):
        add_subscriber(web.store, f"bulk{number:02d}@example.org", "", ("daily",), web.clock())
    add_subscriber(web.store, "ada@example.net", "Ada King Lovelace", ("culture",), web.clock())
    first = web.client.get("/admin/subscribers", params={"q": "bulk"})
    assert "60 found; page 1 of 2" in page_text(first.text)
    assert first.text.count("bulk") >= 50
    second = web.client.get("/admin/subscribers", params={"q": "bulk", "page": "2"})
    assert "bulk59@example.org" in second.text
    assert "bulk00@example.org" not in second.text
    by_name = web.client.get("/admin/subscribers", params={"q": "lovelace ada"})
    assert "1 found" in page_text(by_name.text)
    assert "ada@example.net" in by_name.text
    by_digest = web.client.get("/admin/subscribers", params={"digest": "culture"})
    assert "1 found" in page_text(by_digest.text)
    assert web.client.get("/admin/subscribers", params={"status": "nonsense"}).status_code == 400


def test_unsubscribing_is_confirmed_and_logged_with_the_operators_name(web: Dashboard) -> None:
    subscriber, _ = add_subscriber(web.store, "robin@example.org", "", ("daily",), web.clock())
    question = web.client.get(f"/admin/subscribers/{subscriber.id}/unsubscribe")
    assert "Unsubscribe?" in question.text
    assert find_subscriber(web.store, "robin@example.org").status == "confirmed"  # type: ignore[union-attr]
    done = web.post(f"/admin/subscribers/{subscriber.id}/unsubscribe")
    assert done.status_code == 303
    page = web.client.get(done.headers["location"])
    assert "Unsubscribed." in page.text
    assert f"by {ADMIN}" in page.text
    [event] = subscriber_events(web.store, subscriber.id)
    assert event.kind == "unsubscribe"
    assert event.diagnostic == f"by {ADMIN}"
    assert event.source == "admin"
    assert web.client.get(f"/admin/subscribers/{subscriber.id}/unsubscribe").status_code == 409


def test_changing_digests_and_forgetting_are_logged(web: Dashboard) -> None:
    subscriber, _ = add_subscriber(web.store, "kim@example.org", "Kim", ("daily",), web.clock())
    web.post(f"/admin/subscribers/{subscriber.id}/digests", digest=["culture"])
    changed = find_subscriber(web.store, "kim@example.org")
    assert changed is not None
    assert changed.digests == ("culture",)
    assert web.post(f"/admin/subscribers/{subscriber.id}/digests").status_code == 400
    web.post(f"/admin/subscribers/{subscriber.id}/forget")
    assert find_subscriber(web.store, "kim@example.org") is None
    page = web.client.get(f"/admin/subscribers/{subscriber.id}")
    assert "Forgotten subscriber" in page.text
    assert "kim@example.org" not in page.text
    codes = [event.code for event in subscriber_events(web.store, subscriber.id)]
    assert codes == ["digests", "forget"]


def test_resending_a_confirmation_mails_a_new_link(web: Dashboard) -> None:
    outcome = request_subscription(
        web.store, "new@example.org", "", ("daily",), web.clock(), web.config.web.confirm_resend
    )
    done = web.post(f"/admin/subscribers/{outcome.subscriber.id}/resend")
    assert done.status_code == 303
    mailed = list(web.config.maildir.glob("new/*"))
    assert len(mailed) == 1
    assert "/confirm/" in mailed[0].read_text()


def test_a_post_without_this_sessions_token_changes_nothing(web: Dashboard) -> None:
    subscriber, _ = add_subscriber(web.store, "lee@example.org", "", ("daily",), web.clock())
    forged = web.client.post(
        f"/admin/subscribers/{subscriber.id}/unsubscribe", data={"csrf_token": "123.forged"}
    )
    assert forged.status_code == 403
    assert find_subscriber(web.store, "lee@example.org").status == "confirmed"  # type: ignore[union-attr]


def test_an_edition_page_shows_its_ledger_and_queues_sends_for_the_sending_process(
    web: Dashboard,
) -> None:
    add_subscriber(web.store, "reader@example.org", "", ("daily",), web.clock())
    listing = web.client.get("/admin/editions")
    [edition_id] = re.findall(r'href="/admin/editions/([0-9]+)"', listing.text)
    page = web.client.get(f"/admin/editions/{edition_id}")
    assert "not started" in page.text
    assert web.client.get(f"/admin/editions/{edition_id}/ledger.json").json() == {
        "ledger": dict.fromkeys(
            ("sent", "failed", "retryable", "uncertain", "pending", "skipped"), 0
        ),
        "running": False,
    }
    queued = web.post(f"/admin/editions/{edition_id}/send")
    assert queued.status_code == 303
    assert list(web.config.maildir.glob("new/*")) == []  # queued, not sent by the web
    lines = run_queued_sends(web.store, web.config, ENVIRON, web.clock)
    assert len(lines) == 1
    assert "1 sent" in lines[0]
    counts = web.client.get(f"/admin/editions/{edition_id}/ledger.json").json()
    assert counts["ledger"]["sent"] == 1
    assert "done" in web.client.get(f"/admin/editions/{edition_id}").text


def test_a_test_send_is_queued_and_marked(web: Dashboard) -> None:
    listing = web.client.get("/admin/editions")
    [edition_id] = re.findall(r'href="/admin/editions/([0-9]+)"', listing.text)
    assert web.post(f"/admin/editions/{edition_id}/test", address="nope").status_code == 400
    assert (
        web.post(f"/admin/editions/{edition_id}/test", address="qa@example.org").status_code == 303
    )
    run_queued_sends(web.store, web.config, ENVIRON, web.clock)
    [mailed] = web.config.maildir.glob("new/*")
    assert "Subject: [TEST]" in mailed.read_text()


def test_the_preview_is_the_archive_copy_without_personal_links(web: Dashboard) -> None:
    listing = web.client.get("/admin/editions")
    [edition_id] = re.findall(r'href="/admin/editions/([0-9]+)"', listing.text)
    preview = web.client.get(f"/admin/editions/{edition_id}/preview")
    assert preview.status_code == 200
    assert "x-publisher" not in preview.text
    assert preview.headers["cache-control"] == "private, no-store"


def test_articles_are_listed_by_status(web: Dashboard) -> None:
    everything = web.client.get("/admin/articles")
    assert "Scheduled (1)" in page_text(everything.text)
    scheduled = web.client.get("/admin/articles", params={"status": "scheduled"})
    assert scheduled.text.count("<tr>") == 2  # the header and the one article
    assert web.client.get("/admin/articles", params={"status": "nonsense"}).status_code == 400


def test_articles_list_command_prints_text_or_json(site: Site, clock: MovableClock) -> None:
    config = published_site(site, clock)
    runner = CliRunner()
    result = runner.invoke(
        main, ["--config", str(config.path), "articles", "list", "--status", "scheduled", "--json"]
    )
    assert result.exit_code == 0, result.output
    [article] = json.loads(result.output)["articles"]
    assert article["status"] == "scheduled"
    text = runner.invoke(main, ["--config", str(config.path), "articles", "list"])
    assert text.output.count("public ") >= 5


def test_sources_page_lists_each_source_and_makes_one_due(site: Site, clock: MovableClock) -> None:
    published_site(site, clock)
    with site.config_path.open("a", encoding="utf-8") as config_file:
        # Added after the gather: nothing is fetched here.
        config_file.write('\n[[sources]]\nname = "wire"\nurl = "https://wire.example.org/f.xml"\n')
    with dashboard(site.config(), clock) as web:
        web.sign_in()
        page = web.client.get("/admin/sources")
        assert "never fetched" in page.text
        assert web.post("/admin/sources/unknown/fetch").status_code == 404
        assert web.post("/admin/sources/wire/fetch").status_code == 303


def test_every_status_of_a_subscriber_shows_only_the_actions_it_allows(web: Dashboard) -> None:
    subscriber, _ = add_subscriber(
        web.store, "gone@example.org", "", ("daily",), web.clock(), SubscriberStatus.UNSUBSCRIBED
    )
    page = web.client.get(f"/admin/subscribers/{subscriber.id}")
    assert "/unsubscribe" not in page.text
    assert web.client.get(f"/admin/subscribers/{subscriber.id}/resend").status_code == 409
    assert web.client.get(f"/admin/subscribers/{subscriber.id}/explode").status_code == 404
    assert web.client.get("/admin/subscribers/99999999999").status_code == 404


def test_the_dashboards_static_files_sit_beside_the_sites_own(web: Dashboard) -> None:
    for path, kind in (
        ("/static/site.css", "text/css"),
        ("/static/admin.css", "text/css"),
        ("/static/admin.js", "text/javascript"),
    ):
        answer = web.client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-type"].startswith(kind)
    assert web.client.get("/static/other.js").status_code == 404
