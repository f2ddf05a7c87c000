"""Classify one inbound message, from its bytes: a pure function, no store, no network.

In order, a message is:

1. an abuse report (ARF, RFC 5965): a complaint about the recipient it names;
2. a delivery status notification (RFC 3464): a hard (5.x.x) or soft (4.x.x, delayed)
   bounce for each recipient that failed;
3. a mailto unsubscribe: sent to `unsubscribe+<token>@...`, or with the token in the subject;
4. a bounce in a known MTA's own format, from anything that looks like a mailer (a mailer
   daemon, postmaster, an MTA's own name, a null sender, a bounce's subject, or mail to one of
   our return paths): flufl.bounce finds the recipients, permanent (hard) or temporary (soft);
5. the same bounce candidate that no detector reads, with a "user unknown"-style line naming
   an address: a hard bounce for that address (applied only if it is a subscriber's, and as
   unverified evidence unless it carries our token, like any other);
6. an auto-reply (RFC 3834 `Auto-Submitted`, vacation and out-of-office replies): ignored;
7. anything else: unknown, never guessed at.

Tokens are read from the addresses the message was sent to (the return path a bounce goes to,
the unsubscribe address) and, in an abuse report, from the reported message's own headers.
"""

from __future__ import annotations

import dataclasses
import email
import email.policy
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from publisher.inbound.events import InboundEvent
from publisher.mail.transport.returnpath import BOUNCE, PROBE, read_return_token, tokens_in
from publisher.mail.transport.returnpath import UNSUBSCRIBE as UNSUBSCRIBE_TOKEN
from publisher.store.events import clean_diagnostic, event_key
from publisher.store.statuses import EventKind

log = logging.getLogger(__name__)

# Headers an MTA or a mailbox writes the envelope recipient into, besides To.
RECIPIENT_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "Cc")
# The tokens a report reaches us by: a delivery's return path, or a probe's.
RETURN_PATH_KINDS = (BOUNCE, PROBE)
COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus"})
MAILER_LOCAL_PARTS = frozenset({"mailer-daemon", "postmaster", "mail-delivery-subsystem"})
_ENHANCED_CODE = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BASIC_CODE = re.compile(r"\b([45][0-9][0-9])[ :-]")
_SUBJECT_TOKEN = re.compile(r"^\s*unsubscribe\s+([bu][0-9]+-[a-z2-7]{16})\s*$", re.IGNORECASE)
_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(auto(matic)?[ -]?(reply|response|antwort)|out of (the )?office|abwesenheit|"
    r"vacation|away from|r[ée]ponse automatique|absence)",
    re.IGNORECASE,
)
_AUTO_REPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response")
# A sender or subject only a bounce has: an MTA's name for itself, a bounce's usual subject.
_MAILER_SENDER = re.compile(
    r"mailer|daemon|postmaster|mail[ ._-]?delivery|delivery[ ._-]sub|mail[ ._-]?administrator|"
    r"system[ ._-]administrator|smtp|mail[ ._-]service",
    re.IGNORECASE,
)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|non[ -]?delivery|delivery (status|failure|failed|notification|problem)|"
    r"returned mail|mail delivery failed|failed mail|could not be delivered|not delivered|"
    r"permanent (delivery )?failure|mail system error|user unknown|non remis|unzustellbar",
    re.IGNORECASE,
)
# A line saying a recipient does not exist or refused the message for good.
_PERMANENT_FAILURE = re.compile(
    r"user unknown|unknown user|no such (user|mailbox|recipient)|unknown (recipient|mailbox)|"
    r"does not exist|doesn't exist|invalid (recipient|mailbox|address)|mailbox unavailable|"
    r"mailbox not found|recipient rejected|address rejected|could not be delivered|"
    r"did not reach|did not receive|not delivered|could not deliver|unable to deliver|"
    r"failed recipient|failure reasons?\b|permanent|non recens|n'a pas pu|unzustellbar|"
    r"no user by that name",
    re.IGNORECASE,
)
# ... unless it says the failure is temporary.
_TEMPORARY_FAILURE = re.compile(
    r"temporar|delayed|will (be )?retr|try again|over quota|quota exceeded|mailbox (is )?full|"
    r"\b4\.\d{1,3}\.\d{1,3}\b|\b4[0-9][0-9][ -]",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# How many lines after a failure line may name its address ("... to the following user:").
_ADDRESS_LINES = 3
# The shape of the Message-ID publisher gives each message (`mime.message_id`); whether one
# is really ours (its MAC) is checked when the event is applied (`mime.read_message_id`).
_OUR_MESSAGE_ID = re.compile(
    rb"<e[1-9][0-9]{0,17}\.s[1-9][0-9]{0,17}\.[0-9a-f]{20}@[A-Za-z0-9.-]{1,253}>"
)


@dataclass(frozen=True, slots=True)
class Classification:
    """What a message is (an event kind, AUTO_REPLY or UNKNOWN) and the events it reports."""

    kind: str
    events: tuple[InboundEvent, ...]
    message_id: str


def classify_message(raw: bytes) -> Classification:
    """Classify one message given as its bytes (RFC 5322, any line endings).

    Never raises: a message that breaks a parser (an unknown charset, a NUL in a parameter,
    a thousand nested parts) is UNKNOWN, kept as unrecognized, and the next one is read.
    """
    try:
        return _classify(raw)
    except Exception as error:  # anyone can send us anything: one message never stops the rest
        log.warning(
            "a message could not be read (%s: %s): kept as unrecognized",
            type(error).__name__,
            error,
        )
        report_id = "sha256:" + hashlib.sha256(raw).hexdigest()
        return Classification(EventKind.UNKNOWN, (), report_id)


def _classify(raw: bytes) -> Classification:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    report_id = _report_id(message, raw)
    for classifier in (
        _abuse_report,
        _delivery_status,
        _unsubscribe_request,
        _mta_bounce,
        _failure_lines,
    ):
        found = classifier(message, report_id)
        if found is not None:
            return _with_original_id(found, raw)
    if _is_auto_reply(message):
        return Classification(EventKind.AUTO_REPLY, (), report_id)
    return Classification(EventKind.UNKNOWN, (), report_id)


def _with_original_id(found: Classification, raw: bytes) -> Classification:
    """The events, each with the one Message-ID of ours the report quotes (in a header, the
    returned headers or the returned message); none if it quotes none or several."""
    quoted = set(_OUR_MESSAGE_ID.findall(raw))
    if len(quoted) != 1 or not found.events:
        return found
    original = quoted.pop().decode("ascii")
    events = tuple(dataclasses.replace(event, original_id=original) for event in found.events)
    return dataclasses.replace(found, events=events)


def _report_id(message: Message, raw: bytes) -> str:
    """The message's identity: its Message-ID, else a hash of its bytes."""
    message_id = _header(message, "Message-ID").strip()
    if message_id:
        return message_id[:200]
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _header(message: Message, name: str) -> str:
    """A header's value with encoded-words decoded; empty if absent."""
    value = message.get(name)
    if value is None:
        return ""
    try:
        return str(make_header(decode_header(str(value))))
    except (HeaderParseError, LookupError, UnicodeError, ValueError):
        return str(value)


def _recipient_tokens(message: Message, kind: str | tuple[str, ...]) -> list[str]:
    """Tokens of `kind` (or kinds) in the addresses the message was delivered to."""
    found: list[str] = []
    for name in RECIPIENT_HEADERS:
        for value in message.get_all(name, []):
            found.extend(t for t in tokens_in(str(value)) if t.startswith(kind))
    return list(dict.fromkeys(found))


def _only(tokens: list[str]) -> str | None:
    return tokens[0] if len(tokens) == 1 else None


# 1. Abuse reports -----------------------------------------------------------------------------


def _abuse_report(message: Message, report_id: str) -> Classification | None:
    if not _is_report(message, "feedback-report"):
        return None
    fields = _first_part(message, "message/feedback-report")
    feedback = fields[0] if fields else None
    if feedback is None:
        return None
    feedback_type = str(feedback.get("Feedback-Type", "")).strip().lower()
    if feedback_type not in COMPLAINT_TYPES:
        return Classification(EventKind.UNKNOWN, (), report_id)
    original = _reported_message(message)
    recipient = _bare_address(str(feedback.get("Original-Rcpt-To", "")))
    tokens = _recipient_tokens(message, RETURN_PATH_KINDS)
    if original is not None:
        recipient = recipient or _single_address(original.get_all("To", []))
        for name in ("Return-Path", "List-Unsubscribe", "Sender"):
            for value in original.get_all(name, []):
                tokens.extend(tokens_in(str(value)))
    # A return-path token and an unsubscribe token of one message name the same delivery.
    ranked = sorted(
        dict.fromkeys(tokens), key=lambda token: not token.startswith(RETURN_PATH_KINDS)
    )
    event = InboundEvent(
        kind=EventKind.COMPLAINT,
        key=event_key("mail", report_id, recipient),
        recipient=recipient,
        token=ranked[0] if ranked else None,
        code=feedback_type,
        diagnostic=clean_diagnostic(
            f"{feedback_type} report from {feedback.get('User-Agent', 'an unnamed agent')}"
        ),
    )
    return Classification(EventKind.COMPLAINT, (event,), report_id)


def _reported_message(message: Message) -> Message | None:
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
            if isinstance(payload, str):
                return email.message_from_string(payload, policy=email.policy.compat32)
    return None


# 2. Delivery status notifications -------------------------------------------------------------


def _delivery_status(message: Message, report_id: str) -> Classification | None:
    if not _is_report(message, "delivery-status"):
        return None
    blocks = _first_part(message, "message/delivery-status")
    # Per-recipient blocks follow the per-message one; a line holding only a space (which
    # the parser takes for a continuation) can merge the first into it: judge every block.
    recipients = [block for block in blocks if block.get("Final-Recipient") or block.get("Action")]
    if not recipients:
        return None  # a report naming no recipient: its text may (see `_failure_lines`)
    failures = [block for block in recipients if _failed(block)]
    if not failures:
        # Success or relay notices: nothing happened to anyone.
        return Classification(EventKind.UNKNOWN, (), report_id)
    token = _only(_recipient_tokens(message, RETURN_PATH_KINDS)) if len(failures) == 1 else None
    events = []
    for block in failures:
        recipient = _bare_address(str(block.get("Original-Recipient", ""))) or _bare_address(
            str(block.get("Final-Recipient", ""))
        )
        status = str(block.get("Status", "")).strip()
        diagnostic = str(block.get("Diagnostic-Code", "")).partition(";")[2] or status
        # A basic code where the enhanced one belongs (`Status: 553 ...`) is read too.
        code = _status_code(status) or _code_in(status) or _code_in(diagnostic)
        hard = code.startswith("5") and _action(block) == "failed"
        events.append(
            InboundEvent(
                kind=EventKind.HARD_BOUNCE if hard else EventKind.SOFT_BOUNCE,
                key=event_key("mail", report_id, recipient or token),
                recipient=recipient,
                token=token,
                code=code,
                diagnostic=clean_diagnostic(diagnostic),
            )
        )
    kind = (
        EventKind.HARD_BOUNCE
        if any(e.kind == EventKind.HARD_BOUNCE for e in events)
        else EventKind.SOFT_BOUNCE
    )
    return Classification(kind, tuple(events), report_id)


def _failed(block: Message) -> bool:
    return _action(block) in ("failed", "delayed")


def _action(block: Message) -> str:
    """The block's Action, its first word lowercased: MTAs add comments
    (`failed (Bad destination mailbox address)`) or write `failure` for `failed`."""
    word = re.match(r"[a-z]+", str(block.get("Action", "")).strip().lower())
    action = word.group(0) if word else ""
    return "failed" if action == "failure" else action


def _status_code(status: str) -> str:
    match = _ENHANCED_CODE.match(status)
    return match.group(0) if match and match.group(1) in "45" else ""


def _code_in(text: str) -> str:
    """The first enhanced status code (5.1.1) in `text`, else a basic reply code (550)."""
    for match in _ENHANCED_CODE.finditer(text):
        if match.group(1) in "45":
            return match.group(0)
    basic = _BASIC_CODE.search(text)
    return basic.group(1) if basic else ""


# 3. Mailto unsubscribes ------------------------------------------------------------------------


def _unsubscribe_request(message: Message, report_id: str) -> Classification | None:
    tokens = _recipient_tokens(message, UNSUBSCRIBE_TOKEN)
    subject = _SUBJECT_TOKEN.match(_header(message, "Subject"))
    claim = read_return_token(subject.group(1)) if subject else None
    if subject and claim is not None and claim.kind == UNSUBSCRIBE_TOKEN:
        tokens.append(subject.group(1).lower())
    token = _only(list(dict.fromkeys(tokens)))
    sender = _bare_address(_header(message, "From"))
    if token is None:
        return _unsubscribe_by_sender(message, report_id, sender)
    event = InboundEvent(
        kind=EventKind.UNSUBSCRIBE,
        key=event_key("mail", report_id, token),
        recipient=None,
        token=token,
        diagnostic=clean_diagnostic(f"unsubscribe by mail from {sender or 'an unnamed sender'}"),
    )
    return Classification(EventKind.UNSUBSCRIBE, (event,), report_id)


def _unsubscribe_by_sender(
    message: Message, report_id: str, sender: str | None
) -> Classification | None:
    """The advertised `mailto:<from>?subject=unsubscribe` without a token (no bounce address):
    a request from the subscriber's own address, found by it when applied."""
    subject = _header(message, "Subject").strip().casefold()
    if subject != "unsubscribe" or not sender or _from_mailer(message):
        return None
    event = InboundEvent(
        kind=EventKind.UNSUBSCRIBE,
        key=event_key("mail", report_id, sender),
        recipient=sender,
        diagnostic=clean_diagnostic(f"unsubscribe by mail from {sender}"),
    )
    return Classification(EventKind.UNSUBSCRIBE, (event,), report_id)


# 4. Bounces in an MTA's own format -------------------------------------------------------------


def _mta_bounce(message: Message, report_id: str) -> Classification | None:
    if not _bounce_candidate(message):
        return None
    temporary, permanent = all_failures(message)
    failed = [(address, True) for address in sorted(permanent)]
    failed += [(address, False) for address in sorted(temporary - permanent)]
    if not failed:
        return None
    token = _only(_recipient_tokens(message, RETURN_PATH_KINDS)) if len(failed) == 1 else None
    text = _plain_text(message)
    events = []
    for raw_address, hard in failed:
        recipient = _bare_address(raw_address.decode("ascii", "replace"))
        diagnostic = _diagnostic_near(text, recipient)
        # A detector's "permanent" is a guess from the wording; the server's reply outranks it.
        hard = hard and not _TEMPORARY_FAILURE.search(diagnostic)
        events.append(
            InboundEvent(
                kind=EventKind.HARD_BOUNCE if hard else EventKind.SOFT_BOUNCE,
                key=event_key("mail", report_id, recipient or token),
                recipient=recipient,
                token=token,
                code=_code_in(diagnostic) or ("5.0.0" if hard else "4.0.0"),
                diagnostic=clean_diagnostic(diagnostic),
            )
        )
    kind = (
        EventKind.HARD_BOUNCE
        if any(e.kind == EventKind.HARD_BOUNCE for e in events)
        else EventKind.SOFT_BOUNCE
    )
    return Classification(kind, tuple(events), report_id)


def _from_mailer(message: Message) -> bool:
    if message.get("X-Failed-Recipients"):
        return True
    # Whatever its sender (`<>`, postmaster, an MTA's own name), mail to a return path of ours
    # is a bounce candidate.
    if _recipient_tokens(message, RETURN_PATH_KINDS):
        return True
    local = (_bare_address(_header(message, "From")) or "").partition("@")[0]
    return local.lower() in MAILER_LOCAL_PARTS


def _bounce_candidate(message: Message) -> bool:
    """Whether a message may be a bounce: from a mailer, or with a bounce's null sender,
    sender name or subject. Anything sent to a return path of ours is one (`_from_mailer`)."""
    if _from_mailer(message):
        return True
    return_path = _header(message, "Return-Path").strip()
    if return_path == "<>" or _MAILER_SENDER.search(return_path.partition("@")[0]):
        return True
    sender = _header(message, "From")
    if sender.strip() and _bare_address(sender) is None:
        return True  # `From: Mail Delivery System <>`
    subject = _header(message, "Subject")
    return bool(_MAILER_SENDER.search(sender) or _BOUNCE_SUBJECT.search(subject))


# 5. Bounces no detector reads ------------------------------------------------------------------


def _failure_lines(message: Message, report_id: str) -> Classification | None:
    """A hard bounce for each address a "user unknown"-style line names (or the few lines
    after it name), in a bounce candidate's own text; never a temporary failure's."""
    if not _bounce_candidate(message):
        return None
    ours = {a.lower() for a in _addresses_in(" ".join(message.get_all("From", [])))}
    token = _only(_recipient_tokens(message, RETURN_PATH_KINDS))
    found: dict[str, str] = {}
    lines = _plain_text(message).splitlines()
    for index, line in enumerate(lines):
        window = lines[index : index + _ADDRESS_LINES + 1]
        if not _PERMANENT_FAILURE.search(line) or any(map(_TEMPORARY_FAILURE.search, window)):
            continue
        for address in _addresses_in(" ".join(window)):
            if address.lower() not in ours and not tokens_in(address):
                found.setdefault(address, line.strip())
    if not found:
        return None
    token = token if len(found) == 1 else None
    events = tuple(
        InboundEvent(
            kind=EventKind.HARD_BOUNCE,
            key=event_key("mail", report_id, address),
            recipient=address,
            token=token,
            code=_code_in(line) or "5.0.0",
            diagnostic=clean_diagnostic(line),
        )
        for address, line in found.items()
    )
    return Classification(EventKind.HARD_BOUNCE, events, report_id)


def _addresses_in(text: str) -> list[str]:
    return [address.strip(".") for address in _ADDRESS.findall(text)]


def _plain_text(message: Message) -> str:
    """The message's text/plain parts (not those of a quoted original), decoded."""
    texts: list[str] = []
    for part in message.walk():
        if part.get_content_type() in ("message/rfc822", "text/rfc822-headers"):
            break
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                charset = part.get_content_charset() or "utf-8"
                try:
                    texts.append(payload.decode(charset, "replace"))
                except (LookupError, ValueError):  # `undefined`, `utf\0-8`, ...
                    texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts)


def _diagnostic_near(text: str, recipient: str | None) -> str:
    """The server's reply about `recipient`: the first line with a status code after it."""
    lines = text.splitlines()
    start = 0
    if recipient:
        for index, line in enumerate(lines):
            if recipient.lower() in line.lower():
                start = index
                break
    for line in lines[start : start + 12]:
        if _code_in(line):
            return line.strip()
    return ""


# 5. Auto-replies ------------------------------------------------------------------------------


def _is_auto_reply(message: Message) -> bool:
    auto_submitted = _header(message, "Auto-Submitted").strip().lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return True
    if any(message.get(name) for name in _AUTO_REPLY_HEADERS):
        return True
    if _header(message, "Precedence").strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECT.match(_header(message, "Subject")))


# Helpers --------------------------------------------------------------------------------------


def _is_report(message: Message, report_type: str) -> bool:
    return (
        message.get_content_type() == "multipart/report"
        and str(message.get_param("report-type", "")).lower() == report_type
    )


def _first_part(message: Message, content_type: str) -> list[Message]:
    """The header blocks of the first part of `content_type` (each block parsed as headers)."""
    for part in message.walk():
        if part.get_content_type() == content_type:
            payload = part.get_payload()
            if isinstance(payload, list):
                return [block for block in payload if isinstance(block, Message)]
            if isinstance(payload, str):
                return [
                    email.message_from_string(block, policy=email.policy.compat32)
                    for block in re.split(r"\r?\n\s*\r?\n", payload.strip())
                ]
    return []


def _bare_address(value: str) -> str | None:
    """`rfc822; Name <a@b>` or `<a@b>` or `a@b` as `a@b`; None if there is no address."""
    value = value.strip()
    if ";" in value:
        value = value.partition(";")[2]
    address = parseaddr(value)[1].strip()
    if "@" not in address or not address.isascii() or any(c.isspace() for c in address):
        return None
    return address


def _single_address(values: Iterable[str]) -> str | None:
    addresses = [address for _, address in getaddresses([str(v) for v in values]) if address]
    return _bare_address(addresses[0]) if len(addresses) == 1 else None
