"""OPML: import the subscriptions a feed reader exports as `[[sources]]`, export ours as OPML 2.0.

Reading accepts what common readers write: newsboat's flat list (`newsboat -e`) and
Feedly-style folders, whose names become the sources' categories. Importing appends TOML
tables to the end of the config (or of `sources.toml`), so its comments and layout stay.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from pydantic import ValidationError
from slugify import slugify

from publisher import SOURCES_FILE
from publisher.config import Config, SourceConfig
from publisher.content.markup import plain_text
from publisher.errors import ConfigError, PublisherError
from publisher.files import write_atomically
from publisher.urls import is_absolute_http_url

NAME_LENGTH = 64


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One subscription: a feed's URL, its title and the folders it was filed under."""

    url: str
    title: str
    home_url: str | None = None
    categories: tuple[str, ...] = ()


@dataclass(slots=True)
class ImportReport:
    """What an import added, what it skipped as already there, and what it could not read."""

    target: Path
    added: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: what the import did."""
        return (
            f"import: {len(self.added)} sources added to {self.target}, "
            f"{len(self.skipped)} already there, {len(self.errors)} errors"
        )


def parse_opml(data: bytes, origin: str) -> tuple[list[OpmlFeed], list[str]]:
    """The feeds of an OPML document, and one message per outline that cannot be used.

    PublisherError when the document is not OPML at all; `origin` names it in messages.
    """
    if b"<!ENTITY" in data:
        raise PublisherError(f"{origin}: entity declarations are not accepted in OPML")
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise PublisherError(f"{origin}: not valid XML: {error}") from None
    body = root.find("body")
    if root.tag != "opml" or body is None:
        raise PublisherError(f"{origin}: not an OPML document (no <opml> with a <body>)")
    feeds: list[OpmlFeed] = []
    errors: list[str] = []
    for outline, folders in _outlines(body, ()):
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        title = plain_text(outline.get("title") or outline.get("text") or "")
        if not url:
            continue
        if not is_absolute_http_url(url):
            errors.append(
                f"{origin}:{outline.sourceline}: outline {title or url!r}: "
                f"{url!r} is not an http(s) URL"
            )
            continue
        home = (outline.get("htmlUrl") or "").strip() or None
        categories = _categories(outline.get("category"), folders)
        feeds.append(OpmlFeed(url, title, home, categories))
    return feeds, errors


def render_opml(title: str, sources: Sequence[SourceConfig], homes: dict[str, str]) -> bytes:
    """OPML 2.0 listing every source; `homes` gives the web pages fetching has found."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = plain_text(title)
    body = etree.SubElement(root, "body")
    for source in sources:
        title = plain_text(source.title)
        attributes = {"type": "rss", "text": title or source.name}
        if title:
            attributes["title"] = title
        attributes["xmlUrl"] = plain_text(source.url)
        if source.name in homes:
            attributes["htmlUrl"] = plain_text(homes[source.name])
        categories = [name for name in map(plain_text, source.categories) if name]
        if categories:
            # Commas and slashes separate categories and their levels in OPML 2.0.
            names = (name.replace(",", " ").replace("/", " ") for name in categories)
            attributes["category"] = ",".join(f"/{name}" for name in names)
        etree.SubElement(body, "outline", attributes)
    document: bytes = etree.tostring(
        root, encoding="UTF-8", xml_declaration=True, pretty_print=True
    )
    return document


def source_tables(
    feeds: Iterable[OpmlFeed], existing: Sequence[SourceConfig]
) -> tuple[list[SourceConfig], list[str]]:
    """New `[[sources]]` for the feeds not configured yet (by URL), with unique names.

    Returns the new sources and the URLs skipped as already there.
    """
    taken = {source.name for source in existing}
    known = {source.url for source in existing}
    added: list[SourceConfig] = []
    skipped: list[str] = []
    for feed in feeds:
        if feed.url in known:
            skipped.append(feed.url)
            continue
        known.add(feed.url)
        name = _unique_name(feed, taken)
        taken.add(name)
        added.append(
            SourceConfig(name=name, url=feed.url, title=feed.title, categories=feed.categories)
        )
    return added, skipped


def toml_tables(sources: Iterable[SourceConfig]) -> str:
    """`[[sources]]` tables for appending to a TOML file."""
    blocks = []
    for source in sources:
        lines = ["[[sources]]", f"name = {_toml(source.name)}", f"url = {_toml(source.url)}"]
        if source.title:
            lines.append(f"title = {_toml(source.title)}")
        if source.categories:
            lines.append(f"categories = [{', '.join(map(_toml, source.categories))}]")
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def import_opml(
    config: Config, data: bytes, origin: str, into_sources_file: bool = False
) -> ImportReport:
    """Append the OPML document's new feeds to the config, or to `sources.toml` beside it.

    `sources.toml` is chosen when asked for or when it exists already.
    """
    feeds, errors = parse_opml(data, origin)
    sources_file = config.path.parent / SOURCES_FILE
    target = sources_file if into_sources_file or sources_file.is_file() else config.path
    added, skipped = source_tables(feeds, config.sources)
    report = ImportReport(target, [s.name for s in added], skipped, errors)
    if not added:
        return report
    try:
        before = target.read_text(encoding="utf-8") if target.is_file() else ""
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{target}: cannot read: {error}") from None
    if before and not before.endswith("\n"):
        before += "\n"
    after = before + ("\n" if before else "") + toml_tables(added)
    _check_tables(target, after)
    write_atomically(target, after.encode("utf-8"))
    return report


def _check_tables(target: Path, text: str) -> None:
    """Refuse to write a file that would no longer load (say, one with `sources = [...]`)."""
    try:
        tables = tomllib.loads(text).get("sources", [])
        if not isinstance(tables, list):
            raise ConfigError(f"{target}: `sources` is not a list of [[sources]] tables")
        for table in tables:
            SourceConfig.model_validate(table)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{target}: the sources cannot be appended: {error}") from None
    except ValidationError as error:
        raise ConfigError(f"{target}: the sources cannot be appended: {error}") from None


def _outlines(parent: Any, folders: tuple[str, ...]) -> Iterator[tuple[Any, tuple[str, ...]]]:
    for outline in parent.findall("outline"):
        yield outline, folders
        if not (outline.get("xmlUrl") or outline.get("xmlurl")):
            folder = plain_text(outline.get("title") or outline.get("text") or "")
            yield from _outlines(outline, (*folders, folder) if folder else folders)


def _categories(attribute: str | None, folders: tuple[str, ...]) -> tuple[str, ...]:
    names = list(folders)
    for path in (attribute or "").split(","):
        names += [part for part in (plain_text(p) for p in path.split("/")) if part]
    return tuple(dict.fromkeys(name for name in names if slugify(name)))


def _unique_name(feed: OpmlFeed, taken: set[str]) -> str:
    base = str(slugify(feed.title or "", max_length=NAME_LENGTH - 4, word_boundary=True))
    if not base:
        base = str(slugify(urlsplit(feed.url).hostname or "", max_length=NAME_LENGTH - 4))
    base = base or "source"
    name, number = base, 2
    while name in taken:
        name, number = f"{base}-{number}", number + 1
    return name


def _toml(value: str) -> str:
    # A JSON string is a TOML basic string once DEL (which JSON leaves raw) is escaped.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")
