"""`/r/...`: a tracked link's redirect and the open pixel, counted in aggregate.

The redirect goes (302) to exactly the URL the edition carried for that link: the link
number and the MAC over edition, link and recipient part must both check out, else the
answer is 404, so the route can send nobody anywhere else. A HEAD request is answered but
not counted. A first hit within `[analytics] scanner_window` of the message being made is
marked early: a recipient whose every link was followed early is a link scanner, counted
apart (`store.analytics`).
"""

from __future__ import annotations

from datetime import datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from publisher.analytics.links import PIXEL_GIF, TrackedHit, read_tracked
from publisher.store.analytics import OPEN_LINK, count_hit, link_target
from publisher.web.site import PageError, WebSite

NOT_STORED = "no-store"


class TrackedLinks:
    """The redirect of tracked links and the open pixel."""

    def __init__(self, site: WebSite) -> None:
        self.site = site

    def routes(self) -> list[Route]:
        path = f"{self.site.paths.home}r/{{edition}}/{{link}}/{{part}}/{{mac}}"
        return [Route(path, self.follow, methods=["GET"])]

    async def follow(self, request: Request) -> Response:
        params = request.path_params
        hit = read_tracked(
            self.site.secret,
            str(params["edition"]),
            str(params["link"]),
            str(params["part"]),
            str(params["mac"]),
        )
        if hit is None:
            raise PageError(404)
        counted = request.method == "GET"
        target = await run_in_threadpool(self._record, hit, counted, self.site.now())
        if target is None:
            raise PageError(404)
        headers = {"cache-control": NOT_STORED}
        if hit.link is None:
            return Response(PIXEL_GIF, media_type="image/gif", headers=headers)
        return RedirectResponse(target, status_code=302, headers=headers)

    def _record(self, hit: TrackedHit, counted: bool, now: datetime) -> str | None:
        """The link's URL (or "" for the pixel), its hit counted; None if there is no such link."""
        window = self.site.config.analytics.scanner_window.total_seconds()
        per_subscriber = self.site.config.analytics.per_subscriber
        with self.site.store.transaction() as connection:
            if hit.link is None:
                target: str | None = ""
            else:
                target = link_target(connection, hit.edition_id, hit.link)
            if target is None or not counted:
                return target
            count_hit(
                connection,
                hit.edition_id,
                OPEN_LINK if hit.link is None else hit.link,
                hit.recipient_key,
                hit.subscriber_id if per_subscriber else None,
                0 <= now.timestamp() - hit.made_at <= window,
                now,
            )
        return target
