"""`publisher inbound` against a real IMAP server (dovecot) on loopback, over verified TLS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from imapclient import IMAPClient

from publisher.audience.subscribers import add_subscriber, find_subscriber
from publisher.store.database import open_store
from publisher.store.statuses import SubscriberStatus
from tests.conftest import MovableClock, Site
from tests.dovecot import ImapServer, running_dovecot
from tests.inbound_mail import inbound_message
from tests.test_inbound_readers import run

PASSWORD_VARIABLE = "PUBLISHER_TEST_IMAP_PASSWORD"


@pytest.fixture
def imap_server() -> Iterator[ImapServer]:
    with running_dovecot() as server:
        yield server


def client(server: ImapServer) -> IMAPClient:
    connection = IMAPClient(server.host, port=server.port, ssl=True, ssl_context=server.context())
    connection.login(server.username, server.password)
    return connection


def configure(site: Site, server: ImapServer, ca_file: str | None = None) -> None:
    site.config_path.write_text(
        site.config_path.read_text()
        + f'\n[inbound]\nimap_host = "{server.host}"\nport = {server.port}\n'
        f'username = "{server.username}"\npassword_env = "{PASSWORD_VARIABLE}"\n'
        f'ca_file = "{ca_file or server.ca_file}"\n'
    )


def folder_counts(server: ImapServer) -> dict[str, int]:
    connection = client(server)
    try:
        return {
            folder: len(connection.select_folder(folder, readonly=True) and connection.search())
            for folder in ("INBOX", "processed", "unrecognized")
        }
    finally:
        connection.logout()


def test_imap_messages_are_classified_applied_and_moved(
    site: Site, imap_server: ImapServer
) -> None:
    with open_store(site.config().store_url) as store:
        for address in ("ann@example.net", "heidi@example.net"):
            add_subscriber(store, address, "", ("daily",), MovableClock()())
    connection = client(imap_server)
    for name in ("postfix_dsn", "arf_report", "vacation", "human_reply"):
        connection.append("INBOX", inbound_message(name))
    connection.logout()
    configure(site, imap_server)

    result = run(site, "inbound", **{PASSWORD_VARIABLE: imap_server.password})
    assert result.returncode == 0, result.stderr
    assert "inbound: 4 read (1 hard bounce, 0 soft bounce, 1 complaint" in result.stdout
    assert folder_counts(imap_server) == {"INBOX": 0, "processed": 3, "unrecognized": 1}
    with open_store(site.config().store_url) as store:
        ann = find_subscriber(store, "ann@example.net")
        heidi = find_subscriber(store, "heidi@example.net")
    assert ann is not None
    assert (ann.status, ann.hard_bounces) == (SubscriberStatus.CONFIRMED, 1)
    assert heidi is not None
    assert heidi.status == SubscriberStatus.COMPLAINED
    # Nothing is deleted: the unrecognized message is kept on the server, unchanged.
    connection = client(imap_server)
    connection.select_folder("unrecognized", readonly=True)
    fetched = connection.fetch(connection.search(), ["BODY.PEEK[]"])
    [kept] = [data[b"BODY[]"] for data in fetched.values()]
    connection.logout()
    assert kept.replace(b"\r\n", b"\n") == inbound_message("human_reply")

    again = run(site, "inbound", **{PASSWORD_VARIABLE: imap_server.password})
    assert "inbound: 0 read" in again.stdout


def test_a_wrong_password_is_one_line_naming_the_server(
    site: Site, imap_server: ImapServer
) -> None:
    configure(site, imap_server)
    result = run(site, "inbound", **{PASSWORD_VARIABLE: "not-the-password"})
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert f"IMAP bounces@127.0.0.1:{imap_server.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_server_certificate_from_an_unknown_authority_is_refused(
    site: Site, imap_server: ImapServer, tmp_path: object
) -> None:
    import trustme

    other = trustme.CA()
    path = f"{tmp_path}/other-ca.pem"
    other.cert_pem.write_to_path(path)
    connection = client(imap_server)
    connection.append("INBOX", inbound_message("postfix_dsn"))
    connection.logout()
    configure(site, imap_server, ca_file=path)
    result = run(site, "inbound", **{PASSWORD_VARIABLE: imap_server.password})
    assert result.returncode == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.stderr
    connection = client(imap_server)
    assert connection.select_folder("INBOX", readonly=True)[b"EXISTS"] == 1
    assert connection.list_folders() == [((b"\\HasNoChildren",), b".", "INBOX")]
    connection.logout()


def test_a_missing_password_variable_is_named(site: Site, imap_server: ImapServer) -> None:
    configure(site, imap_server)
    result = run(site, "inbound")
    assert result.returncode == 1
    assert PASSWORD_VARIABLE in result.stderr
