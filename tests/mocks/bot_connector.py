"""A local Bot Connector: what Teams' connector service does with a bot's outbound calls.

Tests point an activity's ``serviceUrl`` at ``connector.url`` and the bot's replies, card updates
and new conversations arrive here instead of Microsoft's service. Every call is recorded
(method, path, JSON body, headers, the status answered); answers look like the real service's
(201 with a new activity id for a post, 200 for an update, 201 with a conversation id for a new
conversation). It runs on 127.0.0.1 only.

    async with MockBotConnector() as connector:
        activity["serviceUrl"] = connector.url
        ...
        await connector.wait_for(lambda calls: len(connector.posts()) >= 2)
        assert connector.cards()[-1]["body"][0]["text"] == "Values lens"

Failures are scripted: ``fail(429, retry_after=2)`` answers the next call with 429 and a
``Retry-After`` header, ``gone("a:1")`` makes a conversation answer 404 from then on,
``refuse_chats_with("29:x")`` makes creating a direct chat with that person answer 403, and
``hold()`` keeps every answer waiting until ``release()`` (to show a request was acknowledged
before its replies were sent), and ``stall(conversation)`` takes the next message to that
conversation (it is recorded: it arrived) but keeps its answer back until ``release()``, as a
connector whose answer is lost would (the bot times out, or is killed, not knowing). With
``limits=True`` the documented Teams rate limits are enforced (50 requests a second per app and
tenant, 7 a second per conversation; tests may pass others) on a clock tests can drive.

``members(conversation, [...])`` sets who is in a channel, as the members APIs
(``GET /v3/conversations/{id}/members`` and ``.../pagedmembers``, paged with ``pageSize`` and
``continuationToken``) tell them; ``team(id, name, {channel id: name})`` what the team APIs
(``GET /v3/teams/{id}`` and ``.../conversations``) say (the General channel has no name there).
``person({...})`` adds someone to the tenant's directory: ``GET
/v3/conversations/{id}/members/{userId}`` then answers with them, in the shape Teams gives (id,
name, aadObjectId, email, userPrincipalName, givenName, surname, tenantId, userRole), when they
are in that conversation (a channel whose members are set must list them); 404 otherwise.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import defaultdict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from aiohttp import web

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
# https://learn.microsoft.com/microsoftteams/platform/bots/how-to/rate-limit
PER_TENANT_PER_SECOND = 50
PER_CONVERSATION_PER_SECOND = 7


@dataclass(frozen=True, slots=True)
class Call:
    """One request the bot made, and what it was answered."""

    method: str
    path: str
    body: Any
    headers: Mapping[str, str]
    status: int
    conversation: str | None = None
    activity_id: str | None = None
    answered_id: str | None = None
    at: float = field(default_factory=time.time, compare=False)  # when it arrived (epoch s)
    peer: str = field(default="", compare=False)  # the bot's end of the connection (host:port)

    @property
    def card(self) -> dict[str, Any] | None:
        """The Adaptive Card the call carried, if any."""
        return card_of(self.body)


@dataclass(slots=True)
class _Failure:
    status: int
    retry_after: float | None
    conversation: str | None
    times: int


def card_of(activity: Any) -> dict[str, Any] | None:
    """The first Adaptive Card attached to an activity."""
    if not isinstance(activity, Mapping):
        return None
    for attachment in activity.get("attachments") or ():
        if isinstance(attachment, Mapping) and attachment.get("contentType") == ADAPTIVE_CARD:
            content = attachment.get("content")
            return content if isinstance(content, dict) else None
    return None


def card_texts(card: Mapping[str, Any] | None) -> list[str]:
    """Every text a person reads on an Adaptive Card, in order (Markdown escapes undone)."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, Mapping):
            if node.get("type") == "TextBlock":
                found.append(_unescape(str(node.get("text", ""))))
            elif node.get("type") == "FactSet":
                for fact in node.get("facts", ()):
                    found.append(
                        f"{_unescape(str(fact.get('title')))}: {_unescape(str(fact.get('value')))}"
                    )
            elif str(node.get("type", "")).startswith("Input."):
                found.append(str(node.get("label", "")))
            elif str(node.get("type", "")).startswith("Action."):
                found.append(str(node.get("title", "")))
            for key in ("body", "items", "columns", "actions"):
                walk(node.get(key))
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def _unescape(text: str) -> str:
    out = []
    escaped = False
    for char in text:
        if escaped or char != "\\":
            out.append(char)
            escaped = False
        else:
            escaped = True
    return "".join(out)


def _peer(request: web.Request) -> str:
    found = request.transport.get_extra_info("peername") if request.transport else None
    return f"{found[0]}:{found[1]}" if found else ""


def base_conversation(conversation: str) -> str:
    """A channel thread's conversation id without the thread (``;messageid=...``)."""
    return conversation.split(";messageid=", 1)[0]


class MockBotConnector:
    """A Bot Connector on 127.0.0.1 that records every call."""

    def __init__(
        self,
        *,
        limits: bool = False,
        clock: Callable[[], float] = time.monotonic,
        max_message_bytes: int | None = None,
        per_tenant: int = PER_TENANT_PER_SECOND,
        per_conversation: int = PER_CONVERSATION_PER_SECOND,
    ) -> None:
        self.limits = limits
        self.per_tenant = per_tenant
        self.per_conversation = per_conversation
        self.clock = clock
        self.max_message_bytes = max_message_bytes
        self.calls: list[Call] = []
        self.url = ""
        self._ids = itertools.count(1)
        self._failures: list[_Failure] = []
        self._gone: dict[str, int] = {}
        self._refused: dict[str, int] = {}
        self._held: asyncio.Event | None = None
        self._stalls: list[_Failure] = []
        self._unstall = asyncio.Event()
        self._members: dict[str, list[dict[str, str]]] = {}
        self._directory: dict[str, dict[str, str]] = {}
        self._teams: dict[str, tuple[str, dict[str, str | None]]] = {}
        self._changed = asyncio.Condition()
        self._per_tenant: dict[str, deque[float]] = defaultdict(deque)
        self._per_conversation: dict[str, deque[float]] = defaultdict(deque)
        self._runner: web.AppRunner | None = None

    # Life cycle

    async def start(self, port: int = 0) -> str:
        """Listen on 127.0.0.1 (a free port unless given); the service URL to hand out."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        bound = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{bound}/"
        return self.url

    async def close(self) -> None:
        """Stop listening."""
        self.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockBotConnector:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.close()

    # Scripting

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        conversation: str | None = None,
    ) -> None:
        """Answer the next ``times`` calls (to ``conversation``, if given) with ``status``."""
        self._failures.append(_Failure(status, retry_after, conversation, times))

    def gone(self, conversation: str, status: int = 404) -> None:
        """From now on, calls to this conversation answer ``status`` (bot removed, chat gone)."""
        self._gone[base_conversation(conversation)] = status

    def refuse_chats_with(self, user: str, status: int = 403) -> None:
        """Creating a direct chat with this person answers ``status`` (app not installed)."""
        self._refused[user] = status

    def hold(self) -> None:
        """Keep every answer waiting until ``release``."""
        self._held = asyncio.Event()

    def release(self) -> None:
        """Answer the calls held by ``hold`` and ``stall``."""
        if self._held is not None:
            self._held.set()
            self._held = None
        self._unstall.set()
        self._unstall = asyncio.Event()

    def stall(self, conversation: str | None = None, *, times: int = 1) -> None:
        """Take the next ``times`` messages (to ``conversation``, if given) but answer them only
        at ``release``: they arrived, the bot does not hear so."""
        self._stalls.append(_Failure(201, None, conversation, times))

    def members(self, conversation: str, people: list[dict[str, str]]) -> None:
        """Who is in the conversation (``{"id": "29:...", "name": ...}`` each), for the members
        APIs."""
        self._members[base_conversation(conversation)] = [dict(p) for p in people]

    # Reading what happened

    def posts(self, conversation: str | None = None) -> list[Call]:
        """Messages the bot posted (to ``conversation``, a channel thread counting as its
        channel), in order, refused ones excluded."""
        return [
            c
            for c in self.calls
            if c.method == "POST"
            and c.conversation is not None
            and c.status < 300
            and (conversation is None or base_conversation(c.conversation) == conversation)
        ]

    def posts_tried(self) -> list[Call]:
        """Every message the bot tried to post, refused ones included, in order."""
        return [c for c in self.calls if c.method == "POST" and c.conversation is not None]

    def updates(self, conversation: str | None = None) -> list[Call]:
        """Messages the bot replaced (card updates), in order."""
        return [
            c
            for c in self.calls
            if c.method == "PUT"
            and c.status < 300
            and (conversation is None or base_conversation(c.conversation or "") == conversation)
        ]

    def person(self, account: Mapping[str, str]) -> None:
        """Someone of the tenant, as ``GET .../members/{userId}`` describes them (their ``id``,
        ``name``, ``aadObjectId``, ``email``, ``userPrincipalName``...)."""
        self._directory[account["id"]] = dict(account)

    def lookups(self) -> list[Call]:
        """The bot's questions about one member (``GET .../members/{userId}``), in order."""
        return [
            c
            for c in self.calls
            if c.method == "GET" and len(c.path.strip("/").split("/")) == 5
            and c.path.strip("/").split("/")[3] == "members"
        ]  # fmt: skip

    def team(self, team_id: str, name: str, channels: Mapping[str, str | None]) -> None:
        """A team and its channels (id to name; None for the General channel)."""
        self._teams[team_id] = (name, dict(channels))

    def keys(self) -> list[str]:
        """The outbox keys of the messages posted (``channelData.valuesbotOutboxKey``), in
        order; messages without one are left out."""
        found = []
        for call in self.posts():
            data = call.body.get("channelData") if isinstance(call.body, Mapping) else None
            if isinstance(data, Mapping) and data.get("valuesbotOutboxKey"):
                found.append(str(data["valuesbotOutboxKey"]))
        return found

    def created(self) -> list[Call]:
        """Conversations the bot created (direct chats opened proactively)."""
        return [c for c in self.calls if c.method == "POST" and c.path == "/v3/conversations"]

    def cards(self, conversation: str | None = None) -> list[dict[str, Any]]:
        """The Adaptive Cards posted, in order."""
        return [card for c in self.posts(conversation) if (card := c.card) is not None]

    async def wait_for(
        self,
        condition: Callable[[MockBotConnector], bool],
        timeout: float = 60.0,  # noqa: ASYNC109 - a bound on waiting for another process
    ) -> None:
        """Wait until ``condition(self)`` holds (checked at every call); fail after ``timeout``
        seconds with what was received so far."""
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    await self._changed.wait_for(lambda: condition(self))
        except TimeoutError:
            seen = [(c.method, c.path, c.status) for c in self.calls]
            raise AssertionError(
                f"the connector never saw what was expected; it saw {seen}"
            ) from None

    # Serving

    async def _handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        if self._held is not None:
            await self._held.wait()
        status, answer, headers, where, activity_id, answered = self._answer(request, body, raw)
        call = Call(
            method=request.method,
            path=request.path,
            body=body,
            headers=dict(request.headers),
            status=status,
            conversation=where,
            activity_id=activity_id,
            answered_id=answered,
            peer=_peer(request),
        )
        stalled = request.method == "POST" and status < 300 and self._stalled(where)
        unstall = self._unstall
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()
        if stalled:
            await unstall.wait()
        return web.json_response(answer, status=status, headers=headers)

    def _stalled(self, where: str | None) -> bool:
        for stall in self._stalls:
            if where is not None and (
                stall.conversation is None
                or base_conversation(where) == base_conversation(stall.conversation)
            ):
                stall.times -= 1
                if stall.times <= 0:
                    self._stalls.remove(stall)
                return True
        return False

    def _answer(
        self, request: web.Request, body: Any, raw: bytes
    ) -> tuple[int, Any, dict[str, str], str | None, str | None, str | None]:
        parts = [p for p in request.path.split("/") if p]
        where = parts[2] if len(parts) >= 3 and parts[:2] == ["v3", "conversations"] else None
        activity_id = parts[4] if len(parts) >= 5 and parts[3] == "activities" else None
        team = parts[:2] == ["v3", "teams"] and len(parts) in (3, 4) and request.method == "GET"
        if where is None and parts[:2] != ["v3", "conversations"] and not team:
            return 404, {"error": {"code": "NotFound"}}, {}, None, None, None

        failure = self._scripted_failure(where)
        if failure is not None:
            headers = {}
            if failure.retry_after is not None:
                headers["Retry-After"] = f"{failure.retry_after:g}"
            return failure.status, _error(failure.status), headers, where, activity_id, None
        if team:
            return self._team_answer(parts)
        if where is not None and base_conversation(where) in self._gone:
            status = self._gone[base_conversation(where)]
            return status, _error(status), {}, where, activity_id, None
        if self.limits:
            wait = self._rate_limited(body, where)
            if wait is not None:
                retry = {"Retry-After": str(max(1, math.ceil(wait)))}
                return 429, _error(429), retry, where, activity_id, None
        if self.max_message_bytes is not None and len(raw) > self.max_message_bytes:
            return 413, _error(413), {}, where, activity_id, None

        if where is None:  # POST /v3/conversations: a new (direct) conversation
            if request.method != "POST" or not isinstance(body, Mapping):
                return 400, _error(400), {}, None, None, None
            members = body.get("members") or [{}]
            user = str((members[0] or {}).get("id", ""))
            if user in self._refused:
                status = self._refused[user]
                return status, _error(status), {}, None, None, None
            conversation = f"a:mock-direct-{user}"
            return 201, {"id": conversation}, {}, None, None, conversation
        if request.method == "POST":
            # Strict like the Agents Playground's connector: an explicit null id is refused.
            if (
                not isinstance(body, Mapping)
                or not body.get("type")
                or ("id" in body and body["id"] is None)
            ):
                return 400, _error(400), {}, where, activity_id, None
            new_id = f"mock-activity-{next(self._ids)}"
            return 201, {"id": new_id}, {}, where, activity_id, new_id
        if request.method == "GET" and len(parts) == 4 and parts[3] in {"members", "pagedmembers"}:
            return self._member_page(request, where, parts[3] == "pagedmembers")
        if request.method == "GET" and len(parts) == 5 and parts[3] == "members":
            return self._one_member(where, parts[4])
        if request.method == "PUT" and activity_id:
            return 200, {"id": activity_id}, {}, where, activity_id, activity_id
        if request.method == "DELETE" and activity_id:
            return 200, {}, {}, where, activity_id, None
        return 405, _error(405), {}, where, activity_id, None

    def _team_answer(
        self, parts: list[str]
    ) -> tuple[int, Any, dict[str, str], str | None, str | None, str | None]:
        found = self._teams.get(parts[2])
        if found is None or (len(parts) == 4 and parts[3] != "conversations"):
            return 404, _error(404), {}, None, None, None
        name, channels = found
        if len(parts) == 3:
            return 200, {"id": parts[2], "name": name, "aadGroupId": "a1b2c3"}, {}, None, None, None
        listed = [{"id": i, "name": n} if n else {"id": i} for i, n in channels.items()]
        return 200, {"conversations": listed}, {}, None, None, None

    def _member_page(
        self, request: web.Request, where: str, paged: bool
    ) -> tuple[int, Any, dict[str, str], str | None, str | None, str | None]:
        people = self._members.get(base_conversation(where))
        if people is None:
            return 404, _error(404), {}, where, None, None
        if not paged:
            return 200, people, {}, where, None, None
        # Teams pages 50 to 500 members at a time; the token is opaque to the bot.
        size = min(max(int(request.query.get("pageSize", "200")), 1), 500)
        start = int(request.query.get("continuationToken", "0") or 0)
        page: dict[str, Any] = {"members": people[start : start + size]}
        if start + size < len(people):
            page["continuationToken"] = str(start + size)
        return 200, page, {}, where, None, None

    def _one_member(
        self, where: str, user: str
    ) -> tuple[int, Any, dict[str, str], str | None, str | None, str | None]:
        account = self._directory.get(user)
        listed = self._members.get(base_conversation(where))
        if account is None or (listed is not None and all(p.get("id") != user for p in listed)):
            answer = {"error": {"code": "MemberNotFoundInConversation", "message": "mock 404"}}
            return 404, answer, {}, where, None, None
        return 200, account, {}, where, None, None

    def _scripted_failure(self, where: str | None) -> _Failure | None:
        for failure in self._failures:
            if failure.conversation is None or (
                where is not None
                and base_conversation(where) == base_conversation(failure.conversation)
            ):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    def _rate_limited(self, body: Any, where: str | None) -> float | None:
        now = self.clock()
        tenant = _tenant(body)
        windows = [self._per_tenant[tenant]]
        budgets = [self.per_tenant]
        if where is not None:
            windows.append(self._per_conversation[base_conversation(where)])
            budgets.append(self.per_conversation)
        waits = []
        for window, budget in zip(windows, budgets, strict=True):
            while window and window[0] <= now - 1.0:
                window.popleft()
            if len(window) >= budget:
                waits.append(window[0] + 1.0 - now)
        if waits:
            return max(waits)
        for window in windows:
            window.append(now)
        return None


def _tenant(body: Any) -> str:
    """The tenant a call is for: the activity's conversation, or a new conversation's."""
    if not isinstance(body, Mapping):
        return ""
    conversation = body.get("conversation")
    if isinstance(conversation, Mapping) and conversation.get("tenantId"):
        return str(conversation["tenantId"])
    if body.get("tenantId"):
        return str(body["tenantId"])
    channel_data = body.get("channelData")
    if isinstance(channel_data, Mapping) and isinstance(channel_data.get("tenant"), Mapping):
        return str(channel_data["tenant"].get("id", ""))
    return ""


def _error(status: int) -> dict[str, Any]:
    codes = {
        400: "BadArgument",
        403: "BotNotInConversationRoster",
        404: "ConversationNotFound",
        405: "MethodNotAllowed",
        413: "MessageSizeTooBig",
        429: "Throttled",
    }
    return {"error": {"code": codes.get(status, "ServiceError"), "message": f"mock {status}"}}
