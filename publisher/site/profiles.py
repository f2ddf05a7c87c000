"""Gather author profiles: the content folder's `authors/*.md` → the store, skipping unchanged.

Called by `gather` inside its transaction. A broken profile is reported (file and line) and
keeps its last good version in the store; the others are stored all the same. A profile
whose file is gone is removed.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Connection

from publisher.content.articles import MediaLookup, SiteSettings, is_article_file
from publisher.content.authors import AUTHORS_FOLDER, AuthorProfile, author_slug, parse_profile
from publisher.errors import ContentError
from publisher.store.profiles import (
    delete_profile,
    profiles,
    put_profile,
    stored_profiles,
    update_profile_file,
)


@dataclass(frozen=True, slots=True)
class ProfileFile:
    source: str
    path: Path
    size: int
    mtime_ns: int


def scan_profiles(content_dir: Path) -> list[ProfileFile]:
    """The profile files directly inside the content folder's `authors/`, by name."""
    folder = content_dir / AUTHORS_FOLDER
    if not folder.is_dir():
        return []
    found = []
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_file() and is_article_file(entry.name):
                stat = entry.stat()
                found.append(
                    ProfileFile(
                        f"{AUTHORS_FOLDER}/{entry.name}",
                        Path(entry.path),
                        stat.st_size,
                        stat.st_mtime_ns,
                    )
                )
    return sorted(found, key=lambda file: file.source)


def check_profiles(
    content_dir: Path, site: SiteSettings, media: MediaLookup
) -> tuple[list[AuthorProfile], list[ContentError]]:
    """Parse every profile without touching the store: what `publisher check` reports."""
    parsed: list[AuthorProfile] = []
    errors: list[ContentError] = []
    for file in scan_profiles(content_dir):
        try:
            parsed.append(_checked(parse_profile(file.source, _read(file), site, media), parsed))
        except ContentError as error:
            errors.append(error)
    return parsed, errors


def gather_profiles(
    connection: Connection,
    content_dir: Path,
    site: SiteSettings,
    media: MediaLookup,
    rerender: bool,
) -> list[ContentError]:
    """Bring the stored profiles in line with the files; returns the errors met."""
    files = scan_profiles(content_dir)
    stored = {row.source: row for row in stored_profiles(connection)}
    present = {file.source for file in files}
    for gone in stored.values():
        if gone.source not in present:
            delete_profile(connection, gone.slug)
    errors: list[ContentError] = []
    for file in files:
        row = stored.get(file.source)
        same_stat = row and (row.file_size, row.file_mtime_ns) == (file.size, file.mtime_ns)
        if same_stat and not rerender:
            continue
        try:
            raw = _read(file)
            state = {
                "content_hash": hashlib.sha256(raw).hexdigest(),
                "file_size": len(raw),
                "file_mtime_ns": file.mtime_ns,
            }
            if row and row.content_hash == state["content_hash"] and not rerender:
                update_profile_file(connection, row.slug, state)
                continue
            profile = parse_profile(file.source, raw, site, media)
        except ContentError as error:
            errors.append(error)
            continue
        put_profile(connection, profile, state)
    _check_names(profiles(connection), errors)
    return errors


def _read(file: ProfileFile) -> bytes:
    try:
        return file.path.read_bytes()
    except OSError as error:
        raise ContentError(file.source, 0, f"cannot read: {error}") from None


def _checked(profile: AuthorProfile, earlier: list[AuthorProfile]) -> AuthorProfile:
    for other in earlier:
        if other.name.casefold() == profile.name.casefold():
            message = f"name {profile.name!r} is used by {other.source}"
            raise ContentError(profile.source, 1, message)
    return profile


def _check_names(profiles: list[AuthorProfile], errors: list[ContentError]) -> None:
    """Two stored profiles of one name cannot both be matched by it: report the one that is not
    (the one whose slug is not the slug of the name, else the later slug)."""
    by_name: dict[str, list[AuthorProfile]] = {}
    for profile in profiles:
        by_name.setdefault(profile.name.casefold(), []).append(profile)
    reported = {error.path for error in errors}
    for same in by_name.values():
        matched = next((p for p in same if p.slug == author_slug(p.name)), same[0])
        for other in same:
            if other is not matched and other.source not in reported:
                message = f"name {other.name!r} is used by {matched.source}"
                errors.append(ContentError(other.source, 1, message))
