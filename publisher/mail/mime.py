"""Build each subscriber's copy of an edition as the bytes of one MIME message.

An edition goes to many subscribers, so its message is prepared once (`PreparedEdition`) and only
the personal parts are filled in per subscriber (`PreparedEdition.message_for`):

- Headers: everything but To, Message-ID and List-Unsubscribe is encoded once.
- Bodies: both parts are quoted-printable UTF-8. Personalizing an edition for stand-in values
  shows where a subscriber's name, email and unsubscribe URL go, which splits each part into
  constant stretches and values. Each piece is encoded on its own, ending on a fresh line, and
  the pieces are joined with soft line breaks ("=" CRLF), which a decoder removes: so the
  constant stretches are encoded once, and per subscriber only their values are, as
  `personalize` shows them. The decoded parts equal `personalize(rendered, recipient)`.

Headers follow RFC 5322 and RFC 2047 (non-ASCII text as encoded-words of at most 75
characters), lines are CRLF-terminated and folded near 78 characters, never past 998. A line
break in any header value is refused with a MessageError naming the header.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import hmac
import logging
import re
import secrets
from base64 import b64encode
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from urllib.parse import quote, urlsplit

import idna

from publisher.analytics.links import link_pattern, link_placeholder, open_placeholder
from publisher.config import Config, DigestConfig
from publisher.errors import PublisherError
from publisher.mail.personal import Recipient, RenderedEdition, personalize

log = logging.getLogger(__name__)

CRLF = "\r\n"
# Between the values personalize fills in for one subscriber: it never shows a control character.
_VALUE_SEPARATOR = "\0"
FOLD_AT = 78
# A longer plain word would still fit a line, but it is encoded so it can be folded.
MAX_PLAIN_WORD = 900
MAX_ENCODED_WORD = 75
QP_LINE = 76
# 80 bits of HMAC-SHA256 in a Message-ID: `<e<edition>.s<subscriber>.<mac>@<site host>>`.
MESSAGE_ID_MAC_LENGTH = 20
_OUR_MESSAGE_ID = re.compile(
    rf"<e([1-9][0-9]{{0,17}})\.s([1-9][0-9]{{0,17}})\.[0-9a-f]{{{MESSAGE_ID_MAC_LENGTH}}}"
    r"@[a-z0-9.-]{1,253}>",
    re.IGNORECASE,
)
ONE_CLICK = "List-Unsubscribe=One-Click"

# Every character Python's email package (str.splitlines) takes as a line break.
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
_ATOM = re.compile(f"{_ATEXT}+")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_ADDRESS = re.compile(rf"{_ATEXT}+(?:\.{_ATEXT}+)*@{_DOMAIN.pattern}")
_PRINTABLE_ASCII = re.compile("[ -~]*")
# A BCP 47 tag as a header carries it (RFC 3282): ASCII letters and digits between hyphens.
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*")
# Characters a URL may keep inside <...> in a header: printable ASCII but space, <, >, ".
_HEADER_URL = re.compile(r"[!#-;=?-~]+")
# Characters an encoded-word may show as they are, in any header (RFC 2047 section 5 (3)).
_Q_LITERAL = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTES = [chr(byte) if byte in _Q_LITERAL else f"={byte:02X}" for byte in range(256)]
_Q_BYTES[ord(" ")] = "_"
# Everything quoted-printable must escape: all but printable ASCII other than "=".
_QP_UNSAFE = re.compile("[^ -<>-~]")
# A short line that needs no escaping: most names, addresses and URLs.
_QP_AS_IS = re.compile("[ -<>-~]{0,74}[!-<>-~]")
# A dot starting a line is escaped, so SMTP's dot-stuffing never has to look for one.
_QP_DOT = "=2E"


# Subscribers whose values need escaping, with and without a name: if the fast path gives what
# personalize gives for them, it does for everyone.
_PROBES = (
    Recipient(
        "Ann & <Bob> \"Q\" 'O'Brien' é 🦊",
        "a&b@example.org",
        "https://example.invalid/u?a=1&b=(2)",
        "https://example.invalid/p?a=1&b=(2)",
    ),
    Recipient("", "c<d>&e@example.org", "https://example.invalid/v?c=3&amp;d=4"),
)


class MessageError(PublisherError):
    """A message cannot be built; the message names the header or value at fault."""


class WireMessage(bytes):
    """Message bytes already in SMTP's wire form (RFC 5321 section 4.5.2): every line ends in
    CRLF and none starts with a dot, so a transport sends them without scanning them again.

    Only this module's builders make them, and they hold by construction: headers are checked
    for line breaks, bodies are quoted-printable with a line's leading dot written "=2E".
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Envelope:
    """The bare addresses for SMTP's MAIL FROM and RCPT TO."""

    sender: str
    recipient: str


def message_id(edition_id: int, subscriber_id: int, site_url: str, secret: bytes) -> str:
    """The Message-ID of one subscriber's copy of one edition: the same every time it is built,
    and signed with the site's secret, so a report quoting it proves it saw our message."""
    return _message_id(edition_id, subscriber_id, _site_host(site_url), secret)


def read_message_id(value: str, site_url: str, secret: bytes) -> tuple[int, int] | None:
    """The (edition id, subscriber id) of a Message-ID this site made with `secret`; None for
    anything else: another grammar, another host, a MAC that does not verify."""
    match = _OUR_MESSAGE_ID.fullmatch(value.strip()) if value.isascii() else None
    if match is None:
        return None
    edition_id, subscriber_id = int(match.group(1)), int(match.group(2))
    try:
        host = _site_host(site_url)
    except MessageError:
        return None
    expected = _message_id(edition_id, subscriber_id, host, secret)
    if not hmac.compare_digest(expected.encode("ascii"), value.strip().lower().encode("ascii")):
        return None
    return edition_id, subscriber_id


class PreparedEdition:
    """One edition, encoded once, ready to be addressed to each subscriber cheaply."""

    def __init__(
        self,
        config: Config,
        digest: DigestConfig,
        edition_id: int,
        created_at: datetime,
        rendered: RenderedEdition,
        secret: bytes,
    ) -> None:
        if config.mail is None:
            raise MessageError(f"{config.path}: digests need a [mail] section to be sent")
        mail = config.mail
        if created_at.tzinfo is None:
            raise MessageError(f"Date: edition {edition_id} was created at a time with no zone")
        self._edition_id = edition_id
        self._secret = secret
        self._host = _site_host(config.site.url)
        sender_name, self._sender = _parse_address("From", mail.sender)
        reply_to = _parse_address("Reply-To", mail.reply_to) if mail.reply_to else None
        mailto = self._sender
        if mail.unsubscribe_mailto:
            _, mailto = _parse_address(
                "List-Unsubscribe", mail.unsubscribe_mailto.removeprefix("mailto:")
            )
        self._mailto = f"<mailto:{quote(mailto, safe='@')}?subject=unsubscribe>"
        self._mailto_address = mailto if mail.unsubscribe_mailto else mail.bounce_address or mailto
        self._head = _header_lines(
            ("Date", format_datetime(created_at)),
            ("From", _address_header("From", sender_name, self._sender)),
            *([("Reply-To", _address_header("Reply-To", *reply_to))] if reply_to else []),
        )
        self._subject = _header_lines(("Subject", _text_header("Subject", rendered.subject)))
        _text_check("List-Id", digest.title)
        list_id = [*_phrase_words(digest.title), f"<{digest.name}.{self._host}>"]
        self._list_id = _header_lines(("List-Id", _fold("List-Id", list_id)))
        boundary = _boundary(edition_id, rendered)
        self._tail = (
            _header_lines(
                ("Precedence", "bulk"),
                ("Auto-Submitted", "auto-generated"),
                ("Content-Language", content_language(config.digest_language(digest))),
                ("MIME-Version", "1.0"),
                ("Content-Type", f'multipart/alternative;{CRLF} boundary="{boundary}"'),
            )
            + b"\r\n"
            + _part_start(boundary, "plain")
        )
        self._between = b"\r\n" + _part_start(boundary, "html")
        self._end = f"\r\n--{boundary}--\r\n".encode("ascii")
        self._bodies = _Bodies(rendered)

    def message_for(
        self, subscriber_id: int, recipient: Recipient, mailto_token: str | None = None
    ) -> tuple[Envelope, bytes]:
        """The envelope and bytes of the edition's message to one subscriber.

        With `mailto_token`, the `mailto:` unsubscribe goes to `local+token@domain` of the
        unsubscribe address (else the bounce address) and names the token in its subject.
        """
        address = _ascii_address("To", recipient.email)
        to = _address_header("To", recipient.name, address)
        url = recipient.unsubscribe_url
        _text_check("List-Unsubscribe", url)
        if not _HEADER_URL.fullmatch(url) or len(url) > MAX_PLAIN_WORD:
            raise MessageError(
                f"List-Unsubscribe: unsubscribe URL {url!r} for {recipient.email!r} must be "
                "printable ASCII without spaces, quotes or angle brackets"
            )
        mailto = self._mailto
        if mailto_token is not None:
            local, _, domain = self._mailto_address.rpartition("@")
            tagged = quote(f"{local}+{mailto_token}@{domain}", safe="@+")
            mailto = f"<mailto:{tagged}?subject=unsubscribe%20{quote(mailto_token)}>"
        unsubscribe = [("List-Unsubscribe", _fold("List-Unsubscribe", [f"<{url}>,", mailto]))]
        if url.startswith("https://"):
            unsubscribe.append(("List-Unsubscribe-Post", ONE_CLICK))
        html, text = self._bodies.encode(recipient)
        return Envelope(self._sender, address), WireMessage(
            b"".join(
                [
                    self._head,
                    _header_lines(("To", to)),
                    self._subject,
                    _header_lines(
                        (
                            "Message-ID",
                            _message_id(self._edition_id, subscriber_id, self._host, self._secret),
                        )
                    ),
                    self._list_id,
                    _header_lines(*unsubscribe),
                    self._tail,
                    *text,
                    self._between,
                    *html,
                    self._end,
                ]
            )
        )


@dataclass(frozen=True, slots=True)
class _Plan:
    """One body part in one wording, split where a subscriber's values go.

    The body is constants[0] + values[slots[0]] + constants[1] + ... + constants[-1], where
    values are (name, email, unsubscribe URL, preferences URL) as personalize writes them
    into this part.
    """

    constants: tuple[str, ...]
    slots: tuple[int, ...]
    encoded: tuple[bytes, ...]

    @classmethod
    def split(cls, body: str, stand_ins: Sequence[str]) -> _Plan:
        """The plan of `body`, personalized for `stand_ins` in place of the four values."""
        pattern = "|".join(re.escape(stand_in) for stand_in in stand_ins)
        parts = re.split(f"({pattern})", _normalized(body))
        constants = tuple(parts[0::2])
        last = len(constants) - 1
        return cls(
            constants=constants,
            slots=tuple(stand_ins.index(stand_in) for stand_in in parts[1::2]),
            encoded=tuple(_qp_piece(text, last=i == last) for i, text in enumerate(constants)),
        )

    def text(self, values: Sequence[str]) -> str:
        """The body with `values` put in."""
        pieces = [self.constants[0]]
        for slot, constant in zip(self.slots, self.constants[1:], strict=True):
            pieces += (values[slot], constant)
        return "".join(pieces)

    def encode(self, values: Sequence[str]) -> list[bytes]:
        """The body with `values` put in, as quoted-printable: only the values are encoded."""
        encoded_values = [_qp_piece(value, last=False) for value in values]
        pieces = [self.encoded[0]]
        for slot, constant in zip(self.slots, self.encoded[1:], strict=True):
            pieces += (encoded_values[slot], constant)
        if self.slots and not self.constants[-1]:
            pieces[-2] = _qp_piece(values[self.slots[-1]], last=True)
        return pieces


class _Bodies:
    """An edition's two parts, encoded once, with each subscriber's values put in cheaply.

    Personalizing an edition (digest.personalize) picks a wording by whether the name it shows
    is empty, then substitutes the values. So each part is personalized once per wording for
    stand-in values and split into a `_Plan` there; per subscriber, personalize is run on just
    the four placeholders, which gives that subscriber's values as each part shows them. That
    this reproduces personalize is checked once per edition for subscribers whose values need
    escaping; should it not, every message is encoded in full instead: slower, never wrong.
    An edition that tracks clicks or opens has more values per subscriber, the pixel's URL and
    one per link, split out the same way.
    """

    def __init__(self, rendered: RenderedEdition) -> None:
        self._rendered = rendered
        seen = rendered.html + rendered.text
        key = hashlib.sha256(seen.encode("utf-8", "surrogatepass")).hexdigest()[:24]
        while key in seen:
            key = hashlib.sha256(key.encode("ascii")).hexdigest()[:24]
        stand_ins: tuple[str, ...] = (
            f"messagestandinname{key}",
            f"messagestandinemail{key}",
            f"https://messagestandinurl{key}.invalid/",
            f"https://messagestandinpreferences{key}.invalid/",
        )
        placeholders = dataclasses.astuple(rendered.stand_ins.placeholders)
        link_key = rendered.stand_ins_link_key
        # A tracked edition: a pixel and a URL per link, per subscriber, are values too.
        self._links = _tracked_links(seen, rendered.links, link_key)
        if self._links is not None:
            stand_ins += (
                f"https://messagestandinopen{key}.invalid/",
                *(f"https://messagestandinlink-{n}-{key}.invalid/" for n in range(self._links)),
            )
            placeholders += (
                open_placeholder(link_key),
                *(link_placeholder(number, link_key) for number in range(self._links)),
            )
        self._count = len(stand_ins)
        name, email, unsubscribe, preferences = stand_ins[:4]
        probes = {
            True: self._with_tracking(
                Recipient(name, email, unsubscribe, preferences), stand_ins[4:]
            ),
            False: self._with_tracking(
                Recipient("", email, unsubscribe, preferences), stand_ins[4:]
            ),
        }
        self._plans = {
            named: tuple(_Plan.split(body, stand_ins) for body in personalize(rendered, probe))
            for named, probe in probes.items()
        }
        joined = _VALUE_SEPARATOR.join(placeholders)
        self._values_only = RenderedEdition(rendered.subject, joined, joined, "", key=rendered.key)
        self.fast = all(
            self._reproduces_personalize(self._with_tracking(probe, _probe_urls(self._links)))
            for probe in _PROBES
        )
        if not self.fast:
            log.warning("edition %r: encoding every message in full", rendered.subject)

    def _with_tracking(self, recipient: Recipient, urls: Sequence[str]) -> Recipient:
        """`recipient` with a pixel and link URLs (`urls`: the pixel's first), if tracked."""
        if self._links is None:
            return recipient
        return dataclasses.replace(recipient, open_url=urls[0], links=tuple(urls[1:]))

    def encode(self, recipient: Recipient) -> tuple[list[bytes], list[bytes]]:
        """The quoted-printable (html, text) parts for one subscriber."""
        values = self._values(recipient) if self.fast else None
        if values is None:
            html, text = personalize(self._rendered, recipient)
            return [_qp_body(html)], [_qp_body(text)]
        html_plan, text_plan = self._plans[bool(values[1][0])]
        return html_plan.encode(values[0]), text_plan.encode(values[1])

    def _values(self, recipient: Recipient) -> tuple[list[str], list[str]] | None:
        """The subscriber's (name, email, URLs) as the HTML and the text part show them."""
        html, text = personalize(self._values_only, recipient)
        html_values, text_values = html.split(_VALUE_SEPARATOR), text.split(_VALUE_SEPARATOR)
        count = self._count
        if len(html_values) != count or len(text_values) != count or "\r" in html + text:
            return None
        return html_values, text_values

    def _reproduces_personalize(self, recipient: Recipient) -> bool:
        values = self._values(recipient)
        if values is None:
            return False
        html_plan, text_plan = self._plans[bool(values[1][0])]
        html, text = personalize(self._rendered, recipient)
        return (html_plan.text(values[0]), text_plan.text(values[1])) == (
            _normalized(html),
            _normalized(text),
        )


def _tracked_links(seen: str, links: Sequence[str], link_key: str) -> int | None:
    """How many links a tracked edition has (None: it tracks nothing)."""
    if open_placeholder(link_key) not in seen and not link_pattern(link_key).search(seen):
        return None
    return len(links)


def _probe_urls(links: int | None) -> list[str]:
    """A pixel's and each link's URL that need escaping, for checking the fast path."""
    return [f"https://example.invalid/t/{n}?a=1&b=(2)" for n in range((links or 0) + 1)]


def _normalized(body: str) -> str:
    """`body` with CRLF and lone CR as LF: a text part knows only one kind of line break."""
    if "\r" in body:
        return body.replace("\r\n", "\n").replace("\r", "\n")
    return body


def _qp_body(body: str) -> bytes:
    """A whole body as quoted-printable."""
    return _qp_piece(_normalized(body), last=True)


def _qp_piece(text: str, *, last: bool) -> bytes:
    """`text` (LF line breaks) as quoted-printable with CRLF line breaks.

    A piece that stops mid-line ends with a soft line break, unless it is the `last`, so the
    next piece starts on a fresh line and is encoded without regard to this one. Lines are at
    most 76 characters, including that soft break.
    """
    if not text:
        return b""
    if _QP_AS_IS.fullmatch(text) and not text.startswith("."):
        return text.encode("ascii") if last else text.encode("ascii") + b"=\r\n"
    lines = []
    for line in text.split("\n"):
        encoded = _QP_UNSAFE.sub(_qp_escape, line.encode("utf-8").decode("latin-1"))
        if encoded.startswith("."):
            encoded = _QP_DOT + encoded[1:]
        if encoded.endswith(" "):
            encoded = encoded[:-1] + "=20"
        lines.extend(_wrap_qp(encoded))
    result = CRLF.join(lines)
    if not last and not text.endswith("\n"):
        result += "=" + CRLF
    return result.encode("ascii")


def _qp_escape(match: re.Match[str]) -> str:
    return f"={ord(match.group()):02X}"


def _wrap_qp(line: str) -> list[str]:
    """An encoded line cut with soft breaks into lines of at most 76 characters.

    The final line keeps room for the soft break a piece may end with; no cut splits "=XX".
    """
    limit = QP_LINE - 1
    if len(line) <= limit:
        return [line]
    lines = []
    start = 0
    while len(line) - start > limit:
        cut = start + limit
        if line[cut - 1] == "=":
            cut -= 1
        elif line[cut - 2] == "=":
            cut -= 2
        if line[cut] == ".":
            line = line[:cut] + _QP_DOT + line[cut + 1 :]
        lines.append(line[start:cut] + "=")
        start = cut
    lines.append(line[start:])
    return lines


def _part_start(boundary: str, subtype: str) -> bytes:
    return (
        f"--{boundary}{CRLF}"
        f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
        f"Content-Transfer-Encoding: quoted-printable{CRLF}{CRLF}"
    ).encode("ascii")


def _boundary(edition_id: int, rendered: RenderedEdition) -> str:
    # "=_" never occurs in quoted-printable text, so no body can contain the boundary.
    digest = hashlib.sha256(f"{edition_id}\0{rendered.subject}".encode()).hexdigest()[:16]
    return f"=_publisher_{edition_id}_{digest}"


def _header_lines(*headers: tuple[str, str]) -> bytes:
    return "".join(f"{name}: {value}{CRLF}" for name, value in headers).encode("ascii")


def _message_id(edition_id: int, subscriber_id: int, host: str, secret: bytes) -> str:
    local = f"e{edition_id}.s{subscriber_id}"
    signed = f"message-id:{local}@{host}".encode("ascii")
    mac = hmac.new(secret, signed, hashlib.sha256).hexdigest()[:MESSAGE_ID_MAC_LENGTH]
    return f"<{local}.{mac}@{host}>"


def _site_host(site_url: str) -> str:
    host = urlsplit(site_url).hostname or ""
    try:
        ascii_host = host if host.isascii() else idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        ascii_host = ""
    if not _DOMAIN.fullmatch(ascii_host):
        raise MessageError(
            f"site.url: {site_url!r} needs a host name to name messages and the list by"
        )
    return ascii_host.lower()


def _text_check(header: str, value: str) -> None:
    """Refuse a header value with a line break or a control character."""
    if _LINE_BREAK.search(value):
        raise MessageError(f"{header}: {value!r} contains a line break (CR or LF)")
    if _CONTROL.search(value):
        raise MessageError(f"{header}: {value!r} contains a control character")


def _parse_address(header: str, value: str) -> tuple[str, str]:
    """The display name and ASCII address of a config value such as `Name <name@example.org>`."""
    _text_check(header, value)
    try:
        parsed = HeaderRegistry()("From", value)
    except (HeaderParseError, IndexError, ValueError):
        parsed = None
    addresses: tuple[Address, ...] = getattr(parsed, "addresses", ())
    if parsed is None or parsed.defects or len(addresses) != 1:
        raise MessageError(f"{header}: {value!r} is not one email address")
    return str(addresses[0].display_name), _ascii_address(header, str(addresses[0].addr_spec))


def _ascii_address(header: str, address: str) -> str:
    """`address` as plain ASCII (`name@example.org`), an international domain as IDNA.

    A non-ASCII local part would need SMTPUTF8, which these messages do not use.
    """
    _text_check(header, address)
    if not address.isascii():
        local, at, domain = address.rpartition("@")
        with contextlib.suppress(idna.IDNAError):  # refused just below, as given
            address = f"{local}{at}{idna.encode(domain, uts46=True).decode('ascii')}"
    if not _ADDRESS.fullmatch(address) or len(address) > MAX_PLAIN_WORD:
        raise MessageError(
            f"{header}: {address!r} is not a plain email address (name@example.org, "
            "an ASCII name before the @)"
        )
    return address


def _address_header(header: str, name: str, address: str) -> str:
    """`Name <address>`, the name quoted or encoded as needed, folded; or the bare address."""
    _text_check(header, name)
    if not name:
        return address
    return _fold(header, [*_phrase_words(name), f"<{address}>"])


def _text_header(header: str, text: str) -> str:
    """An unstructured header value (Subject): plain words, encoded-words where needed."""
    _text_check(header, text)
    return _fold(header, _words(text, _plain_text_word))


def _phrase_words(name: str) -> list[str]:
    """A display name as words: the quoted name, or atoms and encoded-words."""
    if _PRINTABLE_ASCII.fullmatch(name) and "=?" not in name:
        if _regular_spacing(name) and all(_ATOM.fullmatch(word) for word in name.split(" ")):
            return name.split(" ")
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) <= MAX_PLAIN_WORD:
            return [quoted]
    return _words(name, _ATOM.fullmatch)


def _plain_text_word(word: str) -> bool:
    return bool(_PRINTABLE_ASCII.fullmatch(word))


def _words(text: str, plain: Callable[[str], object]) -> list[str]:
    """`text` as space-separated words: plain ones as they are, runs of others encoded.

    A run of words that are not plain goes into encoded-words with its spaces inside them:
    RFC 2047 drops the space between two encoded-words, while Python's address parser keeps
    it, so a space outside would be read two ways. Text spaced other than by single spaces is
    encoded whole.
    """
    if not text:
        return []
    if not _regular_spacing(text):
        return _encoded_words(text)
    words: list[str] = []
    run: list[str] = []
    for word in text.split(" "):
        if plain(word) and "=?" not in word and len(word) <= MAX_PLAIN_WORD:
            if run:
                words.extend(_encoded_words(" ".join(run)))
                run = []
            words.append(word)
        else:
            run.append(word)
    if run:
        words.extend(_encoded_words(" ".join(run)))
    return words


def _regular_spacing(text: str) -> bool:
    return bool(text) and " " not in (text[0], text[-1]) and "  " not in text


def _encoded_words(text: str) -> list[str]:
    """`text` as RFC 2047 encoded-words of at most 75 characters, split between characters.

    Each word is Q-encoded (readable for mostly-ASCII text) or base64, whichever is shorter.
    """
    data = text.encode("utf-8")
    q_length = sum(len(_Q_BYTES[byte]) for byte in data)
    kind = "q" if q_length <= _b_length(len(data)) else "b"
    prefix, suffix = f"=?utf-8?{kind}?", "?="
    room = MAX_ENCODED_WORD - len(prefix) - len(suffix)
    words: list[str] = []
    current = b""
    for character in text:
        encoded = character.encode("utf-8")
        if current and len(_encode_word(kind, current + encoded)) > room:
            words.append(prefix + _encode_word(kind, current) + suffix)
            current = b""
        current += encoded
    words.append(prefix + _encode_word(kind, current) + suffix)
    return words


def _b_length(size: int) -> int:
    return (size + 2) // 3 * 4


def _encode_word(kind: str, data: bytes) -> str:
    if kind == "q":
        return "".join(_Q_BYTES[byte] for byte in data)
    return b64encode(data).decode("ascii")


def _fold(header: str, words: Sequence[str]) -> str:
    """`words` joined by spaces, a space turned into a fold where a line would pass 78."""
    lines: list[str] = []
    line = f"{header}:"
    for index, word in enumerate(words):
        if index and len(line) + 1 + len(word) > FOLD_AT:
            lines.append(line)
            line = ""
        line += " " + word
    lines.append(line)
    return CRLF.join(lines)[len(header) + 2 :]


# The same header values for other messages (the web's confirmation mail) -------------------


def address_header(header: str, name: str, address: str) -> str:
    """An address header's value: `address` alone, or `name` as one display name before it.

    The name is an atom phrase, one quoted string, or encoded-words (for non-ASCII text and for
    anything shaped like an encoded-word), so a reader finds one name and this one address
    whatever the name holds: commas, quotes, angle brackets, `=?...?=`, a group's colon.
    """
    return _address_header(header, name, address)


def text_header(header: str, text: str) -> str:
    """An unstructured header's value (Subject), encoded and folded as in digest messages."""
    return _text_header(header, text)


def content_language(tag: str) -> str:
    """The Content-Language value for a configured language: the BCP 47 tag, refused if it
    holds anything but letters, digits and hyphens (so never a line break)."""
    _text_check("Content-Language", tag)
    if not _LANGUAGE_TAG.fullmatch(tag):
        raise MessageError(f"Content-Language: {tag!r} is not a BCP 47 language tag")
    return tag


def one_address(header: str, value: str) -> tuple[str, str]:
    """The display name and ASCII address of one configured address such as `Name <a@b.org>`."""
    return _parse_address(header, value)


def notice_message(
    config: Config,
    name: str,
    email: str,
    subject: str,
    kind: str,
    body: EmailMessage,
    now: datetime,
) -> tuple[Envelope, bytes]:
    """A one-off message to one person (a confirmation, a welcome): `body`'s MIME parts under
    From, To, Reply-To and Subject written as in digest messages, so a name shaped like an
    encoded-word or a group stays one display name of one recipient. `kind` starts the
    Message-ID."""
    if config.mail is None:
        raise MessageError(f"{config.path}: mail: a [mail] section is needed to mail anyone")
    sender_name, sender = one_address("From", config.mail.sender)
    recipient = ascii_address(email)
    headers = [
        ("From", address_header("From", sender_name, sender)),
        ("To", address_header("To", name, recipient)),
    ]
    if config.mail.reply_to:
        headers.append(
            ("Reply-To", address_header("Reply-To", *one_address("Reply-To", config.mail.reply_to)))
        )
    host = urlsplit(config.site.url).hostname or "localhost"
    headers += [
        ("Subject", text_header("Subject", subject)),
        ("Date", format_datetime(now)),
        ("Message-ID", f"<{ascii_address(f'{kind}.{secrets.token_hex(12)}@{host}')}>"),
        ("Auto-Submitted", "auto-generated"),
        ("Content-Language", content_language(config.site.language)),
    ]
    head = "".join(f"{header}: {value}\r\n" for header, value in headers).encode("ascii")
    return Envelope(sender, recipient), head + body.as_bytes(policy=SMTP)


def ascii_address(email: str) -> str:
    """`email` with an international domain in its ASCII (IDNA) form."""
    local, _, domain = email.rpartition("@")
    if domain.isascii():
        return email
    try:
        return f"{local}@{idna.encode(domain, uts46=True).decode('ascii')}"
    except idna.IDNAError:
        raise MessageError(f"To: {email!r} has a domain that cannot be written in ASCII") from None
