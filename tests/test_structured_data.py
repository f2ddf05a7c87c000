"""JSON-LD NewsArticle: the fields search engines need, safe inside a <script> element."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import lxml.html

from publisher.content.articles import Article, Category, Image
from publisher.content.authors import Byline
from publisher.content.structured_data import news_article, script_json

PUBLISHED = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)
ARTICLE = Article(
    source="news/x.md",
    key=None,
    slug="x",
    url="https://news.example.org/articles/x/",
    title="Harbour </script><script>alert(1)</script> & <!-- news",
    date=PUBLISHED,
    updated=None,
    authors=(),
    summary="Line\u2028separator",
    body_html="",
    image=Image("https://news.example.org/media/x.jpg", "alt"),
    categories=(Category("News", "news"),),
    tags=("harbour",),
    draft=False,
)
BYLINE = Byline("Mara Quinn", "mara-quinn", "https://news.example.org/authors/mara-quinn/")


def structured(logo: str | None = None) -> dict[str, object]:
    return news_article(
        ARTICLE,
        PUBLISHED.replace(day=20),
        [BYLINE],
        publisher_name="The Gazette",
        publisher_url="https://news.example.org/",
        logo_url=logo,
    )


def test_news_article_has_headline_image_dates_author_and_publisher() -> None:
    data = structured("https://news.example.org/media/logo.png")
    assert data["@type"] == "NewsArticle"
    assert data["headline"] == ARTICLE.title
    assert data["image"] == ["https://news.example.org/media/x.jpg"]
    assert data["datePublished"] == "2026-11-02T08:30:00+00:00"
    assert data["dateModified"] == "2026-11-20T08:30:00+00:00"
    assert data["author"] == [{"@type": "Person", "name": "Mara Quinn", "url": BYLINE.page_url}]
    assert data["publisher"] == {
        "@type": "Organization",
        "name": "The Gazette",
        "url": "https://news.example.org/",
        "logo": {"@type": "ImageObject", "url": "https://news.example.org/media/logo.png"},
    }


def test_without_a_logo_the_publisher_has_none() -> None:
    assert "logo" not in structured()["publisher"]  # type: ignore[operator]


def test_script_json_cannot_end_its_element_and_reads_back_the_same() -> None:
    text = script_json(structured())
    assert "<" not in text
    assert ">" not in text
    assert "\u2028" not in text
    html = f'<html><head><script type="application/ld+json">{text}</script></head></html>'
    [script] = lxml.html.document_fromstring(html).xpath("//script")
    assert json.loads(script.text) == json.loads(json.dumps(structured()))


def test_author_without_a_page_has_no_url() -> None:
    data = news_article(
        ARTICLE,
        PUBLISHED,
        [Byline("——", "", "")],
        publisher_name="The Gazette",
        publisher_url="https://news.example.org/",
    )
    assert data["author"] == [{"@type": "Person", "name": "——"}]
