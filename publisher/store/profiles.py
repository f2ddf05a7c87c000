"""Author profiles in the store, with their files' state so unchanged ones are skipped."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.content.authors import AuthorProfile, ProfileLink
from publisher.store.schema import author_profiles


@dataclass(frozen=True, slots=True)
class StoredProfile:
    """What the store remembers of a profile's file, to skip it when unchanged."""

    slug: str
    source: str
    content_hash: str
    file_size: int
    file_mtime_ns: int


def stored_profiles(connection: Connection) -> list[StoredProfile]:
    """Every stored profile's file state."""
    query = sa.select(
        author_profiles.c.slug,
        author_profiles.c.source,
        author_profiles.c.content_hash,
        author_profiles.c.file_size,
        author_profiles.c.file_mtime_ns,
    )
    return [StoredProfile(**row._mapping) for row in connection.execute(query)]


def put_profile(connection: Connection, profile: AuthorProfile, file: dict[str, Any]) -> None:
    """Store a parsed profile (replacing the one of the same slug) with its file state."""
    values = {
        "source": profile.source,
        "name": profile.name,
        "bio_html": profile.bio_html,
        "avatar": profile.avatar,
        "url": profile.url,
        "email": profile.email,
        "links": [asdict(link) for link in profile.links],
        **file,
    }
    updated = connection.execute(
        author_profiles.update().where(author_profiles.c.slug == profile.slug).values(**values)
    )
    if updated.rowcount == 0:
        connection.execute(author_profiles.insert().values(slug=profile.slug, **values))


def update_profile_file(connection: Connection, slug: str, file: dict[str, Any]) -> None:
    """Record a profile's new file state (size, mtime) when its content did not change."""
    connection.execute(
        author_profiles.update().where(author_profiles.c.slug == slug).values(**file)
    )


def delete_profile(connection: Connection, slug: str) -> None:
    """Forget a profile whose file is gone."""
    connection.execute(author_profiles.delete().where(author_profiles.c.slug == slug))


def profiles(connection: Connection) -> list[AuthorProfile]:
    """Every stored author profile, by slug."""
    query = sa.select(author_profiles).order_by(author_profiles.c.slug)
    return [
        AuthorProfile(
            source=row.source,
            slug=row.slug,
            name=row.name,
            bio_html=row.bio_html,
            avatar=row.avatar,
            url=row.url,
            email=row.email,
            links=tuple(ProfileLink(**link) for link in row.links),
        )
        for row in connection.execute(query)
    ]
