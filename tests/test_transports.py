"""Transports against a real Maildir and a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import asyncio
import email
import mailbox
import os
import socket
import ssl
import threading
import traceback
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from publisher.config import Config, config_from_mapping
from publisher.mail.transport.maildir import MaildirTransport
from publisher.mail.transport.opening import open_transport
from publisher.mail.transport.protocol import (
    DeliveryError,
    PermanentFailure,
    TemporaryFailure,
    Transport,
    UncertainDelivery,
)
from publisher.mail.transport.ratelimit import RateLimiter
from publisher.mail.transport.smtp import SmtpTransport, smtp_data

SENDER = "news@t.example"
READER = "reader@r.example"
USERNAME = "alice"
PASSWORD = "correct-horse-battery-staple"
PASSWORD_VARIABLE = "TEST_SMTP_PASSWORD"
CREDENTIALS = {"username": USERNAME, "password_env": PASSWORD_VARIABLE}
ENVIRONMENT = {PASSWORD_VARIABLE: PASSWORD}

# What a test server does with one command instead of its usual answer.
ACCEPT = ""
DROP = "close the connection without answering"
STALL = "never answer"


def letter(
    subject: str = "Hello", body: str = "Hi there.\n.A line starting with a dot.\n"
) -> bytes:
    """A small message with LF line endings, as a message builder might produce."""
    return f"From: T <{SENDER}>\nTo: <{READER}>\nSubject: {subject}\n\n{body}".encode()


def as_received(message: bytes) -> bytes:
    """What an SMTP server stores for `message`: the same text with CRLF line endings."""
    return message.replace(b"\n", b"\r\n")


def config_with_mail(tmp_path: Path, **mail: Any) -> Config:
    site = {"title": "T", "url": "https://t.example/", "author": "A"}
    raw = {"site": site, "mail": {"from": SENDER, "postal_address": "1 Road", **mail}}
    return config_from_mapping(raw, tmp_path / "config.toml")


def every_text_of(error: BaseException) -> str:
    """An error's message, repr and traceback, and those of every error behind it."""
    texts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(texts)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class FakeClock:
    """A monotonic clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += seconds


@dataclass(frozen=True)
class Received:
    """One message as the server saw it."""

    peer: object  # the client's address and port: one per connection
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    mail_options: tuple[str, ...]
    login: bytes | None


class Handler:
    """A server that accepts and records everything, unless a test plans otherwise."""

    def __init__(self) -> None:
        self.seen: list[Received] = []  # every message whose content arrived
        self.received: list[Received] = []  # those the server also accepted
        self.refused_recipients: dict[str, str] = {}
        self._plans: dict[str, deque[str]] = defaultdict(deque)

    def plan(self, command: str, *answers: str) -> None:
        """Answer the next uses of `command` with `answers` (ACCEPT, DROP, STALL, a reply)."""
        self._plans[command].extend(answers)

    @property
    def connections(self) -> int:
        return len({message.peer for message in self.received})

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        answer = await self._planned("MAIL", server)
        if answer:
            return answer
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        answer = await self._planned("RCPT", server) or self.refused_recipients.get(address)
        if answer:
            return answer
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.original_content, bytes)
        assert envelope.mail_from is not None
        message = Received(
            peer=session.peer,
            mail_from=envelope.mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=envelope.original_content,
            mail_options=tuple(envelope.mail_options),
            login=getattr(session.auth_data, "login", None),
        )
        self.seen.append(message)
        answer = await self._planned("DATA", server)
        if answer:
            return answer
        self.received.append(message)
        return "250 OK queued"

    async def _planned(self, command: str, server: SMTP) -> str:
        plans = self._plans[command]
        answer = plans.popleft() if plans else ACCEPT
        if answer == DROP:
            assert server.transport is not None
            server.transport.close()
            return "421 never seen: the connection is closed"
        if answer == STALL:
            await asyncio.Event().wait()
        return answer


def authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    valid = auth_data == LoginPassword(USERNAME.encode(), PASSWORD.encode())
    return AuthResult(success=valid, handled=False, auth_data=auth_data)


@pytest.fixture(scope="module")
def certificate_authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_tls(certificate_authority: trustme.CA) -> ssl.SSLContext:
    """The server side of TLS: a certificate for 127.0.0.1 from the test CA."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def ca_file(tmp_path: Path, certificate_authority: trustme.CA) -> Path:
    path = tmp_path / "test-ca.pem"
    certificate_authority.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def handler() -> Handler:
    return Handler()


@pytest.fixture
def start_server() -> Iterator[Callable[..., int]]:
    """Starts aiosmtpd servers on loopback, returning their ports; stops them afterwards."""
    controllers: list[Controller] = []

    def start(handler: Handler, **options: Any) -> int:
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
        controller.start()
        controllers.append(controller)
        return controller.port

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def open_smtp(
    tmp_path: Path, start_server: Callable[..., int]
) -> Iterator[Callable[..., Transport]]:
    """Opens SMTP transports through the config, as the application does; closes them afterwards."""
    opened: list[Transport] = []

    def open_smtp(port: int, environ: dict[str, str] | None = None, **smtp: Any) -> Transport:
        settings = {"host": "127.0.0.1", "port": port, "security": "none", "timeout": 5, **smtp}
        config = config_with_mail(tmp_path, transport="smtp", smtp=settings)
        transport = open_transport(config, environ or {})
        opened.append(transport)
        return transport

    yield open_smtp
    for transport in opened:
        transport.close()


@pytest.fixture
def plain_server(handler: Handler, start_server: Callable[..., int]) -> int:
    return start_server(handler)


@pytest.fixture
def starttls_server(
    handler: Handler, start_server: Callable[..., int], server_tls: ssl.SSLContext
) -> int:
    return start_server(
        handler,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=authenticate,
        auth_require_tls=True,
        auth_required=True,
    )


# Maildir


def test_maildir_message_lands_in_new_and_reads_back_byte_for_byte(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    transport.send(SENDER, READER, letter())
    [path] = (tmp_path / "outbox" / "new").iterdir()
    [stored] = mailbox.Maildir(tmp_path / "outbox", create=False)
    assert path.read_bytes() == letter()
    assert stored.as_bytes() == letter()
    assert email.message_from_bytes(path.read_bytes())["Subject"] == "Hello"


def test_maildir_leaves_only_complete_messages_and_nothing_in_tmp(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    for number in range(5):
        transport.send(SENDER, READER, letter(subject=f"Number {number}"))
    stored = sorted(path.read_bytes() for path in (tmp_path / "outbox" / "new").iterdir())
    assert stored == sorted(letter(subject=f"Number {number}") for number in range(5))
    assert list((tmp_path / "outbox" / "tmp").iterdir()) == []


def test_maildir_stores_crlf_messages_with_lf_line_endings(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    transport.send(SENDER, READER, as_received(letter()))
    [path] = (tmp_path / "outbox" / "new").iterdir()
    assert path.read_bytes() == letter()


def test_maildir_is_created_with_missing_parent_folders(tmp_path: Path) -> None:
    (tmp_path / "var" / "outbox").mkdir(parents=True)  # exists, but is not yet a Maildir
    MaildirTransport(tmp_path / "var" / "outbox").send(SENDER, READER, letter())
    assert {path.name for path in (tmp_path / "var" / "outbox").iterdir()} == {"tmp", "new", "cur"}


def test_maildir_is_the_default_transport_and_writes_to_the_configured_folder(
    tmp_path: Path,
) -> None:
    config = config_with_mail(tmp_path, maildir="mail/outbox")
    transport = open_transport(config, {})
    transport.send(SENDER, READER, letter())
    assert isinstance(transport, MaildirTransport)
    assert len(list((tmp_path / "mail" / "outbox" / "new").iterdir())) == 1


def test_maildir_refuses_a_line_break_in_the_recipient(tmp_path: Path) -> None:
    transport = MaildirTransport(tmp_path / "outbox")
    with pytest.raises(PermanentFailure, match="line break"):
        transport.send(SENDER, f"{READER}\r\nBcc: victim@v.example", letter())
    assert list((tmp_path / "outbox" / "new").iterdir()) == []


# SMTP data


def test_smtp_data_uses_crlf_doubles_leading_dots_and_ends_with_a_lone_dot() -> None:
    assert smtp_data(b"A\n.B\r\nC\r..D") == b"A\r\n..B\r\nC\r\n...D\r\n.\r\n"


# SMTP without TLS


def test_smtp_message_arrives_with_its_envelope_and_content_intact(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    open_smtp(plain_server).send(SENDER, READER, letter())
    [message] = handler.received
    assert (message.mail_from, message.rcpt_tos) == (SENDER, (READER,))
    assert message.content == as_received(letter())


def test_smtp_messages_share_one_connection(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(plain_server)
    for number in range(3):
        transport.send(SENDER, f"reader{number}@r.example", letter())
    assert [message.rcpt_tos for message in handler.received] == [
        (f"reader{number}@r.example",) for number in range(3)
    ]
    assert handler.connections == 1


def test_smtp_opens_a_new_connection_after_max_per_connection_messages(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(plain_server, max_per_connection=2)
    for _ in range(5):
        transport.send(SENDER, READER, letter())
    assert len(handler.received) == 5
    assert handler.connections == 3


def test_smtp_reconnects_when_the_server_closed_an_idle_connection(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("MAIL", ACCEPT, DROP)
    transport = open_smtp(plain_server)
    transport.send(SENDER, READER, letter(subject="First"))
    transport.send(SENDER, READER, letter(subject="Second"))
    assert [message.content for message in handler.received] == [
        as_received(letter(subject="First")),
        as_received(letter(subject="Second")),
    ]
    assert handler.connections == 2


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("MAIL", "421 4.3.2 Too busy, closing"),
        ("RCPT", "451 4.7.1 Greylisted, try again later"),
        ("DATA", "451 4.3.0 Queue full"),
    ],
)
def test_smtp_temporary_refusal_is_a_temporary_failure_and_a_later_send_delivers_once(
    handler: Handler,
    plain_server: int,
    open_smtp: Callable[..., Transport],
    command: str,
    reply: str,
) -> None:
    handler.plan(command, reply)
    transport = open_smtp(plain_server)
    with pytest.raises(TemporaryFailure, match=reply.split()[0]) as failure:
        transport.send(SENDER, READER, letter())
    transport.send(SENDER, READER, letter())
    assert failure.value.code == int(reply.split()[0])
    assert [message.content for message in handler.received] == [as_received(letter())]


@pytest.mark.parametrize(
    ("command", "reply"),
    [
        ("RCPT", "550 5.1.1 No such user"),
        ("DATA", "554 5.7.1 Message rejected as spam"),
    ],
)
def test_smtp_permanent_refusal_fails_that_message_and_the_next_ones_still_go(
    handler: Handler,
    plain_server: int,
    open_smtp: Callable[..., Transport],
    command: str,
    reply: str,
) -> None:
    handler.plan(command, ACCEPT, reply)
    transport = open_smtp(plain_server)
    transport.send(SENDER, "first@r.example", letter())
    with pytest.raises(PermanentFailure, match=r"second@r\.example") as failure:
        transport.send(SENDER, "second@r.example", letter())
    transport.send(SENDER, "third@r.example", letter())
    assert failure.value.code == int(reply.split()[0])
    assert [message.rcpt_tos for message in handler.received] == [
        ("first@r.example",),
        ("third@r.example",),
    ]
    assert handler.connections == 1


def test_smtp_refused_sender_is_a_config_error_not_a_bounce(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("MAIL", "553 5.7.1 Sender not allowed")
    transport = open_smtp(plain_server)
    with pytest.raises(DeliveryError, match=r"check \[mail\] from") as failure:
        transport.send(SENDER, "first@r.example", letter())
    assert not isinstance(failure.value, PermanentFailure)
    assert handler.received == []


def test_smtp_unknown_recipients_fail_with_550_while_the_others_are_delivered(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.refused_recipients["nobody@r.example"] = "550 5.1.1 No such user"
    transport = open_smtp(plain_server)
    codes = {}
    for recipient in ("one@r.example", "nobody@r.example", "two@r.example"):
        try:
            transport.send(SENDER, recipient, letter())
        except PermanentFailure as failure:
            codes[recipient] = failure.code
    assert codes == {"nobody@r.example": 550}
    assert [message.rcpt_tos for message in handler.received] == [
        ("one@r.example",),
        ("two@r.example",),
    ]


def test_smtp_connection_dropped_before_data_is_a_temporary_failure(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("RCPT", DROP)
    transport = open_smtp(plain_server)
    with pytest.raises(TemporaryFailure, match="nothing was delivered"):
        transport.send(SENDER, READER, letter())
    assert handler.seen == []
    transport.send(SENDER, READER, letter())
    assert len(handler.received) == 1


def test_smtp_timeout_before_data_is_a_temporary_failure(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("RCPT", STALL)
    transport = open_smtp(plain_server, timeout=1)
    with pytest.raises(TemporaryFailure):
        transport.send(SENDER, READER, letter())
    assert handler.seen == []


def test_smtp_connection_dropped_after_the_content_was_sent_is_uncertain(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("DATA", DROP)
    transport = open_smtp(plain_server)
    with pytest.raises(UncertainDelivery, match="may have been delivered"):
        transport.send(SENDER, READER, letter(subject="First"))
    assert [message.content for message in handler.seen] == [as_received(letter(subject="First"))]
    transport.send(SENDER, READER, letter(subject="Second"))
    assert [message.content for message in handler.received] == [
        as_received(letter(subject="Second"))
    ]
    assert handler.seen[0].peer != handler.received[0].peer


def test_smtp_timeout_waiting_for_the_reply_to_the_content_is_uncertain(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("DATA", STALL)
    transport = open_smtp(plain_server, timeout=1)
    with pytest.raises(UncertainDelivery):
        transport.send(SENDER, READER, letter())
    assert len(handler.seen) == 1
    transport.send(SENDER, READER, letter())
    assert len(handler.received) == 1


def test_smtp_reply_to_the_content_that_is_neither_yes_nor_no_is_uncertain(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    handler.plan("DATA", "354 Go ahead, again")
    transport = open_smtp(plain_server)
    with pytest.raises(UncertainDelivery, match="354"):
        transport.send(SENDER, READER, letter())
    transport.send(SENDER, READER, letter())
    assert handler.seen[0].peer != handler.received[0].peer


def test_smtp_server_not_listening_is_a_temporary_failure(
    open_smtp: Callable[..., Transport],
) -> None:
    with pytest.raises(TemporaryFailure, match="cannot connect"):
        open_smtp(free_port()).send(SENDER, READER, letter())


def test_smtp_refuses_a_line_break_in_the_recipient_before_connecting(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(plain_server)
    with pytest.raises(PermanentFailure, match="line break") as failure:
        transport.send(SENDER, f"{READER}>\r\nRCPT TO:<victim@v.example", letter())
    assert failure.value.code == 501
    assert handler.seen == []


def test_smtp_refuses_a_line_break_in_the_sender_as_a_configuration_error(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(plain_server)
    with pytest.raises(DeliveryError, match="sender") as failure:
        transport.send(f"{SENDER}\nX-Injected: yes", READER, letter())
    assert type(failure.value) is DeliveryError
    assert handler.seen == []


def test_smtp_international_recipient_is_sent_with_smtputf8(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    open_smtp(plain_server).send(SENDER, "josé@exämple.org", letter())
    [message] = handler.received
    assert message.rcpt_tos == ("josé@exämple.org",)
    assert "SMTPUTF8" in message.mail_options


def test_smtp_international_recipient_fails_permanently_without_smtputf8(
    handler: Handler, start_server: Callable[..., int], open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(start_server(handler, enable_SMTPUTF8=False))
    with pytest.raises(PermanentFailure, match="SMTPUTF8") as failure:
        transport.send(SENDER, "josé@exämple.org", letter())
    transport.send(SENDER, READER, letter())
    assert failure.value.code == 553
    assert len(handler.received) == 1


# SMTP with TLS and AUTH


def test_starttls_with_the_ca_delivers_after_logging_in_with_the_password_from_the_environment(
    handler: Handler, starttls_server: int, open_smtp: Callable[..., Transport], ca_file: Path
) -> None:
    transport = open_smtp(
        starttls_server, ENVIRONMENT, security="starttls", ca_file=str(ca_file), **CREDENTIALS
    )
    transport.send(SENDER, READER, letter())
    [message] = handler.received
    assert message.login == USERNAME.encode()
    assert message.content == as_received(letter())


def test_starttls_without_the_ca_fails_certificate_verification(
    handler: Handler, starttls_server: int, open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(starttls_server, ENVIRONMENT, security="starttls", **CREDENTIALS)
    with pytest.raises(DeliveryError, match="certificate failed verification") as failure:
        transport.send(SENDER, READER, letter())
    assert not isinstance(failure.value, TemporaryFailure | PermanentFailure)
    assert handler.seen == []


def test_wrong_password_is_a_delivery_error_that_never_shows_the_password(
    handler: Handler, starttls_server: int, open_smtp: Callable[..., Transport], ca_file: Path
) -> None:
    wrong = "not-the-password-0123"
    transport = open_smtp(
        starttls_server,
        {PASSWORD_VARIABLE: wrong},
        security="starttls",
        ca_file=str(ca_file),
        **CREDENTIALS,
    )
    with pytest.raises(DeliveryError, match="refused the login for 'alice'") as failure:
        transport.send(SENDER, READER, letter())
    assert not isinstance(failure.value, TemporaryFailure | PermanentFailure)
    assert PASSWORD_VARIABLE in str(failure.value)
    assert wrong not in every_text_of(failure.value)
    assert handler.seen == []


def test_missing_password_variable_is_named_in_the_error(tmp_path: Path) -> None:
    smtp = {"host": "127.0.0.1", **CREDENTIALS}
    config = config_with_mail(tmp_path, transport="smtp", smtp=smtp)
    with pytest.raises(DeliveryError, match=f"{PASSWORD_VARIABLE} is not set"):
        open_transport(config, {"UNRELATED": PASSWORD})


def test_password_never_appears_in_any_error_of_a_failed_login(
    starttls_server: int, open_smtp: Callable[..., Transport], ca_file: Path
) -> None:
    # The server knows alice's password, but this transport logs in as someone else with it.
    credentials = {**CREDENTIALS, "username": "mallory"}
    transport = open_smtp(
        starttls_server, ENVIRONMENT, security="starttls", ca_file=str(ca_file), **credentials
    )
    with pytest.raises(DeliveryError) as failure:
        transport.send(SENDER, READER, letter())
    assert PASSWORD not in every_text_of(failure.value)
    assert PASSWORD not in repr(transport)


def test_starttls_is_required_when_configured(
    handler: Handler, plain_server: int, open_smtp: Callable[..., Transport]
) -> None:
    transport = open_smtp(plain_server, security="starttls")
    with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
        transport.send(SENDER, READER, letter())
    assert handler.seen == []


def test_logging_in_without_encryption_to_another_host_is_refused(tmp_path: Path) -> None:
    smtp = {"host": "smtp.t.example", "security": "none", **CREDENTIALS}
    config = config_with_mail(tmp_path, transport="smtp", smtp=smtp)
    with pytest.raises(DeliveryError, match="unencrypted"):
        open_transport(config, ENVIRONMENT)


def test_implicit_tls_delivers_after_logging_in(
    handler: Handler,
    start_server: Callable[..., int],
    server_tls: ssl.SSLContext,
    open_smtp: Callable[..., Transport],
    ca_file: Path,
) -> None:
    # aiosmtpd only counts STARTTLS as encryption for AUTH, so it is told this one is too.
    port = start_server(
        handler, ssl_context=server_tls, authenticator=authenticate, auth_require_tls=False
    )
    transport = open_smtp(port, ENVIRONMENT, security="tls", ca_file=str(ca_file), **CREDENTIALS)
    transport.send(SENDER, READER, letter())
    [message] = handler.received
    assert message.login == USERNAME.encode()


def test_implicit_tls_to_a_plain_server_is_a_handshake_error(
    plain_server: int, open_smtp: Callable[..., Transport], ca_file: Path
) -> None:
    transport = open_smtp(plain_server, security="tls", ca_file=str(ca_file))
    with pytest.raises(DeliveryError, match="TLS handshake failed"):
        transport.send(SENDER, READER, letter())


def test_smtp_transport_repr_names_the_server_and_not_the_password(tmp_path: Path) -> None:
    smtp = {"host": "smtp.t.example", **CREDENTIALS}
    mail = config_with_mail(tmp_path, transport="smtp", smtp=smtp).mail
    assert mail is not None
    assert mail.smtp is not None
    transport = SmtpTransport(mail.smtp, password=PASSWORD)
    assert repr(transport) == "SmtpTransport(smtp.t.example:587, security='starttls', user='alice')"


# Rate limiting


def test_rate_limiter_needs_1_8_seconds_for_ten_messages_at_five_per_second() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    for _ in range(10):
        limiter.wait()
    assert clock.now >= 1.8 - 1e-9
    assert clock.now == pytest.approx(1.8)


def test_rate_limiter_does_not_save_up_idle_time_for_a_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(5, clock=clock, sleep=clock.sleep)
    limiter.wait()
    clock.now += 60
    for _ in range(3):
        limiter.wait()
    assert clock.sleeps == pytest.approx([0.2, 0.2])


def test_rate_limiter_at_rate_zero_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(0, clock=clock, sleep=clock.sleep)
    for _ in range(1000):
        limiter.wait()
    assert clock.sleeps == []


class CrowdedClock:
    """A clock that stands still and lets other threads run while it is read.

    It counts how many callers read it at once: reading the time and booking a slot must be
    one step, or two threads could book the same slot.
    """

    def __init__(self) -> None:
        self.most_readers = 0
        self._readers = 0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self._readers += 1
            self.most_readers = max(self.most_readers, self._readers)
        os.sched_yield()
        with self._lock:
            self._readers -= 1
        return 0.0


def test_rate_limiter_gives_each_thread_its_own_start_time() -> None:
    clock = CrowdedClock()
    sleeps: list[float] = []
    limiter = RateLimiter(10, clock=clock, sleep=sleeps.append)

    def start_25_messages() -> None:
        for _ in range(25):
            limiter.wait()

    threads = [threading.Thread(target=start_25_messages) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The clock stands still, so the 200 starts must be booked at 0, 0.1, 0.2, ... 19.9.
    assert sorted(sleeps) == pytest.approx([slot / 10 for slot in range(1, 200)])
    assert clock.most_readers == 1
