"""A rendered edition and its personalizing: the stand-ins, the recipient, and `personalize`.

Everything `send` needs to address an edition already rendered, apart from rendering it (Jinja,
lxml and premailer stay in `render`, which explains why the two agree byte for byte).
"""

from __future__ import annotations

import dataclasses
import functools
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from publisher.analytics.links import BLANK_PIXEL, link_pattern, open_placeholder
from publisher.analytics.links import LEGACY_KEY as LEGACY_LINK_KEY
from publisher.errors import PublisherError

# The key of the stand-ins in editions stored before each edition had its own (see `StandIns`).
LEGACY_KEY = "7f3c9e2a5b1d"

# An unsubscribe URL may hold only characters that lxml writes out unchanged in text and in
# every attribute (URI attributes included) except `&`, which it always writes as `&amp;`:
# RFC 3986's but the quote `'`, which could change how lxml quotes an attribute.
_SAFE_URL = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]+")

# C0 and C1 control characters: whitespace ones become a space, the rest are dropped, and lone
# surrogates (which cannot be written as UTF-8) become U+FFFD.
_CONTROL_CHARACTERS: dict[int, str | None] = {
    code: (" " if chr(code).isspace() else None) for code in (*range(0x20), *range(0x7F, 0xA0))
} | {code: "\ufffd" for code in range(0xD800, 0xE000)}


class DigestError(PublisherError):
    """A digest cannot be rendered; the message names the template or digest at fault."""


@dataclass(frozen=True, slots=True)
class Recipient:
    """One subscriber as the email shows them; `preferences_url` may be "" (no such page)."""

    name: str
    email: str
    unsubscribe_url: str
    preferences_url: str = ""
    # An edition that tracks clicks or opens: this recipient's URL for each of its links and
    # for the pixel (see `analytics.links`); empty, the links go straight to their targets.
    links: tuple[str, ...] = ()
    open_url: str = ""

    def __post_init__(self) -> None:
        for kind, url in (
            ("unsubscribe", self.unsubscribe_url),
            ("preferences", self.preferences_url),
            ("open pixel", self.open_url),
            *(("tracked link", link) for link in self.links),
        ):
            if (url or kind == "unsubscribe") and not _SAFE_URL.fullmatch(url):
                raise DigestError(
                    f"{kind} URL {url!r} for {self.email!r}: use an absolute "
                    "http(s) URL of ASCII letters, digits and URL punctuation (no quotes or "
                    "spaces; percent-encode anything else)"
                )


@dataclass(frozen=True, slots=True)
class Placeholders:
    """Stand-ins for one subscriber's values, put where they go when an edition is rendered.

    Each is made of characters that Jinja, lxml and premailer all leave alone, in text and in
    attributes, so it comes out of rendering exactly as it went in. They are fixed, so an
    edition stored as its four strings can be personalized later by any process.
    """

    name: str
    email: str
    unsubscribe_url: str
    preferences_url: str

    def recipient(self, *, named: bool = True) -> Recipient:
        """A recipient made of the stand-ins; with `named=False`, one without a name."""
        return Recipient(
            self.name if named else "", self.email, self.unsubscribe_url, self.preferences_url
        )


@dataclass(frozen=True, slots=True)
class StandIns:
    """Every stand-in of one edition, made from its key.

    Each edition draws its own random key when it is rendered and is stored with it, so no
    article, feed item or name can hold its stand-ins: they are unknown until the edition
    exists, and they never leave it (`personalize` replaces them all).
    """

    key: str
    placeholders: Placeholders
    # Where the templates word things differently for a subscriber without a name, the
    # rendered edition holds both wordings: if_name <with a name> otherwise <without> end_if.
    if_name: str
    otherwise: str
    end_if: str
    # `placeholders` (0 name, 1 email, 2 unsubscribe, 3 preferences) and the pixel (4) by
    # number, and a pattern splitting an edition at any of them or at a tracked link.
    numbers: Mapping[str, int]
    split: re.Pattern[str]

    @property
    def reserved(self) -> tuple[str, ...]:
        """Every stand-in `personalize` replaces or reads, but the links."""
        return (*dataclasses.astuple(self.placeholders), self.if_name, self.otherwise, self.end_if)


@functools.lru_cache(maxsize=64)
def stand_ins(key: str) -> StandIns:
    """The stand-ins of the edition with `key` (made once per key)."""
    placeholders = Placeholders(
        name=f"x-publisher-subscriber-name-{key}",
        email=f"x-publisher-subscriber-email-{key}",
        unsubscribe_url=f"https://x-publisher-unsubscribe-{key}.invalid/",
        preferences_url=f"https://x-publisher-preferences-{key}.invalid/",
    )
    numbers = {token: number for number, token in enumerate(dataclasses.astuple(placeholders))} | {
        open_placeholder(link_key_of(key)): 4
    }
    tokens = [*map(re.escape, numbers), link_pattern(link_key_of(key)).pattern.replace("(", "(?:")]
    return StandIns(
        key,
        placeholders,
        f"x-publisher-if-name-{key}",
        f"x-publisher-otherwise-{key}",
        f"x-publisher-end-if-{key}",
        numbers,
        re.compile("(" + "|".join(tokens) + ")"),
    )


def link_key_of(key: str) -> str:
    """The key of the link and pixel stand-ins of the edition with `key` (see `analytics.links`)."""
    return LEGACY_LINK_KEY if key == LEGACY_KEY else key


def new_edition_key() -> str:
    """A fresh, unguessable key for an edition's stand-ins (64 random bits, in hex)."""
    return secrets.token_hex(8)


_LEGACY = stand_ins(LEGACY_KEY)
# The stand-ins of an edition stored before editions had their own key, and of editions
# built by hand (tests, `PreparedEdition`'s values-only edition).
PLACEHOLDERS = _LEGACY.placeholders
IF_NAME, OTHERWISE, END_IF = _LEGACY.if_name, _LEGACY.otherwise, _LEGACY.end_if
RESERVED = _LEGACY.reserved
# A tracked edition's link N is value 5 + N (see `personalize`).
_FIRST_LINK = 5


@dataclass(frozen=True, slots=True)
class RenderedEdition:
    """An edition rendered once, ready for `personalize`.

    `html` and `text` hold `PLACEHOLDERS` (and, where the templates word things differently for
    a subscriber without a name, both wordings between `IF_NAME` and `END_IF`); only what
    `personalize` makes of them is a finished email. `archive_html` is the same edition with no
    personal data at all (a neutral line where the unsubscribe area was), ready to publish as
    `archive/<digest>/<id>.html`.
    """

    subject: str
    html: str
    text: str
    archive_html: str
    # The URLs a tracked edition's links carried, by link number (see `analytics.links`).
    links: tuple[str, ...] = ()
    # The key of its stand-ins (see `StandIns`).
    key: str = LEGACY_KEY

    @property
    def stand_ins(self) -> StandIns:
        """The stand-ins `html` and `text` hold."""
        return stand_ins(self.key)

    @property
    def stand_ins_link_key(self) -> str:
        """The key of its tracked links' and pixel's stand-ins."""
        return link_key_of(self.key)


def personalize(rendered: RenderedEdition, recipient: Recipient) -> tuple[str, str]:
    """The (html, text) of a rendered edition for one subscriber, by string substitution.

    This equals `render_for_recipient` byte for byte because:
    - both paths show the same cleaned values (`shown_recipient`): no control characters, no
      line breaks, and so nothing that lxml's parser would rewrite (it turns NUL into U+FFFD and
      CR into LF, and leaves every other character of text alone);
    - `render_edition` checks that the name and email placeholders appear only in text (never in
      attributes, comments, or raw-text elements such as <style>). There lxml writes a value
      back escaping exactly `&`, `<` and `>`, which is what `_escape_html_text` does. (Jinja's
      own escaping of quotes, `&#39;` and `&#34;`, is undone by the parse, so it never shows.)
    - the unsubscribe URL may also sit in attributes, because `Recipient` only admits URL
      characters that lxml writes out unchanged there too, except `&` as `&amp;`; with no quote
      in it, it cannot change which quote lxml wraps the attribute in;
    - where the templates test `subscriber.name`, the edition holds the inlined wording for a
      subscriber without a name as well, and the right one is picked first;
    - values are joined in between pieces split once per edition, so a value is never searched
      for placeholders (a subscriber named like a placeholder gets their name, nothing else).
    The text part is not escaped, so the cleaned values go in as they are.
    A tracked edition's links and pixel are filled in the same way: with the recipient's
    tracked URLs, or (a preview, a test send) with the URLs the edition carried and a blank
    pixel.
    """
    shown = shown_recipient(recipient)
    named = bool(shown.name)
    own = rendered.stand_ins
    links = recipient.links or rendered.links
    text_values = (
        shown.name,
        shown.email,
        shown.unsubscribe_url,
        shown.preferences_url,
        recipient.open_url or BLANK_PIXEL,
        *links,
    )
    html_values = tuple(_escape_html_text(value) for value in text_values)
    try:
        return (
            _fill(_pieces(rendered.html, named, own.key), html_values),
            _fill(_pieces(rendered.text, named, own.key), text_values),
        )
    except IndexError:
        raise DigestError(
            f"edition {rendered.subject!r} has more tracked links than the recipient's "
            f"{len(links)} URLs"
        ) from None


@functools.lru_cache(maxsize=16)
def _pieces(rendered: str, named: bool, key: str) -> tuple[str | int, ...]:
    """`rendered` in the wording wanted, split into text and placeholder numbers (0 name, 1
    email, 2 unsubscribe URL, 3 preferences URL), once per edition: a str caches its hash, so
    later calls cost a lookup."""
    own = stand_ins(key)
    split = own.split.split(_wording(rendered, named, own))
    return tuple(
        piece if number % 2 == 0 else _placeholder_number(piece, own)
        for number, piece in enumerate(split)
    )


def _placeholder_number(token: str, own: StandIns) -> int:
    link = link_pattern(link_key_of(own.key)).fullmatch(token)
    return _FIRST_LINK + int(link.group(1)) if link else own.numbers[token]


def _fill(pieces: tuple[str | int, ...], values: tuple[str, ...]) -> str:
    """The pieces joined, each placeholder number replaced by its value (never searched)."""
    return "".join(values[piece] if isinstance(piece, int) else piece for piece in pieces)


def with_both_wordings(named: str, nameless: str, own: StandIns) -> str:
    """`named` with the stretch where `nameless` differs marked, and nameless's wording kept.

    Just `named` when leaving the name out of it gives `nameless`: the templates never test the
    name. Otherwise the stretch is widened to whole words, so no placeholder is cut in two.
    """
    if named.replace(own.placeholders.name, "") == nameless:
        return named
    shortest = min(len(named), len(nameless))
    start = 0
    while start < shortest and named[start] == nameless[start]:
        start += 1
    end = 0
    while end < shortest - start and named[-1 - end] == nameless[-1 - end]:
        end += 1
    characters = frozenset("".join(own.reserved))
    while start > 0 and named[start - 1] in characters:
        start -= 1
    while end > 0 and named[len(named) - end] in characters:
        end -= 1
    return "".join(
        (
            named[:start],
            own.if_name,
            named[start : len(named) - end],
            own.otherwise,
            nameless[start : len(nameless) - end],
            own.end_if,
            named[len(named) - end :],
        )
    )


def _wording(rendered: str, named: bool, own: StandIns) -> str:
    """`rendered` with each if_name ... otherwise ... end_if replaced by the wording wanted."""
    if own.if_name not in rendered:
        return rendered
    first, *marked = rendered.split(own.if_name)
    pieces = [first]
    for piece in marked:
        alternatives, _, rest = piece.partition(own.end_if)
        with_name, _, without_name = alternatives.partition(own.otherwise)
        pieces += (with_name if named else without_name, rest)
    return "".join(pieces)


def shown_recipient(recipient: Recipient) -> Recipient:
    """The recipient as an email shows them: runs of whitespace and line breaks become one
    space, other control characters are dropped, so a name can never break a line."""
    return Recipient(
        _shown_text(recipient.name),
        _shown_text(recipient.email),
        recipient.unsubscribe_url,
        recipient.preferences_url,
    )


def _escape_html_text(value: str) -> str:
    # Exactly what lxml escapes when it writes text (and, with `&`, a URL in an attribute).
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shown_text(value: str) -> str:
    return " ".join(value.translate(_CONTROL_CHARACTERS).split())
