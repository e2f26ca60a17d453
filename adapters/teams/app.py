"""The Teams adapter on the Microsoft 365 Agents SDK: ``POST /api/messages`` in, the Bot
Connector out.

Inbound, each request must carry a Bot Framework channel token (``adapters.teams.tokens``:
signed by the channel service's published keys, issued by the Bot Framework, for the bot's app
id) whose ``serviceurl`` claim names the activity's ``serviceUrl``; requests without a token are
let in only when the SDK's own ``ANONYMOUS_ALLOWED`` setting says so (local testing, no bot
identity), and a request with one is always checked. It is then translated to a core event and
answered at once (202, or the invoke response Teams waits for): the turn itself
(``Dispatcher.handle``: the database work and the replies) runs in the background, events of one
conversation in the order they came. So a slow database or a slow connector never holds Teams'
request open past its 15 second limit. Every client error is a 4xx: a missing, malformed,
unsigned or forged token is 401 and changes nothing; a body that is not an activity is 400; keys
that cannot be fetched are 503.

The service URL an event carries, and so every one stored (``people``, ``conversations``), is
the one the verified token names: the bot's own token only ever goes to a Bot Connector that
the channel service vouched for.

Outbound, every message is sent proactively to a conversation reference: the one the event came
from, or one stored at first contact (``people``/``conversations``: service URL, tenant,
conversation id and the bot's account), through a ``TeamsConnector``, which turns the
connector's answers into the core's ``SendError`` kinds (docs/delivery.md). The SDK's
``CloudAdapter`` and its connector client factory acquire the bot's token with MSAL and build
the connector client; serve keeps those clients and posts messages on them directly, a command
runs an SDK proactive turn for each call (``TeamsConnector.call``). A proactive message carries
its outbox key in ``channelData``. ``TeamsChannelMembers`` lists a channel's members
for the barometer; what a channel is called is kept with it (``TeamsBot._named``).

Private replies in a channel or group chat go to the person's direct chat with the bot (opened
proactively if need be, which Teams allows once the app is installed in a team they are in);
when that is impossible the channel is told, without any of the content, that an answer is
waiting in a chat with the bot. Card inputs are local to each person's Teams client, so answers
given on a channel card are never seen by others anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import ClientConnectorError, ClientError, ClientResponseError, web
from microsoft_agents.activity import (
    Activity,
    Attachment,
    ChannelAccount,
    ConversationAccount,
    ConversationParameters,
)
from microsoft_agents.authentication.msal import MsalConnectionManager
from microsoft_agents.hosting.aiohttp import CloudAdapter
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    ClaimsIdentity,
    Connections,
    TurnContext,
)
from microsoft_agents.hosting.core.authorization import AuthenticationConstants
from microsoft_agents.hosting.core.connector import ConnectorClientBase, TeamsConnectorClient

from adapters.teams.clients import ConnectorClients
from adapters.teams.render import ADAPTIVE_CARD, fitted, restamped, summary
from adapters.teams.tokens import (
    ChannelToken,
    ChannelTokens,
    KeySourceMetrics,
    KeysUnavailable,
    SigningKeys,
    Unauthorized,
    same_service_url,
)
from adapters.teams.translate import (
    ACTION_INVOKE,
    GENERAL,
    NAME,
    NAME_LIMIT,
    TEAMS_CHANNEL,
    conversation_name,
    join_thread,
    member,
    translate,
)
from bot.app import App
from bot.clock import Clock, SystemClock
from bot.events import (
    ActionSubmitted,
    Actor,
    CommandReceived,
    ConversationKind,
    ConversationRef,
    Directory,
    Event,
    MessageRef,
    Platform,
)
from bot.inbound import BadPayload, read_json
from bot.outbound import (
    RateLimited,
    RecipientUnreachable,
    Reply,
    SendError,
    TemporarySendError,
)
from bot.settings import Settings
from bot.ui import Card, LastDrawn
from bot.web import HEALTH_REPORTS, unavailable
from dialogs.barometer.service import AudienceError
from storage.people import Person, PersonKey
from storage.stores import Stores

log = logging.getLogger("valuesbot.teams")
# The SDK logs each activity its model refuses at ERROR, with a traceback and the refused values
# (what people wrote): a bad request is the sender's problem, answered with a 400 and logged by
# ``TeamsBot`` without its content, so that record is dropped (``_quiet_refused_activity``).
_SDK_ACTIVITY_LOG = logging.getLogger("microsoft_agents.activity.activity")

# Replies to an event are retried this often on 429 and 5xx, waiting as the connector asks,
# but never longer than REPLY_MAX_WAIT in all (proactive sends are retried by the outbox).
REPLY_ATTEMPTS = 3
REPLY_MAX_WAIT = 20.0
# At shutdown, turns under way get this long to finish before they are cancelled.
SHUTDOWN_GRACE_SECONDS = 10.0
# What the adapter keeps of a channel's or group chat's names (translate.names).
NAME_KEYS = ("team_id", "team_name", "channel_name", "chat_name")
# Where a proactive message carries its outbox key (channelData is the bot's own to fill).
OUTBOX_KEY = "valuesbotOutboxKey"
# Who a person is (GET /v3/conversations/{id}/members/{userId}) is asked once and kept; the
# question runs before the turn, so it is given up after this long, and after a failure it is
# asked again no sooner than this (per process; the failures remembered are bounded).
MEMBER_LOOKUP_SECONDS = 5.0
MEMBER_RETRY_SECONDS = 3600.0
MEMBER_FAILURES_KEPT = 10_000
_CONVERSATION_TYPES = {
    ConversationKind.DIRECT: "personal",
    ConversationKind.CHANNEL: "channel",
    ConversationKind.GROUP: "groupChat",
}

Sleep = Callable[[float], Awaitable[None]]
Result = TypeVar("Result")


def auth_configuration(connection: dict[str, str]) -> AgentAuthConfiguration:
    """The SDK's configuration from the ``CONNECTIONS__SERVICE_CONNECTION__SETTINGS__*`` values.

    valuesbot turns on the SDK's issuer check (``VALIDATE_ISSUER``) unless it is explicitly set
    to false. ``POST /api/messages`` does not use the SDK's token check: it accepts only the Bot
    Framework's channel tokens, whatever these settings say (``adapters.teams.tokens``).
    """
    given: dict[str, Any] = dict(connection)
    given.setdefault("VALIDATE_ISSUER", "true")
    return AgentAuthConfiguration(**given)


def channel_service(auth: AgentAuthConfiguration) -> tuple[str, str]:
    """The Bot Framework's token issuer and signing keys URL for the bot's cloud (US Government
    when its sign-in authority is, public otherwise)."""
    if "login.microsoftonline.us" in (auth.AUTHORITY or "").lower():
        return (
            AuthenticationConstants.GOV_AGENTS_SDK_TOKEN_ISSUER,
            AuthenticationConstants.GOV_ABS_JWKS_URL,
        )
    return (
        AuthenticationConstants.AGENTS_SDK_TOKEN_ISSUER,
        AuthenticationConstants.PUBLIC_ABS_JWKS_URL,
    )


class TeamsConnector:
    """The bot's way out to the Bot Connector: the SDK's ``CloudAdapter`` (which gets the bot's
    token with MSAL and builds the connector client) and proactive turns bound to a stored
    conversation reference. Connector failures become the core's ``SendError`` kinds.

    Needs only the settings, so a process without the web server (``valuesbot barometer``) can
    call the connector too.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        connections: Connections | None = None,
        keep_connections: bool = False,
    ) -> None:
        self.auth = auth_configuration(settings.teams_connection)
        self.app_id = settings.teams_app_id
        # Teams gives a bot 15 seconds to answer a request; the turn runs after the answer, but
        # a call that hangs is given up after VALUESBOT_SEND_TIMEOUT (a timeout may have
        # delivered the message: the outbox then asks before sending it again).
        self.timeout = settings.send_timeout
        if connections is None:
            connections = MsalConnectionManager(
                connections_configurations={"SERVICE_CONNECTION": self.auth}
            )
        # A long-lived process (serve) keeps its HTTP connections to the Bot Connector between
        # turns (``ConnectorClients``); a command that makes a call or two does not.
        self.clients = ConnectorClients(connections) if keep_connections else None
        self.adapter = CloudAdapter(
            connection_manager=connections, channel_service_client_factory=self.clients
        )
        # The SDK's default turn error handler would post the exception text to the user:
        # valuesbot reports failures itself (the dispatcher's apology), so errors propagate.
        self.adapter.on_turn_error = None

    async def close(self) -> None:
        """Close the kept HTTP connections."""
        if self.clients is not None:
            await self.clients.close()

    def claims(self) -> ClaimsIdentity:
        """Who the bot is when it calls the connector: its app id, or anonymous (local use)."""
        if self.app_id:
            return self.adapter.create_claims_identity(self.app_id)
        return ClaimsIdentity()

    def bot_id(self) -> str:
        """The bot's Teams account id (``28:<app id>``)."""
        return f"28:{self.app_id}" if self.app_id else "valuesbot"

    def _continuation(self, place: ConversationRef) -> Activity:
        """The activity a proactive turn to ``place`` starts from: where it goes, and as whom."""
        if not place.service_url:
            raise RecipientUnreachable("no service URL known for this conversation")
        return Activity(
            type="event",
            name="ContinueConversation",
            channel_id=TEAMS_CHANNEL,
            service_url=place.service_url,
            conversation=ConversationAccount(
                id=join_thread(place.conversation, place.thread),
                tenant_id=place.tenant,
                conversation_type=_CONVERSATION_TYPES[place.kind],
                is_group=not place.is_direct,
            ),
            recipient=ChannelAccount(
                id=place.extra.get("bot_id") or self.bot_id(),
                name=place.extra.get("bot_name", ""),
            ),
        )

    async def run(
        self,
        place: ConversationRef,
        work: Callable[[TurnContext], Awaitable[Any]],
        *,
        delivers: bool = True,
    ) -> Any:
        """Run ``work`` with a turn context bound to ``place`` (a proactive turn); its result.

        ``delivers`` says that ``work`` posts or changes a message: a timeout or a connection
        dropped mid-call may then have delivered it (``TemporarySendError(maybe_sent=True)``).
        """
        continuation = self._continuation(place)
        outcome: list[Any] = []

        async def callback(context: TurnContext) -> None:
            outcome.append(await work(context))

        await self._call(
            self.adapter.continue_conversation_with_claims(
                self.claims(),
                continuation,
                callback,
                AuthenticationConstants.AGENTS_SDK_SCOPE,
            ),
            delivers=delivers,
        )
        return outcome[0] if outcome else None

    async def call(
        self,
        place: ConversationRef,
        work: Callable[[ConnectorClientBase, Activity], Awaitable[Result]],
        *,
        delivers: bool = True,
    ) -> Result:
        """``work`` with a connector client for ``place`` and the activity that says where it
        is (the one a proactive turn would start from); its result.

        A process that keeps its connections (serve) skips the turn: a proactive turn also
        builds a user token client (with a session of its own) and a turn context, which were
        most of the work of each message a fan-out sent. The connector client comes from the
        same factory call, with the same claims, audience and anonymity, as the SDK's own
        proactive turn makes (``ChannelServiceAdapter.process_proactive``), so the token asked
        for is the same. Otherwise the call runs in a turn (``run``).
        """
        if self.clients is None:

            async def in_turn(context: TurnContext) -> Result:
                return await work(_connector(context), context.activity)

            result: Result = await self.run(place, in_turn, delivers=delivers)
            return result
        where = self._continuation(place)
        claims = self.claims()
        # The token first, on its own: a failure to get it has sent nothing (inside a turn it
        # counted as a send that may have arrived).
        client: ConnectorClientBase = await self._call(
            self.clients.create_connector_client(
                None,
                claims,
                place.service_url or "",  # checked by _continuation
                AuthenticationConstants.AGENTS_SDK_SCOPE,
                use_anonymous=claims.allow_anonymous,
            ),
            delivers=False,
        )
        called: Result = await self._call(work(client, where), delivers=delivers)
        return called

    async def _call(self, call: Awaitable[Any], *, delivers: bool) -> Any:
        """``call`` with the connector's failures as ``SendError`` kinds (docs/delivery.md,
        "What the adapters must do")."""
        try:
            async with asyncio.timeout(self.timeout):
                return await call
        except SendError:
            raise
        except ClientResponseError as error:
            raise send_error(error.status, error.headers) from error
        except ClientConnectorError as error:
            # No connection was made (refused, DNS, TLS): the request never left.
            raise TemporarySendError(f"connector unreachable ({type(error).__name__})") from error
        except (ClientError, TimeoutError, OSError) as error:
            # Timed out, or the connection dropped after the request may have been written:
            # the connector may have taken the message.
            raise TemporarySendError(
                f"no answer from the connector ({type(error).__name__})", maybe_sent=delivers
            ) from error


class TeamsBot:
    """The Teams adapter of one valuesbot: the ``/api/messages`` handler and the outbound."""

    def __init__(
        self,
        app: App,
        *,
        connections: Connections | None = None,
        sleep: Sleep = asyncio.sleep,
        keys: SigningKeys | None = None,
    ) -> None:
        self.app = app
        settings = app.settings
        self.connector = TeamsConnector(settings, connections=connections, keep_connections=True)
        self.auth = self.connector.auth
        self.app_id = self.connector.app_id
        self.anonymous = settings.teams_anonymous
        issuer, keys_url = channel_service(self.auth)
        self.keys = keys or SigningKeys(keys_url, wall=app.clock.now)
        self.tokens = ChannelTokens(self.keys, app_id=self.app_id, issuer=issuer)
        self.outbound = TeamsOutbound(self, sleep=sleep)
        if self.anonymous:
            log.warning(
                "Teams accepts requests without a token (ANONYMOUS_ALLOWED): for local testing "
                "with the Agents Playground only"
            )
        self._tasks: set[asyncio.Task[None]] = set()
        self._queues: dict[tuple[str, str], asyncio.Lock] = {}
        # People whose lookup failed, and when to ask again (time.monotonic()).
        self._not_found: dict[PersonKey, float] = {}
        # Teams offers the manifest's commands as plain words (its command menu): the help
        # teaches "valueslens", not "/valueslens" (which works too).
        app.dispatcher.connect(Platform.TEAMS, self.outbound, command_prefix="")
        if _quiet_refused_activity not in _SDK_ACTIVITY_LOG.filters:
            _SDK_ACTIVITY_LOG.addFilter(_quiet_refused_activity)

    # Inbound

    async def handle(self, request: web.Request) -> web.Response:
        """``POST /api/messages``: authenticate, check, translate, answer; the turn runs after."""
        with self.app.dispatcher.acknowledging():
            return await self._handle(request)

    async def _handle(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        try:
            caller = await self.authenticate(request.headers.get("Authorization"))
        except Unauthorized as problem:
            log.warning("teams request refused status=401 reason=%s", problem)
            return web.json_response({"error": "unauthorized"}, status=401)
        except KeysUnavailable:
            # Our problem, not the caller's: Teams may try again.
            log.error("teams request refused status=503: the token signing keys are unreachable")
            return web.json_response({"error": "try again later"}, status=503)
        try:
            body = read_json(await request.read())
        except BadPayload as problem:
            log.warning("teams request refused status=400 reason=%s", problem)
            return web.json_response({"error": str(problem)}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body is not an activity"}, status=400)
        try:
            # Our own reading first: it names the field that is wrong.
            event = translate(body)
        except BadPayload as problem:
            log.warning("teams request refused status=400 reason=%s", problem)
            return web.json_response(
                {"error": "the body is not a valid activity", "detail": str(problem)}, status=400
            )
        try:
            # Then the SDK's own model of an activity: anything it cannot read is a bad request.
            Activity.model_validate(body)
        except Exception as problem:
            # Its validators raise more than ValidationError: TypeError for an empty channelId,
            # a bare Exception when channelId's sub-channel and the productInfo entity disagree
            # (microsoft-agents-activity 1.9).
            log.warning("teams request refused status=400 reason=%s", type(problem).__name__)
            return web.json_response({"error": "the body is not a valid activity"}, status=400)
        refused = _refusal(caller, body)
        if refused:
            log.warning("teams request refused status=401 reason=%s", refused)
            return web.json_response({"error": "unauthorized"}, status=401)
        if event is not None and not self.app.database.available:
            # Accepted, the activity would be lost: the 503 tells the Bot Connector it was not.
            log.warning("teams request refused status=503: the database is unavailable")
            return unavailable()
        if event is not None:
            self._start(_from_token(event, caller))
        log.debug(
            "teams request type=%s accepted_ms=%.1f",
            body.get("type"),
            (time.perf_counter() - started) * 1000,
        )
        if body.get("type") == "invoke":
            return web.json_response(_invoke_answer(body), status=200)
        return web.Response(status=202)

    async def authenticate(self, header: str | None) -> ChannelToken | None:
        """The caller's verified channel token (``None``: no token, and anonymous local use
        allows that); ``Unauthorized`` for anything else, ``KeysUnavailable`` when the token
        cannot be checked now.

        Every failure (a malformed token, a token without a key id, a wrong signature,
        audience or issuer, no service URL) is a 401: never a 500.
        """
        if not header:
            if self.anonymous:
                return None
            raise Unauthorized("no Authorization header")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or any(c.isspace() for c in token):
            raise Unauthorized("malformed Authorization header")
        try:
            return await self.tokens.verify(token)
        except (Unauthorized, KeysUnavailable):
            raise
        except Exception as error:  # every other way a token can fail is a 401
            raise Unauthorized(f"invalid token ({type(error).__name__})") from error

    def health(self) -> dict[str, object]:
        """The Teams part of ``/healthz``: the token signing keys' source."""
        return {"teams_keys": self.keys.health()}

    def _start(self, event: Event) -> None:
        task = asyncio.create_task(self._turn(event), name=f"teams-turn-{event.event_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _turn(self, event: Event) -> None:
        # One conversation's events are handled in the order they arrived (a quick second
        # click waits for the first), different conversations side by side.
        key = (event.conversation.tenant, event.conversation.conversation)
        lock = self._queues.setdefault(key, asyncio.Lock())
        try:
            async with lock:
                patient = self.app.dispatcher.patient(event)
                async with self.app.dispatcher.intake.enter(patient=patient):
                    event = await self._identified(event)
                await self.app.dispatcher.handle(await self._named(event))
        finally:
            if not lock.locked() and self._queues.get(key) is lock:
                del self._queues[key]

    async def _identified(self, event: Event) -> Event:
        """The event with what is known of its person: their name and their directory entry
        (``Actor.directory``, which ``VALUESBOT_COMMS`` and ``VALUESBOT_ADMINS`` may name them
        by). Teams sends a name with messages but none with an install, and never the
        directory entry: the first time the bot meets someone (or someone it never asked
        about) it asks the connector who they are, once, and keeps the answer
        (``PeopleStore.identified``). Without an answer the event goes as it came, and the
        question is asked again later. Someone met is read once a minute at most
        (``SeenLately.known``)."""
        actor = event.actor
        key = PersonKey.of(event)
        lately = self.app.database.seen_lately
        known = lately.known(key)
        if known is None:
            async with self.app.database.reading() as stores:
                known = await stores.people.get(key)
            if known is not None:
                lately.knew(known)
        name = actor.name or (known.display_name if known is not None else "")
        directory = known.directory if known is not None else None
        if directory is None and self._may_ask(key):
            found = await self._member(event.conversation, key)
            if found is not None:
                given, directory = found
                name = actor.name or given
                async with self.app.database.unit() as stores:
                    await stores.people.identified(key, given, directory, self.app.clock.now())
                lately.forget(key)  # read again, with the entry just kept
        identified = replace(actor, name=name, directory=directory)
        return event if identified == actor else replace(event, actor=identified)

    def _may_ask(self, key: PersonKey) -> bool:
        retry_at = self._not_found.get(key)
        if retry_at is None:
            return True
        if retry_at > time.monotonic():
            return False
        del self._not_found[key]
        return True

    async def _member(
        self, place: ConversationRef, person: PersonKey
    ) -> tuple[str, Directory] | None:
        """The person's name and directory entry as the connector tells them (None when it
        cannot say now)."""

        async def ask(client: ConnectorClientBase, where: Activity) -> dict[str, Any]:
            if not isinstance(client, TeamsConnectorClient):  # pragma: no cover - always is
                return {}
            account = await client.get_conversation_member(place.conversation, person.user)
            found: dict[str, Any] = account.model_dump(by_alias=True, exclude_none=True)
            return found

        try:
            async with asyncio.timeout(MEMBER_LOOKUP_SECONDS):
                answer = await self.connector.call(place, ask, delivers=False)
        except Exception as error:  # not knowing a name is no error for the person
            log.info("could not ask Teams who a member is (%s)", type(error).__name__)
            if len(self._not_found) >= MEMBER_FAILURES_KEPT:
                self._not_found.clear()
            self._not_found[person] = time.monotonic() + MEMBER_RETRY_SECONDS
            return None
        return member(answer)

    async def _named(self, event: Event) -> Event:
        """The event with what is known of its channel's (or group chat's) name: Teams names a
        channel in few activities, so names are kept with the conversation and, the first time
        a command comes from a channel whose name is unknown, asked of the connector (the
        team's channel list). Without a name the core shows the conversation id."""
        place = event.conversation
        if place.is_direct:
            return event
        platform = str(place.platform)
        async with self.app.database.unit() as stores:
            stored = await stores.people.conversation(platform, place.tenant, place.conversation)
            known = {k: v for k, v in (stored.extra if stored else {}).items() if k in NAME_KEYS}
            names = {**known, **{k: v for k, v in place.extra.items() if k in NAME_KEYS}}
            team = names.get("team_id")
            if team and team != place.conversation and "team_name" not in names:
                # The team's name came with the app's install, in its General channel (whose
                # id is the team's).
                general = await stores.people.conversation(platform, place.tenant, team)
                if general is not None and general.extra.get("team_name"):
                    names["team_name"] = general.extra["team_name"]
        if (
            "channel_name" not in names
            and team
            and place.kind is ConversationKind.CHANNEL
            and isinstance(event, CommandReceived)
        ):
            names.update(await self._team_names(place, team, asking_team="team_name" not in names))
        extra = {**place.extra, **names}
        label = conversation_name(names)
        if label:
            extra[NAME] = label
        if extra == dict(place.extra):
            return event
        return replace(event, conversation=replace(place, extra=extra))

    async def _team_names(
        self, place: ConversationRef, team: str, *, asking_team: bool
    ) -> dict[str, str]:
        async def ask(context: TurnContext) -> dict[str, str]:
            client = _connector(context)
            if not isinstance(client, TeamsConnectorClient):  # pragma: no cover - always is
                return {}
            found: dict[str, str] = {}
            for channel in await client.fetch_channel_list(team):
                if channel.id == place.conversation:
                    name = channel.name or (GENERAL if channel.id == team else "")
                    if name:
                        found["channel_name"] = name[:NAME_LIMIT]
            if asking_team:
                details = await client.fetch_team_details(team)
                if details.name:
                    found["team_name"] = details.name[:NAME_LIMIT]
            return found

        try:
            found: dict[str, str] = await self.connector.run(place, ask, delivers=False)
        except Exception as error:  # a name is a nicety: the command goes ahead without one
            log.info("could not ask Teams for a channel's name (%s)", type(error).__name__)
            return {}
        return found or {}

    async def team_channels(self, via: ConversationRef, team: str) -> dict[str, str]:
        """The channels of a team the bot is in, by id, with their names ("" for the General
        channel, which has none in this list), asked of the connector through ``via`` (a
        conversation of that team). ``RecipientUnreachable`` when the bot is not in the team
        (any more)."""

        async def ask(context: TurnContext) -> dict[str, str]:
            client = _connector(context)
            if not isinstance(client, TeamsConnectorClient):  # pragma: no cover - always is
                return {}
            listed = await client.fetch_channel_list(team)
            return {str(c.id): (c.name or "")[:NAME_LIMIT] for c in listed if c.id}

        found: dict[str, str] = await self.connector.run(via, ask, delivers=False)
        return found or {}

    async def settled(self) -> None:
        """Wait until every turn started so far (and any it started) has finished."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float = SHUTDOWN_GRACE_SECONDS) -> None:
        """Let turns under way finish (for at most ``grace`` seconds), then cancel the rest."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self.settled()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.connector.close()
        await self.keys.close()

    # Outbound plumbing, used by TeamsOutbound

    async def open_direct(self, person: PersonKey, service_url: str, bot_id: str) -> str:
        """Create (or find: Teams gives the same one back) the person's direct chat with the
        bot; its conversation id."""
        place = ConversationRef(
            platform=Platform.TEAMS,
            tenant=person.tenant,
            conversation=person.user,
            kind=ConversationKind.DIRECT,
            service_url=service_url,
            extra={"bot_id": bot_id},
        )

        async def create(context: TurnContext) -> str:
            made = await _connector(context).conversations.create_conversation(
                ConversationParameters(
                    is_group=False,
                    bot=ChannelAccount(id=bot_id),
                    members=[ChannelAccount(id=person.user)],
                    tenant_id=person.tenant,
                    channel_data={"tenant": {"id": person.tenant}},
                )
            )
            if not made.id:
                raise RecipientUnreachable("Teams opened no chat")
            return str(made.id)

        return str(await self.connector.run(place, create, delivers=False))


def send_error(status: int, headers: Any = None) -> SendError:
    """The core's kind of failure for a connector's HTTP status."""
    if status == 429:
        return RateLimited(retry_after(headers), "Teams is throttling the bot")
    if status >= 500 or status == 408:
        return TemporarySendError(f"Teams answered {status}")
    if status in (403, 404, 410):
        return RecipientUnreachable(
            "conversation not found" if status != 403 else "the bot is not in that conversation"
        )
    if status == 401:
        return TemporarySendError("Teams refused the bot's credentials (401)")
    return SendError(f"Teams refused the message ({status})")


def retry_after(headers: Any) -> float:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date); 1 if absent."""
    value = headers.get("Retry-After") if headers is not None else None
    if not value:
        return 1.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 1.0
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _refusal(caller: ChannelToken | None, activity: dict[str, Any]) -> str | None:
    """Why a verified token does not vouch for this activity (``None``: it does)."""
    if caller is None:
        return None  # anonymous local use: nothing to check against
    if not same_service_url(caller.service_url, activity.get("serviceUrl")):
        return "service URL not the token's"
    channel = activity.get("channelId")
    if caller.endorsements is not None and (
        not isinstance(channel, str) or channel not in caller.endorsements
    ):
        return "channel not endorsed by the signing key"
    return None


def _from_token(event: Event, caller: ChannelToken | None) -> Event:
    """The event with the service URL the token names (the same, by ``same_service_url``, as
    the activity's): what is stored and replied to came from the verified token."""
    if caller is None or event.conversation.service_url == caller.service_url:
        return event
    return replace(event, conversation=replace(event.conversation, service_url=caller.service_url))


def _quiet_refused_activity(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Validation error for Activity")


def _invoke_answer(activity: dict[str, Any]) -> dict[str, Any]:
    if activity.get("name") == ACTION_INVOKE:
        # Universal Actions want an answer now; the card itself is updated by the turn.
        return {
            "statusCode": 200,
            "type": "application/vnd.microsoft.activity.message",
            "value": "Thanks, got it.",
        }
    return {}


def message_activity(
    where: Activity,
    drawn: Drawn,
    activity_id: str | None = None,
    key: str | None = None,
) -> Activity:
    """A Teams message carrying a drawn card, from the bot, in the conversation of ``where``
    (a turn's activity); ``key`` (the outbox key of a proactive message) goes in its
    ``channelData``, for logs and support (nothing reads it back: docs/delivery.md).

    Built whole here rather than by ``TurnContext.send_activity``, which sends explicit nulls
    (``"id": null``) that a strict connector refuses.
    """
    outgoing = Activity(
        type="message",
        channel_id=where.channel_id,
        service_url=where.service_url,
        conversation=where.conversation,
        from_property=where.recipient,
        summary=drawn.summary,
        attachments=[drawn.attachment],
    )
    if activity_id:
        outgoing.id = activity_id
    if key:
        outgoing.channel_data = {OUTBOX_KEY: key}
    return outgoing


@dataclass(frozen=True, slots=True)
class Drawn:
    """A card as Teams shows it: the Adaptive Card attachment and the one-line summary;
    ``whole``: the card was not shortened to fit."""

    attachment: Attachment
    summary: str
    whole: bool = True

    @classmethod
    def of(cls, card: Card) -> Drawn:
        rendered, whole = fitted(card)
        return cls(
            attachment=Attachment(content_type=ADAPTIVE_CARD, content=rendered["content"]),
            summary=summary(card),
            whole=whole,
        )

    def restamped(self, card: Card) -> Drawn | None:
        """``Drawn.of(card)`` when this is the drawing of a card that differs from ``card``
        only in its hidden values (``bot.ui.LastDrawn``); None when only drawing it can tell."""
        drawn = self.attachment.content
        if not (self.whole and isinstance(drawn, dict)):
            return None
        content = restamped(drawn, card)
        if content is None:
            return None
        attached = Attachment(content_type=ADAPTIVE_CARD, content=content)
        return Drawn(attachment=attached, summary=self.summary)


def _connector(context: TurnContext) -> ConnectorClientBase:
    connector = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]
    if connector is None:  # pragma: no cover - the SDK always sets it
        raise TemporarySendError("no connector client")
    return connector


def _direct_chat(person: Person) -> ConversationRef | None:
    """The person's direct chat with the bot as their row has it, if it holds all a message
    needs (the chat, its service URL and the bot's account)."""
    bot_id = person.extra.get("bot_id")
    if not (person.direct_conversation and person.service_url and bot_id):
        return None
    extra = {"bot_id": bot_id}
    if person.extra.get("bot_name"):
        extra["bot_name"] = person.extra["bot_name"]
    return ConversationRef(
        platform=Platform.TEAMS,
        tenant=person.key.tenant,
        conversation=person.direct_conversation,
        kind=ConversationKind.DIRECT,
        service_url=person.service_url,
        extra=extra,
    )


class TeamsOutbound:
    """Sends cards to Teams conversations through the Bot Connector."""

    def __init__(self, bot: TeamsBot, *, sleep: Sleep = asyncio.sleep) -> None:
        self.bot = bot
        self.sleep = sleep
        self._drawn = LastDrawn(Drawn.of, restamp=Drawn.restamped)

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        """Send the replies to an event where it happened (private ones in a channel to the
        person's direct chat), replacing the clicked card when asked; the messages posted
        where the event happened."""
        return [await self._with_retries(event, reply) for reply in replies]

    async def _deliver_one(self, event: Event, reply: Reply) -> MessageRef | None:
        place = event.conversation
        if reply.replace and isinstance(event, ActionSubmitted) and event.source is not None:
            try:
                await self.replace(place, event.source, reply.card)
                return None
            except (RateLimited, TemporarySendError):
                raise
            except SendError:
                # Too old to edit, or edited elsewhere: the new face is posted instead.
                log.info("could not replace a card; posting it instead")
        if reply.private and not place.is_direct:
            await self._private(event, reply.card)
            return None
        return await self.send(place, reply.card)

    async def _private(self, event: Event, card: Card) -> None:
        try:
            await self.post_direct(PersonKey.of(event), card)
        except RecipientUnreachable:
            name = event.actor.name or "there"
            await self.send(
                event.conversation,
                Card(
                    text=f"{name}, I have an answer for you alone. Open a chat with me "
                    "(search for valuesbot in Teams chat) and ask again there."
                ),
            )

    async def _with_retries(self, event: Event, reply: Reply) -> MessageRef | None:
        waited = 0.0
        for attempt in range(1, REPLY_ATTEMPTS + 1):
            try:
                return await self._deliver_one(event, reply)
            except (RateLimited, TemporarySendError) as error:
                if isinstance(error, TemporarySendError) and error.maybe_sent:
                    # Teams may have shown it: sending it again could show it twice.
                    log.warning("a reply may not have arrived (%s); not sent again", error)
                    return None
                wait = error.retry_after if isinstance(error, RateLimited) else float(attempt)
                if attempt == REPLY_ATTEMPTS or waited + wait > REPLY_MAX_WAIT:
                    raise
                log.info("reply not sent yet (%s); trying again in %.1fs", error, wait)
                waited += wait
                await self.sleep(wait)
        return None  # pragma: no cover - the last attempt returns or raises

    async def send(self, place: ConversationRef, card: Card, key: str | None = None) -> MessageRef:
        """Post a card as a new message in ``place`` (with the outbox ``key``, if any)."""
        drawn = self._drawn(card)

        async def work(connector: ConnectorClientBase, where: Activity) -> str:
            outgoing = message_activity(where, drawn, key=key)
            sent = await connector.conversations.send_to_conversation(
                outgoing.conversation.id, outgoing
            )
            return str(sent.id or "")

        return MessageRef(id=await self.bot.connector.call(place, work))

    async def replace(
        self, place: ConversationRef, message: MessageRef, card: Card, *, key: str | None = None
    ) -> None:
        """Replace the message ``message`` in ``place`` by ``card`` (``PUT
        /v3/conversations/{id}/activities/{activityId}``): a card after a click, or a change
        the outbox makes (``key``), with what was stored about the conversation. A change
        Teams refuses for good (the message or conversation is gone, the bot left it, the
        message cannot be edited) is ``RecipientUnreachable``."""
        stored = await self._stored(place)
        if stored is None:
            raise RecipientUnreachable("never met")
        drawn = self._drawn(card)

        async def work(connector: ConnectorClientBase, where: Activity) -> None:
            outgoing = message_activity(where, drawn, message.id, key)
            await connector.conversations.update_activity(
                outgoing.conversation.id, message.id, outgoing
            )

        try:
            await self.bot.connector.call(stored, work)
        except (RateLimited, TemporarySendError, RecipientUnreachable):
            raise
        except SendError as refused:
            raise RecipientUnreachable(str(refused)) from refused

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        """Post to a conversation on the bot's initiative, with what was stored about it; a
        channel never met is looked for in the teams the bot is in (``_find_channel``)."""
        stored = await self._stored(place)
        if stored is None and place.kind is ConversationKind.CHANNEL:
            stored = await self._find_channel(place)
        if stored is None:
            raise RecipientUnreachable("never met: the bot is in no team with that channel")
        return await self.send(stored, card, key)

    async def _find_channel(self, place: ConversationRef) -> ConversationRef | None:
        """A channel the bot never heard from, in the teams it is in, remembered when found.

        Teams tells a bot about a team once, when it is added, in the team's General channel
        (whose id is the team's): a bot added to a team is in all its channels, but hears
        nothing from the others (a values channel named in the settings, say) until someone
        mentions it there. So its conversation reference (the service URL, the bot's account)
        is taken from the team's, once the team's channel list (``GET
        /v3/teams/{id}/conversations``) shows the channel is there."""
        async with self.bot.app.database.reading() as stores:
            known = await stores.people.channels(str(place.platform), place.tenant)
        teams: dict[str, ConversationRef] = {}
        for ref in known:
            team = ref.extra.get("team_id")
            if team and ref.service_url and (team not in teams or ref.conversation == team):
                teams[team] = ref  # the General channel's reference, if it was met
        for team, via in teams.items():
            try:
                channels = await self.bot.team_channels(via, team)
            except RecipientUnreachable:
                continue  # the bot was removed from that team
            name = channels.get(place.conversation)
            if name is None:
                continue
            names = {k: v for k, v in via.extra.items() if k in ("team_id", "team_name")}
            names["channel_name"] = name or GENERAL
            label = conversation_name(names)
            found = ConversationRef(
                platform=place.platform,
                tenant=place.tenant,
                conversation=place.conversation,
                kind=ConversationKind.CHANNEL,
                service_url=via.service_url,
                extra={
                    **{k: v for k, v in via.extra.items() if k in ("bot_id", "bot_name")},
                    **names,
                    **({NAME: label} if label else {}),
                },
            )
            async with self.bot.app.database.unit() as stores:
                await stores.people.remember(found, self.bot.app.clock.now())
            log.info("a channel of a team the bot is in was found and remembered")
            return replace(found, thread=place.thread)
        return None

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        """The Bot Connector cannot list a conversation's messages: never known."""
        return None

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        """Send to a person's direct chat with the bot, opening it if there is none yet.

        ``known`` (the person as the caller read them) spares a read: their row holds the
        direct chat's id and service URL (both written when they are seen there,
        ``PeopleStore.seen``) and the bot's account.
        """
        direct = _direct_chat(known) if known is not None and known.key == person else None
        if direct is None:
            async with self.bot.app.database.reading() as stores:
                if known is None or known.key != person:
                    known = await stores.people.get(person)
                if known is not None and known.direct_conversation:
                    direct = await stores.people.conversation(
                        person.platform, person.tenant, known.direct_conversation
                    )
        if known is None:
            raise RecipientUnreachable("never met")
        if direct is not None and direct.service_url:
            return await self.send(direct, card, key)
        bot_id = known.extra.get("bot_id") or (
            self.bot.connector.bot_id() if self.bot.app_id else ""
        )
        if not known.service_url or not bot_id:
            raise RecipientUnreachable("no direct chat with the bot")
        conversation = await self.bot.open_direct(person, known.service_url, bot_id)
        place = ConversationRef(
            platform=Platform.TEAMS,
            tenant=person.tenant,
            conversation=conversation,
            kind=ConversationKind.DIRECT,
            service_url=known.service_url,
            extra={"bot_id": bot_id},
        )
        # Remember the chat, so the next message goes straight there.
        async with self.bot.app.database.unit() as stores:
            await stores.people.seen(place, Actor(id=person.user), self.bot.app.clock.now())
        return await self.send(place, card, key)

    async def _stored(self, place: ConversationRef) -> ConversationRef | None:
        if place.service_url and place.extra.get("bot_id"):
            return place
        async with self.bot.app.database.reading() as stores:
            found = await stores.people.conversation(
                str(place.platform), place.tenant, place.conversation
            )
        if found is None:
            return place if place.service_url else None
        return ConversationRef(
            platform=place.platform,
            tenant=place.tenant,
            conversation=place.conversation,
            kind=place.kind,
            thread=place.thread,
            service_url=place.service_url or found.service_url,
            extra={**found.extra, **place.extra},
        )


# The members APIs give at most 500 people a page (Teams' own maximum).
MEMBERS_PAGE = 500


class TeamsChannelMembers:
    """Who is in a Teams channel or group chat, as the Bot Connector lists them
    (``GET /v3/conversations/{id}/pagedmembers``, page by page): the ``ChannelDirectory`` of the
    barometer, for ``VALUESBOT_BAROMETER_CHANNELS=teams:<tenant>:19:...``.

    The channel must have been met (the app added to its team), so its service URL is known.
    Members the bot has never met are remembered with the channel's service URL and the bot's
    account, so the outbox can open a chat with each (Teams lets a bot do so with the members of
    a team it is installed in); people already known are left as they are, but for what the
    list says of them in the organisation's directory if that was never asked
    (``PeopleStore.identified``: nobody is asked about again when they answer).
    """

    def __init__(self, connector: TeamsConnector, clock: Clock | None = None) -> None:
        self.connector = connector
        self.clock = clock or SystemClock()

    async def members(self, place: ConversationRef, stores: Stores) -> list[str]:
        """The user ids (``29:...``) of the conversation's members; bots left out."""
        if not place.service_url:
            raise AudienceError(
                f"I have not been added to the Teams channel {place.conversation} yet: add the "
                "app to its team, then try again."
            )

        async def pages(context: TurnContext) -> list[ChannelAccount]:
            found: list[ChannelAccount] = []
            token: str | None = None
            while True:
                page = await _connector(context).conversations.get_conversation_paged_members(
                    place.conversation, page_size=MEMBERS_PAGE, continuation_token=token
                )
                found += page.members or []
                token = page.continuation_token
                if not token:
                    return found

        try:
            accounts: list[ChannelAccount] = await self.connector.run(place, pages, delivers=False)
        except SendError as error:
            raise AudienceError(
                f"Teams did not list the members of {place.conversation} ({error}); try again "
                "later."
            ) from error
        now = self.clock.now()
        people: dict[str, None] = {}
        for account in accounts:
            if not account.id or not account.id.startswith("29:"):
                continue  # bots (28:...) and anything that is not a person
            people[account.id] = None
            key = PersonKey(str(Platform.TEAMS), place.tenant, account.id)
            known = await stores.people.get(key)
            if known is None or known.directory is None:
                name, entry = member(account.model_dump(by_alias=True, exclude_none=True))
                await stores.people.identified(key, name, entry, now)
            if known is None or not known.service_url:
                channel = ConversationRef(
                    platform=Platform.TEAMS,
                    tenant=place.tenant,
                    conversation=place.conversation,
                    kind=place.kind,
                    service_url=place.service_url,
                    extra=place.extra,
                )
                await stores.people.seen(
                    channel, Actor(id=account.id, name=account.name or ""), now
                )
        return list(people)


TEAMS_KEY = web.AppKey("teams", TeamsBot)


def mount(
    *,
    connections: Connections | None = None,
    sleep: Sleep = asyncio.sleep,
    keys: Callable[[App], SigningKeys] | None = None,
) -> Callable[[App, web.Application], None]:
    """The ``Mount`` adding ``POST /api/messages`` to the web server (``bot.web``), the token
    signing keys' state to ``/healthz`` and its gauges to ``/metrics``.

    ``connections`` replaces the SDK's MSAL connection manager (tests give a local token
    provider, so no test ever asks Microsoft for a token); ``keys`` makes the signing keys'
    source (tests serve their own).
    """

    def add(app: App, web_app: web.Application) -> None:
        bot = TeamsBot(app, connections=connections, sleep=sleep, keys=keys(app) if keys else None)
        web_app[TEAMS_KEY] = bot
        web_app.router.add_post("/api/messages", bot.handle)

        async def stop(_: web.Application) -> None:
            await bot.close()

        # After the requests under way have been answered (aiohttp's shutdown waits for them
        # between on_shutdown and on_cleanup), so no turn starts once the turns are drained.
        web_app.on_cleanup.append(stop)
        if not bot.app_id:
            return  # anonymous local use: no token is ever accepted, no keys are needed
        web_app[HEALTH_REPORTS].append(bot.health)
        gauges = KeySourceMetrics(bot.keys)
        registry = app.dispatcher.metrics.registry
        registry.register(gauges)

        async def forget(_: web.Application) -> None:
            registry.unregister(gauges)

        web_app.on_cleanup.append(forget)

    return add
