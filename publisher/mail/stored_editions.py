"""An edition as stored, read back: what sending needs, without rendering anything.

Making editions (Jinja, Markdown, premailer) is `editions`; this module stays light so that
`publisher send` does not load them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.errors import PublisherError
from publisher.mail.personal import LEGACY_KEY, RenderedEdition
from publisher.store.analytics import links_of_edition
from publisher.store.database import Store
from publisher.store.schema import editions


@dataclass(frozen=True, slots=True)
class Edition:
    """A stored edition: its articles are frozen, its HTML and text hold subscriber placeholders."""

    id: int
    digest: str
    number: int
    slot: str | None
    created_at: datetime
    subject: str
    article_guids: tuple[str, ...]
    first_sequence: int
    last_sequence: int
    html: str
    text: str
    archive_html: str
    delivery_started_at: datetime | None = None
    delivered_at: datetime | None = None
    links: tuple[str, ...] = ()  # a tracked edition's link URLs, by number
    placeholder_key: str = LEGACY_KEY  # the key of the stand-ins in html and text

    @property
    def rendered(self) -> RenderedEdition:
        return RenderedEdition(
            self.subject, self.html, self.text, self.archive_html, self.links, self.placeholder_key
        )


def edition_by_id(store: Store, edition_id: int) -> Edition:
    """One stored edition; PublisherError if there is none with that id."""
    with store.transaction() as connection:
        return edition_in(connection, edition_id)


def edition_in(connection: Connection, edition_id: int) -> Edition:
    """One stored edition, read in `connection`; PublisherError if there is none."""
    row = connection.execute(sa.select(editions).where(editions.c.id == edition_id)).first()
    if row is None:
        raise PublisherError(f"no edition with id {edition_id}")
    return edition_from_row(row._mapping, links_of_edition(connection, edition_id))


def edition_from_row(row: Any, links: tuple[str, ...] = ()) -> Edition:
    """The Edition of an `editions` row, with its tracked links."""
    # Every field of Edition but its links is a column of the same name.
    values = {name: row[name] for name in Edition.__dataclass_fields__ if name != "links"}
    values["article_guids"] = tuple(values["article_guids"])
    return Edition(**values, links=links)
