"""Routes of the status page: `/` (the page), `/status/timeline.svg` (its timeline) and its
trend charts (`/status/apps/{app}/restore-time.svg`, `/status/apps/{app}/backup-sizes.svg`,
`/status/storage.svg`), public as the page is (and rate limited alike for anonymous callers)."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from dr_assets.core.errors import CatalogError, ReportError
from dr_assets.core.health.timeline import MAX_TIMELINE_DAYS, backup_timeline
from dr_assets.core.health.trend_charts import BACKUP_SIZES, RESTORE_TIME, STORAGE
from dr_assets.core.health.trend_history import TREND_DAYS, app_trend, storage_trend
from graphql_api.params import BadParameter, whole_number
from graphql_api.state import ApiState
from graphql_api.status_page.timeline_svg import render_timeline_svg

COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                  "Cache-Control": "no-cache"}


def _hashes(html: str, tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, re.S)
    return " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(b.encode()).digest()).decode()}'"
        for b in blocks)


@cache
def page() -> tuple[str, str]:
    """The page and a Content-Security-Policy that allows exactly its own script and style."""
    html = resources.files(__package__).joinpath("page.html").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; script-src {_hashes(html, 'script')}; "
           f"style-src {_hashes(html, 'style')}; img-src 'self'; connect-src 'self'; "
           "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
    return html, csp


async def status_page(request: Request) -> Response:
    html, csp = page()
    return HTMLResponse(html, headers={**COMMON_HEADERS, "Content-Security-Policy": csp})


async def timeline_svg(request: Request) -> Response:
    try:
        days = whole_number(request, "days", 30, 1, MAX_TIMELINE_DAYS)
    except BadParameter as exc:
        return exc.text()
    state: ApiState = request.app.state.api
    try:
        timelines = await state.workers.run(backup_timeline, state.runtime.config,
                                            state.runtime.catalog, datetime.now(UTC), days)
    except ReportError as exc:
        return PlainTextResponse(str(exc), status_code=400)
    except CatalogError as exc:
        return PlainTextResponse(str(exc), status_code=503)
    return Response(render_timeline_svg(timelines), media_type="image/svg+xml",
                    headers=COMMON_HEADERS)


async def trend_svg(request: Request) -> Response:
    """One trend chart of the last ?days (1-366, default 90) UTC days, today included."""
    try:
        days = whole_number(request, "days", TREND_DAYS, 1, MAX_TIMELINE_DAYS)
    except BadParameter as exc:
        return exc.text()
    state: ApiState = request.app.state.api
    config = state.runtime.config
    chart = request.scope["route"].name
    app = request.path_params.get("app")
    if app is not None and app not in config.apps:
        return PlainTextResponse(f"no app named {app[:80]!r} in dr.toml", status_code=404)
    now = datetime.now(UTC)
    try:
        # The forecast lines come from the numbers the chart shows (shared, once a minute).
        forecast = await state.workers.run(state.forecast)
        if app is None:
            svg = await state.workers.run(storage_trend, config, state.runtime.catalog, now,
                                          days, forecast)
        else:
            svg = await state.workers.run(app_trend, chart, config, state.runtime.catalog,
                                          app, now, days, forecast)
    except CatalogError as exc:
        return PlainTextResponse(str(exc), status_code=503)
    return Response(svg, media_type="image/svg+xml", headers=COMMON_HEADERS)


def status_page_routes() -> list[Route]:
    return [Route("/", status_page, methods=["GET"]),
            Route("/status/timeline.svg", timeline_svg, methods=["GET"]),
            Route("/status/apps/{app}/restore-time.svg", trend_svg, methods=["GET"],
                  name=RESTORE_TIME),
            Route("/status/apps/{app}/backup-sizes.svg", trend_svg, methods=["GET"],
                  name=BACKUP_SIZES),
            Route("/status/storage.svg", trend_svg, methods=["GET"], name=STORAGE)]
