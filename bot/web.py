"""The HTTP server of ``valuesbot serve``: health, metrics, every feature's web pages
(``bot/pages``), and whatever adapters mount.

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
from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bot.app import App
from bot.pages import NO_STORE, Data, Html, Page, PageError, PageRequest
from bot.pages.oidc import OpenIdProvider
from bot.pages.render import STYLESHEET_PATH, Renderer, Site, Stylesheet, page_headers
from bot.signin import CALLBACK_PATH, SignIn
from dialogs.records import LINK_TOKEN
from storage.engine import DatabaseUnavailable
from storage.migrate import SchemaState, schema_state

Mount = Callable[[App, web.Application], None]
HealthReport = Callable[[], Mapping[str, object]]
"""What a mounted part adds to ``/healthz``'s body (the state of a service it depends on)."""

# Requests larger than this are refused with 413 before any handler reads them.
MAX_BODY_BYTES = 1024 * 1024
# A page's query value longer than this gets 400 (a search is a few words).
MAX_QUERY_VALUE = 500
# A posted form's field longer than this gets 400 (a comment is at most a few paragraphs).
MAX_FORM_VALUE = 5000

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
    # Before the pages: a person's own record as a file (Word is binary, which pages are not).
    web_app.router.add_get(r"/me/{token:[^/]+\.(?:docx|json)}", my_record)
    mount_pages(app, web_app)
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


def _single(
    query: Mapping[str, object], keys: Sequence[str], limit: int = MAX_QUERY_VALUE
) -> dict[str, str]:
    values = {}
    for key in keys:
        value = query[key]
        if not isinstance(value, str):
            raise PageError(f"{key} is not a form field")
        if len(value) > limit:
            raise PageError(f"{key} is too long (at most {limit} characters)")
        values[key] = value
    return values


async def _form(request: web.Request) -> dict[str, str]:
    """A posted form's fields (the first value of each)."""
    if request.method != "POST":
        return {}
    posted = await request.post()
    return _single(posted, list(dict.fromkeys(posted.keys())), MAX_FORM_VALUE)


def _serve(
    app: App, renderer: Renderer, sign_in: SignIn, page: Page
) -> Callable[[web.Request], Awaitable[web.Response]]:
    gated = page.access.needs_sign_in(app.settings.web_access)

    async def handle(request: web.Request) -> web.Response:
        viewer = sign_in.viewer(request)
        if gated and viewer is None:
            return sign_in.to_sign_in(request)
        headers = page_headers(page.cache)
        if sign_in.enabled:
            # The header shows who is signed in: a page is one person's once it names them.
            headers["Vary"] = "Cookie"
            if gated or viewer is not None:
                headers["Cache-Control"] = NO_STORE
        try:
            asked = PageRequest(
                path=request.path,
                match=dict(request.match_info),
                query=_single(request.query, list(dict.fromkeys(request.query.keys()))),
                viewer=viewer,
                signed_in_only=gated,
                base=app.settings.public_url or f"{request.scheme}://{request.host}",
                method=request.method,
                form=await _form(request),
            )
            async with app.database.unit() as stores:
                result = await page.handler(asked, stores)
        except PageError as problem:
            if request.path.endswith(".json"):
                return web.json_response(
                    {"error": str(problem)}, status=problem.status, headers=page_headers(NO_STORE)
                )
            title = "Page not found" if problem.status == 404 else "Sorry, that did not work"
            body = renderer.render(
                Html(template="error.html", title=title, context={"message": str(problem)}),
                path=request.path,
                viewer=viewer,
                here=request.raw_path,
            )
            return web.Response(
                text=body,
                status=problem.status,
                content_type="text/html",
                charset="utf-8",
                headers=page_headers(NO_STORE),
            )
        if isinstance(result, Data):
            if result.open_data and not gated:
                headers["Access-Control-Allow-Origin"] = "*"
            if result.filename:
                disposition = "attachment" if result.download else "inline"
                headers["Content-Disposition"] = f'{disposition}; filename="{result.filename}"'
            if isinstance(result.body, bytes):
                return web.Response(
                    body=result.body, content_type=result.content_type, headers=headers
                )
            return web.Response(
                text=result.body, content_type=result.content_type, charset="utf-8", headers=headers
            )
        body = renderer.render(result, path=request.path, viewer=viewer, here=request.raw_path)
        return web.Response(
            text=body,
            status=result.status,
            content_type="text/html",
            charset="utf-8",
            headers=headers,
        )

    return handle


def provider_of(app: App) -> OpenIdProvider | None:
    """The OpenID provider people sign in with, when ``VALUESBOT_WEB_ACCESS`` asks for
    sign-in (the settings made sure it is all configured)."""
    settings = app.settings
    if not settings.sign_in:
        return None
    assert settings.oidc_issuer
    assert settings.oidc_client_id
    assert settings.oidc_client_secret
    return OpenIdProvider(
        issuer=settings.oidc_issuer,
        client_id=settings.oidc_client_id,
        client_secret=settings.oidc_client_secret.get_secret_value(),
        redirect_uri=f"{settings.public_url}{CALLBACK_PATH}",
        allowed=settings.oidc_allowed,
        now=app.clock.now,
    )


def mount_pages(app: App, web_app: web.Application) -> None:
    """Serve every feature's pages (``app.pages``) behind sign-in where their access and
    ``VALUESBOT_WEB_ACCESS`` say so, the sign-in routes, and the stylesheet."""
    stylesheet = Stylesheet.build(app.settings.nhsuk_frontend)
    site = Site(
        service=app.content.service_name,
        organisation=app.content.organisation,
        stylesheet=stylesheet.href,
        nav=[item for pages in app.pages for item in pages.nav],
        sign_in=app.settings.sign_in,
    )
    renderer = Renderer(site, app.pages)
    provider = provider_of(app)
    sign_in = SignIn(settings=app.settings, clock=app.clock, renderer=renderer, provider=provider)
    sign_in.mount(web_app)
    if provider is not None:

        async def close_provider(_: web.Application) -> None:
            await provider.close()

        web_app.on_cleanup.append(close_provider)

    async def css(request: web.Request) -> web.Response:
        return web.Response(
            body=stylesheet.css,
            content_type="text/css",
            charset="utf-8",
            headers={
                "Cache-Control": "public, max-age=86400",
                "X-Content-Type-Options": "nosniff",
            },
        )

    icon = resources.files("bot.pages").joinpath("static", "favicon.svg").read_bytes()

    async def favicon(request: web.Request) -> web.Response:
        return web.Response(
            body=icon,
            content_type="image/svg+xml",
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    web_app.router.add_get(STYLESHEET_PATH, css)
    web_app.router.add_get("/assets/favicon.svg", favicon)
    web_app.router.add_get("/favicon.ico", favicon)
    for pages in app.pages:
        for page in pages.routes:
            serve = _serve(app, renderer, sign_in, page)
            for method in page.methods:
                if method == "GET":
                    web_app.router.add_get(page.path, serve)
                else:
                    web_app.router.add_route(method, page.path, serve)


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
