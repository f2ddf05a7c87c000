"""Every dashboard and API route with malformed ids, bodies, cookies and tokens: never a 5xx."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route

from publisher.operators.apitokens import create_token
from tests.admin_site import Dashboard, dashboard, published_site
from tests.conftest import MovableClock, Site

MALFORMED_IDS = (
    "0",
    "-1",
    "99999999999999999999",
    "2147483648",
    "abc",
    "1.5",
    "1e3",
    "%00",
    "%C2%B2",
    "%EF%BC%91",
    "1%20OR%201%3D1",
    "..",
    "",
)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, dict[str, str]]]:
    import shutil

    from tests.conftest import REPO

    root = tmp_path_factory.mktemp("site")
    shutil.copytree(REPO / "content", root / "content")
    shutil.copy(REPO / "config.toml", root / "config.toml")
    site = Site(root, root / "config.toml")
    clock = MovableClock()
    with dashboard(published_site(site, clock), clock) as opened:
        _, token = create_token(opened.store, "fuzz", "write", clock())
        yield opened, {"authorization": f"Bearer {token}"}


def routes_of(web: Dashboard) -> list[tuple[str, str]]:
    found = []
    for route in web.client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route) and re.match(r"/(admin|api|r)/", route.path):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, route.path))
    return found


def filled(path: str, value: str) -> str:
    return re.sub(r"\{[a-z_]+(:[a-z]+)?\}", value, path)


def test_every_route_with_each_malformed_id_answers_below_500(
    web: tuple[Dashboard, dict[str, str]],
) -> None:
    dashboard_, headers = web
    dashboard_.sign_in()
    routes = routes_of(dashboard_)
    assert len(routes) > 20
    for method, path in routes:
        for value in MALFORMED_IDS:
            url = filled(path, value)
            if not value and "{" in path:
                url = url.replace("//", "/")
            for extra in ({}, headers):
                response = dashboard_.client.request(
                    method, url, headers=extra, data={"csrf_token": "1.x"}
                )
                assert response.status_code < 500, (method, url, response.status_code)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    choice=st.integers(min_value=0, max_value=1000),
    body=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(str.encode),
        st.dictionaries(
            st.sampled_from(["email", "digests", "digest", "name", "confirmed", "force", "x"]),
            st.one_of(
                st.none(), st.integers(), st.text(max_size=30), st.lists(st.text(max_size=8))
            ),
        ).map(lambda value: __import__("json").dumps(value).encode()),
    ),
    token=st.one_of(st.none(), st.text(max_size=80)),
    cookie=st.one_of(st.none(), st.text(alphabet="abcdefABCDEF0123456789._-", max_size=60)),
    query=st.text(max_size=40),
)
def test_random_bodies_tokens_cookies_and_queries_never_cause_a_5xx(
    web: tuple[Dashboard, dict[str, str]],
    choice: int,
    body: bytes,
    token: str | None,
    cookie: str | None,
    query: str,
) -> None:
    dashboard_, good = web
    routes = routes_of(dashboard_)
    method, path = routes[choice % len(routes)]
    headers = dict(good) if token is None else {"authorization": f"Bearer {token}"}
    headers["content-type"] = (
        "application/json" if choice % 2 else "application/x-www-form-urlencoded"
    )
    client = dashboard_.client
    client.cookies.clear()
    if cookie is not None:
        client.cookies.set("publisher_admin", cookie, path="/admin/")
    try:
        headers = {
            name: value.encode("utf-8", "replace").decode("latin-1")
            for name, value in headers.items()
        }
        response = client.request(
            method,
            filled(path, "1"),
            content=body,
            headers=headers,
            params={"q": query, "page": query, "limit": query, "cursor": query, "status": query},
        )
    except UnicodeEncodeError:
        return
    assert response.status_code < 500, (method, path, response.status_code)
