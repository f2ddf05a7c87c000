"""Each claimed row's message: the edition built for its subscriber, with their own links and
the row's return-path tokens."""

from __future__ import annotations

from collections.abc import Mapping

from publisher.analytics.links import open_placeholder, recipient_part, recipient_urls
from publisher.audience.links import digest_unsubscribe_url, preferences_url
from publisher.audience.tokens import load_secret
from publisher.clock import Clock
from publisher.config import Config
from publisher.mail.delivery.ledger import Claimed
from publisher.mail.mime import Envelope, PreparedEdition
from publisher.mail.personal import Recipient
from publisher.mail.stored_editions import Edition
from publisher.mail.transport.returnpath import envelope_sender, mailto_token


class Letters:
    """One edition, prepared once, addressed to each row in turn."""

    def __init__(
        self, config: Config, edition: Edition, environ: Mapping[str, str], clock: Clock
    ) -> None:
        self.config, self.edition, self.clock = config, edition, clock
        self.secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)
        digest = config.digest(edition.digest)
        self.prepared = PreparedEdition(
            config, digest, edition.id, edition.created_at, edition.rendered, self.secret
        )
        self.tracks_opens = open_placeholder(edition.rendered.stand_ins_link_key) in edition.html
        self.tracks = bool(edition.links) or self.tracks_opens

    def message_for(self, claimed: Claimed) -> tuple[Envelope, bytes]:
        """The envelope and bytes of the row's message; a PublisherError if it cannot be built."""
        recipient = self._recipient(claimed)
        token = mailto_token(self.config, self.secret, claimed.id)
        return self.prepared.message_for(claimed.subscriber_id, recipient, token)

    def sender_for(self, claimed: Claimed, envelope: Envelope) -> str:
        """The envelope sender: the row's VERP bounce address, else the edition's sender."""
        return envelope_sender(self.config, self.secret, claimed.id) or envelope.sender

    def _recipient(self, claimed: Claimed) -> Recipient:
        """The subscriber as the digest's message shows them, with their links (and, for an
        edition that tracks, their tracked URLs and pixel)."""
        base_url, digest = self.config.web_base_url, self.edition.digest
        nonce = claimed.token_nonce
        links, open_url = self._tracked_urls(claimed.subscriber_id)
        return Recipient(
            name=claimed.name,
            email=claimed.email,
            unsubscribe_url=digest_unsubscribe_url(
                base_url, self.secret, claimed.subscriber_id, nonce, digest
            ),
            preferences_url=preferences_url(base_url, self.secret, claimed.subscriber_id, nonce),
            links=links,
            open_url=open_url,
        )

    def _tracked_urls(self, subscriber_id: int) -> tuple[tuple[str, ...], str]:
        """A recipient's tracked link URLs and pixel, made now (for the scanner window)."""
        if not self.tracks:
            return (), ""
        part = recipient_part(
            self.secret,
            self.edition.id,
            subscriber_id,
            int(self.clock().timestamp()),
            self.config.analytics.per_subscriber,
        )
        return recipient_urls(
            self.config.web_base_url,
            self.secret,
            self.edition.id,
            len(self.edition.links),
            part,
            self.tracks_opens,
        )
