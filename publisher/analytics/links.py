"""Tracked links: made when an edition is rendered, filled in per recipient, checked on click.

An edition whose digest tracks clicks has each `<a href>` of its HTML (and the same URLs in its
text) replaced by a placeholder naming the link's number; the URLs it carried are kept with
the edition. When each message is personalized, a placeholder becomes

    <web base>r/<edition>/<link>/<recipient part>/<mac>

where the recipient part is opaque (a keyed hash of edition and subscriber, then when the
message was made) and the MAC covers edition, link and part. So the digest is still rendered
once, a link leads only to the URL its edition carried (there is no open redirect: any other
link number or MAC is not found), and the part tells clicks of one recipient apart without
naming them. With `[analytics] per_subscriber`, the part starts with the subscriber's id.
The open pixel is the same, with `o` for the link.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from dataclasses import dataclass
from html import unescape

# The key of the stand-ins of editions stored before each edition had its own: an edition's
# link and pixel stand-ins carry its key (see `mail.render.StandIns`), so no article can hold one.
LEGACY_KEY = "5d1f0b7c93ae"
OPEN = "o"
# A transparent 1x1 GIF: what the pixel shows where nothing is counted (a preview, a test).
BLANK_PIXEL = "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7"
PIXEL_GIF = base64.b64decode(BLANK_PIXEL.split(",", 1)[1])
MAX_LINKS = 10_000

# An <a> element's href as lxml writes it (double quotes, `&` as `&amp;`).
_ANCHOR_HREF = re.compile(r'(<a\b[^>]*?\shref=")(https?://[^"]+)(")', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"]+")
_PART = re.compile(r"(?:([1-9][0-9]{0,9})-)?([A-Za-z0-9_-]{12})\.([0-9a-z]{1,8})")
_MAC = re.compile(r"[A-Za-z0-9_-]{16}")
_EDITION = re.compile(r"[1-9][0-9]{0,9}")
_LINK = re.compile(r"o|0|[1-9][0-9]{0,4}")


def link_placeholder(number: int, key: str = LEGACY_KEY) -> str:
    """The stand-in for link `number` of the edition with `key`, until a recipient's URL
    replaces it."""
    return f"https://x-publisher-link-{key}.invalid/{number}/"


@functools.lru_cache(maxsize=64)
def link_pattern(key: str = LEGACY_KEY) -> re.Pattern[str]:
    """What the link stand-ins of the edition with `key` match; group 1 is the link number."""
    return re.compile(rf"https://x-publisher-link-{re.escape(key)}\.invalid/([0-9]{{1,5}})/")


def open_placeholder(key: str = LEGACY_KEY) -> str:
    """The stand-in for the pixel of the edition with `key`."""
    return f"https://x-publisher-open-{key}.invalid/"


@dataclass(frozen=True, slots=True)
class TrackedBodies:
    """An edition's HTML and text with tracked links, and the URLs its links carried."""

    html: str
    text: str
    targets: tuple[str, ...]


def track_links(
    html: str, text: str, clicks: bool, opens: bool, key: str = LEGACY_KEY
) -> TrackedBodies:
    """Put placeholders where an edition's links (and, with `opens`, its pixel) go.

    Every http(s) `<a href>` is tracked but our own placeholders (the unsubscribe and
    preferences links stay as they are, direct); the same URL is one link however often it
    appears. In the text part, a URL equal to one of the HTML's links becomes its placeholder.
    """
    targets: dict[str, int] = {}

    def number_of(url: str) -> int | None:
        if "x-publisher-" in url or (url not in targets and len(targets) >= MAX_LINKS):
            return None
        return targets.setdefault(url, len(targets))

    def replace_href(match: re.Match[str]) -> str:
        number = number_of(unescape(match.group(2)))
        if number is None:
            return match.group(0)
        return f"{match.group(1)}{link_placeholder(number, key)}{match.group(3)}"

    def replace_text_url(match: re.Match[str]) -> str:
        number = targets.get(match.group(0))
        return match.group(0) if number is None else link_placeholder(number, key)

    if clicks:
        html = _ANCHOR_HREF.sub(replace_href, html)
        text = _TEXT_URL.sub(replace_text_url, text)
    if opens:
        pixel = (
            f'<img src="{open_placeholder(key)}" width="1" height="1" alt="" '
            'style="display:block;border:0;width:1px;height:1px">'
        )
        cut = html.lower().rfind("</body>")
        html = html + pixel if cut < 0 else html[:cut] + pixel + html[cut:]
    return TrackedBodies(html, text, tuple(targets))


def _digest(secret: bytes, message: str, size: int) -> str:
    raw = hmac.new(secret, message.encode(), hashlib.sha256).digest()[:size]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    shown = ""
    while True:
        number, rest = divmod(number, 36)
        shown = digits[rest] + shown
        if not number:
            return shown


def recipient_key(secret: bytes, edition_id: int, subscriber_id: int) -> str:
    """The opaque key that tells one recipient's clicks on one edition apart (12 characters).

    It names nobody without the site's secret, and differs from edition to edition.
    """
    return _digest(secret, f"track-recipient:{edition_id}:{subscriber_id}", 9)


def recipient_part(
    secret: bytes, edition_id: int, subscriber_id: int, made_at: int, per_subscriber: bool
) -> str:
    """The per-recipient part of a tracked URL: `[<subscriber>-]<key>.<made at, base 36>`."""
    key = recipient_key(secret, edition_id, subscriber_id)
    who = f"{subscriber_id}-" if per_subscriber else ""
    return f"{who}{key}.{_base36(max(0, made_at))}"


def link_mac(secret: bytes, edition_id: int, link: str, part: str) -> str:
    """The MAC over an edition, a link (a number, or `o`) and a recipient part."""
    return _digest(secret, f"track:{edition_id}:{link}:{part}", 12)


def tracked_url(base_url: str, secret: bytes, edition_id: int, link: str, part: str) -> str:
    """The URL a message carries for one link (or `o`, the pixel) of one recipient."""
    mac = link_mac(secret, edition_id, link, part)
    return f"{base_url}r/{edition_id}/{link}/{part}/{mac}"


def recipient_urls(
    base_url: str,
    secret: bytes,
    edition_id: int,
    link_count: int,
    part: str,
    opens: bool,
) -> tuple[tuple[str, ...], str]:
    """One recipient's tracked URLs: one per link of the edition, and the pixel's (or "")."""
    links = tuple(
        tracked_url(base_url, secret, edition_id, str(number), part) for number in range(link_count)
    )
    pixel = tracked_url(base_url, secret, edition_id, OPEN, part) if opens else ""
    return links, pixel


@dataclass(frozen=True, slots=True)
class TrackedHit:
    """What a verified tracked URL says: the edition, the link (None: the pixel), the
    recipient's key, their id if the part carries it, and when the message was made."""

    edition_id: int
    link: int | None
    recipient_key: str
    subscriber_id: int | None
    made_at: int


def read_tracked(secret: bytes, edition: str, link: str, part: str, mac: str) -> TrackedHit | None:
    """The hit a tracked URL's pieces name, if its MAC verifies; None for anything else."""
    shape = _PART.fullmatch(part)
    if not (
        _EDITION.fullmatch(edition) and _LINK.fullmatch(link) and shape and _MAC.fullmatch(mac)
    ):
        return None
    edition_id = int(edition)
    if edition_id > 2**31 - 1:
        return None
    if not hmac.compare_digest(mac, link_mac(secret, edition_id, link, part)):
        return None
    subscriber, key, made = shape.groups()
    return TrackedHit(
        edition_id=edition_id,
        link=None if link == OPEN else int(link),
        recipient_key=key,
        subscriber_id=int(subscriber) if subscriber else None,
        made_at=int(made, 36),
    )
