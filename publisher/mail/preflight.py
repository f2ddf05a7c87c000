"""What `publisher check` tries before the schedule does: render every digest, write nothing.

A subject template that renders a line break, a missing or broken template, a sender that is
not one address: each would stop `digest create` or `send` at 07:30. Here each digest's next
edition is rendered (as `digest preview` does) from the articles the content folder holds now,
and built into a message, so `check` reports the problem the evening before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from publisher.config import Config, DigestConfig
from publisher.content.articles import Article, PublishedArticle, article_guid
from publisher.errors import PublisherError
from publisher.mail.editions import belongs_to
from publisher.mail.mime import PreparedEdition
from publisher.mail.render import EditionInfo, render_edition, template_environment
from publisher.urls import archive_url


class DigestCheckError(PublisherError):
    """A digest that would fail to be made or sent; the message names the digest."""


def public_now(
    config: Config, articles: Sequence[Article], now: datetime
) -> list[PublishedArticle]:
    """The articles that are public at `now`, numbered in publication order as gather would."""
    public = sorted(
        (article for article in articles if not article.draft and article.date <= now),
        key=lambda article: (article.date, article_guid(article, config.site.url)),
    )
    return [
        PublishedArticle(
            guid=article_guid(article, config.site.url),
            sequence=number,
            updated=max(article.updated or article.date, article.date),
            article=article,
        )
        for number, article in enumerate(public, start=1)
    ]


def sample_articles(
    digest: DigestConfig, public: Sequence[PublishedArticle]
) -> list[PublishedArticle]:
    """What to render `digest` with: its newest articles, else the newest of any, to the cap."""
    own = [published for published in public if belongs_to(digest, published)]
    return (own or list(public))[-digest.max_articles :]


def digest_problems(
    config: Config, articles: Sequence[Article], now: datetime
) -> list[DigestCheckError]:
    """Render each digest's subject, HTML and text, and build its message; the failures.

    A digest with no public article to render is not checked (nothing would be made either).
    """
    if not config.digests:
        return []
    try:
        environments = {
            language: template_environment(config.templates_dir, language, config.locale_dir)
            for language in {config.digest_language(digest) for digest in config.digests}
        }
    except PublisherError as error:
        return [DigestCheckError(f"digests: {error}")]
    public = public_now(config, articles, now)
    problems: list[DigestCheckError] = []
    for digest in config.digests:
        chosen = sample_articles(digest, public)
        if not chosen:
            continue
        info = EditionInfo(number=1, date=now, archive_url=archive_url(config, digest.name, 1))
        try:
            environment = environments[config.digest_language(digest)]
            rendered = render_edition(environment, config, digest, info, chosen)
            # Only the headers are checked here: the Message-ID's key does not matter.
            PreparedEdition(config, digest, 1, now, rendered, secret=b"preflight")
        except PublisherError as error:
            problems.append(DigestCheckError(f"digest {digest.name}: {error}"))
    return problems


BOUNCE_ADDRESS_NEEDED = (
    "bounce handling needs [mail] bounce_address: without it, a bounce or complaint by mail "
    "that carries no Message-ID of ours is recorded but changes nothing (no probe can be sent)"
)


def bounce_handling_warning(config: Config) -> str | None:
    """What `check` and `status` say when bounces cannot be verified by VERP or probed."""
    if config.mail is None or config.mail.bounce_address:
        return None
    return BOUNCE_ADDRESS_NEEDED
