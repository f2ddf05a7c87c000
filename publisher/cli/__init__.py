"""The `publisher` command: a thin shell over the library; errors become one red line.

`main` is the root group; importing each command module registers its commands on it.
"""

from __future__ import annotations

from publisher.cli import (  # noqa: F401  (imported for the commands they register)
    admin,
    articles,
    daemon,
    delivery,
    digest,
    inbound,
    site,
    sources,
    subscribers,
)
from publisher.cli.app import main

__all__ = ["main"]
