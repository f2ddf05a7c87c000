"""The confirmation mail's headers: a sign-up's name is one display name, whatever it holds."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.audience.subscribers import SubscriberError, check_name
from publisher.config import Config
from publisher.web.confirmation import ConfirmationText, confirmation_message
from tests.conftest import REPO, MovableClock, Site
from tests.test_web import Web, published, running

VICTIM = "victim@example.org"
HOSTILE_NAMES = [
    "=?utf-8?q?a=2C_b=40evil=2Ecom?=",
    "=?utf-8?q?Bcc=3A_b=40evil=2Ecom=3B?=",
    "=?utf-8?b?YSwgYkBldmlsLmNvbQ==?=",
    "=?iso-8859-1?q?a=2C_b=40evil=2Ecom?= Lee",
    "Ann =?utf-8?q?=3Cb=40evil=2Ecom=3E?=",
    "a, b@evil.com",
    "Bcc: b@evil.com;",
    "undisclosed-recipients:;",
    "friends: a@evil.com, b@evil.com;",
    'Ann "The Boss" Lee',
    '"; b@evil.com',
    "Ann <b@evil.com>",
    "<b@evil.com>, Ann",
    "Ann \\ Lee (comment) [x]",
    "Zoë, <z@evil.com>",
    "  spaced   out  ",
    "x" * 120 + ", b@evil.com",
]


def one_recipient(message: EmailMessage) -> tuple[str, str]:
    """The To header's single address as (display name, address); fails on anything else."""
    header = message["To"]
    [group] = header.groups
    assert group.display_name is None, str(header)
    [address] = header.addresses
    assert not header.defects, header.defects
    assert message["Cc"] is None
    assert message["Bcc"] is None
    return address.display_name, address.addr_spec


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_sign_up_name_is_one_display_name_of_the_one_recipient(web: Web, name: str) -> None:
    assert web.sign_up(VICTIM, name).status_code == 200
    [message] = web.mails()
    stored = web.subscriber(VICTIM).name
    assert stored == " ".join(name.split())  # what the sign-up keeps of it
    assert one_recipient(message) == (stored, VICTIM)


@pytest.fixture(scope="module")
def config() -> Config:
    from publisher.config import load_config

    return load_config(REPO / "config.toml")


SPECIALS = [",", ";", ":", "<", ">", '"', "\\", "@", " ", "(", ")", "é", "a"]
# Encoded-words whose text holds what would split an address list: a comma, an @, a colon.
ENCODED_WORDS = st.lists(
    st.sampled_from(["a", "b", "=2C", "=40", "=3A", "=3B", "=3C", "=3E", "=22", "_"]),
    min_size=1,
    max_size=12,
).map(lambda pieces: "=?utf-8?q?" + "".join(pieces) + "?=")
NAMES = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(st.sampled_from(SPECIALS), ENCODED_WORDS), max_size=12).map("".join),
)


@given(name=NAMES)
def test_any_accepted_name_reads_back_as_itself_before_the_one_address(
    config: Config, name: str
) -> None:
    try:
        name = check_name(name)
    except SubscriberError:
        return
    text = ConfirmationText("Confirm your subscription", "Press the button.\n")
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    _, data = confirmation_message(config, name, VICTIM, text, now)
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    display_name, address = one_recipient(message)
    assert address == VICTIM
    if display_name != name:
        # Python's parser keeps the fold between two encoded-words of a long name as a space,
        # where RFC 2047 drops it: the same characters, split in two.
        assert str(email.message_from_bytes(data)["To"]).count("=?") > 1
        assert display_name.replace(" ", "") == name.replace(" ", "")
    assert message["Subject"] == text.subject
    assert message.get_content().replace("\r\n", "\n") == text.body
