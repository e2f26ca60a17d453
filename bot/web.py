"""The HTTP server of ``valuesbot serve``: health, metrics, and whatever adapters mount.

One aiohttp application for everything (DESIGN.md section 2). Adapters add their routes through
``mounts``, functions that receive the ``App`` and the aiohttp application.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from bot.app import App
from dialogs.digest import RUN_ID

Mount = Callable[[App, web.Application], None]

# Requests larger than this are refused with 413 before any handler reads them.
MAX_BODY_BYTES = 1024 * 1024

APP_KEY = web.AppKey("valuesbot", App)


def build_web_app(app: App, mounts: Sequence[Mount] = ()) -> web.Application:
    """The aiohttp application serving ``app``."""
    web_app = web.Application(client_max_size=MAX_BODY_BYTES)
    web_app[APP_KEY] = app
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/digest/{run_id}", digest)
    for mount in mounts:
        mount(app, web_app)
    return web_app


async def healthz(request: web.Request) -> web.Response:
    """200 when the database answers, 503 otherwise."""
    app = request.app[APP_KEY]
    try:
        async with app.database.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as error:
        return web.json_response(
            {"status": "unavailable", "error": type(error).__name__}, status=503
        )
    return web.json_response({"status": "ok", "database": app.database.dialect})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format."""
    app = request.app[APP_KEY]
    body = generate_latest(app.dispatcher.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


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
