"""Admin accounts, sessions and API tokens: the CLI, the store, the sign-in page and cookie."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from publisher.cli import main
from publisher.operators.accounts import AccountError, add_user, authenticate
from publisher.operators.apitokens import create_token, revoke_token, token_for
from publisher.operators.sessions import cookie_value, session_id_from_cookie
from publisher.store.database import Store, open_store
from publisher.store.schema import admin_sessions, admin_users, api_tokens
from tests.admin_site import ADMIN, PASSWORD, SECRET, Dashboard, dashboard, published_site
from tests.conftest import MovableClock, Site


@pytest.fixture
def web(site: Site, clock: MovableClock) -> Iterator[Dashboard]:
    with dashboard(published_site(site, clock), clock) as opened:
        yield opened


def cli(site: Site, *args: str, input: str | None = None) -> str:
    result = CliRunner().invoke(main, ["--config", str(site.config_path), *args], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def test_add_user_reads_the_password_from_stdin_and_stores_only_an_argon2_hash(
    site: Site,
) -> None:
    assert "added admin user bob" in cli(site, "admin", "add-user", "bob", input="a long secret\n")
    with open_store(site.config().store_url) as store, store.transaction() as connection:
        stored = connection.scalar(sa.select(admin_users.c.password_hash))
    assert stored.startswith("$argon2id$")
    assert "a long secret" not in stored
    assert "bob" in cli(site, "admin", "list-users")
    assert "removed admin user bob" in cli(site, "admin", "remove-user", "bob")
    assert "no admin users" in cli(site, "admin", "list-users")


def test_a_short_password_or_a_taken_name_is_refused(store: Store, clock: MovableClock) -> None:
    with pytest.raises(AccountError, match="at least 10"):
        add_user(store, "carol", "short", clock())
    add_user(store, "carol", "long enough password", clock())
    with pytest.raises(AccountError, match="already"):
        add_user(store, "carol", "another long password", clock())
    assert authenticate(store, "carol", "long enough password", clock()) is not None
    assert authenticate(store, "carol", "wrong password!!", clock()) is None
    assert authenticate(store, "nobody", "long enough password", clock()) is None


def test_token_create_prints_the_token_alone_on_the_last_line_and_keeps_its_hash(
    site: Site,
) -> None:
    output = cli(site, "admin", "token", "create", "deploy", "--scope", "write")
    token = output.rstrip("\n").splitlines()[-1]
    assert token.startswith("pub_")
    assert " " not in token
    with open_store(site.config().store_url) as store:
        with store.transaction() as connection:
            row = connection.execute(sa.select(api_tokens)).one()
        assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert row.scope == "write"
        assert row.last_used_at is None
        assert token_for(store, token, MovableClock()()) is not None
        with store.transaction() as connection:
            assert connection.scalar(sa.select(api_tokens.c.last_used_at)) is not None
    assert "deploy\twrite" in cli(site, "admin", "token", "list")
    assert "revoked 1 token" in cli(site, "admin", "token", "revoke", "deploy")
    with open_store(site.config().store_url) as store:
        assert token_for(store, token, MovableClock()()) is None


def test_a_revoked_or_unknown_token_opens_nothing(store: Store, clock: MovableClock) -> None:
    _, token = create_token(store, "ci", "read", clock())
    assert token_for(store, token[:-1] + ("A" if token[-1] != "A" else "B"), clock()) is None
    assert token_for(store, "Bearer " + token, clock()) is None
    revoke_token(store, "ci", clock())
    assert token_for(store, token, clock()) is None


def test_a_session_cookie_not_signed_here_is_refused() -> None:
    value = cookie_value(SECRET.encode(), "A" * 22)
    assert session_id_from_cookie(SECRET.encode(), value) == "A" * 22
    assert session_id_from_cookie(b"another secret", value) is None
    assert session_id_from_cookie(SECRET.encode(), "B" * 22 + value[22:]) is None
    assert session_id_from_cookie(SECRET.encode(), None) is None


def test_without_a_session_every_page_is_the_sign_in_form_with_401(web: Dashboard) -> None:
    response = web.client.get("/admin/")
    assert response.status_code == 401
    assert "Sign in" in response.text
    assert "subscribers:" not in response.text
    assert response.headers["cache-control"] == "private, no-store"


def test_signing_in_sets_a_private_cookie_and_opens_the_overview(web: Dashboard) -> None:
    response = web.sign_in()
    assert response.status_code == 303
    assert response.headers["location"] == "/admin/"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/admin/" in cookie
    assert "Secure" not in cookie  # plain http here; https sets it
    page = web.client.get("/admin/")
    assert page.status_code == 200
    assert "Overview" in page.text
    assert page.headers["cache-control"] == "private, no-store"
    with web.store.transaction() as connection:
        stored = connection.scalar(sa.select(admin_sessions.c.id_hash))
    session_id = web.client.cookies["publisher_admin"].split(".")[0]
    assert stored == hashlib.sha256(session_id.encode()).hexdigest()


def test_the_session_cookie_is_secure_under_https(site: Site, clock: MovableClock) -> None:
    config = published_site(site, clock)
    with dashboard(config, clock) as web:
        web.client.base_url = web.client.base_url.copy_with(scheme="https")
        assert "Secure" in web.sign_in().headers["set-cookie"]


def test_a_wrong_password_is_refused(web: Dashboard) -> None:
    response = web.sign_in(password="not the password")
    assert response.status_code == 401
    assert "do not match" in response.text
    assert web.client.get("/admin/").status_code == 401


def test_an_expired_session_is_refused(web: Dashboard) -> None:
    web.sign_in()
    assert web.client.get("/admin/").status_code == 200
    web.clock.advance(hours=12, seconds=1)
    assert web.client.get("/admin/").status_code == 401


def test_signing_out_ends_the_session_even_for_a_copied_cookie(web: Dashboard) -> None:
    web.sign_in()
    copied = web.client.cookies["publisher_admin"]
    assert web.post("/admin/logout").status_code == 303
    web.client.cookies.set("publisher_admin", copied, path="/admin/")
    assert web.client.get("/admin/").status_code == 401


def test_a_forged_form_token_is_refused(web: Dashboard) -> None:
    web.sign_in()
    response = web.client.post("/admin/logout", data={"csrf_token": "1.forged"})
    assert response.status_code == 403
    assert web.client.get("/admin/").status_code == 200  # still signed in


def test_sign_in_attempts_are_limited_per_client_through_the_store(
    site: Site, clock: MovableClock
) -> None:
    config = published_site(site, clock, "\n[admin]\nlogin_limit = 3\n")
    with dashboard(config, clock) as web:
        for _ in range(3):
            assert web.sign_in(password="wrong password!").status_code == 401
        assert web.sign_in().status_code == 429
        clock.advance(minutes=16)
        assert web.sign_in().status_code == 303


def test_removing_a_user_ends_their_sessions(web: Dashboard) -> None:
    from publisher.operators.accounts import remove_user

    add_user(web.store, "bob", "another long password", web.clock())
    web.sign_in()
    remove_user(web.store, ADMIN)
    assert web.client.get("/admin/").status_code == 401


def test_the_dashboard_is_off_until_a_user_exists_or_when_disabled(
    site: Site, clock: MovableClock
) -> None:
    config = site.config()
    with dashboard(config, clock) as web:
        assert web.client.get("/admin/").status_code == 404
        assert web.client.get("/admin/login").status_code == 404
        add_user(web.store, ADMIN, PASSWORD, clock())
        assert web.client.get("/admin/login").status_code == 200
    with site.config_path.open("a", encoding="utf-8") as config_file:
        config_file.write("\n[admin]\nenabled = false\n")
    with dashboard(site.config(), clock) as web:
        assert web.client.get("/admin/login").status_code == 404
        assert web.client.post("/admin/login", data={"name": ADMIN}).status_code == 404


def test_after_signing_in_the_browser_returns_to_the_page_it_asked_for(web: Dashboard) -> None:
    page = web.client.get("/admin/")
    assert 'name="next" value="/admin/"' in page.text
    from tests.admin_site import form_token_of

    for wanted, landing in (("/admin/", "/admin/"), ("https://evil.example/", "/admin/")):
        web.client.cookies.clear()
        login = web.client.get("/admin/login")
        response = web.client.post(
            "/admin/login",
            data={
                "csrf_token": form_token_of(login),
                "name": ADMIN,
                "password": PASSWORD,
                "next": wanted,
            },
            follow_redirects=False,
        )
        assert response.headers["location"] == landing
