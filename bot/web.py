"""The HTTP server of ``valuesbot serve``: health, metrics, the published barometer results,
and whatever adapters mount.

One aiohttp application for everything (DESIGN.md section 2). Adapters add their routes through
``mounts``, functions that receive the ``App`` and the aiohttp application; one that depends
on an outside service adds a ``HealthReport`` to ``web_app[HEALTH_REPORTS]``.

Three health endpoints, for three questions an orchestrator asks:

- ``GET /livez``: is the process alive (its event loop answers)? Always 200: restarting it would
  not bring a lost database back.
- ``GET /healthz``: is it working? 200 when the database answers, 503 when not; the body also
  says how the services the adapters depend on are (for people and monitoring; the container
  image's ``HEALTHCHECK``).
- ``GET /readyz``: should it be sent requests? 503 while it is stopping (SIGTERM), while the
  database does not answer and while the schema is behind this version; 200 otherwise.

Whatever needs the database while it is unavailable is answered 503 with ``Retry-After`` at
once (``storage.engine.DatabaseUnavailable``), never a 500 or a wait.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.app import App
from dialogs.barometer.page import CONTENT_SECURITY_POLICY, render_csv, render_json, render_page
from dialogs.barometer.results import RoundResults
from dialogs.digest import RUN_ID
from storage.engine import DatabaseUnavailable
from storage.migrate import SchemaState, schema_state

Mount = Callable[[App, web.Application], None]
HealthReport = Callable[[], Mapping[str, object]]
"""What a mounted part adds to ``/healthz``'s body (the state of a service it depends on)."""

# Requests larger than this are refused with 413 before any handler reads them.
MAX_BODY_BYTES = 1024 * 1024

# Seconds a client is asked to wait before trying again while the database is unavailable
# (the database is probed every half second; a restart takes a few seconds).
RETRY_AFTER_SECONDS = 2

APP_KEY = web.AppKey("valuesbot", App)
HEALTH_REPORTS = web.AppKey("health_reports", list[HealthReport])


def unavailable() -> web.Response:
    """The answer to a request that needs the database while it cannot be reached."""
    return web.json_response(
        {"error": "the database is unavailable; try again shortly"},
        status=503,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@web.middleware
async def database_unavailable(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A handler that found the database unavailable is answered 503, not 500."""
    try:
        return await handler(request)
    except DatabaseUnavailable:
        return unavailable()


def build_web_app(app: App, mounts: Sequence[Mount] = ()) -> web.Application:
    """The aiohttp application serving ``app``."""
    web_app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[database_unavailable])
    web_app[APP_KEY] = app
    web_app[HEALTH_REPORTS] = []
    web_app.router.add_get("/livez", livez)
    web_app.router.add_get("/readyz", readyz)
    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.router.add_get("/barometer", barometer_page)
    web_app.router.add_get("/barometer.json", barometer_json)
    web_app.router.add_get("/barometer.csv", barometer_csv)
    web_app.router.add_get("/digest/{run_id}", digest)
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
    error = await app.database.probe()
    if error is not None:
        return web.json_response(
            {**reports, "status": "unavailable", "error": type(error).__name__}, status=503
        )
    return web.json_response({**reports, "status": "ok", "database": app.database.dialect})


async def livez(request: web.Request) -> web.Response:
    """200 while the process's event loop answers (a liveness probe)."""
    return web.json_response({"status": "alive"})


async def readyz(request: web.Request) -> web.Response:
    """200 when this instance should be sent requests: not stopping, the database answering
    and its schema not behind this version (a newer one's, during a rolling update, is fine);
    503 otherwise, saying which (a readiness probe)."""
    app = request.app[APP_KEY]
    if app.stopping:
        return web.json_response({"status": "stopping"}, status=503)
    error = await app.database.probe()
    if error is not None:
        return web.json_response(
            {"status": "unavailable", "error": type(error).__name__}, status=503
        )
    try:
        schema = await schema_state(app.database.engine)
    except Exception as problem:
        return web.json_response(
            {"status": "unavailable", "error": type(problem).__name__}, status=503
        )
    if schema is SchemaState.BEHIND:
        return web.json_response(
            {"status": "schema behind: run valuesbot db upgrade", "schema": str(schema)},
            status=503,
        )
    return web.json_response(
        {"status": "ready", "database": app.database.dialect, "schema": str(schema)}
    )


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
