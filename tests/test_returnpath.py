from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.errors import ConfigError, PublisherError
from publisher.mail.transport.returnpath import (
    BOUNCE,
    UNSUBSCRIBE,
    TokenClaim,
    envelope_sender,
    mailto_token,
    make_return_token,
    read_return_token,
    tagged_address,
    tokens_in,
    verify_return_token,
)
from tests.conftest import Site

SECRET = b"a test secret of enough length"


def test_token_is_short_lowercase_ascii_and_verifies() -> None:
    token = make_return_token(SECRET, BOUNCE, 123456)
    assert token.isascii()
    assert token == token.lower()
    assert len(token) <= 40
    assert verify_return_token(SECRET, token) == TokenClaim(BOUNCE, 123456)
    assert verify_return_token(SECRET, token.upper()) == TokenClaim(BOUNCE, 123456)


def test_token_from_another_secret_or_kind_is_refused() -> None:
    token = make_return_token(SECRET, BOUNCE, 7)
    assert verify_return_token(b"another secret entirely", token) is None
    assert verify_return_token(SECRET, "u" + token[1:]) is None
    assert verify_return_token(SECRET, token.replace("b7", "b8")) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "b0-aaaaaaaaaaaaaaaa",
        "b1-aaaaaaaaaaaaaaa",
        "x1-aaaaaaaaaaaaaaaa",
        "b1-aaaaaaaaaaaaaaa1",
        "b\u0661-aaaaaaaaaaaaaaaa",
        "b1-aaaaaaaaaaaaaaaa ",
    ],
)
def test_malformed_tokens_are_not_read(text: str) -> None:
    assert read_return_token(text) is None


def test_tokens_are_found_as_address_details() -> None:
    bounce = make_return_token(SECRET, BOUNCE, 5)
    unsubscribe = make_return_token(SECRET, UNSUBSCRIBE, 5)
    text = f"<bounces+{bounce.upper()}@example.org>, unsubscribe+{unsubscribe}@example.org"
    assert tokens_in(text) == [bounce, unsubscribe]
    assert tagged_address("bounces@example.org", bounce) == f"bounces+{bounce}@example.org"


def test_an_address_that_cannot_carry_a_token_is_an_error() -> None:
    with pytest.raises(PublisherError, match="bounces"):
        tagged_address("bounces", "b1-aaaaaaaaaaaaaaaa")


@given(st.text(max_size=60))
def test_only_made_tokens_verify(text: str) -> None:
    claim = verify_return_token(SECRET, text)
    assert claim is None or make_return_token(SECRET, claim.kind, claim.number) == text.lower()


def test_envelope_sender_is_tagged_only_with_a_bounce_address(site: Site) -> None:
    assert envelope_sender(site.config(), SECRET, 3) is None
    assert mailto_token(site.config(), SECRET, 3) is None
    text = site.config_path.read_text().replace(
        "[mail]\n", '[mail]\nbounce_address = "bounces@gazette.example.org"\n', 1
    )
    site.config_path.write_text(text)
    token = make_return_token(SECRET, BOUNCE, 3)
    assert envelope_sender(site.config(), SECRET, 3) == f"bounces+{token}@gazette.example.org"
    assert mailto_token(site.config(), SECRET, 3) == make_return_token(SECRET, UNSUBSCRIBE, 3)


@pytest.mark.parametrize("address", ["bounces+x@example.org", "bounces", "b\u00f6@example.org"])
def test_a_bounce_address_that_cannot_take_tokens_is_refused(site: Site, address: str) -> None:
    text = site.config_path.read_text().replace(
        "[mail]\n", f'[mail]\nbounce_address = "{address}"\n', 1
    )
    site.config_path.write_text(text)
    with pytest.raises(ConfigError, match=r"mail\.bounce_address: .*without '\+'"):
        site.config()
