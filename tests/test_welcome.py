"""The welcome message's pure core: rendered from templates, CSS inlined, built as MIME."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from email.message import EmailMessage

import pytest

from publisher.mail.mime import MessageError
from publisher.mail.render import template_environment
from publisher.mail.welcome import render_welcome, welcome_digests, welcome_message
from tests.conftest import SAMPLE_NOW, Site

PREFERENCES = "https://gazette.example.org/preferences/7.0.abc"
LATEST = {"daily": "https://gazette.example.org/archive/daily/3.html"}


def test_welcome_names_the_digests_links_the_latest_edition_and_the_preferences(
    site: Site,
) -> None:
    config = site.config()
    chosen = welcome_digests(config, ["daily"], LATEST)
    welcome = render_welcome(
        template_environment(None), config, "Zoë", "zoe@example.org", chosen, PREFERENCES
    )
    envelope, raw = welcome_message(config, "Zoë", "zoe@example.org", welcome, SAMPLE_NOW)
    assert envelope.recipient == "zoe@example.org"
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == "Welcome to The Harbour Gazette"
    assert message["Auto-Submitted"] == "auto-generated"
    text, html = (part.get_content() for part in message.iter_parts())
    for body in (text, html):
        assert "The Harbour Gazette Daily" in body
        assert "Port Alder Culture Weekly" not in body
        assert LATEST["daily"] in body
        assert PREFERENCES in body
    assert "<style" not in html.split("<body", 1)[1]  # the rules are inlined
    assert '<h2 class="headline" style=\'margin:0 0 10px 0;' in html


def test_a_line_break_in_the_name_is_refused(site: Site) -> None:
    config = site.config()
    welcome = render_welcome(
        template_environment(None), config, "A", "a@example.org", [], PREFERENCES
    )
    with pytest.raises(MessageError, match="To"):
        welcome_message(config, "Eve\r\nBcc: x@example.org", "a@example.org", welcome, SAMPLE_NOW)


def test_the_welcome_module_imports_on_its_own() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import publisher.mail.welcome"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name",
    [
        "=?utf-8?q?a=2C_b=40evil=2Ecom?=",
        "=?utf-8?q?Bcc=3A_x=40evil=2Ecom=3B?=",
        "undisclosed: x@evil.com;",
        'Mara "Q" <b@evil.com>, c@evil.com',
    ],
)
def test_a_hostile_name_stays_one_display_name_of_one_recipient(site: Site, name: str) -> None:
    config = site.config()
    welcome = render_welcome(
        template_environment(None), config, name, "victim@example.org", [], PREFERENCES
    )
    _, raw = welcome_message(config, name, "victim@example.org", welcome, SAMPLE_NOW)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    [address] = message["To"].addresses
    assert address.addr_spec == "victim@example.org"
    assert address.display_name == name
