"""Subscribers: validated addresses, their digests and status, imported and exported as CSV."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, EMAIL_MAX_LENGTH
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from publisher.audience.tokens import new_nonce
from publisher.content.markup import plain_text
from publisher.errors import PublisherError
from publisher.store.database import Store
from publisher.store.events import insert_web_unsubscribe
from publisher.store.schema import subscribers, subscriptions
from publisher.store.statuses import SubscriberStatus

MAX_NAME_LENGTH = 200
# RFC 5322's dot-atom in ASCII: a local part email-validator keeps exactly as it is.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
CSV_HEADER = ("email", "name", "digests")


class SubscriberError(PublisherError):
    """A subscriber cannot be added or changed; the message names the address and the reason."""


@dataclass(frozen=True, slots=True)
class Address:
    """A validated address: `email` as it will be written, `key` as it is compared."""

    email: str
    key: str


@dataclass(frozen=True, slots=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str
    digests: tuple[str, ...]
    token_nonce: str
    hard_bounces: int
    created_at: datetime
    confirmed_at: datetime | None


def check_address(text: str) -> Address:
    """Validate the syntax of an address (no DNS look-up) and normalize it."""
    if "\r" in text or "\n" in text:
        raise SubscriberError(f"bad address {text!r}: contains a line break")
    stripped = text.strip()
    plain = _plain_address(stripped)
    if plain is not None:
        return plain
    try:
        # No SMTPUTF8: a non-ASCII local part could not be addressed in our messages.
        valid = validate_email(stripped, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise SubscriberError(f"bad address {text!r}: {error}") from None
    return Address(email=valid.normalized, key=valid.normalized.casefold())


def _plain_address(text: str) -> Address | None:
    """The common case the quick way: a dot-atom ASCII local part at a domain already checked
    (each domain is checked once, with email-validator). None when anything is less plain:
    email-validator then judges the whole address, and gives the reason when it is bad.

    It gives what email-validator gives: an ASCII dot-atom local part is kept as it is (but
    the role names it lowercases go the long way), the domain is the one it normalized, and
    the lengths it checks are checked.
    """
    local, at, domain = text.partition("@")
    if not at or not _DOT_ATOM.fullmatch(local) or local.lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    checked = _checked_domain(domain)
    if checked is None:
        return None
    normalized, ascii_domain = checked
    longest = max(len(text.encode()), len(f"{local}@{normalized}".encode()))
    if max(longest, len(local) + 1 + len(ascii_domain)) > EMAIL_MAX_LENGTH:
        return None
    email = f"{local}@{normalized}"
    return Address(email=email, key=email.casefold())


@functools.lru_cache(maxsize=100_000)
def _checked_domain(domain: str) -> tuple[str, str] | None:
    """The domain as email-validator normalizes it, and in IDNA ASCII; None if it refuses."""
    try:
        valid = validate_email(f"a@{domain}", check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError:
        return None
    return valid.domain, valid.ascii_domain


def check_name(name: str) -> str:
    """A display name: one line of plain text."""
    if "\r" in name or "\n" in name:
        raise SubscriberError(f"bad name {name!r}: contains a line break")
    cleaned = plain_text(name)
    if len(cleaned) > MAX_NAME_LENGTH:
        raise SubscriberError(f"bad name: longer than {MAX_NAME_LENGTH} characters")
    return cleaned


def check_digests(names: Iterable[str], known: Sequence[str]) -> tuple[str, ...]:
    """Digest names, each one configured; all of them when none are given."""
    chosen = tuple(dict.fromkeys(name.strip() for name in names if name.strip()))
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SubscriberError(
            f"unknown digest {unknown[0]!r} (digests: {', '.join(known) or 'none configured'})"
        )
    return chosen or tuple(known)


def add_subscriber(
    store: Store,
    email: str,
    name: str,
    digests: Sequence[str],
    now: datetime,
    status: str = SubscriberStatus.CONFIRMED,
    *,
    resubscribe: bool = False,
) -> tuple[Subscriber, bool]:
    """Add or update an address; returns the subscriber and whether it is new.

    Someone who unsubscribed or bounced is confirmed again only with `resubscribe` (the
    operator then vouches for their consent); someone who complained, never.
    """
    address, name = check_address(email), check_name(name)
    with store.transaction() as connection:
        existing = _find(connection, address.key)
        if existing is None:
            subscriber_id = _insert(connection, address, name, status, now)
            created = True
        else:
            subscriber_id = existing.id
            _resubscribe(connection, existing, name, status, now, resubscribe)
            created = False
        _set_digests(connection, subscriber_id, digests)
        subscriber = _by_id(connection, subscriber_id)
    return subscriber, created


def remove_subscriber(store: Store, email: str, now: datetime) -> Subscriber:
    """Unsubscribe an address: it is kept so that it is never mailed again."""
    address = check_address(email)
    with store.transaction() as connection:
        existing = _find(connection, address.key)
        if existing is None:
            raise SubscriberError(f"no subscriber {address.email}")
        connection.execute(
            subscribers.update()
            .where(
                subscribers.c.id == existing.id, subscribers.c.status != SubscriberStatus.COMPLAINED
            )
            .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now)
        )
        return _by_id(connection, existing.id)


def find_subscriber(store: Store, email: str) -> Subscriber | None:
    """The subscriber with this address (compared case-insensitively), or None."""
    address = check_address(email)
    with store.transaction() as connection:
        return _find(connection, address.key)


def subscriber_by_id(store: Store, subscriber_id: int) -> Subscriber | None:
    """The subscriber with this id, or None."""
    with store.transaction() as connection:
        row = connection.execute(
            sa.select(subscribers).where(subscribers.c.id == subscriber_id)
        ).first()
        return None if row is None else _subscriber(connection, row._mapping)


def list_subscribers(
    store: Store, status: str | None = None, digest: str | None = None
) -> list[Subscriber]:
    """Subscribers, oldest first, optionally only one status or one digest's."""
    if status is not None and status not in tuple(SubscriberStatus):
        raise SubscriberError(f"unknown status {status!r} (one of {', '.join(SubscriberStatus)})")
    query = sa.select(subscribers).order_by(subscribers.c.id)
    if status is not None:
        query = query.where(subscribers.c.status == status)
    if digest is not None:
        members = sa.select(subscriptions.c.subscriber_id).where(subscriptions.c.digest == digest)
        query = query.where(subscribers.c.id.in_(members))
    with store.transaction() as connection:
        return [_subscriber(connection, row._mapping) for row in connection.execute(query)]


@dataclass(frozen=True, slots=True)
class SignUp:
    """What a sign-up from the web did: the subscriber now, and whether to mail a confirmation."""

    subscriber: Subscriber
    send_confirmation: bool


def request_subscription(
    store: Store,
    email: str,
    name: str,
    digests: Sequence[str],
    now: datetime,
    resend_after: timedelta,
) -> SignUp:
    """Record a sign-up from the web form: the address waits, `pending`, for its confirmation.

    Anyone may type any address into the form, so a sign-up never takes anything away:

    - a confirmed subscriber is left exactly as they are, and is not mailed;
    - a pending one takes the new name and digests, and is mailed again only when the last
      confirmation went out at least `resend_after` ago;
    - one who unsubscribed, complained or bounced keeps that status (and name) and is mailed:
      only their own click on the confirmation link (`confirm_subscriber`) brings them back.

    The confirmation's time is claimed by a conditional update, so sign-ups racing for one
    address mail it at most once per `resend_after`.
    """
    address, name = check_address(email), check_name(name)
    try:
        return _request_subscription(store, address, name, digests, now, resend_after)
    except IntegrityError:
        # Another sign-up inserted the same address first: take theirs as the existing row.
        return _request_subscription(store, address, name, digests, now, resend_after)


def confirm_subscriber(store: Store, subscriber_id: int, now: datetime) -> Subscriber | None:
    """Confirm a pending subscriber, or one who left and signed up again: the person's own
    click on a confirmation link. None if there is no such subscriber."""
    confirmed = {"status": SubscriberStatus.CONFIRMED, "confirmed_at": now, "hard_bounces": 0}
    with store.transaction() as connection:
        connection.execute(
            subscribers.update()
            .where(
                subscribers.c.id == subscriber_id, subscribers.c.status == SubscriberStatus.PENDING
            )
            .values(**confirmed)
        )
        # Coming back is a new subscription: links mailed before it stop working.
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id, subscribers.c.status.in_(LEFT_STATUSES))
            .values(**confirmed, unsubscribed_at=None, token_nonce=new_nonce())
        )
        row = connection.execute(
            sa.select(subscribers).where(subscribers.c.id == subscriber_id)
        ).first()
        return None if row is None else _subscriber(connection, row._mapping)


def confirmation_is_current(subscriber: Subscriber, issued: int) -> bool:
    """Whether a confirmation link issued at `issued` (Unix seconds) may confirm `subscriber`:
    for someone who left, only one mailed after they last confirmed (a sign-up after leaving),
    never the link they used to join before."""
    if subscriber.status not in LEFT_STATUSES or subscriber.confirmed_at is None:
        return True
    return issued > int(subscriber.confirmed_at.timestamp())


def unsubscribe_subscriber(
    store: Store, subscriber_id: int, now: datetime, *, by_link: bool = True
) -> Subscriber | None:
    """Unsubscribe by id, recorded as the subscriber's own (`by_link`) unsubscribe event;
    doing it again changes nothing. None if there is no such subscriber."""
    with store.transaction() as connection:
        changed = connection.execute(
            subscribers.update()
            .where(
                subscribers.c.id == subscriber_id,
                subscribers.c.status.not_in(
                    [SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.COMPLAINED]
                ),
            )
            .values(status=SubscriberStatus.UNSUBSCRIBED, unsubscribed_at=now)
        )
        if changed.rowcount and by_link:
            insert_web_unsubscribe(connection, subscriber_id, None, now)
        row = connection.execute(
            sa.select(subscribers).where(subscribers.c.id == subscriber_id)
        ).first()
        return None if row is None else _subscriber(connection, row._mapping)


def forget_confirmation_sent(store: Store, subscriber_id: int) -> None:
    """Forget that a confirmation was sent (it failed), so the next sign-up mails at once."""
    with store.transaction() as connection:
        connection.execute(
            subscribers.update()
            .where(subscribers.c.id == subscriber_id)
            .values(confirmation_sent_at=None)
        )


# Statuses of people who left or whose address failed: only their consent brings them back.
REFUSED_WITHOUT_CONSENT = (SubscriberStatus.UNSUBSCRIBED, SubscriberStatus.BOUNCED)
# People who left: only their own confirmation click brings them back (imports: imports.py).
LEFT_STATUSES = (*REFUSED_WITHOUT_CONSENT, SubscriberStatus.COMPLAINED)


def _insert(connection: Connection, address: Address, name: str, status: str, now: datetime) -> int:
    result = connection.execute(
        subscribers.insert()
        .values(
            email=address.email,
            email_key=address.key,
            name=name,
            status=status,
            token_nonce=new_nonce(),
            hard_bounces=0,
            created_at=now,
            confirmed_at=now if status == SubscriberStatus.CONFIRMED else None,
        )
        .returning(subscribers.c.id)
    )
    return int(result.scalar_one())


def _resubscribe(
    connection: Connection,
    existing: Subscriber,
    name: str,
    status: str,
    now: datetime,
    resubscribe: bool,
) -> None:
    if existing.status == SubscriberStatus.COMPLAINED:
        raise SubscriberError(
            f"{existing.email} reported our mail as spam: only signing up again on the web "
            "and confirming can bring them back"
        )
    if (
        existing.status in REFUSED_WITHOUT_CONSENT
        and status == SubscriberStatus.CONFIRMED
        and not resubscribe
    ):
        raise SubscriberError(
            f"{existing.email} is {existing.status}: add --resubscribe to subscribe them "
            "again (their consent is then yours to vouch for)"
        )
    values: dict[str, object] = {"name": name or existing.name}
    if existing.status != SubscriberStatus.CONFIRMED and status == SubscriberStatus.CONFIRMED:
        values |= {"status": SubscriberStatus.CONFIRMED, "confirmed_at": now, "hard_bounces": 0}
        if existing.status == SubscriberStatus.UNSUBSCRIBED:
            values |= {"token_nonce": new_nonce(), "unsubscribed_at": None}
    elif existing.status == SubscriberStatus.UNSUBSCRIBED and status == SubscriberStatus.PENDING:
        values |= {
            "status": SubscriberStatus.PENDING,
            "token_nonce": new_nonce(),
            "unsubscribed_at": None,
        }
    connection.execute(subscribers.update().where(subscribers.c.id == existing.id).values(**values))


def _set_digests(connection: Connection, subscriber_id: int, digests: Sequence[str]) -> None:
    connection.execute(subscriptions.delete().where(subscriptions.c.subscriber_id == subscriber_id))
    if digests:
        connection.execute(
            subscriptions.insert(),
            [{"subscriber_id": subscriber_id, "digest": digest} for digest in digests],
        )


def _find(connection: Connection, key: str) -> Subscriber | None:
    row = connection.execute(sa.select(subscribers).where(subscribers.c.email_key == key)).first()
    return None if row is None else _subscriber(connection, row._mapping)


def _by_id(connection: Connection, subscriber_id: int) -> Subscriber:
    row = connection.execute(sa.select(subscribers).where(subscribers.c.id == subscriber_id)).one()
    return _subscriber(connection, row._mapping)


def _subscriber(connection: Connection, row: sa.RowMapping) -> Subscriber:
    digests = connection.execute(
        sa.select(subscriptions.c.digest)
        .where(subscriptions.c.subscriber_id == row["id"])
        .order_by(subscriptions.c.digest)
    ).scalars()
    return Subscriber(
        id=row["id"],
        email=row["email"],
        name=row["name"],
        status=row["status"],
        digests=tuple(digests),
        token_nonce=row["token_nonce"],
        hard_bounces=row["hard_bounces"],
        created_at=row["created_at"],
        confirmed_at=row["confirmed_at"],
    )


def _request_subscription(
    store: Store,
    address: Address,
    name: str,
    digests: Sequence[str],
    now: datetime,
    resend_after: timedelta,
) -> SignUp:
    with store.transaction() as connection:
        existing = _find(connection, address.key)
        if existing is not None and existing.status == SubscriberStatus.CONFIRMED:
            return SignUp(existing, send_confirmation=False)
        if existing is None:
            subscriber_id = _insert(connection, address, name, SubscriberStatus.PENDING, now)
        else:
            subscriber_id = existing.id
            # Someone who left keeps their status and name until their own click confirms.
            if existing.status == SubscriberStatus.PENDING:
                connection.execute(
                    subscribers.update()
                    .where(subscribers.c.id == subscriber_id)
                    .values(name=name or existing.name)
                )
        _set_digests(connection, subscriber_id, digests)
        claimed = connection.execute(
            subscribers.update()
            .where(
                subscribers.c.id == subscriber_id,
                sa.or_(
                    subscribers.c.confirmation_sent_at.is_(None),
                    subscribers.c.confirmation_sent_at <= now - resend_after,
                    # The last confirmation was used: someone who left may ask again at once.
                    subscribers.c.confirmation_sent_at <= subscribers.c.confirmed_at,
                ),
            )
            .values(confirmation_sent_at=now)
        )
        return SignUp(_by_id(connection, subscriber_id), send_confirmation=claimed.rowcount == 1)
