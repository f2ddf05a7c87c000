"""Parsing upstream feeds into items: values in, values out, no network."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from html import escape

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.content.articles import Article, Origin, article_guid
from publisher.errors import SourceError
from publisher.sources.parse import (
    MAX_TITLE,
    SourceSettings,
    item_article,
    item_guid,
    item_id,
    newest_first,
    parse_feed,
)
from tests.upstream.documents import (
    ATOM_WITH_BASE,
    HOSTILE_RSS,
    JSON_FEED_11,
    LATIN1_RSS,
    MALFORMED_RSS,
    NO_DATES_RSS,
    NO_GUIDS_RSS,
    RSS_1,
    WORDPRESS_RSS,
    rss_with_items,
)

FEED_URL = "https://feeds.example.net/club/feed/"
SETTINGS = SourceSettings("club", categories=("Clubs", "Sport"))
FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SEEN = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def test_wordpress_rss_gives_full_content_creator_and_absolute_urls() -> None:
    feed = parse_feed(WORDPRESS_RSS, FEED_URL, "application/rss+xml; charset=UTF-8", SETTINGS)
    assert feed.title == "Alder Rowing Club"
    assert feed.home_url == "https://rowing.example.net/"
    assert feed.problem is None
    first, second = feed.items
    assert first.upstream_guid == "https://rowing.example.net/?p=412"
    assert first.title == "Regatta results \u2013 autumn head"
    assert first.url == "https://rowing.example.net/2026/11/regatta-results/"
    assert first.date == datetime(2026, 11, 24, 18, 30, tzinfo=UTC)
    assert [author.name for author in first.authors] == ["Mara Quill"]
    assert "<strong>second</strong>" in first.body_html
    assert 'src="https://feeds.example.net/wp-content/uploads/eight.jpg"' in first.body_html
    assert 'href="https://feeds.example.net/club/results/"' in first.body_html
    assert first.summary == "Our eight came second in the autumn head. [\u2026]"
    assert [c.slug for c in first.categories] == ["clubs", "sport"]
    assert first.tags == ("Racing",)
    assert second.title == "Winter training starts"


def test_summary_content_takes_the_description_instead_of_the_full_text() -> None:
    summary_only = SourceSettings("club", content="summary")
    first = parse_feed(WORDPRESS_RSS, FEED_URL, None, summary_only).items[0]
    assert "<strong>" not in first.body_html
    assert "Our eight came second in the autumn head." in first.body_html


def test_rss_1_items_are_read_with_their_dublin_core_date_and_creator() -> None:
    [item] = parse_feed(RSS_1, FEED_URL, "application/rdf+xml", SETTINGS).items
    assert item.title == "Avocets on the mudflats"
    assert item.date == datetime(2026, 11, 22, 7, 15, tzinfo=UTC)
    assert [author.name for author in item.authors] == ["Ivy Sparrow"]


def test_atom_relative_urls_resolve_against_xml_base() -> None:
    [item] = parse_feed(ATOM_WITH_BASE, FEED_URL, "application/atom+xml", SETTINGS).items
    assert item.url == "https://lifeboat.example.net/news/2026/shout-yacht"
    assert 'href="https://lifeboat.example.net/news/2026/photos/"' in item.body_html
    assert 'src="https://lifeboat.example.net/img/boat.jpg"' in item.body_html
    assert item.title == "Shout: yacht aground"  # type="html": the markup is not text
    assert item.updated == datetime(2026, 11, 21, 10, 0, tzinfo=UTC)


def test_json_feed_1_1_items_are_read_with_the_feed_authors() -> None:
    feed = parse_feed(JSON_FEED_11, FEED_URL, "application/feed+json", SETTINGS)
    assert feed.title == "Tide Tables"
    spring, neaps = feed.items
    assert spring.url == "https://feeds.example.net/2026/11/20/"
    assert 'href="https://feeds.example.net/tables/"' in spring.body_html
    assert spring.tags == ("tides",)
    assert [a.name for a in spring.authors] == ["Harbour Master"]
    assert neaps.upstream_guid == "42"
    assert neaps.body_html == "<p>Neap tides next week.</p><p>Calm seas.</p>"
    assert neaps.date is None


def test_json_feed_1_0_author_and_detection_without_a_content_type() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1",
        "title": "Old style",
        "author": {"name": "Solo Writer"},
        "items": [{"id": "a", "content_html": "<p>x</p>", "title": "A"}],
    }
    [item] = parse_feed(json.dumps(document).encode(), FEED_URL, None, SETTINGS).items
    assert [a.name for a in item.authors] == ["Solo Writer"]


def test_a_json_feed_item_without_an_id_is_left_out_and_reported() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "T",
        "items": [{"title": "no id"}, {"id": "ok", "content_text": "fine"}],
    }
    feed = parse_feed(json.dumps(document).encode(), FEED_URL, "application/json", SETTINGS)
    assert [item.upstream_guid for item in feed.items] == ["ok"]
    assert feed.problem is not None
    assert "items[0]" in feed.problem


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"version": "https://jsonfeed.org/version/9", "title": "x", "items": []}', "version"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', "title"),
    ],
)
def test_a_broken_json_feed_is_an_error_naming_source_and_url(
    document: bytes, message: str
) -> None:
    with pytest.raises(SourceError) as raised:
        parse_feed(document, FEED_URL, "application/feed+json", SETTINGS)
    assert str(raised.value).startswith(f"source club: {FEED_URL}: not a JSON Feed")
    assert message in str(raised.value)


def test_an_html_page_is_not_a_feed() -> None:
    page = b"<!doctype html><html><head><title>Home</title></head><body><p>hi</body></html>"
    with pytest.raises(SourceError, match="not an RSS, Atom or JSON feed"):
        parse_feed(page, FEED_URL, "text/html", SETTINGS)


def test_items_without_dates_are_dated_when_first_seen() -> None:
    [item] = parse_feed(NO_DATES_RSS, FEED_URL, None, SETTINGS).items
    assert item.date is None
    origin = Origin("club", "Club", FEED_URL)
    assert item_article(item, origin, SEEN).date == SEEN


def test_a_future_date_is_clamped_to_when_first_seen() -> None:
    future = rss_with_items("F", [("f-1", "From the future", "Tue, 24 Nov 2099 10:00:00 GMT")])
    [item] = parse_feed(future, FEED_URL, None, SETTINGS).items
    assert item_article(item, Origin("club", "Club", FEED_URL), SEEN).date == SEEN


def test_one_item_with_an_impossible_date_keeps_the_other_items_of_a_json_feed() -> None:
    document = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "T",
        "items": [
            {
                "id": "1",
                "title": "Good",
                "content_text": "x",
                "date_published": "2026-11-20T10:00:00Z",
            },
            {
                "id": "2",
                "title": "Far",
                "content_text": "y",
                "date_published": "9999-12-31T23:59:59-14:00",
            },
        ],
    }
    feed = parse_feed(json.dumps(document).encode(), FEED_URL, "application/feed+json", SETTINGS)
    good, far = feed.items
    assert good.date == datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    assert far.date is None  # undated: dated when first seen


def test_a_date_in_year_one_is_taken_as_no_date() -> None:
    ancient = rss_with_items("A", [("a-1", "Ancient", "Mon, 01 Jan 0001 00:00:00 GMT")])
    [item] = parse_feed(ancient, FEED_URL, None, SETTINGS).items
    assert item.date is None
    assert item_article(item, Origin("club", "Club", FEED_URL), SEEN).date == SEEN


def test_a_huge_title_is_cut_to_a_subject_line_s_length() -> None:
    huge = rss_with_items("H", [("h-1", "word " * 40_000, "Tue, 24 Nov 2026 10:00:00 GMT")])
    [item] = parse_feed(huge, FEED_URL, None, SETTINGS).items
    assert 0 < len(item.title) <= MAX_TITLE
    assert item.title.startswith("word word")


def test_items_without_guids_get_a_hash_of_link_and_title() -> None:
    alpha, beta = parse_feed(NO_GUIDS_RSS, FEED_URL, None, SETTINGS).items
    assert alpha.upstream_guid.startswith("sha256:")
    assert alpha.upstream_guid != beta.upstream_guid
    again = parse_feed(NO_GUIDS_RSS, "https://moved.example.net/feed", None, SETTINGS).items[0]
    assert again.upstream_guid == alpha.upstream_guid
    retitled = NO_GUIDS_RSS.replace(b"<title>Alpha</title>", b"<title>Alpha!</title>")
    assert parse_feed(retitled, FEED_URL, None, SETTINGS).items[0].item_id != alpha.item_id


def test_a_relative_guid_stays_as_written_when_the_feed_moves() -> None:
    here = parse_feed(NO_DATES_RSS, FEED_URL, None, SETTINGS).items[0]
    moved = parse_feed(NO_DATES_RSS, "https://elsewhere.example.com/x.xml", None, SETTINGS)
    assert here.upstream_guid == moved.items[0].upstream_guid == "u-1"


def test_iso_8859_1_declared_only_in_the_http_header_is_decoded() -> None:
    feed = parse_feed(LATIN1_RSS, FEED_URL, "application/rss+xml; charset=ISO-8859-1", SETTINGS)
    assert feed.title == "Caf\u00e9 Cr\u00e8me"
    [item] = feed.items
    assert item.title == "Cr\u00e8me br\u00fbl\u00e9e \u00e0 volont\u00e9"
    assert item.summary == "Na\u00efve \u00a3 prices"


def test_a_malformed_feed_is_used_when_entries_came_out_and_the_problem_is_told() -> None:
    feed = parse_feed(MALFORMED_RSS, FEED_URL, "application/rss+xml", SETTINGS)
    assert [item.title for item in feed.items] == ["Still readable"]
    assert feed.problem is not None
    assert feed.problem.startswith("malformed feed:")


def test_a_repeated_guid_keeps_the_first_item() -> None:
    twice = rss_with_items(
        "T", [("same", "First", "Tue, 24 Nov 2026 10:00:00 GMT"), ("same", "Second", "")]
    )
    assert [item.title for item in parse_feed(twice, FEED_URL, None, SETTINGS).items] == ["First"]


def test_hostile_items_lose_scripts_handlers_javascript_urls_and_control_characters() -> None:
    [item] = parse_feed(HOSTILE_RSS, FEED_URL, None, SETTINGS).items
    assert not FORBIDDEN.search(item.title)
    for text in (item.body_html, item.summary, item.url):
        assert "<script" not in text
        assert "onerror" not in text
        assert "onclick" not in text
        assert "onload" not in text
        assert "javascript:" not in text.lower()
        assert "<iframe" not in text
        assert not FORBIDDEN.search(text)
    assert item.url == FEED_URL  # a javascript: link is no link
    assert item.title == "<script>alert(1)</script> ]]> &amp; control"  # plain text, escaped later
    assert "]]&gt;" in item.body_html


def test_guids_are_namespaced_by_source_and_never_collide_with_local_articles() -> None:
    site = "https://gazette.example.org/"
    one, other = item_guid(site, "club", "1"), item_guid(site, "birds", "1")
    assert one != other
    assert one == f"tag:gazette.example.org,2026:sources/club/{item_id('1')}"
    local = Article(
        source="news/1.md",
        key="1",
        slug="club",
        url=site,
        title="t",
        date=SEEN,
        updated=None,
        authors=(),
        summary="",
        body_html="",
        image=None,
        categories=(),
        tags=(),
        draft=False,
    )
    assert article_guid(local, site) not in (one, other)
    assert "sources/" not in article_guid(local, site)


def test_newest_first_puts_undated_items_first_in_feed_order() -> None:
    feed = rss_with_items(
        "T",
        [
            ("old", "Old", "Mon, 23 Nov 2026 10:00:00 GMT"),
            ("u1", "Undated one", ""),
            ("new", "New", "Tue, 24 Nov 2026 10:00:00 GMT"),
            ("u2", "Undated two", ""),
        ],
    )
    items = parse_feed(feed, FEED_URL, None, SETTINGS).items
    assert [i.upstream_guid for i in newest_first(items)] == ["u1", "u2", "new", "old"]


def test_the_source_author_is_used_when_an_item_has_none() -> None:
    with_author = SourceSettings("club", author="Club Secretary")
    [item] = parse_feed(NO_DATES_RSS, FEED_URL, None, with_author).items
    assert [a.name for a in item.authors] == ["Club Secretary"]
    [anonymous] = parse_feed(NO_DATES_RSS, FEED_URL, None, SETTINGS).items
    assert [a.name for a in anonymous.authors] == ["Undated"]  # the feed's title


def test_an_edited_item_changes_its_content_hash_but_not_its_identity() -> None:
    before = parse_feed(WORDPRESS_RSS, FEED_URL, None, SETTINGS).items[0]
    edited = WORDPRESS_RSS.replace(b"came <strong>second</strong>", b"came <strong>first</strong>")
    after = parse_feed(edited, FEED_URL, None, SETTINGS).items[0]
    assert after.item_id == before.item_id
    assert after.content_hash != before.content_hash
    assert parse_feed(WORDPRESS_RSS, FEED_URL, None, SETTINGS).items[0] == before


@settings(max_examples=100, deadline=None)
@given(title=st.text(max_size=80), body=st.text(max_size=200))
def test_any_item_text_comes_out_inert_and_xml_safe(title: str, body: str) -> None:
    document = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        "<link>https://t.example.net/</link><description>d</description><item>"
        f"<title>{escape(title)}</title><guid>g</guid>"
        f"<description>{escape('<p>' + body + '</p><script>x</script>')}</description>"
        "</item></channel></rss>"
    ).encode("utf-8", "surrogatepass")
    try:
        feed = parse_feed(document, FEED_URL, "application/rss+xml", SETTINGS)
    except SourceError:
        return  # a document feedparser cannot read at all is refused, with a message
    for item in feed.items:
        assert "<script" not in item.body_html
        for text in (item.title, item.summary, item.body_html):
            assert not FORBIDDEN.search(text)
            assert not re.search("[\ud800-\udfff]", text)


def test_the_body_decides_json_or_xml_whatever_the_content_type_says() -> None:
    rss = parse_feed(WORDPRESS_RSS, FEED_URL, "application/json", SETTINGS)
    assert rss.title == "Alder Rowing Club"
    json_feed = parse_feed(JSON_FEED_11, FEED_URL, "text/xml", SETTINGS)
    assert json_feed.title == "Tide Tables"


json_text = st.one_of(st.none(), st.text(max_size=120))


@settings(max_examples=100, deadline=None)
@given(
    title=json_text,
    html=json_text,
    text=json_text,
    summary=json_text,
    guid=st.one_of(st.text(max_size=40), st.integers()),
    url=json_text,
)
def test_any_json_feed_item_is_read_inert_or_refused_with_a_message(
    title: str | None,
    html: str | None,
    text: str | None,
    summary: str | None,
    guid: str | int,
    url: str | None,
) -> None:
    item = {"id": guid, "title": title, "content_html": html, "content_text": text}
    item |= {"summary": summary, "url": url}
    document = {"version": "https://jsonfeed.org/version/1.1", "title": "T", "items": [item]}
    data = json.dumps(document).encode()
    try:
        feed = parse_feed(data, FEED_URL, "application/feed+json", SETTINGS)
    except SourceError as error:
        message = str(error)
        assert message.startswith(f"source club: {FEED_URL}: ")
        return
    for parsed in feed.items:
        assert parsed.url.startswith(("http://", "https://"))
        assert "<script" not in parsed.body_html.lower()
        for value in (parsed.title, parsed.summary, parsed.body_html):
            assert not FORBIDDEN.search(value)


FEED_PIECES = [
    b'<?xml version="1.0" encoding="utf-8"?>',
    b'<?xml version="1.0" encoding="x-undefined"?>',
    b'<rss version="2.0"><channel>',
    b'<feed xmlns="http://www.w3.org/2005/Atom">',
    b"<item><title>",
    b"<entry><title>",
    b"<pubDate>Mon, 01 Jan 0001 00:00:00 GMT</pubDate>",
    b"<updated>9999-12-31T23:59:59-14:00</updated>",
    b"<guid>",
    b"<link href='javascript:alert(1)'/>",
    b"<description><![CDATA[<script>x</script>",
    b"]]>",
    b"<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>&e;",
    b'{"version": "https://jsonfeed.org/version/1.1", "items": [',
    b'{"id": 1, "title": "t", "date_published": "9999-12-31T23:59:59-14:00"}',
    b'"x-publisher-subscriber-email-7f3c9e2a5b1d"',
    b"\x00\xff\xfe",
    b"</title></item></channel></rss>",
    b"</entry></feed>",
    b"]}",
]


@settings(max_examples=200, deadline=None)
@given(
    body=st.one_of(
        st.binary(max_size=3000),
        st.lists(st.sampled_from(FEED_PIECES), max_size=30).map(b"".join),
    ),
    content_type=st.sampled_from(
        [None, "application/rss+xml", "application/feed+json", "text/xml; charset=undefined"]
    ),
)
def test_any_bytes_as_a_feed_body_are_read_or_refused_with_a_source_error(
    body: bytes, content_type: str | None
) -> None:
    # Anyone upstream can send anything: a SourceError naming the problem, never another
    # exception out of the parser (which would stop gathering the other sources).
    try:
        parsed = parse_feed(body, FEED_URL, content_type, SETTINGS)
    except SourceError:
        return
    for item in parsed.items:
        assert item.date is None or 1 < item.date.year < 9999


@pytest.mark.parametrize("charset", ["undefined", "no-such-charset", '"utf\x00-8"'])
def test_an_unusable_charset_in_the_http_header_leaves_the_document_to_decide(
    charset: str,
) -> None:
    # Found by the fuzz test above: `charset=undefined` raised UnicodeError out of the parser.
    feed = parse_feed(LATIN1_RSS, FEED_URL, f"application/rss+xml; charset={charset}", SETTINGS)
    assert feed.items
