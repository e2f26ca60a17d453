"""The Slack adapter: bolt wiring, the events endpoint, Socket Mode, OAuth and the outbound.

``mount`` puts Slack on the one aiohttp server: ``POST /slack/events`` takes slash commands,
interactivity and the Events API on one URL; with OAuth configured, ``GET /slack/install`` and
``GET /slack/oauth_redirect`` install the app in a workspace (slack-sdk's SQLAlchemy installation
and state stores, in our database). With ``SLACK_APP_TOKEN`` the same bolt app also listens over
Socket Mode, for networks that accept no inbound connection.

Every request is checked before bolt sees it: the signature (``SLACK_SIGNING_SECRET``, with the
bot's clock, so a stale or forged request is refused with 401 whatever bolt does), then the
body's shape (400). Bolt then routes it to one listener, which acknowledges at once and leaves
the work to a task of ours: ``dispatcher.handle`` for core events, ``views.publish`` for the Home
tab. ``SlackAdapter.drain`` waits for those tasks (tests, shutdown).

``SlackOutbound`` sends through slack-sdk's ``AsyncWebClient`` on ``SLACK_API_URL``. Replies in a
turn go where the event happened: in a direct conversation as messages, in a channel as messages
or, when private, as ephemeral messages; a private card that asks for inputs, answering a click or
a command, opens as a modal instead (``views.open``); a card that replaces the one clicked is a
``chat.update`` (or, for an ephemeral one, its ``response_url``), and so is a change the outbox
makes to a message posted earlier (``replace``: its channel and ``ts``). Where the bot cannot
post (a channel it is not in, a direct message between two people) the ``response_url`` Slack
gave takes over; without one (a modal's submission), a private answer goes to the person's direct
conversation with the bot.

Proactive messages (the outbox) carry their outbox key as message metadata; ``was_sent`` reads
it back with ``conversations.history`` after a crash. ``SlackChannelMembers`` lists a channel's
members for the barometer (``conversations.members``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.listener.async_builtins import AsyncTokenRevocationListeners
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from adapters.slack import render
from adapters.slack.translate import (
    HomeVisit,
    ReplyRoute,
    check,
    clicked,
    describe,
    display_name,
    home_visit,
    is_command,
    read_body,
    reply_route,
    translate,
)
from bot.app import App
from bot.clock import Clock
from bot.events import (
    Actor,
    AppRemoved,
    ConversationRef,
    Event,
    MessageRef,
    PersonLeft,
    Platform,
)
from bot.inbound import BadPayload
from bot.logs import LIBRARY_LEVEL
from bot.outbound import RateLimited, RecipientUnreachable, Reply, SendError, TemporarySendError
from bot.settings import Settings
from bot.ui import Card, LastDrawn
from bot.web import unavailable
from dialogs.barometer.service import AudienceError
from storage.people import Person, PersonKey
from storage.stores import Stores

log = logging.getLogger("valuesbot.slack")

EVENTS_PATH = "/slack/events"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"

# Bot scopes the app asks for when installed (the same as manifest/slack/manifest.yaml).
SCOPES = (
    "app_mentions:read",
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "groups:history",
    "groups:read",
    "im:history",
    "im:write",
    "mpim:history",
    "mpim:read",
    "users:read",
)

# Slack retries an event it got no answer to within 3 seconds; replies to a turn wait at most
# this long for a rate limit to pass (once), then give up and log.
REPLY_RETRY_MAX_SECONDS = 30.0
# How long one Web API call may take before it counts as a temporary failure.
SEND_TIMEOUT_SECONDS = 10
# Slack's error codes that mean "this recipient cannot be reached", as opposed to "try later"
# (Web API method pages, checked 2026-11): for a channel, chat.postMessage's "the bot is not in
# it or may not post there" (not_in_channel, channel_not_found for a private channel it cannot
# see, is_archived, no_permission, the restricted_action family, ekm_access_denied) and the app
# removed from the workspace (token_revoked). Retrying cannot help until a person acts, so the
# outbox fails these at once and tells someone (docs/delivery.md).
UNREACHABLE = frozenset(
    {
        "account_inactive",
        "channel_not_found",
        "cannot_dm_bot",
        "ekm_access_denied",
        "is_archived",
        "messages_tab_disabled",
        "no_permission",
        "not_in_channel",
        "restricted_action",
        "restricted_action_non_threadable_channel",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "team_access_not_granted",
        "token_revoked",
        "user_disabled",
        "user_not_found",
        "user_not_visible",
        "users_not_found",
        "expired_url",
        "used_url",
        "no_active_hooks",
    }
)
TEMPORARY = frozenset({"fatal_error", "internal_error", "request_timeout", "service_unavailable"})
# The outbox key rides on proactive messages as message metadata of this type (docs/delivery.md).
OUTBOX_EVENT = "valuesbot_outbox"
# conversations.history and conversations.members: Slack recommends pages of at most 200
# (Web API pagination guide, checked 2026-11).
PAGE_SIZE = 200
OAUTH_STATE_SECONDS = 600
# Web API clients kept (one per workspace token).
CLIENTS_KEPT = 256
# A person's profile (users.info: name and time zone) is asked once a day per process; a failed
# lookup is tried again after an hour. The lookup runs before the turn, so it may take this long
# at most (a modal's trigger id lasts three seconds).
PROFILE_MEMORY_SECONDS = 24 * 3600.0
PROFILE_RETRY_SECONDS = 3600.0
PROFILE_LOOKUP_SECONDS = 1.0


class BotClock(SignatureClock):
    """The bot's clock, as slack-sdk's signature verifier reads it (seconds since the epoch)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    def now(self) -> float:
        return self.clock.now().timestamp()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Profile:
    """What ``users.info`` said of a person, until ``expires`` (``time.monotonic``)."""

    expires: float
    name: str = ""
    zone: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TurnRoute:
    """How to answer the event being handled in this task."""

    event_id: str
    route: ReplyRoute
    token: str | None


# Payload types (besides slash commands) that bolt would hand to ``SlackAdapter._listener``
# alone: they skip bolt's dispatch (``SlackAdapter._ours_alone``).
LISTENED_ALONE = frozenset({"block_actions", "view_submission"})

_TURN: ContextVar[TurnRoute | None] = ContextVar("slack_turn", default=None)


def _library_log(name: str) -> logging.Logger:
    """A logger for slack-sdk or bolt, in the library's own name and with its own level set to
    WARNING. Both log whole request and answer bodies at DEBUG (people's answers, comments and
    barometer tokens): bot.logs keeps library loggers at WARNING, whatever VALUESBOT_LOG_LEVEL
    says, and shows their lines without their text. Both also format a debug line of every
    request whenever the logger's own level is unset or DEBUG, even when nothing would print it
    (seen in the profile of a fan-out)."""
    logger = logging.getLogger(name)
    logger.setLevel(LIBRARY_LEVEL)
    return logger


_SDK_LOG = _library_log("slack_sdk.web.valuesbot")
_BOLT_LOG = _library_log("slack_bolt.valuesbot")


def web_client(base_url: str, session: aiohttp.ClientSession | None, token: str) -> AsyncWebClient:
    """A Web API client for one token, through ``session`` (None: a session per call)."""
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        session=session,
        timeout=SEND_TIMEOUT_SECONDS,
        retry_handlers=[],
        logger=_SDK_LOG,
    )


async def web_api(
    base_url: str,
    session: aiohttp.ClientSession | None,
    token: str,
    method: str,
    **params: Any,
) -> dict[str, Any]:
    """One Web API call (a JSON body) through ``session``; the answer's data, or the
    ``SendError`` kind of its failure."""
    return await web_call(web_client(base_url, session, token), method, **params)


async def web_call(client: AsyncWebClient, method: str, **params: Any) -> dict[str, Any]:
    """One Web API call (a JSON body) through ``client``; the answer's data, or the
    ``SendError`` kind of its failure."""
    try:
        response = await client.api_call(method, json=params)
    except SlackApiError as error:
        answer = error.response
        # A SlackResponse has status_code; a body Slack could not parse leaves the raw
        # aiohttp response, which has status.
        status = getattr(answer, "status_code", None) or getattr(answer, "status", None) or 0
        data = getattr(answer, "data", None)
        headers = getattr(answer, "headers", None) or {}
        raise send_error(int(status), data if isinstance(data, Mapping) else {}, headers) from error
    except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as error:
        # Never connected: Slack cannot have seen the request.
        raise TemporarySendError(f"slack: {type(error).__name__}") from error
    except (aiohttp.ClientError, TimeoutError) as error:
        # The request may have reached Slack and only the answer was lost: an outbox message is
        # then looked up (``was_sent``) before it is sent again.
        raise TemporarySendError(f"slack: {type(error).__name__}", maybe_sent=True) from error
    data = response.data
    return data if isinstance(data, dict) else {}


def send_error(status: int, data: Mapping[str, Any], headers: Mapping[str, str]) -> SendError:
    """The ``SendError`` for a failed Slack answer."""
    error = str(data.get("error", "")) or f"http_{status}"
    if status == 429 or error == "ratelimited":
        try:
            retry_after = float(headers.get("Retry-After", "1"))
        except ValueError:
            retry_after = 1.0
        return RateLimited(max(retry_after, 0.0), f"slack: {error}")
    if status >= 500 or error in TEMPORARY:
        return TemporarySendError(f"slack: {error}")
    if error in UNREACHABLE:
        return RecipientUnreachable(error)
    return SendError(f"slack: {error}")


class SlackAdapter:
    """Slack for one valuesbot: the bolt app, its listeners, and the tasks they start."""

    def __init__(
        self,
        app: App,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        settings = app.settings
        self.app = app
        self.settings = settings
        self.sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._identities: dict[str, BotIdentity] = {}
        self._profiles: dict[tuple[str, str], _Profile] = {}
        secret = settings.slack_signing_secret
        self.verifier = (
            SignatureVerifier(secret.get_secret_value(), clock=BotClock(app.clock))
            if secret is not None
            else None
        )
        self.installations: AsyncSQLAlchemyInstallationStore | None = None
        self.bolt = self._bolt(settings)
        self.outbound = SlackOutbound(self)
        self._listen()

    # Wiring

    def _bolt(self, settings: Settings) -> AsyncApp:
        client = AsyncWebClient(
            token=_secret(settings.slack_bot_token) if not settings.slack_oauth else None,
            base_url=settings.slack_api_url,
            timeout=SEND_TIMEOUT_SECONDS,
            logger=_SDK_LOG,
        )
        oauth: AsyncOAuthSettings | None = None
        if settings.slack_oauth:
            engine = self.app.database.engine
            self.installations = AsyncSQLAlchemyInstallationStore(
                client_id=settings.slack_client_id or "", engine=engine
            )
            oauth = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=_secret(settings.slack_client_secret),
                scopes=list(SCOPES),
                install_path=INSTALL_PATH,
                redirect_uri_path=REDIRECT_PATH,
                installation_store=self.installations,
                state_store=AsyncSQLAlchemyOAuthStateStore(
                    expiration_seconds=OAUTH_STATE_SECONDS, engine=engine
                ),
                state_expiration_seconds=OAUTH_STATE_SECONDS,
            )
        bolt_log = _BOLT_LOG
        # Bolt reads SLACK_BOT_TOKEN from the environment by itself and then warns that the
        # client we give (which carries that token and our SLACK_API_URL) wins: it is meant to.
        if _quiet_token_warning not in bolt_log.filters:
            bolt_log.addFilter(_quiet_token_warning)
        return AsyncApp(
            # Bolt names a logger after the app and, on every request, copies its own logger's
            # level, handlers and filters onto it: named "valuesbot", that was the bot's own.
            name=_BOLT_LOG.name,
            client=client,
            # Requests are verified in ``events`` before bolt sees them (with the bot's clock).
            signing_secret=_secret(settings.slack_signing_secret) or "unused",
            request_verification_enabled=False,
            # The listener only acknowledges and starts a task of ours, so bolt may run it before
            # it answers; otherwise bolt runs it in a task and polls for the ack every 10 ms
            # (slack-bolt 1.30, AsyncioListenerRunner), which added 10-20 ms to every answer.
            process_before_response=True,
            oauth_settings=oauth,
            logger=bolt_log,
        )

    def _listen(self) -> None:
        catch_all = re.compile(".*", re.DOTALL)  # every command, action id and callback id
        self.bolt.command(catch_all)(self._listener)
        self.bolt.block_action(catch_all)(self._listener)
        self.bolt.view_submission(catch_all)(self._listener)
        for event in ("message", "app_mention", "member_joined_channel", "app_home_opened"):
            self.bolt.event(event)(self._listener)
        # People leaving (a deactivated account) and the app leaving the workspace. Bolt runs
        # one listener per event: ours, which also forgets the OAuth installation (what bolt's
        # own token revocation listeners would have done) before the bot marks everyone gone.
        self.bolt.event("user_change")(self._listener)
        for event in ("app_uninstalled", "tokens_revoked"):
            self.bolt.event(event)(self._revoked)

    async def _listener(
        self, ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        await ack()
        try:
            self.accept(body, context.bot_token)
        except Exception:  # acknowledged already: Slack gets its 200 whatever happens here
            log.exception("slack payload could not be started kind=%s", describe(body))

    async def _revoked(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
    ) -> None:
        await ack()
        if self.bolt.installation_store is not None:
            revocation = AsyncTokenRevocationListeners(self.bolt.installation_store)
            try:
                if event.get("type") == "app_uninstalled":
                    await revocation.handle_app_uninstalled_events(context)
                else:
                    await revocation.handle_tokens_revoked_events(event, context)
            except Exception:
                log.exception("slack installation could not be forgotten")
        try:
            self.accept(body, None)
        except Exception:
            log.exception("slack payload could not be started kind=%s", describe(body))

    def accept(self, body: Mapping[str, Any], token: str | None) -> None:
        """Start the work for an acknowledged payload (in a task of its own)."""
        try:
            visit = home_visit(body)
            event = translate(body) if visit is None else None
            route = reply_route(body)
        except BadPayload as problem:
            # Over HTTP such a payload got its 400 already (``check``); over Socket Mode it
            # was acknowledged, and goes no further.
            log.warning("slack payload refused kind=%s reason=%s", describe(body), problem)
            return
        if visit is not None:
            self._spawn(self._publish_home(visit, token))
            return
        if event is None:
            log.debug("slack payload ignored kind=%s", describe(body))
            return
        self._spawn(
            self._handle(event, TurnRoute(event_id=event.event_id, route=route, token=token))
        )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, event: Event, route: TurnRoute) -> None:
        _TURN.set(route)  # this task's own context: deliver() finds how to answer
        try:
            if not isinstance(event, PersonLeft | AppRemoved):
                patient = self.app.dispatcher.patient(event)
                async with self.app.dispatcher.intake.enter(patient=patient):
                    event = await self._with_profile(event, route.token)
            await self.app.dispatcher.handle(event)
        except Exception:  # the dispatcher logs a turn's failures; this is a last guard
            log.exception("slack event failed event_id=%s", event.event_id)

    async def _with_profile(self, event: Event, token: str | None) -> Event:
        """The event with its person's name as Slack shows it and their time zone
        (``users.info``, asked at most once a day per person and process): channel posts name
        people as their colleagues know them, and proactive messages wait for their own working
        hours. Slack's payloads carry neither; without an answer in time the event goes as it
        is (named by the handle, when the payload has one)."""
        key = (event.conversation.tenant, event.actor.id)
        now = time.monotonic()
        known = self._profiles.get(key)
        if known is None or known.expires < now:
            known = _Profile(expires=now + PROFILE_RETRY_SECONDS)
            try:
                token = token or await self.token_for(event.conversation.tenant)
                answer = await asyncio.wait_for(
                    self.outbound.call(token, "users.info", user=event.actor.id),
                    PROFILE_LOOKUP_SECONDS,
                )
                user = _dict(answer.get("user"))
                zone = str(user.get("tz") or "") or None
                known = _Profile(
                    name=display_name(user),
                    zone=zone,
                    expires=now + (PROFILE_MEMORY_SECONDS if zone else PROFILE_RETRY_SECONDS),
                )
            except (SendError, TimeoutError) as problem:
                log.debug("no profile for a slack user: %s", problem)
            self._profiles[key] = known
        actor = replace(
            event.actor,
            name=known.name or event.actor.name,
            timezone=known.zone or event.actor.timezone,
        )
        return event if actor == event.actor else replace(event, actor=actor)

    async def _publish_home(self, visit: HomeVisit, token: str | None) -> None:
        try:
            cards = await self.app.home_cards(visit.direct, Actor(id=visit.user))
            view = render.home(cards, direct=visit.direct.conversation)
            token = token or await self.token_for(visit.tenant)
            await self.outbound.call(token, "views.publish", user_id=visit.user, view=view)
        except Exception:
            log.exception("could not publish the Home tab")

    async def drain(self) -> None:
        """Wait until every task started by a payload has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # HTTP

    async def events(self, request: web.Request) -> web.Response:
        """``POST /slack/events``: verify, check, hand to bolt (which acknowledges)."""
        with self.app.dispatcher.acknowledging():
            return await self._events(request)

    async def _events(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            text = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "malformed request"}, status=400)
        if not self._verified(text, request.headers):
            return web.json_response({"error": "invalid request"}, status=401)
        query = request.query_string
        headers: dict[str, str | Sequence[str]] = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = read_body(text, request.headers.get("Content-Type", ""))
            if not body:
                raise BadPayload("the body is empty")
            check(body)
        except ValueError as problem:
            detail = str(problem) if isinstance(problem, BadPayload) else "the body is not readable"
            log.warning("slack request refused status=400 reason=%s", detail)
            return web.json_response({"error": "malformed request", "detail": detail}, status=400)
        if body.get("type") == "url_verification":
            bolt_request = AsyncBoltRequest(body=text, query=query, headers=headers)
            response = await self.bolt.async_dispatch(bolt_request)  # answered with the challenge
            return await to_aiohttp_response(response)
        if not self.app.database.available:
            # Acknowledged, the payload would be lost: Slack retries an event it got a 503 for,
            # and a person sees their command or click fail and can try again.
            log.warning("slack request refused status=503: the database is unavailable")
            return unavailable()
        # Verified and readable: acknowledged now, handed to bolt after. Every listener of ours
        # acknowledges with an empty body, so the answer Slack gets is the same, and it does not
        # wait behind bolt's dispatch. What waits is the body as it came (one string): under a
        # burst thousands wait, and read into dicts they made every garbage collection slow.
        patient = self.app.dispatcher.router.patient_actions
        self._spawn(self._dispatch(text, query, headers, clicked(body) in patient))
        log.debug(
            "slack request kind=%s accepted_ms=%.1f",
            describe(body),
            (time.perf_counter() - started) * 1000,
        )
        return web.Response(status=200)

    async def _dispatch(
        self, text: str, query: str, headers: dict[str, str | Sequence[str]], patient: bool
    ) -> None:
        kind = "unread"
        try:
            async with self.app.dispatcher.intake.enter(patient=patient):
                content_type = headers.get("content-type", "")
                body = read_body(text, content_type if isinstance(content_type, str) else "")
                kind = describe(body)
                if self._ours_alone(body):
                    self.accept(body, _secret(self.settings.slack_bot_token))
                    return
                # Read by our own reader: bolt's decodes the form in Python (0.8 ms for a
                # click, which carries its whole card; ours 25 µs). Bolt takes a request
                # already read only as one that came over a socket; the request was verified
                # (``_verified``) and bolt's own check is off, which is all that mode changes.
                bolt_request = AsyncBoltRequest(
                    body=body, query=query, headers=headers, mode="socket_mode"
                )
                response = await self.bolt.async_dispatch(bolt_request)
        except Exception:
            log.exception("slack payload failed kind=%s", kind)
            return
        if response.status >= 300:
            log.warning("slack payload not handled status=%s kind=%s", response.status, kind)

    def _ours_alone(self, body: Mapping[str, Any]) -> bool:
        """Whether bolt's dispatch of ``body`` could only end in ``_listener`` with the one bot
        token: a slash command, a click or a form sent, on an app with one bot token. Bolt's
        dispatch (its middleware, its matching of every listener, the arguments it builds) cost
        about a tenth of a ``/values`` turn's CPU, for a payload already verified, checked and
        acknowledged; these go to ``accept`` straight. Events (retries, the bot's own messages,
        uninstalls), Slack's SSL check and every payload of an OAuth app, whose token bolt looks
        up by workspace, still go through bolt."""
        if self.installations is not None or "ssl_check" in body:
            return False
        return is_command(body) or body.get("type") in LISTENED_ALONE

    def _verified(self, body: str, headers: Mapping[str, str]) -> bool:
        if self.verifier is None:
            return False  # Socket Mode only: nothing may come in over HTTP
        timestamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not timestamp.isdigit() or not signature:
            return False
        return self.verifier.is_valid(body, timestamp, signature)

    async def install(self, request: web.Request) -> web.Response:
        """``GET /slack/install``: the "Add to Slack" page."""
        flow = self.bolt.oauth_flow
        if flow is None:
            raise web.HTTPNotFound()
        response = await flow.handle_installation(await _bolt_get(request))
        return await to_aiohttp_response(response)

    async def oauth_redirect(self, request: web.Request) -> web.Response:
        """``GET /slack/oauth_redirect``: Slack sends the installer back here."""
        flow = self.bolt.oauth_flow
        if flow is None:
            raise web.HTTPNotFound()
        response = await flow.handle_callback(await _bolt_get(request))
        return await to_aiohttp_response(response)

    # Lifecycle

    async def start(self) -> None:
        """Connect over Socket Mode when an app-level token is configured."""
        token = self.settings.slack_app_token
        if token is not None:
            self._socket = AsyncSocketModeHandler(self.bolt, token.get_secret_value())
            await self._socket.connect_async()  # type: ignore[no-untyped-call]  # bolt leaves it untyped
            log.info("slack socket mode connected")

    async def close(self) -> None:
        """Stop Socket Mode, finish the work under way, close the HTTP session."""
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]  # bolt leaves it untyped
            self._socket = None
        await self.drain()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def session(self) -> aiohttp.ClientSession:
        """The HTTP session every outbound call shares."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS)
            )
        return self._session

    async def identity(self, token: str) -> BotIdentity:
        """The bot's user and bot ids for a token (``auth.test``, asked once per token)."""
        known = self._identities.get(token)
        if known is None:
            answer = await self.outbound.call(token, "auth.test")
            known = BotIdentity(
                user=str(answer.get("user_id", "")), bot=str(answer.get("bot_id", ""))
            )
            self._identities[token] = known
        return known

    async def token_for(self, team: str) -> str:
        """The bot token for a workspace (one token, or the one its installation holds)."""
        if self.installations is None:
            token = _secret(self.settings.slack_bot_token)
            if token is None:
                raise RecipientUnreachable("no bot token")
            return token
        bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None or not bot.bot_token:
            raise RecipientUnreachable("not installed in this workspace")
        return bot.bot_token


@dataclass(frozen=True, slots=True, kw_only=True)
class BotIdentity:
    """Who the bot is in a workspace (``auth.test``)."""

    user: str
    bot: str


def _carries(message: Mapping[str, Any], key: str, me: BotIdentity) -> bool:
    """True when ``message`` is one of ours and its metadata holds outbox ``key``."""
    ours = (me.bot and message.get("bot_id") == me.bot) or (
        me.user and message.get("user") == me.user
    )
    metadata = _dict(message.get("metadata"))
    return (
        bool(ours)
        and metadata.get("event_type") == OUTBOX_EVENT
        and _dict(metadata.get("event_payload")).get("key") == key
    )


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _quiet_token_warning(record: logging.LogRecord) -> bool:
    return "`token` will be unused" not in record.getMessage()


def _secret(value: Any) -> str | None:
    return None if value is None else str(value.get_secret_value())


async def _bolt_get(request: web.Request) -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body="",
        query=request.query_string,
        headers={k.lower(): v for k, v in request.headers.items()},
    )


class SlackOutbound:
    """Sends cards to Slack (the core's ``Outbound``)."""

    def __init__(self, adapter: SlackAdapter) -> None:
        self.adapter = adapter
        self._drawn = LastDrawn(render.message, restamp=render.restamped)  # in Block Kit
        self._clients: dict[str, AsyncWebClient] = {}

    # The core's Outbound

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        turn = _TURN.get()
        if turn is None or turn.event_id != event.event_id:
            turn = TurnRoute(event_id=event.event_id, route=ReplyRoute(), token=None)
        token = turn.token or await self.adapter.token_for(event.conversation.tenant)
        return [
            await self._once_more(self._reply, event, reply, turn.route, token) for reply in replies
        ]

    async def replace(
        self, place: ConversationRef, message: MessageRef, card: Card, *, key: str | None = None
    ) -> None:
        """``chat.update`` of a message posted in ``place`` (its ``ts`` is ``message.id``).
        Slack's refusals to change it (``message_not_found``, ``cant_update_message``,
        ``edit_window_closed``, and those of a channel the bot cannot reach) mean it cannot be
        changed, ever: ``RecipientUnreachable``."""
        token = await self.adapter.token_for(place.tenant)
        channel = message.extra.get("channel") or place.conversation
        try:
            await self._update(token, channel, message.id, card)
        except (RateLimited, TemporarySendError, RecipientUnreachable):
            raise
        except SendError as refused:
            raise RecipientUnreachable(str(refused).removeprefix("slack: ")) from refused

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        token = await self.adapter.token_for(place.tenant)
        return await self._post_message(token, place.conversation, card, place.thread, key)

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        token = await self.adapter.token_for(person.tenant)
        if known is None or known.key != person:
            async with self.adapter.app.database.reading() as stores:
                known = await stores.people.get(person)
        if known is not None and known.direct_conversation:
            try:
                return await self._post_message(token, known.direct_conversation, card, key=key)
            except RecipientUnreachable:
                pass  # a direct message between two people, not with the bot: open ours
        opened = await self.call(token, "conversations.open", users=person.user)
        channel = str(opened.get("channel", {}).get("id", ""))
        if not channel:
            raise RecipientUnreachable("no direct conversation")
        return await self._post_message(token, channel, card, key=key)

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        """Whether a message of ours carrying outbox ``key`` is in the conversation since
        ``since``: its history read with the message metadata (``conversations.history``,
        newest first, page by page; for a thread, ``conversations.replies``). ``RateLimited``
        and ``TemporarySendError`` when Slack cannot answer now (the outbox asks again later);
        None when the bot may not read the history (an installation from before the history
        scopes: reinstall the app)."""
        token = await self.adapter.token_for(to.tenant)
        try:
            if isinstance(to, PersonKey):
                opened = await self.call(token, "conversations.open", users=to.user)
                channel = str(_dict(opened.get("channel")).get("id", ""))
                if not channel:
                    return False
            else:
                channel = to.conversation
            me = await self.adapter.identity(token)
            # A reply in a thread is not in the channel's history: the thread's replies are.
            thread = to.thread if isinstance(to, ConversationRef) else None
            method = "conversations.replies" if thread else "conversations.history"
            cursor = ""
            while True:
                params: dict[str, Any] = {
                    "channel": channel,
                    "oldest": f"{since.timestamp():.6f}",
                    "include_all_metadata": True,
                    "limit": PAGE_SIZE,
                }
                if thread:
                    params["ts"] = thread
                if cursor:
                    params["cursor"] = cursor
                page = await self.call(token, method, **params)
                messages = page.get("messages")
                for message in messages if isinstance(messages, list) else []:
                    if _carries(_dict(message), key, me):
                        return True
                cursor = str(_dict(page.get("response_metadata")).get("next_cursor") or "")
                if not cursor:
                    return False
        except (RateLimited, TemporarySendError):
            raise
        except RecipientUnreachable as gone:
            # The person or channel cannot be reached any more, so a second send would be
            # refused the same way: it cannot make a duplicate.
            log.info("outbox key lookup: recipient unreachable (%s)", gone.reason)
            return False
        except SendError as problem:
            log.warning("cannot read the conversation to find an outbox message: %s", problem)
            return None

    # Sending

    async def call(self, token: str, method: str, **params: Any) -> dict[str, Any]:
        """One Web API call; ``SendError`` kinds when it fails."""
        session = self.adapter.session()
        client = self._clients.get(token)
        if client is None or client.session is not session:
            # One client per token, made again when the shared session is.
            if len(self._clients) >= CLIENTS_KEPT:
                self._clients.clear()
            client = web_client(self.adapter.settings.slack_api_url, session, token)
            self._clients[token] = client
        return await web_call(client, method, **params)

    async def respond(self, url: str, payload: Mapping[str, Any]) -> None:
        """Answer through a ``response_url``."""
        try:
            async with self.adapter.session().post(url, json=dict(payload)) as answer:
                text = await answer.text()
                status = answer.status
                headers = dict(answer.headers)
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TemporarySendError(f"slack response_url: {type(error).__name__}") from error
        data: Mapping[str, Any] = {}
        with contextlib.suppress(ValueError):
            parsed = json.loads(text)
            data = parsed if isinstance(parsed, Mapping) else {}
        if status != 200 or data.get("ok") is False:
            raise send_error(status, {"error": data.get("error") or text.strip()[:64]}, headers)

    async def _once_more(
        self,
        send: Callable[[Event, Reply, ReplyRoute, str], Awaitable[MessageRef | None]],
        *args: Any,
    ) -> MessageRef | None:
        """Send; when rate limited, wait as Slack asks (if not too long) and try once more."""
        try:
            return await send(*args)
        except RateLimited as limited:
            if limited.retry_after > REPLY_RETRY_MAX_SECONDS:
                raise
            await self.adapter.sleep(limited.retry_after)
            return await send(*args)

    async def _post_message(
        self,
        token: str,
        channel: str,
        card: Card,
        thread: str | None = None,
        key: str | None = None,
    ) -> MessageRef:
        drawn = self._drawn(card)
        params: dict[str, Any] = {"channel": channel, "blocks": drawn.blocks, "text": drawn.text}
        if thread:
            params["thread_ts"] = thread
        if key:
            # The outbox key travels with the message, so a send interrupted by a crash can be
            # looked up afterwards (docs/delivery.md).
            params["metadata"] = {"event_type": OUTBOX_EVENT, "event_payload": {"key": key}}
        answer = await self.call(token, "chat.postMessage", **params)
        return MessageRef(id=str(answer.get("ts", "")), extra={"channel": channel})

    async def _reply(
        self, event: Event, reply: Reply, route: ReplyRoute, token: str
    ) -> MessageRef | None:
        """Send one reply; the message posted, when it is one the bot may change later."""
        place = event.conversation
        card = reply.card
        if reply.replace:
            if await self._replace(card, route, token):
                return None
            if not place.is_direct:
                # Nothing to replace: the card answers a modal, which only the person saw, so
                # its answer is for them alone too (a barometer's thanks holds their token).
                await self._private(event, card, route, token)
                return None
        elif reply.private and not place.is_direct:
            await self._private(event, card, route, token)
            return None
        try:
            return await self._post_message(token, place.conversation, card, place.thread)
        except RecipientUnreachable:
            if route.response_url is None:
                raise
            shared = not (reply.private or reply.replace or place.is_direct)
            drawn = self._drawn(card)
            await self.respond(
                route.response_url,
                {
                    "response_type": "in_channel" if shared else "ephemeral",
                    "replace_original": False,
                    "blocks": drawn.blocks,
                    "text": drawn.text,
                },
            )
            # A message posted through a response URL has no ts the bot is told, and the bot
            # may not change it with chat.update where it is not a member.
            return None

    async def _update(self, token: str, channel: str, ts: str, card: Card) -> None:
        """``chat.update``: the message ``ts`` in ``channel`` becomes ``card``."""
        drawn = self._drawn(card)
        await self.call(
            token, "chat.update", channel=channel, ts=ts, blocks=drawn.blocks, text=drawn.text
        )

    async def _replace(self, card: Card, route: ReplyRoute, token: str) -> bool:
        if route.channel and route.message_ts and not route.ephemeral:
            await self._update(token, route.channel, route.message_ts, card)
            return True
        if route.response_url:
            drawn = self._drawn(card)
            # Ephemeral messages can only be replaced through their response_url.
            await self.respond(
                route.response_url,
                {"replace_original": True, "blocks": drawn.blocks, "text": drawn.text},
            )
            return True
        return False  # nothing to replace (a modal was submitted): post the card instead

    async def _private(self, event: Event, card: Card, route: ReplyRoute, token: str) -> None:
        place = event.conversation
        if route.trigger_id and render.modal_choice(card) is not None:
            # A private form in a shared conversation: a modal, so the answers are plainly
            # private and Slack checks the required ones before they are sent.
            view = render.modal(
                card, conversation=place.conversation, kind=str(place.kind), thread=place.thread
            )
            try:
                await self.call(token, "views.open", trigger_id=route.trigger_id, view=view)
                return
            except SendError as problem:  # the trigger lasts 3 seconds; an ephemeral card will do
                log.info("could not open a modal, sending an ephemeral card: %s", problem)
        drawn = self._drawn(card)
        params: dict[str, Any] = {
            "channel": place.conversation,
            "user": event.actor.id,
            "blocks": drawn.blocks,
            "text": drawn.text,
        }
        if place.thread:
            params["thread_ts"] = place.thread
        try:
            await self.call(token, "chat.postEphemeral", **params)
        except RecipientUnreachable:
            if route.response_url is None:
                # A modal's submission brings no response URL, and the bot may not be in the
                # channel the modal came from: the person's conversation with the bot will do.
                await self.post_direct(PersonKey.of(event), card)
                return
            await self.respond(
                route.response_url,
                {
                    "response_type": "ephemeral",
                    "replace_original": False,
                    "blocks": drawn.blocks,
                    "text": drawn.text,
                },
            )


class SlackChannelMembers:
    """Who is in a Slack channel, for a barometer sent to the members of channels
    (``VALUESBOT_BAROMETER_CHANNELS=slack:T0123:C0456``): ``conversations.members``, page by
    page, without the bot itself.

    It stands alone (the CLI opens rounds without a web server): the token is the bot token,
    or with OAuth the workspace's installation, read through an engine of its own that holds
    no connection between calls, because the barometer asks from inside a unit of work (on
    SQLite a second writer connection would wait for that unit's lock)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._installations: AsyncSQLAlchemyInstallationStore | None = None

    async def members(self, place: ConversationRef, stores: Stores) -> list[str]:
        """The user ids of the channel's members, the bot left out. ``AudienceError`` naming
        the channel when Slack will not say (the bot is not in it, the channel is gone)."""
        try:
            return await self._members(place)
        except SendError as problem:
            raise AudienceError(
                f"I could not list the members of Slack channel {place.conversation} "
                f"({problem}). Add me to the channel, or check VALUESBOT_BAROMETER_CHANNELS."
            ) from problem

    async def _members(self, place: ConversationRef) -> list[str]:
        token = await self._token(place.tenant)
        timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            url = self.settings.slack_api_url
            me = await web_api(url, session, token, "auth.test")
            found: dict[str, None] = {}
            cursor = ""
            while True:
                params: dict[str, Any] = {"channel": place.conversation, "limit": PAGE_SIZE}
                if cursor:
                    params["cursor"] = cursor
                page = await web_api(url, session, token, "conversations.members", **params)
                members = page.get("members")
                for member in members if isinstance(members, list) else []:
                    if isinstance(member, str) and member and member != me.get("user_id"):
                        found[member] = None
                cursor = str(_dict(page.get("response_metadata")).get("next_cursor") or "")
                if not cursor:
                    return list(found)

    async def _token(self, team: str) -> str:
        if not self.settings.slack_oauth:
            token = _secret(self.settings.slack_bot_token)
            if token is None:
                raise RecipientUnreachable("no bot token")
            return token
        if self._installations is None:
            engine = create_async_engine(self.settings.database_url, poolclass=NullPool)
            self._installations = AsyncSQLAlchemyInstallationStore(
                client_id=self.settings.slack_client_id or "", engine=engine
            )
        bot = await self._installations.async_find_bot(enterprise_id=None, team_id=team)
        if bot is None or not bot.bot_token:
            raise RecipientUnreachable("not installed in this workspace")
        return bot.bot_token


SLACK_KEY = web.AppKey("slack", SlackAdapter)


def mount(app: App, web_app: web.Application) -> None:
    """Put Slack on the HTTP server (the ``Mount`` listed in ``adapters.web_mounts``)."""
    adapter = SlackAdapter(app)
    app.dispatcher.connect(Platform.SLACK, adapter.outbound)
    web_app[SLACK_KEY] = adapter
    web_app.router.add_post(EVENTS_PATH, adapter.events)
    if app.settings.slack_oauth:
        web_app.router.add_get(INSTALL_PATH, adapter.install)
        web_app.router.add_get(REDIRECT_PATH, adapter.oauth_redirect)

    async def start(_: web.Application) -> None:
        await adapter.start()

    async def stop(_: web.Application) -> None:
        await adapter.close()

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)
