"""Forgetting a subscriber on request: their personal data erased, a keyed hash kept.

What is erased: the address and name (on the subscriber row and on every ledger row), a
pending new address, the pause, the digests, the ledger's error texts, the inbound events'
diagnostics (a server's reply may quote the address), and every tie between the subscriber
and the clicks and opens counted for them (the counts stay). What is kept: the row's id and status
`forgotten` (so the ledger still adds up) and an HMAC-SHA256 of the address under the site's
secret in `forgotten_addresses`. Without the secret the hash names nobody; with it, an import or
an operator's `subscribers add` of the same address is refused with a reason, never silently
re-added. A sign-up from the web still works, since it needs the person's own confirmation,
which also drops the hash.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from publisher.analytics.links import recipient_key
from publisher.audience.subscribers import Address, SubscriberError, Suppression, check_address
from publisher.audience.tokens import new_nonce
from publisher.store.analytics import forget_hits
from publisher.store.database import Store
from publisher.store.events import OPERATOR_SOURCE
from publisher.store.schema import (
    deliveries,
    events,
    forgotten_addresses,
    subscribers,
    subscriptions,
)
from publisher.store.statuses import SubscriberStatus

FORGOTTEN_REASON = "was forgotten on request; only the person can subscribe again, from the web"


def address_hash(secret: bytes, address: Address) -> str:
    """The keyed hash kept of a forgotten address (64 hex digits)."""
    return hmac.new(secret, f"forget:{address.key}".encode(), hashlib.sha256).hexdigest()


def forget_subscriber(store: Store, secret: bytes, subscriber_id: int, now: datetime) -> None:
    """Erase one subscriber's personal data, keeping the keyed hash of their address."""
    with store.transaction() as connection:
        email = connection.scalar(
            sa.select(subscribers.c.email).where(subscribers.c.id == subscriber_id)
        )
        if email is None:
            raise SubscriberError(f"no subscriber with id {subscriber_id}")
        if email:
            _remember(connection, address_hash(secret, check_address(email)), now)
        connection.execute(
            subscriptions.delete().where(subscriptions.c.subscriber_id == subscriber_id)
        )
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(
                email="",
                email_key=f"forgotten:{subscriber_id}",
                name="",
                status=SubscriberStatus.FORGOTTEN,
                token_nonce=new_nonce(),
                pending_email=None,
                paused_until=None,
                unsubscribed_at=now,
            )
        )
        connection.execute(
            deliveries.update()
            .where(deliveries.c.subscriber_id == subscriber_id)
            .values(email="", name="", last_error=None)
        )
        # Tracked clicks and opens stay counted, but no longer tied to the subscriber.
        received = connection.execute(
            sa.select(deliveries.c.edition_id).where(deliveries.c.subscriber_id == subscriber_id)
        ).scalars()
        forget_hits(
            connection,
            subscriber_id,
            [(int(each), recipient_key(secret, int(each), subscriber_id)) for each in received],
        )
        # A bounce's diagnostic text quotes the address; the event itself stays counted. What
        # operators did keeps its "by <operator>": the audit trail names no subscriber.
        connection.execute(
            events.update()
            .where(events.c.subscriber_id == subscriber_id, events.c.source != OPERATOR_SOURCE)
            .values(diagnostic="")
        )


def forget_address(store: Store, secret: bytes, email: str, now: datetime) -> bool:
    """Forget the subscriber with this address; False if there is none (the hash is kept
    all the same, so the address cannot be imported later)."""
    address = check_address(email)
    with store.transaction() as connection:
        subscriber_id = connection.scalar(
            sa.select(subscribers.c.id).where(subscribers.c.email_key == address.key)
        )
        if subscriber_id is None:
            _remember(connection, address_hash(secret, address), now)
            return False
    forget_subscriber(store, secret, int(subscriber_id), now)
    return True


def is_forgotten(store: Store, secret: bytes, address: Address) -> bool:
    """Whether this address was forgotten on request."""
    with store.transaction() as connection:
        found = connection.scalar(
            sa.select(forgotten_addresses.c.address_hash).where(
                forgotten_addresses.c.address_hash == address_hash(secret, address)
            )
        )
    return found is not None


def refuse_forgotten(store: Store, secret: bytes, email: str) -> None:
    """SubscriberError, with the reason, if `email` was forgotten on request."""
    address = check_address(email)
    if is_forgotten(store, secret, address):
        raise SubscriberError(f"{address.email} {FORGOTTEN_REASON}")


def drop_forgotten(store: Store, secret: bytes, email: str) -> None:
    """Drop the hash of an address whose owner subscribed again and confirmed it themselves."""
    digest = address_hash(secret, check_address(email))
    with store.transaction() as connection:
        connection.execute(
            forgotten_addresses.delete().where(forgotten_addresses.c.address_hash == digest)
        )


def remember_hash(store: Store, digest: str, now: datetime) -> None:
    """Keep a hash from another store's export (the same secret makes the same hashes)."""
    with store.transaction() as connection:
        _remember(connection, digest, now)


def forgotten_hashes(store: Store) -> list[str]:
    """Every kept hash, sorted."""
    with store.transaction() as connection:
        query = sa.select(forgotten_addresses.c.address_hash).order_by(
            forgotten_addresses.c.address_hash
        )
        return [str(value) for value in connection.execute(query).scalars()]


def _remember(connection: Connection, digest: str, now: datetime) -> None:
    exists = connection.scalar(
        sa.select(forgotten_addresses.c.address_hash).where(
            forgotten_addresses.c.address_hash == digest
        )
    )
    if exists is None:
        try:
            with connection.begin_nested():
                connection.execute(
                    forgotten_addresses.insert().values(address_hash=digest, forgotten_at=now)
                )
        except IntegrityError:
            pass  # another process kept it first


def import_suppression(store: Store, secret: bytes, now: datetime) -> Suppression:
    """What `subscribers.import_csv` needs to refuse forgotten addresses and keep new hashes."""

    def refusal(address: Address) -> str | None:
        return FORGOTTEN_REASON if is_forgotten(store, secret, address) else None

    def remember(digest: str) -> None:
        remember_hash(store, digest, now)

    return Suppression(refusal, remember)
