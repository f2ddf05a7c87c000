"""Editions: freeze the next digest from the store, render it once, archive it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from publisher.analytics.links import track_links
from publisher.clock import Clock, system_clock
from publisher.config import Config, DigestConfig
from publisher.content.articles import PublishedArticle
from publisher.content.markup import plain_text, render_markdown, url_resolver
from publisher.errors import PublisherError
from publisher.files import inside, remove_stale_temporaries, write_atomically
from publisher.mail.render import (
    EditionInfo,
    Recipient,
    RenderedEdition,
    digest_environment,
    personalize,
    render_edition,
)

# Re-exported: callers import these from here; they live in the lighter `stored_editions`.
from publisher.mail.stored_editions import Edition as Edition
from publisher.mail.stored_editions import edition_by_id as edition_by_id
from publisher.mail.stored_editions import edition_from_row, edition_in
from publisher.store.analytics import insert_edition_links, links_of_edition
from publisher.store.articles import public_articles_since
from publisher.store.database import Store
from publisher.store.schema import articles, digest_watermarks, editions
from publisher.urls import archive_url
from publisher.wording import count

log = logging.getLogger(__name__)

MAX_SLOT_LENGTH = 128
NO_ARTICLES_YET = (
    "no articles in the store yet: run `publisher gather` (or `publisher publish`) first"
)
PREVIEW_RECIPIENT = Recipient(
    name="Preview Reader",
    email="reader@example.com",
    unsubscribe_url="https://example.com/unsubscribe/preview",
    preferences_url="https://example.com/preferences/preview",
)


@dataclass(frozen=True, slots=True)
class EditionOutcome:
    """What `create_edition` did: a new edition, the slot's existing one, or nothing.

    A digest of mode "each" makes one edition per new article: `earlier` holds those made
    (or found) before `edition`, the last, in the same call.
    """

    edition: Edition | None
    created: bool
    message: str
    earlier: tuple[Edition, ...] = ()

    @property
    def editions(self) -> tuple[Edition, ...]:
        """Every edition this call made or found, oldest first."""
        return (*self.earlier, *([self.edition] if self.edition else []))


@dataclass(frozen=True, slots=True)
class NextEdition:
    """The articles the next edition would hold, and the watermark it would leave."""

    articles: tuple[PublishedArticle, ...]
    watermark: int


def belongs_to(digest: DigestConfig, published: PublishedArticle) -> bool:
    """Whether an article goes in a digest: from its `sources` and in its `categories`, if set."""
    origin = published.article.origin
    if digest.sources and (origin is None or origin.name not in digest.sources):
        return False
    if not digest.categories:
        return True
    return any(category.slug in digest.categories for category in published.article.categories)


def next_edition(
    digest: DigestConfig, watermark: int, candidates: Sequence[PublishedArticle]
) -> NextEdition:
    """Choose from articles above the watermark, in sequence order, at most `max_articles`
    (one for a digest of mode "each"), then put them in the digest's `order`.

    When the cap is hit the rest stay above the new watermark for the next edition, so every
    article lands in exactly one edition.
    """
    cap = 1 if digest.mode == "each" else digest.max_articles
    chosen: list[PublishedArticle] = []
    last_seen = watermark
    for published in sorted(candidates, key=lambda p: p.sequence):
        if published.sequence <= watermark:
            continue
        if belongs_to(digest, published):
            if len(chosen) == cap:
                break
            chosen.append(published)
        last_seen = published.sequence
    return NextEdition(ordered(digest, chosen), last_seen)


def ordered(
    digest: DigestConfig, chosen: Sequence[PublishedArticle]
) -> tuple[PublishedArticle, ...]:
    """Articles newest first (by date, then publication sequence) or oldest first."""
    newest = digest.order == "newest"
    return tuple(sorted(chosen, key=lambda p: (p.article.date, p.sequence), reverse=newest))


def archive_path(config: Config, digest: str, number: int) -> Path:
    """Where an edition's archive copy is written."""
    return inside(config.archive_dir, f"{digest}/{number}.html")


def create_edition(
    store: Store,
    config: Config,
    name: str,
    clock: Clock = system_clock,
    slot: str | None = None,
    note: str | None = None,
) -> EditionOutcome:
    """Freeze, render and store the next edition of digest `name`, moving its watermark.

    With a `slot`, a second call for the same slot returns the edition the first made. A
    digest of mode "each" makes one edition per new article (see `create_article_editions`).
    `note` is an editor's note in Markdown for this edition, instead of the digest's `note`
    file.
    """
    digest = config.digest(name)
    slot = _checked_slot(slot)
    if digest.mode == "each":
        return create_article_editions(store, config, name, clock, slot)
    return _create_one(store, config, digest, clock, slot, note)


def edition_note(config: Config, digest: DigestConfig, note: str | None = None) -> str:
    """The editor's note as sanitized HTML: `note` (Markdown) if given, else the digest's
    `note` file while it exists, else ""."""
    if note is None and digest.note is not None:
        path = config.path.resolve().parent / digest.note
        try:
            note = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return ""
        except (OSError, UnicodeDecodeError) as error:
            raise PublisherError(f"{path}: cannot read the editor's note: {error}") from None
    if not note or not note.strip():
        return ""
    resolve = url_resolver(config.site.url, config.media_url, "note.md", config.site.url)
    return render_markdown(note, resolve)


def create_article_editions(
    store: Store, config: Config, name: str, clock: Clock = system_clock, slot: str | None = None
) -> EditionOutcome:
    """One edition per new article of digest `name`, each made (and its watermark moved) in
    its own transaction, so a crash loses none and repeats none.

    With a `slot`, the editions take the slots `<slot>#1`, `<slot>#2`, ...: a second call for
    the same slot finds those and makes editions only for articles none of them holds.
    """
    digest = config.digest(name)
    found: list[Edition] = []
    made = 0
    while True:
        sub_slot = None if slot is None else f"{slot}#{len(found) + 1}"
        outcome = _create_one(store, config, digest, clock, sub_slot)
        if outcome.edition is None:
            break
        found.append(outcome.edition)
        made += outcome.created
    if not found:
        return EditionOutcome(None, False, _nothing_new(digest, 0))
    message = f"{name}: {made} new editions, one per article ({len(found)} for this call)"
    return EditionOutcome(found[-1], made > 0, message, tuple(found[:-1]))


def _create_one(
    store: Store,
    config: Config,
    digest: DigestConfig,
    clock: Clock,
    slot: str | None,
    note: str | None = None,
) -> EditionOutcome:
    name = digest.name
    environment = digest_environment(config, digest)
    note_html = edition_note(config, digest, note) if digest.mode == "digest" else ""
    with store.transaction() as connection:
        watermark = _locked_watermark(connection, config, digest)
        if slot is not None and (existing := _edition_for_slot(connection, name, slot)):
            return EditionOutcome(
                existing, False, f"{name}: slot {slot} already has edition {existing.id}"
            )
        upcoming = next_edition(digest, watermark, public_articles_since(connection, watermark))
        if len(upcoming.articles) < (1 if digest.mode == "each" else digest.min_articles):
            found = len(upcoming.articles)
            message = _nothing_new(digest, found, gathered=found > 0 or _any_article(connection))
            return EditionOutcome(None, False, message)
        number = _next_number(connection, name)
        info = EditionInfo(
            number=number, date=clock(), archive_url=archive_url(config, name, number)
        )
        rendered = tracked(
            digest,
            render_edition(environment, config, digest, info, upcoming.articles, note_html),
        )
        edition_id = _insert_edition(connection, name, number, slot, info.date, upcoming, rendered)
        insert_edition_links(connection, edition_id, rendered.links)
        connection.execute(
            digest_watermarks.update()
            .where(digest_watermarks.c.digest == name)
            .values(watermark=upcoming.watermark)
        )
        edition = edition_in(connection, edition_id)
    write_archive(config, edition)
    message = (
        f"{name}: edition {edition.id} (#{number}) with {count(len(upcoming.articles), 'article')}"
    )
    return EditionOutcome(edition, True, message)


def tracked(digest: DigestConfig, rendered: RenderedEdition) -> RenderedEdition:
    """The edition with tracked links and pixel, if its digest counts clicks or opens."""
    if not (digest.track_clicks or digest.track_opens):
        return rendered
    bodies = track_links(
        rendered.html,
        rendered.text,
        digest.track_clicks,
        digest.track_opens,
        rendered.stand_ins_link_key,
    )
    return RenderedEdition(
        rendered.subject,
        bodies.html,
        bodies.text,
        rendered.archive_html,
        bodies.targets,
        rendered.key,
    )


def preview_edition(
    store: Store, config: Config, name: str, out_dir: Path, clock: Clock = system_clock
) -> tuple[Path, Path] | None:
    """Render the next edition of `name` without storing it; write preview.html and .txt."""
    digest = config.digest(name)
    with store.transaction() as connection:
        watermark = _current_watermark(connection, config, digest)
        upcoming = next_edition(digest, watermark, public_articles_since(connection, watermark))
        number = _next_number(connection, name)
    if not upcoming.articles:
        return None
    info = EditionInfo(number=number, date=clock(), archive_url=archive_url(config, name, number))
    environment = digest_environment(config, digest)
    note_html = edition_note(config, digest) if digest.mode == "digest" else ""
    rendered = render_edition(environment, config, digest, info, upcoming.articles, note_html)
    html, text = personalize(rendered, PREVIEW_RECIPIENT)
    html_path, text_path = out_dir / "preview.html", out_dir / "preview.txt"
    remove_stale_temporaries(out_dir, {html_path.name, text_path.name})
    write_atomically(html_path, html.encode("utf-8"))
    write_atomically(text_path, text.encode("utf-8"))
    return html_path, text_path


@dataclass(frozen=True, slots=True)
class ProofEdition:
    """An edition to show a tester: the next one rendered unstored, else the latest stored."""

    rendered: RenderedEdition
    created_at: datetime
    stored: bool


def next_or_latest_edition(
    store: Store, config: Config, name: str, clock: Clock = system_clock
) -> ProofEdition:
    """The next edition of `name` rendered as `create_edition` would (nothing stored, no
    watermark moved), or its latest stored edition when nothing is new."""
    digest = config.digest(name)
    with store.transaction() as connection:
        watermark = _current_watermark(connection, config, digest)
        upcoming = next_edition(digest, watermark, public_articles_since(connection, watermark))
        number = _next_number(connection, name)
    if upcoming.articles:
        info = EditionInfo(number, clock(), archive_url(config, name, number))
        environment = digest_environment(config, digest)
        note_html = edition_note(config, digest) if digest.mode == "digest" else ""
        rendered = render_edition(environment, config, digest, info, upcoming.articles, note_html)
        return ProofEdition(rendered, info.date, stored=False)
    stored = list_editions(store, name)
    if not stored:
        raise PublisherError(f"digest {name!r}: nothing new and no edition yet to send")
    return ProofEdition(stored[-1].rendered, stored[-1].created_at, stored=True)


def list_editions(store: Store, digest: str | None = None) -> list[Edition]:
    """Stored editions, oldest first."""
    query = sa.select(editions).order_by(editions.c.id)
    if digest is not None:
        query = query.where(editions.c.digest == digest)
    with store.transaction() as connection:
        return [
            edition_from_row(row._mapping, links_of_edition(connection, row.id))
            for row in connection.execute(query)
        ]


def write_archive(config: Config, edition: Edition) -> bool:
    """Write the edition's archive copy (no personal data); returns whether the file changed."""
    path = archive_path(config, edition.digest, edition.number)
    remove_stale_temporaries(path.parent)  # left by an interrupted write (a kill -9)
    return write_atomically(path, edition.archive_html.encode("utf-8"))


def write_missing_archives(store: Store, config: Config) -> int:
    """Write archive copies a crash or a deleted folder left missing; returns how many."""
    written = 0
    for edition in list_editions(store):
        if not archive_path(config, edition.digest, edition.number).exists():
            written += write_archive(config, edition)
    return written


def _nothing_new(digest: DigestConfig, found: int, *, gathered: bool = True) -> str:
    if not gathered:
        return f"{digest.name}: {NO_ARTICLES_YET}; no edition made"
    if found == 0:
        return f"{digest.name}: nothing new since the last edition"
    return (
        f"{digest.name}: {count(found, 'new article')}, fewer than min_articles "
        f"({digest.min_articles}); no edition made"
    )


def any_article_gathered(store: Store) -> bool:
    """Whether any article was ever gathered into the store."""
    with store.transaction() as connection:
        return _any_article(connection)


def _any_article(connection: Connection) -> bool:
    """Whether any article was ever gathered into the store."""
    return connection.scalar(sa.select(articles.c.id).limit(1)) is not None


def _checked_slot(slot: str | None) -> str | None:
    if slot is None:
        return None
    cleaned = plain_text(slot)
    if not cleaned or cleaned != slot.strip() or len(cleaned) > MAX_SLOT_LENGTH:
        raise PublisherError(
            f"slot {slot!r} must be one line of at most {MAX_SLOT_LENGTH} characters"
        )
    return cleaned


def _starting_watermark(connection: Connection, digest: DigestConfig) -> int:
    """A new digest starts with the newest `max_articles` articles, not the whole back catalogue;
    one of mode "each" with the next article published."""
    members = [p for p in public_articles_since(connection, 0) if belongs_to(digest, p)]
    if digest.mode == "each":
        return members[-1].sequence if members else 0
    if len(members) <= digest.max_articles:
        return 0
    return members[-digest.max_articles].sequence - 1


def _current_watermark(connection: Connection, config: Config, digest: DigestConfig) -> int:
    stored = connection.scalar(
        sa.select(digest_watermarks.c.watermark).where(digest_watermarks.c.digest == digest.name)
    )
    return _starting_watermark(connection, digest) if stored is None else int(stored)


def _locked_watermark(connection: Connection, config: Config, digest: DigestConfig) -> int:
    """The digest's watermark, its row locked until the transaction ends (FOR UPDATE)."""
    query = (
        sa.select(digest_watermarks.c.watermark)
        .where(digest_watermarks.c.digest == digest.name)
        .with_for_update()
    )
    stored = connection.scalar(query)
    if stored is None:
        start = _starting_watermark(connection, digest)
        try:
            with connection.begin_nested():
                connection.execute(
                    digest_watermarks.insert().values(digest=digest.name, watermark=start)
                )
        except IntegrityError:
            pass  # another process made the row first; lock theirs
        stored = connection.scalar(query)
    if stored is None:
        raise PublisherError(f"the watermark of digest {digest.name!r} is missing")
    return int(stored)


def _edition_for_slot(connection: Connection, digest: str, slot: str) -> Edition | None:
    row = connection.execute(
        sa.select(editions).where(editions.c.digest == digest, editions.c.slot == slot)
    ).first()
    return (
        None
        if row is None
        else edition_from_row(row._mapping, links_of_edition(connection, row.id))
    )


def _next_number(connection: Connection, digest: str) -> int:
    last = connection.scalar(
        sa.select(sa.func.max(editions.c.number)).where(editions.c.digest == digest)
    )
    return 1 if last is None else int(last) + 1


def _insert_edition(
    connection: Connection,
    digest: str,
    number: int,
    slot: str | None,
    created_at: datetime,
    upcoming: NextEdition,
    rendered: RenderedEdition,
) -> int:
    sequences = [p.sequence for p in upcoming.articles]
    result = connection.execute(
        editions.insert()
        .values(
            digest=digest,
            number=number,
            slot=slot,
            created_at=created_at,
            subject=rendered.subject,
            article_guids=[p.guid for p in upcoming.articles],
            first_sequence=min(sequences),
            last_sequence=max(sequences),
            html=rendered.html,
            text=rendered.text,
            archive_html=rendered.archive_html,
            placeholder_key=rendered.key,
        )
        .returning(editions.c.id)
    )
    return int(result.scalar_one())
