"""Errors as RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from http import HTTPStatus

from starlette.responses import Response

PROBLEM_TYPE = "application/problem+json"
PRIVATE = "private, no-store"


class Problem(Exception):
    """A request the API refuses: its status and what to tell the client."""

    def __init__(
        self, status: int, detail: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"{status} {detail}")
        self.status, self.detail, self.headers = status, detail, dict(headers or {})


def problem_response(problem: Problem) -> Response:
    """The problem as a response."""
    body = {
        "type": "about:blank",
        "title": HTTPStatus(problem.status).phrase,
        "status": problem.status,
        "detail": problem.detail or HTTPStatus(problem.status).description,
    }
    return Response(
        json.dumps(body),
        status_code=problem.status,
        media_type=PROBLEM_TYPE,
        headers={"cache-control": PRIVATE, **problem.headers},
    )
