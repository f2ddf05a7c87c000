"""Test sends: an edition as a subscriber would get it, mailed to a few addresses to check.

`send_proofs` renders the next edition of a digest (or its latest, if nothing is new), marks the
subject `[TEST]`, personalizes it for a stand-in subscriber at each address, and sends it
through the configured transport. It records no edition, moves no watermark and writes no
ledger row; the stand-in's unsubscribe and preferences links name nobody, so they lead to a
"not found" page.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from publisher.audience.subscribers import check_address
from publisher.clock import Clock, system_clock
from publisher.config import Config, DigestConfig
from publisher.mail.editions import edition_by_id, next_or_latest_edition
from publisher.mail.mime import PreparedEdition
from publisher.mail.render import Recipient, RenderedEdition
from publisher.mail.transport.opening import open_transport
from publisher.store.database import Store

TEST_PREFIX = "[TEST] "
STAND_IN_NAME = "Test Reader"


@dataclass(frozen=True, slots=True)
class ProofReport:
    """What a test send did: the subject sent, to whom, and from which edition."""

    subject: str
    addresses: tuple[str, ...]
    stored: bool

    def summary(self) -> str:
        """One line: what was sent where."""
        source = "the latest edition" if self.stored else "the next edition"
        return f"send-test: {self.subject!r} ({source}) sent to {', '.join(self.addresses)}"


def stand_in(config: Config, digest: str, email: str) -> Recipient:
    """A subscriber who is nobody: their links carry no valid token."""
    base = config.web_base_url
    return Recipient(
        name=STAND_IN_NAME,
        email=email,
        unsubscribe_url=f"{base}unsubscribe/{digest}/test-send",
        preferences_url=f"{base}preferences/test-send",
    )


def send_proofs(
    store: Store,
    config: Config,
    name: str,
    addresses: Sequence[str],
    environ: Mapping[str, str],
    clock: Clock = system_clock,
) -> ProofReport:
    """Mail the next (or latest) edition of digest `name`, marked [TEST], to `addresses`."""
    digest = config.digest(name)
    emails = tuple(check_address(address).email for address in addresses)
    proof = next_or_latest_edition(store, config, name, clock)
    rendered = dataclasses.replace(proof.rendered, subject=TEST_PREFIX + proof.rendered.subject)
    _mail_proofs(config, digest, rendered, emails, environ, clock)
    return ProofReport(rendered.subject, emails, proof.stored)


def send_edition_proof(
    store: Store,
    config: Config,
    edition_id: int,
    addresses: Sequence[str],
    environ: Mapping[str, str],
    clock: Clock = system_clock,
) -> ProofReport:
    """Mail a stored edition, marked [TEST], to `addresses` (the dashboard's test send)."""
    edition = edition_by_id(store, edition_id)
    digest = config.digest(edition.digest)
    emails = tuple(check_address(address).email for address in addresses)
    rendered = dataclasses.replace(edition.rendered, subject=TEST_PREFIX + edition.subject)
    _mail_proofs(config, digest, rendered, emails, environ, clock)
    return ProofReport(rendered.subject, emails, stored=True)


def _mail_proofs(
    config: Config,
    digest: DigestConfig,
    rendered: RenderedEdition,
    emails: Sequence[str],
    environ: Mapping[str, str],
    clock: Clock,
) -> None:
    # A fresh number names the message, so mail clients never fold two test sends into one.
    number = secrets.randbelow(2**31)
    prepared = PreparedEdition(config, digest, number, clock(), rendered)
    transport = open_transport(config, environ)
    try:
        for email in emails:
            envelope, message = prepared.message_for(0, stand_in(config, digest.name, email))
            transport.send(envelope.sender, envelope.recipient, message)
    finally:
        transport.close()
