"""Schema.org JSON-LD for search engines: a `NewsArticle` per article page; a pure function."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from publisher.content.articles import Article
from publisher.content.authors import Byline

# Inside <script>, "</" ends the element and "<!--" opens a comment whatever the JSON says; the
# line separators end a JavaScript string in old parsers. Escaped, they read the same as JSON.
_SCRIPT_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def news_article(
    article: Article,
    updated: datetime,
    bylines: Sequence[Byline],
    *,
    publisher_name: str,
    publisher_url: str,
    logo_url: str | None = None,
) -> dict[str, Any]:
    """The `NewsArticle` describing an article: headline, image, dates, authors, publisher."""
    publisher: dict[str, Any] = {"@type": "Organization", "name": publisher_name}
    publisher["url"] = publisher_url
    if logo_url:
        publisher["logo"] = {"@type": "ImageObject", "url": logo_url}
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": article.title,
        "description": article.summary,
        "mainEntityOfPage": article.url,
        "url": article.url,
        "datePublished": article.date.isoformat(),
        "dateModified": max(updated, article.date).isoformat(),
        "author": [_person(byline) for byline in bylines] or [publisher],
        "publisher": publisher,
    }
    if article.image:
        data["image"] = [article.image.url]
    if article.categories:
        data["articleSection"] = article.categories[0].name
    if article.tags:
        data["keywords"] = list(article.tags)
    return data


def _person(byline: Byline) -> dict[str, str]:
    person = {"@type": "Person", "name": byline.name}
    return person | {"url": byline.page_url} if byline.page_url else person


def script_json(data: dict[str, Any]) -> str:
    """`data` as JSON safe to place inside `<script type="application/ld+json">`."""
    return json.dumps(data, ensure_ascii=False, sort_keys=True).translate(_SCRIPT_ESCAPES)
