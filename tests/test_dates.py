"""One date everywhere: an article dated `2026-10-20` (a date alone, so midnight in the site's
zone) shows 20 October on every page, in every feed and in the email, however far from UTC the
site's zone is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import feedparser
import lxml.etree
import lxml.html
import pytest
from starlette.testclient import TestClient

from publisher.config import Config
from publisher.mail.editions import create_edition
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.schema import editions
from publisher.web.app import create_app
from publisher.wording import duration_words, format_date, local_time
from tests.conftest import MovableClock, Site

FERRY = "https://gazette.example.org/articles/winter-ferry-timetable/"  # dated 2026-10-20
SHOWN = "20 October 2026"
ENVIRON = {"PUBLISHER_SECRET": "dates-test-secret-0123456789abcdef"}
# Every page that lists the article (it is on the second page of the home page and the list).
PAGES = (
    "/page/2/",
    "/articles/page/2/",
    "/categories/news/",
    "/categories/business/",
    "/tags/ferry/",
    "/authors/mara-quinn/",
    "/articles/winter-ferry-timetable/",
    "/articles/harbour-dredging-march/",  # its Related list
)
FEEDS = ("", "categories/news/", "categories/business/", "authors/mara-quinn/")


@pytest.fixture(params=["Pacific/Auckland", "America/Los_Angeles"])
def zoned(request: pytest.FixtureRequest, site: Site, clock: MovableClock) -> Config:
    """The sample site in a zone far from UTC, published, with one daily edition."""
    text = site.config_path.read_text(encoding="utf-8")
    zone = f'timezone = "{request.param}"'
    text = text.replace('timezone = "Europe/London"', zone, 1)
    # Every story in the email too (the daily shows 10 by default, the ferry is further down).
    site.config_path.write_text(
        text.replace('name = "daily"\n', 'name = "daily"\nmax_stories = 50\n', 1)
    )
    config = site.config()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        build(store, config)
        create_edition(store, config, "daily", clock)
    return config


def dates_next_to_the_ferry(html: str) -> list[str]:
    """The text of the first <time> around each link to the ferry article on a page (but links
    in another article's text)."""
    page = lxml.html.document_fromstring(html)
    found = []
    links = "//a[@href=$url][not(ancestor::*[contains(@class, 'article-body')])]"
    for link in page.xpath(links, url=FERRY):
        holder = link.xpath("ancestor-or-self::*[.//time][1]")
        if holder:
            found.append(" ".join(holder[0].xpath(".//time")[0].text_content().split()))
    return found


def test_a_date_only_article_shows_its_date_on_every_page(
    zoned: Config, clock: MovableClock
) -> None:
    app = create_app(zoned, ENVIRON, clock)
    shown: dict[str, list[str]] = {}
    with TestClient(app) as client:
        for path in PAGES:
            response = client.get(path)
            assert response.status_code == 200, path
            shown[path] = dates_next_to_the_ferry(response.text)
        article = lxml.html.document_fromstring(client.get(PAGES[-2]).text)
    assert all(shown[path] for path in PAGES if path != PAGES[-2]), shown
    assert {date for dates in shown.values() for date in dates} == {SHOWN}
    byline = " ".join(article.xpath("//p[contains(@class, 'byline')]")[0].text_content().split())
    assert byline == f"By Mara Quinn · {SHOWN}"


def test_a_date_only_article_has_its_date_in_every_feed(zoned: Config) -> None:
    for folder in FEEDS:
        rss = lxml.etree.parse(str(zoned.feeds_dir / folder / "rss.xml"))
        [published] = rss.xpath("//item[link=$url]/pubDate/text()", url=FERRY)
        assert published.startswith("Tue, 20 Oct 2026 00:00:00 "), (folder, published)
        atom = feedparser.parse((zoned.feeds_dir / folder / "atom.xml").read_bytes())
        [entry] = [entry for entry in atom.entries if entry.link == FERRY]
        assert entry.published.startswith("2026-10-20T00:00:00"), (folder, entry.published)
        document = json.loads((zoned.feeds_dir / folder / "feed.json").read_text("utf-8"))
        [item] = [item for item in document["items"] if item["url"] == FERRY]
        assert item["date_published"].startswith("2026-10-20T00:00:00"), folder
        # The same moment as ever, only written on the site's clock.
        assert datetime.fromisoformat(item["date_published"]).astimezone(UTC) == datetime(
            2026, 10, 20, tzinfo=zoned.site.zone
        ).astimezone(UTC)


def test_a_date_only_article_has_its_date_in_the_email(zoned: Config) -> None:
    html = (zoned.archive_dir / "daily" / "1.html").read_text(encoding="utf-8")
    dates = dates_next_to_the_ferry(html)
    assert dates
    assert set(dates) == {SHOWN}
    with open_store(zoned.store_url) as store, store.read() as connection:
        [text] = connection.execute(editions.select().with_only_columns(editions.c.text)).scalars()
    assert f"By Mara Quinn · {SHOWN}" in text


def test_format_date_shows_a_moment_on_the_zones_clock() -> None:
    moment = datetime(2026, 10, 19, 11, 0, tzinfo=UTC)  # midnight on the 20th in Auckland
    assert format_date(moment, ZoneInfo("Pacific/Auckland")) == SHOWN
    assert format_date(moment, ZoneInfo("America/Los_Angeles")) == "19 October 2026"
    assert local_time(moment, ZoneInfo("Pacific/Auckland")).isoformat().startswith("2026-10-20")
    with pytest.raises(ValueError, match="no zone"):
        format_date(datetime(2026, 10, 20))


def test_an_outage_reads_as_a_human_duration() -> None:
    # Item 19 of issue 20: the outage message said `0:00:20.012565`.
    assert duration_words(timedelta(seconds=20.012565)) == "20 seconds"
    assert duration_words(timedelta(minutes=10, microseconds=12565)) == "10 minutes"
    assert duration_words(timedelta(hours=1, minutes=5, seconds=1)) == "1 hour 5 minutes 1 second"
