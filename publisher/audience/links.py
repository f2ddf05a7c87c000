"""The links in a subscriber's mail: leave one digest, the preferences page, a new address.

Each is a signed token (see `tokens`) whose MAC covers what the link may do:

- `unsubscribe/<digest>/<token>`: purpose `unsubscribe:<digest>`, leaves that digest only. A
  token of the older form, `unsubscribe/<token>` (purpose `unsubscribe`), still leaves every
  digest, as the messages that carry it promised.
- `preferences/<token>`: purpose `preferences`, the subscriber's own page; the token is the
  capability, so it has no expiry, and a new nonce (a fresh sign-up) revokes it.
- `forget/<token>`: the same token as the preferences page; a confirming POST forgets.
- `address/<token>`: purpose `address:<new address>`, with its issue time: confirms a change of
  address, and only to the address the change asked for.
"""

from __future__ import annotations

from publisher.audience.tokens import make_token, token_is_valid

PREFERENCES = "preferences"


def unsubscribe_purpose(digest: str) -> str:
    """The token purpose of a link that leaves `digest` only."""
    return f"unsubscribe:{digest}"


def address_purpose(new_email: str) -> str:
    """The token purpose of a link that confirms the change to `new_email`."""
    return f"address:{new_email.casefold()}"


def digest_unsubscribe_url(
    base_url: str, secret: bytes, subscriber_id: int, nonce: str, digest: str
) -> str:
    """The link (and List-Unsubscribe URL) that unsubscribes from `digest` only."""
    token = make_token(secret, unsubscribe_purpose(digest), subscriber_id, nonce)
    return f"{base_url}unsubscribe/{digest}/{token}"


def preferences_url(base_url: str, secret: bytes, subscriber_id: int, nonce: str) -> str:
    """The subscriber's preferences page."""
    return f"{base_url}preferences/{make_token(secret, PREFERENCES, subscriber_id, nonce)}"


def forget_url(base_url: str, secret: bytes, subscriber_id: int, nonce: str) -> str:
    """The page that forgets the subscriber (its token is the preferences page's)."""
    return f"{base_url}forget/{make_token(secret, PREFERENCES, subscriber_id, nonce)}"


def address_url(
    base_url: str, secret: bytes, subscriber_id: int, nonce: str, new_email: str, issued: int
) -> str:
    """The link, mailed to `new_email`, that confirms the change of address."""
    token = make_token(secret, address_purpose(new_email), subscriber_id, nonce, issued)
    return f"{base_url}address/{token}"


def link_is_valid(secret: bytes, purpose: str, token: str, nonce: str) -> bool:
    """Whether `token` was signed here for `purpose` and this nonce."""
    return token_is_valid(secret, purpose, token, nonce)
