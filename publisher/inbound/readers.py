"""Read inbound mail from a Maildir or standard input, classify it, apply it, file it away.

Nothing is deleted: a read message is moved to the Maildir++ subfolder `.processed`, or
`.unrecognized` when it is none of the kinds `classify` knows, for a person to read. A
message is moved only after its events are stored, so a failure (the store is down) leaves
it where it was, to be read again; reading it again changes nothing.
"""

from __future__ import annotations

import logging
import mailbox
import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from publisher.audience.tokens import load_secret
from publisher.clock import Clock
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.inbound.apply import DUPLICATE, UNMATCHED, Applied, apply_event
from publisher.inbound.classify import Classification, classify_message
from publisher.store.database import Store
from publisher.store.statuses import EventKind

log = logging.getLogger(__name__)

PROCESSED, UNRECOGNIZED = "processed", "unrecognized"
_SHOWN = (
    EventKind.HARD_BOUNCE,
    EventKind.SOFT_BOUNCE,
    EventKind.COMPLAINT,
    EventKind.UNSUBSCRIBE,
    EventKind.AUTO_REPLY,
    EventKind.UNKNOWN,
)


@dataclass(slots=True)
class InboundReport:
    """What one `publisher inbound` read and did."""

    read: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    unmatched: int = 0
    errors: list[str] = field(default_factory=list)

    def add(self, classification: Classification, applied: list[Applied]) -> None:
        """Count one message's classification and what applying its events did."""
        self.read += 1
        self.kinds[classification.kind] += 1
        self.duplicates += sum(result.outcome == DUPLICATE for result in applied)
        self.unmatched += sum(result.outcome == UNMATCHED for result in applied)

    def summary(self) -> str:
        """One line: messages read, by kind, then duplicates and unmatched events."""
        kinds = ", ".join(f"{self.kinds[kind]} {kind.replace('_', ' ')}" for kind in _SHOWN)
        return (
            f"inbound: {self.read} read ({kinds}); {self.duplicates} already seen, "
            f"{self.unmatched} for no subscriber, {len(self.errors)} errors"
        )


class Inbound:
    """Classify and apply messages for one site: the store, the config, the signing secret."""

    def __init__(
        self, store: Store, config: Config, environ: Mapping[str, str], clock: Clock
    ) -> None:
        self.store, self.config, self.clock = store, config, clock
        self.secret = load_secret(config.web.secret_env, config.path.resolve().parent, environ)

    def process(self, raw: bytes, report: InboundReport) -> Classification:
        """Classify one message and apply its events; returns the classification."""
        classification = classify_message(raw)
        now = self.clock()
        applied = [
            apply_event(self.store, self.config, self.secret, event, now)
            for event in classification.events
        ]
        report.add(classification, applied)
        log.info("message %s: %s", classification.message_id, classification.kind)
        return classification


def folder_for(classification: Classification) -> str:
    """The subfolder a read message is filed in."""
    return UNRECOGNIZED if classification.kind == EventKind.UNKNOWN else PROCESSED


def inbound_maildir(config: Config) -> Path | None:
    """`[inbound] maildir`, resolved beside the config file; None when not set."""
    folder = config.inbound.maildir
    return None if folder is None else config.path.resolve().parent / folder


def read_maildir(inbound: Inbound, path: Path, report: InboundReport) -> InboundReport:
    """Process every message in the Maildir at `path` (new and cur), filing each away."""
    if not (path / "new").is_dir() or not (path / "cur").is_dir():
        raise PublisherError(f"{path}: not a Maildir (it needs cur/, new/ and tmp/ folders)")
    for subfolder in ("new", "cur"):
        for entry in sorted(os.scandir(path / subfolder), key=lambda e: e.name):
            if entry.name.startswith(".") or not entry.is_file():
                continue
            source = Path(entry.path)
            try:
                raw = source.read_bytes()
            except OSError as error:
                report.errors.append(f"{source}: cannot read: {error.strerror}")
                continue
            classification = inbound.process(raw, report)
            name = entry.name if subfolder == "cur" or ":" in entry.name else f"{entry.name}:2,"
            target = _maildir_folder(path, folder_for(classification)) / "cur" / name
            os.replace(source, target)
    return report


def read_one(inbound: Inbound, raw: bytes, report: InboundReport) -> Classification:
    """Process one message (from a pipe); file a copy in `[inbound] maildir` if there is one."""
    classification = inbound.process(raw, report)
    keep = inbound_maildir(inbound.config)
    if keep is not None:
        folder = _maildir_folder(keep, folder_for(classification))
        mailbox.Maildir(folder, create=False).add(raw)
    elif classification.kind == EventKind.UNKNOWN:
        log.warning(
            "message %s is unrecognized and not kept: set [inbound] maildir to keep such mail",
            classification.message_id,
        )
    return classification


def _maildir_folder(root: Path, name: str) -> Path:
    """The Maildir++ subfolder `.name` of `root`, made (with cur, new, tmp) if missing."""
    folder = root / f".{name}"
    for part in ("cur", "new", "tmp"):
        (folder / part).mkdir(parents=True, exist_ok=True, mode=0o700)
    (folder / "maildirfolder").touch(exist_ok=True)
    return folder
