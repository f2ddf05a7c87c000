"""Every public article read once, for a crawl of the static site: it asks for hundreds of
tag and listing pages and thousands of articles, and each would otherwise read the articles
again (all of them for a tag page, a scan by URL for an article).

Only for the in-process app of `publisher build`, whose store does not change while it
crawls; `publisher serve` reads the store at each request, as a gather may change it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from sqlalchemy import Connection

from publisher.content.articles import Article, PublishedArticle, category_slug
from publisher.store.articles import public_article_guids_by_url, public_articles


@dataclass(frozen=True, slots=True)
class PublicIndex:
    """The public articles newest first (without their bodies), by tag and by URL."""

    published: tuple[PublishedArticle, ...]
    articles: tuple[Article, ...]
    tags: dict[str, tuple[str, tuple[Article, ...]]]  # tag slug -> (tag as first written, articles)
    guids_by_url: dict[str, str]


def read_public_index(connection: Connection) -> PublicIndex:
    """Read every public article once and index it."""
    found = tuple(_without_body(published) for published in public_articles(connection))
    listed = tuple(published.article for published in found)
    return PublicIndex(found, listed, _by_tag(listed), public_article_guids_by_url(connection))


def _without_body(published: PublishedArticle) -> PublishedArticle:
    # Listings show no body: holding 10,000 of them would cost tens of megabytes.
    article = dataclasses.replace(published.article, body_html="")
    return dataclasses.replace(published, article=article)


def _by_tag(listed: tuple[Article, ...]) -> dict[str, tuple[str, tuple[Article, ...]]]:
    names: dict[str, str] = {}
    members: dict[str, list[Article]] = {}
    slugs: dict[str, str] = {}
    for article in listed:
        seen: set[str] = set()
        for tag in article.tags:
            slug = slugs.get(tag)
            if slug is None:
                slug = slugs[tag] = category_slug(tag)
            if slug in seen:
                continue
            seen.add(slug)
            names.setdefault(slug, tag)
            members.setdefault(slug, []).append(article)
    return {slug: (names[slug], tuple(found)) for slug, found in members.items()}
