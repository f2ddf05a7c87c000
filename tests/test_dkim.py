"""DKIM: messages delivered through a loopback server verify with dkimpy against the DNS record."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from email.message import EmailMessage

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from publisher.errors import ConfigError
from publisher.mail.delivery.send import send_edition
from publisher.mail.proofs import send_proofs
from publisher.mail.transport.dkim import DkimSigner, check_published_key, load_signer
from publisher.store.database import Store
from tests.conftest import MovableClock, Site, SmtpServer
from tests.test_cli import run
from tests.test_delivery import SECRET, new_edition, subscribe, use_smtp
from tests.test_web import ENVIRON, published, running

DOMAIN = "gazette.example.org"
SELECTOR = "news2026"
KEY_VARIABLE = "TEST_DKIM_KEY"


def pem_of(algorithm: str) -> str:
    key: rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
    if algorithm == "rsa-sha256":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def with_dkim(
    site: Site, algorithm: str, source: str = f'private_key_env = "{KEY_VARIABLE}"'
) -> None:
    text = site.config_path.read_text()
    text += (
        f'\n[mail.dkim]\ndomain = "{DOMAIN}"\nselector = "{SELECTOR}"\n{source}\n'
        f'algorithm = "{algorithm}"\n'
    )
    site.config_path.write_text(text)


def dns_for(signer: DkimSigner) -> object:
    """A DNS lookup for dkimpy that knows the selector's record and nothing else."""
    name = f"{SELECTOR}._domainkey.{DOMAIN}."

    def lookup(query: bytes | str, timeout: float = 5) -> bytes | None:
        wanted = query.decode() if isinstance(query, bytes) else query
        return signer.public_record().encode() if wanted.rstrip(".") == name.rstrip(".") else None

    return lookup


@pytest.mark.parametrize("algorithm", ["rsa-sha256", "ed25519-sha256"])
def test_delivered_messages_verify_and_a_changed_list_unsubscribe_does_not(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer, algorithm: str
) -> None:
    use_smtp(site, smtp_server)
    with_dkim(site, algorithm)
    environ = {**SECRET, KEY_VARIABLE: pem_of(algorithm)}
    config = site.config()
    signer = load_signer(config, environ)
    assert signer is not None
    subscribe(store, 3)
    report = send_edition(store, config, new_edition(site, store, clock), environ, clock=clock)
    assert report.sent == 3
    lookup = dns_for(signer)
    for received in smtp_server.handler.received:
        message = received.data
        header = message.split(b"\r\n\r\n", 1)[0]
        assert f"a={algorithm}".encode() in header
        signed = header.split(b"h=", 1)[1].split(b";", 1)[0]
        for name in (b"from", b"to", b"subject", b"date", b"message-id", b"list-id"):
            assert name in signed.split(b":")
        assert b"list-unsubscribe:list-unsubscribe-post" in signed
        assert dkim.verify(message, dnsfunc=lookup)
        tampered = message.replace(
            b"List-Unsubscribe: <", b"List-Unsubscribe: <https://evil.example/x>, <", 1
        )
        assert tampered != message
        assert not dkim.verify(tampered, dnsfunc=lookup)


def text_of(received: bytes) -> str:
    message = message_from_bytes(received, policy=policy.default)
    assert isinstance(message, EmailMessage)
    body = message.get_body(("plain",))
    assert isinstance(body, EmailMessage)
    return str(body.get_content())


def test_confirmation_and_welcome_from_the_web_app_verify(
    site: Site, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    use_smtp(site, smtp_server)
    with_dkim(site, "rsa-sha256")
    environ = {**ENVIRON, KEY_VARIABLE: pem_of("rsa-sha256")}
    signer = load_signer(site.config(), environ)
    assert signer is not None
    lookup = dns_for(signer)
    received = smtp_server.handler.received
    for web in running(published(site, None, clock), clock, environ):
        web.sign_up("ann@example.org", "Ann", ["daily"])
        [confirmation] = received
        link = re.search(r"https?://\S+(/confirm/\S+)", text_of(confirmation.data))
        assert link is not None
        web.press(link.group(1))
        [_, welcome] = received
        assert "/preferences/" in text_of(welcome.data)
    for message in received:
        assert message.data.startswith(b"DKIM-Signature: ")
        assert dkim.verify(message.data, dnsfunc=lookup)


def test_send_test_proofs_verify(
    site: Site, store: Store, clock: MovableClock, smtp_server: SmtpServer
) -> None:
    use_smtp(site, smtp_server)
    with_dkim(site, "ed25519-sha256")
    environ = {**SECRET, KEY_VARIABLE: pem_of("ed25519-sha256")}
    config = site.config()
    signer = load_signer(config, environ)
    assert signer is not None
    new_edition(site, store, clock)
    send_proofs(store, config, "daily", ["editor@example.org"], environ, clock)
    [proof] = smtp_server.handler.received
    assert dkim.verify(proof.data, dnsfunc=dns_for(signer))


def test_a_changed_body_breaks_the_signature(site: Site) -> None:
    with_dkim(site, "rsa-sha256")
    signer = load_signer(site.config(), {KEY_VARIABLE: pem_of("rsa-sha256")})
    assert signer is not None
    message = (
        b"From: a@gazette.example.org\r\nTo: b@x.example\r\nSubject:  Hi\r\n"
        b"\r\nHello  there \r\n\r\n\r\n"
    )
    signed = signer.sign(message)
    lookup = dns_for(signer)
    assert dkim.verify(signed, dnsfunc=lookup)
    assert not dkim.verify(signed.replace(b"Hello", b"Jello"), dnsfunc=lookup)


def test_key_that_does_not_suit_the_algorithm_is_a_config_error(site: Site) -> None:
    with_dkim(site, "ed25519-sha256")
    with pytest.raises(ConfigError, match="does not suit algorithm ed25519-sha256"):
        load_signer(site.config(), {KEY_VARIABLE: pem_of("rsa-sha256")})


def test_missing_key_variable_names_it(site: Site) -> None:
    with_dkim(site, "rsa-sha256")
    with pytest.raises(ConfigError, match=KEY_VARIABLE):
        load_signer(site.config(), {})


def test_published_key_is_compared_with_the_private_one(site: Site) -> None:
    with_dkim(site, "rsa-sha256")
    signer = load_signer(site.config(), {KEY_VARIABLE: pem_of("rsa-sha256")})
    other = load_signer(site.config(), {KEY_VARIABLE: pem_of("rsa-sha256")})
    assert signer is not None
    assert other is not None
    record = signer.public_record().encode()
    assert "matches" in check_published_key(signer, lambda name: record)
    with pytest.raises(ConfigError, match=r"is not the one mail\.dkim signs with"):
        check_published_key(other, lambda name: record)
    with pytest.raises(ConfigError, match="no TXT record"):
        check_published_key(signer, lambda name: None)


def test_check_command_loads_the_key_file(site: Site) -> None:
    (site.root / "dkim.pem").write_text(pem_of("ed25519-sha256"))
    with_dkim(site, "ed25519-sha256", 'private_key_file = "dkim.pem"')
    result = run(site, "check")
    assert result.returncode == 0, result.stderr
    assert f"DKIM key for {SELECTOR}._domainkey.{DOMAIN} loads" in result.stdout
    (site.root / "dkim.pem").write_text("not a key")
    broken = run(site, "check")
    assert broken.returncode == 1
    assert "mail.dkim: the private key is not an unencrypted PEM key" in broken.stderr
    assert "Traceback" not in broken.stderr
