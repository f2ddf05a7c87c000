"""The API's OpenAPI 3.1 document, made from the same endpoint table as the routes."""

from __future__ import annotations

import re
from typing import Any

from publisher import __version__
from publisher.config import Config
from publisher.web.api.table import BODIES, ENDPOINTS, Endpoint

_PARAMETER = re.compile(r"\{([a-z_]+)\}")
_QUERY = {
    "list_subscribers": ("q", "status", "digest", "limit", "cursor"),
    "list_editions": ("digest", "limit", "cursor"),
    "list_articles": ("status",),
}
_ERRORS = {
    "400": "The request is malformed",
    "401": "No valid bearer token",
    "403": "The token may only read",
    "404": "No such record",
    "409": "Not possible in the record's state",
    "422": "The body does not hold what is needed",
    "429": "Too many requests for this token",
}


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.handler,
        "summary": endpoint.summary,
        "responses": {
            str(endpoint.status): {
                "description": endpoint.summary,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
        },
    }
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in _PARAMETER.findall(endpoint.path)
    ]
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in _QUERY.get(endpoint.handler, ())
    ]
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body:
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{endpoint.body}"}}
            },
        }
    if endpoint.scope is None:
        operation["security"] = []
    else:
        operation["x-scope"] = endpoint.scope
        problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for status, description in _ERRORS.items():
            operation["responses"][status] = {"description": description, "content": problem}
    return operation


def openapi_document(config: Config, prefix: str) -> dict[str, Any]:
    """The OpenAPI document: every endpoint under `prefix`, its scope, its body's schema."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in ENDPOINTS:
        paths.setdefault(prefix + endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    schemas: dict[str, Any] = {
        name: model.model_json_schema(ref_template="#/components/schemas/{model}")
        for name, model in BODIES.items()
    }
    schemas["Problem"] = {
        "type": "object",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
        "required": ["type", "title", "status"],
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{config.site.title}: publisher API",
            "version": __version__,
            "description": (
                "Tokens come from `publisher admin token create NAME --scope read|write`; "
                "send one as `Authorization: Bearer <token>`. Errors are problem+json."
            ),
        },
        "servers": [{"url": config.web_base_url.rstrip("/")}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": paths,
    }
