"""Tokens from outside, on every route that takes one: malformed or huge, never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from publisher.audience.tokens import MAX_SUBSCRIBER_ID, make_token, read_token, token_is_valid
from publisher.web.security import CSRF_COOKIE, csrf_field, csrf_field_is_valid, new_csrf_cookie
from tests.conftest import MovableClock, Site
from tests.test_web import FORM_TYPE, ONE_CLICK, Web, published, running

MAC = "A" * 32  # the shape of a MAC, though no key made it
SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() takes it, int() does not

BAD_TOKENS = [
    f"{SUPERSCRIPT_TWO}.0.x",
    f"1.{SUPERSCRIPT_TWO}.x",
    f"{SUPERSCRIPT_TWO}.0.{MAC}",
    f"1.{SUPERSCRIPT_TWO}.{MAC}",
    "99999999999999999999999.0.x",
    f"99999999999999999999999.0.{MAC}",
    "2147483648.0.x",
    f"2147483648.0.{MAC}",  # one past PostgreSQL's integer
    f"{2**63}.0.{MAC}",  # one past SQLite's integer
    f"1.{'9' * 40}.{MAC}",
    f"-1.0.{MAC}",
    f"+1.0.{MAC}",
    f"%EF%BC%91.0.{MAC}",  # a fullwidth "1"
    f"1.0.{MAC}%0A",
]


@pytest.fixture
def web_on_each_store(site: Site, clock: MovableClock, store_url: str) -> Iterator[Web]:
    """The sample site served from SQLite and from PostgreSQL."""
    yield from running(published(site, store_url, clock), clock)


@pytest.mark.parametrize("route", ["confirm", "unsubscribe"])
def test_malformed_or_out_of_range_token_is_a_400_page_on_every_store(
    web_on_each_store: Web, route: str
) -> None:
    web = web_on_each_store
    # One site for every token: a refused token changes nothing, and a site costs seconds.
    for token in BAD_TOKENS:
        path = f"/{route}/{token}"
        assert web.client.get(path).status_code == 400, path
        form = web.client.post(path, data={"csrf_token": "1.x"})
        assert form.status_code == 400, path
        one_click = web.client.post(path, content=ONE_CLICK, headers={"content-type": FORM_TYPE})
        assert one_click.status_code == 400, path


@pytest.mark.parametrize(
    "field", ["².x", f"{SUPERSCRIPT_TWO}.x", "²." + MAC, "1²." + MAC, "9" * 30 + "." + MAC]
)
def test_malformed_form_token_with_a_valid_cookie_is_a_403_page(web: Web, field: str) -> None:
    path = web.unsubscribe_path(web.confirmed("ann@example.org"))
    web.form_token(path)  # sets the cookie
    assert web.client.cookies.get(CSRF_COOKIE)
    response = web.client.post(path, data={"csrf_token": field})
    assert response.status_code == 403


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Web]:
    yield from running(published(site, None, clock), clock)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=st.text(max_size=60))
def test_any_text_on_a_token_route_or_in_a_form_token_is_never_a_server_error(
    web_on_each_store: Web, text: str
) -> None:
    web = web_on_each_store
    segment = quote(text, safe="")
    for route in ("confirm", "unsubscribe"):
        path = f"/{route}/{segment}"
        assert web.client.get(path).status_code < 500, path
        posted = web.client.post(path, data={"csrf_token": text, "confirm": "yes"})
        assert posted.status_code < 500, path
        one_click = web.client.post(path, content=ONE_CLICK, headers={"content-type": FORM_TYPE})
        assert one_click.status_code < 500, path
    # The sign-up form holds no token: what the field says is ignored.
    sign_up = web.client.post(
        "/subscribe", data={"csrf_token": text, "email": "ann@example.org", "digest": "daily"}
    )
    assert sign_up.status_code in (200, 429), text


# The grammar itself --------------------------------------------------------------------------

SECRET = b"token-test-secret-0123456789"


@given(st.text(max_size=80))
def test_any_text_reads_as_no_claim_or_an_ascii_claim_in_range(text: str) -> None:
    claim = read_token(text)
    if claim is not None:
        assert text.isascii()
        assert 0 <= claim.subscriber_id <= MAX_SUBSCRIBER_ID
        assert token_is_valid(SECRET, "confirm", text, "nonce") == (
            text == make_token(SECRET, "confirm", claim.subscriber_id, "nonce", claim.issued)
        )


@given(
    subscriber_id=st.integers(0, MAX_SUBSCRIBER_ID),
    issued=st.integers(0, 10**12 - 1),
    nonce=st.text(max_size=30),
)
def test_every_token_made_reads_back_as_its_claim(
    subscriber_id: int, issued: int, nonce: str
) -> None:
    token = make_token(SECRET, "unsubscribe", subscriber_id, nonce, issued)
    claim = read_token(token)
    assert claim is not None
    assert (claim.subscriber_id, claim.issued) == (subscriber_id, issued)
    assert token_is_valid(SECRET, "unsubscribe", token, nonce)
    assert not token_is_valid(SECRET, "confirm", token, nonce)


def test_form_token_with_a_non_ascii_digit_is_refused_without_error() -> None:
    cookie = new_csrf_cookie()
    field = csrf_field(SECRET, "subscribe", cookie, 1_800_000_000)
    mac = field.partition(".")[2]
    assert csrf_field_is_valid(SECRET, "subscribe", cookie, field, 1_800_000_000)
    assert not csrf_field_is_valid(SECRET, "subscribe", cookie, f"²{mac}", 1_800_000_000)
    assert not csrf_field_is_valid(SECRET, "subscribe", cookie, f"1²800.{mac}", 1_800_000_000)
