"""The HTTP server of ``valuesbot serve``: health, metrics, the published barometer results,
and whatever adapters mount.

One aiohttp application for everything (DESIGN.md section 2). Adapters add their routes through
``mounts``, functions that receive the ``App`` and the aiohttp application; one that depends
on an outside service adds a ``HealthReport`` to ``web_app[HEALTH_REPORTS]``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.app import App
from dialogs.barometer.page import CONTENT_SECURITY_POLICY, render_csv, render_json, render_page
from dialogs.barometer.results import RoundResults
from dialogs.digest import RUN_ID
from dialogs.records import LINK_TOKEN

Mount = Callable[[App, web.Application], None]
HealthReport = Callable[[], Mapping[str, object]]
"""What a mounted part adds to ``/healthz``'s body (the state of a service it depends on)."""

# Requests larger than this are refused with 413 before any handler reads them.
MAX_BODY_BYTES = 1024 * 1024

APP_KEY = web.AppKey("valuesbot", App)
HEALTH_REPORTS = web.AppKey("health_reports", list[HealthReport])


def build_web_app(app: App, mounts: Sequence[Mount] = ()) -> web.Application:
    """The aiohttp application serving ``app``."""
    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app[APP_KEY] = app
    web_app[HEALTH_REPORTS] = []
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/barometer", barometer_page)
    web_app.router.add_get("/barometer.json", barometer_json)
    web_app.router.add_get("/barometer.csv", barometer_csv)
    web_app.router.add_get("/digest/{run_id}", digest)
    web_app.router.add_get("/me/{token}", my_record)
    for mount in mounts:
        mount(app, web_app)
    return web_app


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise; the body also holds what the mounted
    parts report (``HEALTH_REPORTS``), which never changes the status: the process is alive
    and serves what does not depend on them."""
    app = request.app[APP_KEY]
    reports: dict[str, object] = {}
    for report in request.app[HEALTH_REPORTS]:
        reports.update(report())
    try:
        async with app.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        return web.json_response(
            {**reports, "status": "unavailable", "error": type(error).__name__}, status=503
        )
    return web.json_response({**reports, "status": "ok", "database": app.database.dialect})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    app = request.app[APP_KEY]
    body = generate_latest(app.dispatcher.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


# Published results change when a round closes or a comment is approved: a few minutes is fine.
_PUBLIC = {
    "Cache-Control": "public, max-age=300",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_OPEN_DATA = {**_PUBLIC, "Access-Control-Allow-Origin": "*"}


async def _history(request: web.Request) -> tuple[App, list[RoundResults]]:
    app = request.app[APP_KEY]
    async with app.database.unit() as stores:
        return app, await app.barometer.published(stores)


async def barometer_page(request: web.Request) -> web.Response:
    """The published barometer results as an HTML page."""
    app, history = await _history(request)
    body = render_page(app.content, history, app.settings.min_group)
    return web.Response(
        text=body,
        content_type="text/html",
        charset="utf-8",
        headers={**_PUBLIC, "Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


async def barometer_json(request: web.Request) -> web.Response:
    """The published barometer results as JSON (open data)."""
    app, history = await _history(request)
    return web.json_response(render_json(app.content, history), headers=_OPEN_DATA)


async def barometer_csv(request: web.Request) -> web.Response:
    """The published barometer results as CSV (open data)."""
    _, history = await _history(request)
    return web.Response(
        text=render_csv(history),
        content_type="text/csv",
        charset="utf-8",
        headers={**_OPEN_DATA, "Content-Disposition": 'inline; filename="barometer.csv"'},
    )


# The digest page is plain HTML with its own inline style and nothing else: no scripts, no
# external assets, no framing by other sites.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "private, max-age=300",
}


async def digest(request: web.Request) -> web.Response:
    """``GET /digest/<id>``: a sent values digest as a web page (400 for a malformed id, 404
    for an unknown one)."""
    app = request.app[APP_KEY]
    run_id = request.match_info["run_id"]
    if not RUN_ID.match(run_id):
        return web.Response(status=400, text="not a digest id\n")
    async with app.database.unit() as stores:
        page = await app.digests.page(stores, run_id)
    if page is None:
        return web.Response(status=404, text="no such digest\n")
    return web.Response(text=page, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


# A person's own record: never cached, never framed, never sent on as a referrer.
RECORD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def my_record(request: web.Request) -> web.Response:
    """``GET /me/<token>.docx`` or ``.json``: a person's own record, through a single-use link
    (400 for a malformed token, 404 for an unknown one, 410 once used or expired)."""
    app = request.app[APP_KEY]
    token = request.match_info["token"]
    if not LINK_TOKEN.fullmatch(token):
        return web.Response(status=400, text="not a download link\n", headers=RECORD_HEADERS)
    async with app.database.unit() as stores:
        download = await app.records.download(stores, token, app.clock.now())
    headers = dict(RECORD_HEADERS)
    if download.filename:
        headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    return web.Response(
        status=download.status,
        body=download.body,
        content_type=download.content_type,
        charset="utf-8" if download.content_type.startswith("text/") else None,
        headers=headers,
    )
