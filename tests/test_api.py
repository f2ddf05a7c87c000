"""The HTTP API with httpx (Starlette's TestClient): tokens and scopes, every endpoint, the
OpenAPI document checked against the routes, and a confirmation mailed through real SMTP."""

from __future__ import annotations

import email
import email.policy
import re
import time
from collections.abc import Iterator

import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.inbound.apply import subscriber_events
from publisher.mail.delivery.requests import run_queued_sends
from publisher.operators.apitokens import create_token, revoke_token
from publisher.web.api.table import ENDPOINTS
from tests.admin_site import ENVIRON, Dashboard, dashboard, published_site
from tests.conftest import MovableClock, Site, SmtpServer

API = "/api/v1/"


@pytest.fixture
def api(site: Site, clock: MovableClock) -> Iterator[Dashboard]:
    with dashboard(published_site(site, clock), clock) as opened:
        yield opened


def bearer(web: Dashboard, scope: str, name: str = "test") -> dict[str, str]:
    _, token = create_token(web.store, name, scope, web.clock())
    return {"authorization": f"Bearer {token}"}


def concrete(path: str) -> str:
    return API + path.replace("{id}", "1").replace("{name}", "wire")


def test_every_endpoint_but_the_document_refuses_a_request_without_a_valid_token(
    api: Dashboard,
) -> None:
    revoked = bearer(api, "write", "old")
    revoke_token(api.store, "old", api.clock())
    for endpoint in ENDPOINTS:
        for headers in ({}, {"authorization": "Bearer pub_nonsense"}, revoked):
            response = api.client.request(endpoint.method, concrete(endpoint.path), headers=headers)
            if endpoint.scope is None:
                assert response.status_code == 200
                continue
            assert response.status_code == 401, (endpoint, headers)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["status"] == 401


def test_a_read_token_may_not_write(api: Dashboard) -> None:
    headers = bearer(api, "read")
    for endpoint in ENDPOINTS:
        if endpoint.method == "GET":
            continue
        response = api.client.request(
            endpoint.method, concrete(endpoint.path), headers=headers, json={}
        )
        assert response.status_code == 403, endpoint
        assert response.json()["detail"] == "this token may only read"


def test_the_openapi_document_is_valid_and_lists_every_route(api: Dashboard) -> None:
    document = api.client.get(API + "openapi.json").json()
    validate(document)
    routes = {
        (method, route.path)
        for route in api.client.app.routes  # type: ignore[attr-defined]
        if isinstance(route, Route) and route.path.startswith(API)
        for method in (route.methods or ()) - {"HEAD"}
    }
    described = {
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
    }
    assert routes == described
    assert len(routes) == len(ENDPOINTS)


def test_subscribers_are_listed_with_cursor_paging_and_searched(api: Dashboard) -> None:
    for number in range(5):
        add_subscriber(api.store, f"page{number}@example.org", "", ("daily",), api.clock())
    headers = bearer(api, "read")
    first = api.client.get(API + "subscribers", params={"limit": "3"}, headers=headers).json()
    assert [row["email"] for row in first["subscribers"]] == [
        "page0@example.org",
        "page1@example.org",
        "page2@example.org",
    ]
    rest = api.client.get(
        API + "subscribers", params={"limit": "3", "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert [row["email"] for row in rest["subscribers"]] == [
        "page3@example.org",
        "page4@example.org",
    ]
    assert rest["next_cursor"] is None
    found = api.client.get(API + "subscribers", params={"q": "page3"}, headers=headers).json()
    assert len(found["subscribers"]) == 1
    one = api.client.get(API + f"subscribers/{found['subscribers'][0]['id']}", headers=headers)
    assert one.json()["email"] == "page3@example.org"
    assert api.client.get(API + "subscribers/999999", headers=headers).status_code == 404
    assert api.client.get(API + "subscribers?limit=0", headers=headers).status_code == 400


def test_changes_through_the_api_are_logged_with_the_tokens_name(api: Dashboard) -> None:
    headers = bearer(api, "write", "crm")
    created = api.client.post(
        API + "subscribers",
        json={"email": "vouched@example.org", "digests": ["daily"], "confirmed": True},
        headers=headers,
    )
    assert created.status_code == 201
    subscriber_id = created.json()["id"]
    assert created.json()["status"] == "confirmed"
    changed = api.client.put(
        API + f"subscribers/{subscriber_id}/digests", json={"digests": ["culture"]}, headers=headers
    )
    assert changed.json()["digests"] == ["culture"]
    left = api.client.post(API + f"subscribers/{subscriber_id}/unsubscribe", headers=headers)
    assert left.json()["status"] == "unsubscribed"
    gone = api.client.post(API + f"subscribers/{subscriber_id}/forget", headers=headers)
    assert gone.json()["status"] == "forgotten"
    assert gone.json()["email"] == ""
    events = subscriber_events(api.store, subscriber_id)
    assert [event.code for event in events] == ["digests", "unsubscribe", "forget"]
    assert all("API token crm" in event.diagnostic for event in events)
    again = api.client.post(API + f"subscribers/{subscriber_id}/forget", headers=headers)
    assert again.status_code == 404


def test_a_bad_body_is_a_problem_not_a_crash(api: Dashboard) -> None:
    headers = bearer(api, "write")
    for body in (b"not json", b"[1]", b'{"email": 5}', b'{"email": "x@example.org", "extra": 1}'):
        response = api.client.post(
            API + "subscribers",
            content=body,
            headers={**headers, "content-type": "application/json"},
        )
        assert response.status_code in (400, 422), body
        assert response.headers["content-type"] == "application/problem+json"
    bad = api.client.post(API + "subscribers", json={"email": "not an address"}, headers=headers)
    assert bad.status_code == 422
    unknown = api.client.post(
        API + "subscribers", json={"email": "a@example.org", "digests": ["nope"]}, headers=headers
    )
    assert unknown.status_code == 422


def test_a_send_is_queued_and_answered_202_with_where_to_watch_it(api: Dashboard) -> None:
    add_subscriber(api.store, "reader@example.org", "", ("daily",), api.clock())
    headers = bearer(api, "write")
    [edition] = api.client.get(API + "editions", headers=headers).json()["editions"]
    queued = api.client.post(API + f"editions/{edition['id']}/send", json={}, headers=headers)
    assert queued.status_code == 202
    assert queued.headers["location"] == API + f"editions/{edition['id']}"
    assert queued.json()["state"] == "queued"
    assert list(api.config.maildir.glob("new/*")) == []
    run_queued_sends(api.store, api.config, ENVIRON, api.clock)
    watched = api.client.get(queued.headers["location"], headers=headers).json()
    assert watched["ledger"]["sent"] == 1
    preview = api.client.get(API + f"editions/{edition['id']}/preview", headers=headers).json()
    assert "Preview Reader" in preview["html"]


def test_an_edition_is_made_through_the_api(api: Dashboard) -> None:
    headers = bearer(api, "write")
    made = api.client.post(API + "editions", json={"digest": "culture"}, headers=headers)
    assert made.status_code == 201
    assert made.json()["editions"][0]["digest"] == "culture"
    again = api.client.post(API + "editions", json={"digest": "culture"}, headers=headers)
    assert again.status_code == 200
    assert again.json()["editions"] == []
    assert (
        api.client.post(API + "editions", json={"digest": "x"}, headers=headers).status_code == 422
    )


def test_status_articles_and_sources_are_read(api: Dashboard) -> None:
    headers = bearer(api, "read")
    status = api.client.get(API + "status", headers=headers).json()
    assert status["site"] == "The Harbour Gazette"
    scheduled = api.client.get(API + "articles", params={"status": "scheduled"}, headers=headers)
    assert len(scheduled.json()["articles"]) == 1
    assert api.client.get(API + "sources", headers=headers).json() == {"sources": []}
    assert api.client.get(API + "status", headers=headers).headers["cache-control"] == (
        "private, no-store"
    )


def test_each_token_is_rate_limited(site: Site, clock: MovableClock) -> None:
    config = published_site(site, clock, "\n[admin]\napi_limit = 3\n")
    with dashboard(config, clock) as api:
        headers, other = bearer(api, "read", "one"), bearer(api, "read", "two")
        for _ in range(3):
            assert api.client.get(API + "status", headers=headers).status_code == 200
        limited = api.client.get(API + "status", headers=headers)
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert api.client.get(API + "status", headers=other).status_code == 200


def test_a_subscriber_created_through_the_api_gets_the_confirmation_by_smtp(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    text = site.config_path.read_text().replace("[mail]\n", '[mail]\ntransport = "smtp"\n', 1)
    site.config_path.write_text(
        text + f'\n[mail.smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\n'
        'security = "none"\n'
    )
    with dashboard(published_site(site, clock), clock) as api:
        headers = bearer(api, "write")
        created = api.client.post(
            API + "subscribers",
            json={"email": "new.reader@example.org", "name": "New Reader", "digests": ["daily"]},
            headers=headers,
        )
        assert created.status_code == 201
        assert created.json()["status"] == "pending"
        assert created.json()["confirmation_sent"] is True
        deadline = time.monotonic() + 10
        while not smtp_server.handler.received and time.monotonic() < deadline:
            time.sleep(0.02)
        [received] = smtp_server.handler.received
        assert received.recipients == ["new.reader@example.org"]
        message = email.message_from_bytes(received.data, policy=email.policy.default)
        body = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert re.search(r"/confirm/\S+", body)
        subscriber = find_subscriber(api.store, "new.reader@example.org")
        assert subscriber is not None
        assert subscriber.status == "pending"
