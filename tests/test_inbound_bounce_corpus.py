"""Bounce recognition measured on real bounces from many MTAs (tests/mail/bounces).

Each sample is classified by our classifier (`inbound.classify`), as `inbound` would read it.
The goal (issue 20, item 20): at least 95% of hard bounces recognised for the right address,
and no soft bounce (a delay, a full mailbox) ever taken for a hard one.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from publisher.inbound.classify import classify_message
from publisher.mail.transport.returnpath import BOUNCE, make_return_token
from publisher.store.statuses import EventKind

CORPUS = Path(__file__).parent / "mail" / "bounces"
MINIMUM_HARD_RATE = 0.95
SECRET = b"a test secret of enough length"


@dataclass(frozen=True)
class Sample:
    file: str
    mta: str
    addresses: tuple[str, ...]
    kind: str  # hard, soft or none (not a bounce)

    def raw(self) -> bytes:
        return (CORPUS / self.file).read_bytes()


def samples() -> list[Sample]:
    manifest = tomllib.loads((CORPUS / "manifest.toml").read_text(encoding="utf-8"))
    return [
        Sample(entry["file"], entry["mta"], tuple(entry["addresses"]), entry["kind"])
        for entry in manifest["bounce"]
    ]


def hard_bounced(raw: bytes) -> set[str]:
    found = classify_message(raw)
    return {
        event.recipient.lower()
        for event in found.events
        if event.kind == EventKind.HARD_BOUNCE and event.recipient
    }


def test_the_corpus_holds_real_bounces_from_at_least_ten_mtas() -> None:
    corpus = samples()
    assert {sample.file for sample in corpus} == {path.name for path in CORPUS.glob("*.eml")}
    named = {sample.mta for sample in corpus if sample.kind == "hard"} - {"unidentified MTA"}
    assert len(named) >= 10, sorted(named)
    assert sum(sample.kind == "soft" for sample in corpus) >= 10


def test_hard_bounces_are_recognised_for_the_right_address(
    capsys: pytest.CaptureFixture[str],
) -> None:
    expected = [(s, a) for s in samples() if s.kind == "hard" for a in s.addresses]
    missed = [(s.file, a) for s, a in expected if a.lower() not in hard_bounced(s.raw())]
    rate = 1 - len(missed) / len(expected)
    with capsys.disabled():
        print(
            f"\nbounce corpus: {len(expected) - len(missed)} of {len(expected)} hard-bounced "
            f"addresses recognised ({rate:.1%}) in {len(samples())} samples; missed: {missed}"
        )
    assert rate >= MINIMUM_HARD_RATE, missed


def test_no_soft_bounce_is_taken_for_a_hard_one() -> None:
    taken = {s.file: hard_bounced(s.raw()) for s in samples() if s.kind in ("soft", "none")}
    assert {file: found for file, found in taken.items() if found} == {}


@pytest.mark.parametrize(
    "sender",
    [
        "<>",
        "Mail Delivery System <>",
        "postmaster@mx.example.net",
        "E500_SMTP_Mail_Service@example.net",
        "someone@example.net",
    ],
)
def test_a_user_unknown_line_to_our_return_path_is_a_hard_bounce_whatever_its_sender(
    sender: str,
) -> None:
    token = make_return_token(SECRET, BOUNCE, 7)
    raw = (
        f"From: {sender}\r\nTo: news+{token}@gazette.example.org\r\nSubject: Re: your mail\r\n"
        "Message-ID: <any@mx.example.net>\r\n\r\n"
        "Sorry, we could not deliver your message to the following address:\r\n"
        "  reader@example.com\r\nBecause: user unknown\r\n"
    ).encode()
    found = classify_message(raw)
    (event,) = found.events
    assert (event.kind, event.recipient, event.token) == (
        EventKind.HARD_BOUNCE,
        "reader@example.com",
        token,
    )


def test_a_person_writing_user_unknown_is_never_a_bounce() -> None:
    raw = (
        b"From: Ann <ann@example.com>\r\nTo: news@gazette.example.org\r\n"
        b"Subject: about your article\r\nMessage-ID: <a1@example.com>\r\n\r\n"
        b"I got 'user unknown' when I wrote to bob@example.net, could not deliver it.\r\n"
    )
    assert classify_message(raw).events == ()


def test_a_temporary_failure_line_is_never_a_hard_bounce() -> None:
    raw = (
        b"From: Mail Delivery System <>\r\nTo: news@gazette.example.org\r\n"
        b"Subject: Undeliverable: news\r\nMessage-ID: <d1@mx.example.net>\r\n\r\n"
        b"Your message could not be delivered to reader@example.com yet:\r\n"
        b"452 4.2.2 mailbox full; we will retry for 5 days\r\n"
    )
    assert hard_bounced(raw) == set()


def test_a_report_naming_no_recipient_is_read_from_its_text() -> None:
    raw = (CORPUS / "netscape_01.eml").read_bytes()
    assert hard_bounced(raw) == {"aaaaa@corel.com", "bbbbb@corel.com"}
