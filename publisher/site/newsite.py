"""`publisher init`: a new site that publishes at once, made from the skeleton in the package.

`site_files` is the pure part (answers and a time in, file contents out); `create_site` writes
them, refusing to overwrite a site that is already there.
"""

from __future__ import annotations

import importlib.resources
import json
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from importlib.resources.abc import Traversable
from pathlib import Path, PurePosixPath
from string import Template

from publisher import DEFAULT_CONFIG_FILE
from publisher.config import config_from_mapping
from publisher.errors import ConfigError, PublisherError
from publisher.files import write_atomically
from publisher.templates import BUNDLED_TEMPLATES

SKELETON = importlib.resources.files("publisher.site") / "skeleton"
CONFIG_FILE = DEFAULT_CONFIG_FILE
CONTENT_DIR = "content"
TEMPLATES_DIR = "templates"
GITIGNORE = ".gitignore"
# What `init` writes where: the skeleton's files, by their place in the new site.
_SKELETON_FILES = {
    CONFIG_FILE: "config.toml",
    GITIGNORE: "gitignore",
    "content/welcome.md": "content/welcome.md",
    "content/images/welcome.png": "content/images/welcome.png",
}
_TEXT_FILES = frozenset({CONFIG_FILE, "content/welcome.md"})


class SiteExistsError(PublisherError):
    """`publisher init` would overwrite a site (or a file of one) that is already there."""


@dataclass(frozen=True, slots=True)
class SiteAnswers:
    """What a new site needs to be told: the rest has sensible defaults."""

    title: str
    url: str
    sender: str
    postal_address: str


PLACEHOLDERS = SiteAnswers(
    title="My Newsletter",
    url="https://example.org/",
    sender="My Newsletter <newsletter@example.org>",
    postal_address="Your postal address, as anti-spam laws require",
)


def toml_string(value: str) -> str:
    """`value` as a TOML basic string: JSON's escapes are TOML's, and TOML wants DEL escaped."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def yaml_string_body(value: str) -> str:
    """`value` for inside a YAML double-quoted scalar: what YAML calls printable as is (quote
    and backslash aside), anything else as an escape."""
    return "".join(
        character if _yaml_printable(character) else f"\\U{ord(character):08x}"
        for character in value
    )


def _yaml_printable(character: str) -> bool:
    code = ord(character)
    if character in '"\\' or code == 0xFEFF:
        return False
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def site_files(answers: SiteAnswers, now: datetime) -> dict[str, bytes]:
    """The new site's files by relative path; ConfigError if the answers make a bad config.

    The example article is dated `now` (to the minute), so the first publish publishes it.
    """
    values = {
        "title": toml_string(answers.title),
        "url": toml_string(answers.url),
        "author": toml_string(answers.title),
        "sender": toml_string(answers.sender),
        "postal_address": toml_string(answers.postal_address),
        "digest_title": toml_string(f"{answers.title} daily"),
        "title_text": yaml_string_body(answers.title),
        "date": now.astimezone(UTC).replace(second=0, microsecond=0).isoformat(),
    }
    files: dict[str, bytes] = {}
    for target, name in _SKELETON_FILES.items():
        data = SKELETON.joinpath(*PurePosixPath(name).parts).read_bytes()
        if target in _TEXT_FILES:
            data = Template(data.decode("utf-8")).substitute(values).encode("utf-8")
        files[target] = data
    _check_sender(answers.sender)
    _check_config(files[CONFIG_FILE])
    return files


def _check_sender(sender: str) -> None:
    try:
        parsed = HeaderRegistry()("From", sender)
    except (HeaderParseError, IndexError, ValueError):
        parsed = None
    addresses: tuple[Address, ...] = getattr(parsed, "addresses", ())
    if parsed is None or parsed.defects or len(addresses) != 1 or "@" not in sender:
        raise ConfigError(f'--from: {sender!r} is not one email address ("Name <address>")')


def _check_config(text: bytes) -> None:
    path = Path(CONFIG_FILE)
    try:
        raw = tomllib.loads(text.decode("utf-8"))
        config_from_mapping(raw, path)
    except tomllib.TOMLDecodeError as error:  # a value that breaks the TOML is a bug here
        raise ConfigError(f"{path}: not valid TOML: {error}") from None
    except ConfigError as error:
        raise ConfigError(f"{error} (given as an option or answer; nothing written)") from None


def bundled_template_files() -> dict[str, bytes]:
    """Every bundled template and stylesheet by its path under `templates/`."""
    return {
        name: resource.read_bytes()
        for name, resource in _walk(BUNDLED_TEMPLATES, "")
        if not name.endswith(".py")
    }


def _walk(folder: Traversable, prefix: str) -> Iterator[tuple[str, Traversable]]:
    for entry in sorted(folder.iterdir(), key=lambda each: each.name):
        if entry.is_dir():
            if entry.name != "__pycache__":
                yield from _walk(entry, f"{prefix}{entry.name}/")
        else:
            yield f"{prefix}{entry.name}", entry


def create_site(
    folder: Path, answers: SiteAnswers, now: datetime, *, with_templates: bool = False
) -> list[Path]:
    """Write a new site into `folder` (made if missing); the paths written, in order.

    Refuses (SiteExistsError) when `folder` already holds a config.toml, a content folder or,
    with `with_templates`, a templates folder: nothing is written then. An existing
    .gitignore keeps its lines and gains the missing ones.
    """
    files = site_files(answers, now)
    if with_templates:
        files[CONFIG_FILE] = files[CONFIG_FILE].replace(
            b'# dir = "templates"', b'dir = "templates"  ', 1
        )
        templates = bundled_template_files().items()
        files |= {f"{TEMPLATES_DIR}/{name}": data for name, data in templates}
    taken = [CONFIG_FILE, CONTENT_DIR] + ([TEMPLATES_DIR] if with_templates else [])
    for name in taken:
        if (folder / name).exists():
            raise SiteExistsError(
                f"{folder / name}: already exists; publisher init makes a new site only "
                "where there is none"
            )
    files[GITIGNORE] = merged_gitignore(folder / GITIGNORE, files[GITIGNORE])
    written = []
    for name, data in files.items():
        path = folder / name
        try:
            write_atomically(path, data)
        except OSError as error:
            raise PublisherError(f"{path}: cannot write: {error.strerror or error}") from None
        written.append(path)
    return written


def merged_gitignore(path: Path, ours: bytes) -> bytes:
    """The .gitignore at `path` with our lines it lacks appended; ours alone if there is none."""
    try:
        theirs = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return ours
    present = set(theirs.splitlines())
    missing = [line for line in ours.splitlines() if line not in present]
    separator = b"" if theirs.endswith(b"\n") or not theirs else b"\n"
    return theirs + separator + b"".join(line + b"\n" for line in missing)
