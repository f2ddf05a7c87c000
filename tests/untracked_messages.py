"""The messages of the sample site's first daily edition to two fixed subscribers, sent to a
Maildir: the bytes analytics must leave alone when it is off.

Only functions that predate analytics are used, so the same code run against the code before
analytics made the digests in `UNTRACKED_DIGESTS` (tests/test_analytics.py).
"""

from __future__ import annotations

import hashlib
import mailbox
import shutil
from pathlib import Path

import sqlalchemy as sa

from publisher.audience.subscribers import add_subscriber
from publisher.config import load_config
from publisher.mail.delivery.send import send_edition
from publisher.mail.editions import create_edition
from publisher.site.gather import gather
from publisher.store.database import open_store
from publisher.store.schema import subscribers

REPO = Path(__file__).resolve().parent.parent
SECRET = {"PUBLISHER_SECRET": "untracked-messages-secret-0123456789"}


def untracked_message_digests(folder: Path, extra_config: str = "") -> list[str]:
    """SHA-256 of each message, in the subscribers' order."""
    from tests.conftest import MovableClock

    shutil.copytree(REPO / "content", folder / "content")
    shutil.copy(REPO / "config.toml", folder / "config.toml")
    with (folder / "config.toml").open("a", encoding="utf-8") as config_file:
        config_file.write(extra_config)
    config = load_config(folder / "config.toml")
    clock = MovableClock()
    with open_store(config.store_url) as store:
        gather(store, config, clock)
        for address, name in (("robin@example.org", "Robin Reader"), ("kim@example.org", "")):
            add_subscriber(store, address, name, ("daily",), clock())
        with store.transaction() as connection:
            connection.execute(sa.update(subscribers).values(token_nonce="fixed-nonce"))
        outcome = create_edition(store, config, "daily", clock)
        assert outcome.edition is not None
        send_edition(store, config, outcome.edition.id, SECRET, clock=clock)
    box = mailbox.Maildir(config.maildir, create=False)
    found = sorted(
        (box.get_bytes(key) for key in box.iterkeys()), key=lambda data: b"robin" in data
    )
    return [hashlib.sha256(data).hexdigest() for data in found]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        print(untracked_message_digests(Path(folder)))
