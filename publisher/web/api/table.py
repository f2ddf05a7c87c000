"""The API's table: each endpoint's method, path, scope and summary, and the request bodies'
models, read by the routes (`endpoints`) and the OpenAPI document (`openapi`) alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from publisher.operators.apitokens import Scope


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One API endpoint: what the routes serve and the OpenAPI document describes."""

    method: str
    path: str  # under /api/v1/, with {parameters}
    handler: str  # the name of the Api method answering it
    scope: str | None  # None: public
    summary: str
    status: int = 200
    body: str | None = None  # the name of the request body's model


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "openapi.json", "openapi", None, "This document"),
    Endpoint("GET", "status", "status", Scope.READ, "What `publisher status` shows"),
    Endpoint("GET", "subscribers", "list_subscribers", Scope.READ, "Subscribers, by id, in pages"),
    Endpoint(
        "POST",
        "subscribers",
        "create_subscriber",
        Scope.WRITE,
        "Add a subscriber",
        201,
        "NewSubscriber",
    ),
    Endpoint("GET", "subscribers/{id}", "get_subscriber", Scope.READ, "One subscriber"),
    Endpoint(
        "PUT",
        "subscribers/{id}/digests",
        "set_digests",
        Scope.WRITE,
        "Set a subscriber's digests",
        200,
        "Digests",
    ),
    Endpoint("POST", "subscribers/{id}/unsubscribe", "unsubscribe", Scope.WRITE, "Unsubscribe"),
    Endpoint(
        "POST",
        "subscribers/{id}/forget",
        "forget",
        Scope.WRITE,
        "Erase a subscriber's personal data",
    ),
    Endpoint("GET", "editions", "list_editions", Scope.READ, "Editions, newest first"),
    Endpoint(
        "POST",
        "editions",
        "create_edition",
        Scope.WRITE,
        "Make the next edition of a digest",
        201,
        "NewEdition",
    ),
    Endpoint("GET", "editions/{id}", "get_edition", Scope.READ, "One edition, with its ledger"),
    Endpoint(
        "POST",
        "editions/{id}/send",
        "send_edition",
        Scope.WRITE,
        "Queue the edition's send",
        202,
        "Send",
    ),
    Endpoint(
        "GET",
        "editions/{id}/preview",
        "preview_edition",
        Scope.READ,
        "The edition as a stand-in reader gets it",
    ),
    Endpoint("GET", "articles", "list_articles", Scope.READ, "Articles, newest first"),
    Endpoint("GET", "sources", "list_sources", Scope.READ, "Upstream sources and their state"),
    Endpoint(
        "POST",
        "sources/{name}/fetch",
        "fetch_source",
        Scope.WRITE,
        "Make a source due now",
        202,
    ),
)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NewSubscriber(Body):
    """A subscriber to add: confirmed at once (the operator vouches), or sent a confirmation."""

    email: Annotated[str, Field(min_length=3, max_length=320)]
    name: Annotated[str, Field(max_length=200)] = ""
    digests: Annotated[tuple[str, ...], Field(max_length=50)] = ()
    confirmed: bool = False


class Digests(Body):
    """The digests a subscriber receives (at least one)."""

    digests: Annotated[tuple[str, ...], Field(min_length=1, max_length=50)]


class NewEdition(Body):
    """The digest whose next edition to make."""

    digest: Annotated[str, Field(min_length=1, max_length=64)]


class Send(Body):
    """How to send: `force` a stale edition, send `retry_uncertain` or `retry_failed` rows."""

    force: bool = False
    retry_uncertain: bool = False
    retry_failed: bool = False


BODIES: dict[str, type[Body]] = {
    "NewSubscriber": NewSubscriber,
    "Digests": Digests,
    "NewEdition": NewEdition,
    "Send": Send,
}
