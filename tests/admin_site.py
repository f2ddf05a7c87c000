"""A published sample site with an admin user, its web app in a TestClient, and sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import lxml.html
from starlette.testclient import TestClient

from publisher.config import Config
from publisher.mail.editions import create_edition
from publisher.operators.accounts import add_user
from publisher.site.build import build
from publisher.site.gather import gather
from publisher.store.database import Store, open_store
from publisher.web.app import create_app
from tests.conftest import MovableClock, Site

SECRET = "admin-test-secret-0123456789abcdef"
ENVIRON = {"PUBLISHER_SECRET": SECRET}
ADMIN, PASSWORD = "alice", "correct horse battery"


@dataclass
class Dashboard:
    """The app in a TestClient, the store and config behind it, and a clock to move."""

    client: TestClient
    config: Config
    store: Store
    clock: MovableClock

    def sign_in(self, name: str = ADMIN, password: str = PASSWORD) -> httpx.Response:
        login = self.client.get("/admin/login")
        return self.client.post(
            "/admin/login",
            data={"csrf_token": form_token_of(login), "name": name, "password": password},
            follow_redirects=False,
        )

    def form_token(self, path: str = "/admin/") -> str:
        return form_token_of(self.client.get(path))

    def post(self, path: str, **fields: str | list[str]) -> httpx.Response:
        """Post a dashboard form with this session's token, as the page would."""
        return self.client.post(
            path, data={"csrf_token": self.form_token(), **fields}, follow_redirects=False
        )


def form_token_of(response: httpx.Response) -> str:
    document = lxml.html.document_fromstring(response.text)
    values = document.xpath('//input[@name="csrf_token"]/@value')
    assert values, response.text
    return str(values[0])


def published_site(site: Site, clock: MovableClock, extra_config: str = "") -> Config:
    """The sample site gathered and built, with one daily edition and an admin user."""
    if extra_config:
        with site.config_path.open("a", encoding="utf-8") as config_file:
            config_file.write(extra_config)
    config = site.config()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        build(store, config)
        create_edition(store, config, "daily", clock)
        add_user(store, ADMIN, PASSWORD, clock())
    return config


@contextmanager
def dashboard(config: Config, clock: MovableClock) -> Iterator[Dashboard]:
    """The web app of `config` in a TestClient (lifespan run), beside its own store handle."""
    app = create_app(config, ENVIRON, clock)
    with TestClient(app) as client, open_store(config.store_url) as store:
        yield Dashboard(client, config, store, clock)
