"""A local Slack Web API for tests and benchmarks: records every call and answers like Slack.

    async with MockSlackApi() as slack:
        settings = {"SLACK_API_URL": slack.api_url, ...}
        ...
        [call] = slack.calls_to("chat.postMessage")
        assert call.params["channel"] == "C1"

It listens on 127.0.0.1 (a free port) and answers the methods the bot uses the way Slack does:
HTTP 200 with ``{"ok": true, ...}``, or ``{"ok": false, "error": "..."}``; HTTP 429 with
``Retry-After`` when a rate limit is set and exceeded. Parameters are read from the query string,
a form body or a JSON body alike (slack-sdk uses all three).

Besides the log of calls it keeps what people would see, so a test can click it: messages per
channel (``chat.update`` applied, message metadata kept), ephemeral messages per person, modals
opened and Home tabs published. ``conversations.history`` reads the messages back (newest first,
``oldest``, ``limit`` and ``cursor`` paging, metadata only with ``include_all_metadata``), and
``conversations.replies`` a thread's (a reply in a thread is not in the channel's history);
``conversations.members`` pages through ``members[channel]``, which tests fill in.
``response_url`` and ``trigger`` make the response URLs and trigger ids a payload carries;
posts to a response URL are recorded as calls of the method ``"response_url"``.

Scripted trouble: ``outside("C9")`` makes the bot not a member of a channel (as for a slash
command typed in a channel nobody added it to): posting there (``chat.postMessage``,
``chat.postEphemeral``, ``chat.update``) and reading its history answer ``not_in_channel``
until ``join("C9")``; response URLs work there all the same, as in Slack.
``fail("chat.postMessage", "channel_not_found", channel="C9")`` answers the next matching call
with that error; ``drop_answer("chat.postMessage")`` does the next call but
drops the connection instead of answering; ``limit(per_channel=1, window=1.0)`` rate-limits message
posts per channel (and ``per_workspace``, per token) on the mock's own clock, so a test decides
when time passes. Message timestamps come from ``wall`` (the test's clock).

Socket Mode: ``apps.connections.open`` hands out a WebSocket URL on the mock; ``socket_send``
pushes an envelope to the connected app and ``socket_ack`` waits for its acknowledgement.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import secrets
import socket
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

# Methods that post into a conversation, and so count towards message rate limits.
POSTING = frozenset({"chat.postMessage", "chat.postEphemeral", "chat.update"})
# Methods only a member of the channel may call (Slack answers ``not_in_channel``).
MEMBERS_ONLY = frozenset(
    {
        "chat.postMessage",
        "chat.postEphemeral",
        "chat.update",
        "conversations.history",
        "conversations.replies",
    }
)
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MESSAGE_TEXT = 40_000
BOT_ID = "BVALUES"
APP_ID = "A0VALUES"


@dataclass(frozen=True, slots=True)
class Call:
    """One request the mock received."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.time, compare=False)  # when it arrived (epoch s)
    status: int = field(default=200, compare=False)  # the HTTP status answered

    def text(self) -> str:
        """Everything a person would read in the call's text and blocks, as one string."""
        parts = [str(self.params.get("text", ""))]
        parts += _texts(self.params.get("blocks"))
        parts += _texts((self.params.get("view") or {}).get("blocks"))
        return "\n".join(p for p in parts if p)


@dataclass(slots=True)
class Message:
    """A message in a channel (or, with ``to`` set, an ephemeral message for one person)."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None = None
    to: str | None = None
    updates: int = 0
    metadata: dict[str, Any] | None = None
    author: tuple[str, str] | None = None  # (user, bot_id) of another app; None: the bot

    def text_all(self) -> str:
        """The message's text and the text of its blocks, as one string."""
        return "\n".join([self.text, *_texts(self.blocks)])

    def buttons(self) -> list[str]:
        """The labels of the message's buttons."""
        return [
            str(element["text"]["text"])
            for block in self.blocks
            if block.get("type") == "actions"
            for element in block.get("elements", [])
            if element.get("type") == "button"
        ]


@dataclass(slots=True)
class OpenedView:
    """A modal opened for a person, or their Home tab."""

    id: str
    user: str
    view: dict[str, Any]
    hash: str = field(default_factory=lambda: secrets.token_hex(6))

    def text_all(self) -> str:
        """The text of the view's blocks."""
        return "\n".join(_texts(self.view.get("blocks")))


@dataclass(frozen=True, slots=True)
class Hook:
    """Where a response URL answers: the conversation, the person, the message it came from."""

    channel: str
    user: str
    ts: str | None
    ephemeral: bool


@dataclass(slots=True)
class _Failure:
    method: str
    error: str
    status: int
    headers: dict[str, str]
    match: dict[str, str]
    times: int


@dataclass(slots=True)
class _Limit:
    methods: frozenset[str]
    per_channel: int | None
    per_workspace: int | None
    window: float
    retry_after: int
    counts: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


def _texts(blocks: object) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") in {"plain_text", "mrkdwn"} and isinstance(node.get("text"), str):
                found.append(node["text"])
                return
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return found


class MockSlackApi:
    """The Slack Web API on 127.0.0.1, for tests and benchmarks."""

    def __init__(
        self,
        *,
        team: str = "T1",
        bot_user: str = "UBOT",
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.team = team
        self.bot_user = bot_user
        self.clock = clock
        self.wall = wall
        self.calls: list[Call] = []
        self.messages: dict[str, list[Message]] = defaultdict(list)
        self.ephemerals: dict[tuple[str, str], list[Message]] = defaultdict(list)
        self.modals: list[OpenedView] = []
        self.homes: dict[str, OpenedView] = {}
        self.members: dict[str, list[str]] = {}
        self.outsider_of: set[str] = set()  # channels the bot is not a member of
        self.zones: dict[str, str] = {}  # users.info "tz" by user id (default Europe/London)
        # users.info "profile" by user id; by default a person has a full name ("Alice" for
        # U0ALICE) and no display name of their own.
        self.profiles: dict[str, dict[str, str]] = {}
        self.installation: dict[str, Any] = {
            "ok": True,
            "app_id": "A0VALUES",
            "authed_user": {"id": "U1"},
            "scope": "commands,chat:write",
            "token_type": "bot",
            "access_token": "xoxb-installed-token",
            "bot_user_id": bot_user,
            "team": {"id": "T2", "name": "Second workspace"},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        self._failures: list[_Failure] = []
        self._drops: dict[str, int] = {}
        self._limits: list[_Limit] = []
        self._hooks: dict[str, Hook] = {}
        self._triggers: dict[str, str] = {}
        self._ts = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._socket: web.WebSocketResponse | None = None
        self.socket_connected = asyncio.Event()
        self.socket_received: list[dict[str, Any]] = []
        self._socket_news = asyncio.Condition()

    # Lifecycle

    async def start(self) -> MockSlackApi:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/hooks/{hook}", self._hook)
        app.router.add_get("/socket", self._websocket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        port = listener.getsockname()[1]
        await web.SockSite(self._runner, listener).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        """Stop listening."""
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> MockSlackApi:
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    @property
    def api_url(self) -> str:
        """The Web API base URL (``SLACK_API_URL``)."""
        return f"{self.url}/api/"

    # What tests read

    def calls_to(self, *methods: str) -> list[Call]:
        """The calls of these methods, oldest first."""
        return [c for c in self.calls if c.method in methods]

    def methods(self) -> list[str]:
        """The methods called, in order."""
        return [c.method for c in self.calls]

    def channel(self, channel: str) -> list[Message]:
        """The messages in a channel, oldest first (as they look now)."""
        return list(self.messages[channel])

    def last(self, channel: str) -> Message:
        """The newest message in a channel."""
        return self.messages[channel][-1]

    def keys(self) -> dict[str, int]:
        """How many messages carry each outbox key (message metadata), over every channel."""
        found: dict[str, int] = defaultdict(int)
        for messages in self.messages.values():
            for message in messages:
                key = ((message.metadata or {}).get("event_payload") or {}).get("key")
                if key:
                    found[str(key)] += 1
        return dict(found)

    def ephemeral(self, channel: str, user: str) -> list[Message]:
        """The ephemeral messages a person was shown in a channel, oldest first."""
        return list(self.ephemerals[(channel, user)])

    def modal(self, user: str) -> OpenedView:
        """The newest modal opened for a person."""
        for view in reversed(self.modals):
            if view.user == user:
                return view
        raise AssertionError(f"no modal was opened for {user}")

    # What tests arrange

    def response_url(
        self, *, channel: str, user: str, ts: str | None = None, ephemeral: bool = False
    ) -> str:
        """A response URL for a payload from ``user`` in ``channel`` (about message ``ts``)."""
        hook = secrets.token_hex(8)
        self._hooks[hook] = Hook(channel=channel, user=user, ts=ts, ephemeral=ephemeral)
        return f"{self.url}/hooks/{hook}"

    def trigger(self, user: str) -> str:
        """A trigger id for a payload from ``user`` (lets the bot open a modal for them)."""
        trigger = f"{next(self._ts)}.{secrets.randbelow(10**9)}.{secrets.token_hex(16)}"
        self._triggers[trigger] = user
        return trigger

    def fail(
        self,
        method: str,
        error: str,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        **match: str,
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (whose params match) with ``error``."""
        self._failures.append(
            _Failure(method, error, status, dict(headers or {}), dict(match), times)
        )

    def outside(self, channel: str) -> None:
        """The bot is not a member of ``channel``: it cannot post there or read it."""
        self.outsider_of.add(channel)

    def join(self, channel: str) -> None:
        """The bot is added to ``channel``."""
        self.outsider_of.discard(channel)

    def drop_answer(self, method: str, *, times: int = 1) -> None:
        """Carry out the next ``times`` calls of ``method`` but drop the connection instead of
        answering (the client sees a disconnection: the call may have worked)."""
        self._drops[method] = self._drops.get(method, 0) + times

    def limit(
        self,
        *,
        methods: Iterable[str] = POSTING,
        per_channel: int | None = None,
        per_workspace: int | None = None,
        window: float = 1.0,
        retry_after: int = 1,
    ) -> None:
        """Rate-limit these methods: at most ``per_channel`` calls per channel and
        ``per_workspace`` calls per token in each ``window`` seconds of the mock's clock;
        beyond that, HTTP 429 with ``Retry-After: retry_after``."""
        self._limits.append(
            _Limit(frozenset(methods), per_channel, per_workspace, window, retry_after)
        )

    # Socket Mode

    async def socket_send(self, envelope: Mapping[str, Any]) -> None:
        """Push an envelope (``{"envelope_id", "type", "payload"}``) to the connected app."""
        await self.socket_connected.wait()
        assert self._socket is not None
        await self._socket.send_json(dict(envelope))

    async def socket_ack(self, envelope_id: str, deadline: float = 10.0) -> dict[str, Any]:
        """The app's acknowledgement of an envelope (waits for it, at most ``deadline`` s)."""

        def acked() -> dict[str, Any] | None:
            return next(
                (m for m in self.socket_received if m.get("envelope_id") == envelope_id), None
            )

        async with self._socket_news:
            await asyncio.wait_for(
                self._socket_news.wait_for(lambda: acked() is not None), deadline
            )
        found = acked()
        assert found is not None
        return found

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json({"type": "hello", "num_connections": 1})
        self.socket_connected.set()
        async for message in socket:
            if message.type != web.WSMsgType.TEXT:
                continue
            async with self._socket_news:
                self.socket_received.append(json.loads(message.data))
                self._socket_news.notify_all()
        return socket

    # HTTP

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        body = await request.text()
        if body:
            if request.content_type == "application/json":
                parsed = json.loads(body)
                if isinstance(parsed, dict):
                    params.update(parsed)
            else:
                params.update(parse_qsl(body, keep_blank_values=True))
        for key in ("blocks", "view", "attachments", "metadata"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        token = params.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            token = auth.removeprefix("Bearer ")
        limited = self._limited(method, params, token)
        self.calls.append(Call(method, params, token, status=200 if limited is None else 429))
        if limited is not None:
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(limited)},
            )
        failure = self._failure(method, params)
        if failure is not None:
            return web.json_response(
                {"ok": False, "error": failure.error},
                status=failure.status,
                headers=failure.headers,
            )
        if method in MEMBERS_ONLY and str(params.get("channel", "")) in self.outsider_of:
            return web.json_response({"ok": False, "error": "not_in_channel"})
        answer = getattr(self, "_" + method.replace(".", "_"), None)
        if answer is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        data = answer(params, token)
        if self._drops.get(method, 0) > 0 and request.transport is not None:
            # Done, but the answer is lost: the connection drops before it is written.
            self._drops[method] -= 1
            request.transport.close()
        return web.json_response(data)

    async def _hook(self, request: web.Request) -> web.Response:
        hook = self._hooks.get(request.match_info["hook"])
        params = json.loads(await request.text() or "{}")
        self.calls.append(Call("response_url", params, None))
        failure = self._failure("response_url", params)
        if failure is not None:
            return web.json_response(
                {"ok": False, "error": failure.error}, status=failure.status or 404
            )
        if hook is None:
            return web.json_response({"ok": False, "error": "expired_url"}, status=404)
        blocks = params.get("blocks") or []
        text = str(params.get("text", ""))
        if params.get("replace_original") and hook.ts:
            place = (
                self.ephemerals[(hook.channel, hook.user)]
                if hook.ephemeral
                else self.messages[hook.channel]
            )
            for message in place:
                if message.ts == hook.ts:
                    message.blocks, message.text = blocks, text
                    message.updates += 1
        elif params.get("response_type") == "in_channel":
            self.messages[hook.channel].append(Message(hook.channel, self._next_ts(), text, blocks))
        else:
            self.ephemerals[(hook.channel, hook.user)].append(
                Message(hook.channel, self._next_ts(), text, blocks, to=hook.user)
            )
        return web.Response(text="ok")

    def _limited(self, method: str, params: Mapping[str, Any], token: str | None) -> int | None:
        now = self.clock()
        for limit in self._limits:
            if method not in limit.methods:
                continue
            keys = []
            if limit.per_channel is not None:
                keys.append((f"channel:{params.get('channel', '')}", limit.per_channel))
            if limit.per_workspace is not None:
                keys.append((f"workspace:{token}", limit.per_workspace))
            for key, allowed in keys:
                recent = [t for t in limit.counts[key] if now - t < limit.window]
                limit.counts[key] = recent
                if len(recent) >= allowed:
                    wait = limit.window - (now - recent[0])
                    return max(limit.retry_after, math.ceil(wait))
            for key, _ in keys:
                limit.counts[key].append(now)
        return None

    def _failure(self, method: str, params: Mapping[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.method != method or failure.times <= 0:
                continue
            if all(str(params.get(k)) == v for k, v in failure.match.items()):
                failure.times -= 1
                return failure
        return None

    def _next_ts(self) -> str:
        # Slack's ts is the epoch second of the message and a sequence number; ``wall`` is the
        # clock of the test (``conversations.history`` compares ts with ``oldest``).
        return f"{int(self.wall())}.{next(self._ts):06d}"

    # Methods

    @staticmethod
    def _error(error: str) -> dict[str, Any]:
        return {"ok": False, "error": error}

    def _check_message(self, params: Mapping[str, Any]) -> dict[str, Any] | None:
        if not params.get("channel"):
            return self._error("channel_not_found")
        blocks = params.get("blocks")
        if not params.get("text") and not blocks:
            return self._error("no_text")
        if isinstance(blocks, list) and len(blocks) > MESSAGE_BLOCKS:
            return self._error("invalid_blocks")
        if len(str(params.get("text", ""))) > MESSAGE_TEXT:
            return self._error("msg_too_long")
        return None

    def _auth_test(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if not token:
            return self._error("not_authed")
        return {
            "ok": True,
            "url": "https://valuesbot-test.slack.com/",
            "team": "Test workspace",
            "user": "valuesbot",
            "team_id": self.team,
            "user_id": self.bot_user,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_postMessage(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        problem = self._check_message(params)
        if problem is not None:
            return problem
        message = Message(
            channel=str(params["channel"]),
            ts=self._next_ts(),
            text=str(params.get("text", "")),
            blocks=list(params.get("blocks") or []),
            thread_ts=params.get("thread_ts"),
            metadata=params.get("metadata") if isinstance(params.get("metadata"), dict) else None,
        )
        self.messages[message.channel].append(message)
        return {
            "ok": True,
            "channel": message.channel,
            "ts": message.ts,
            "message": self._as_posted(message, with_metadata=True),
        }

    def _as_posted(self, message: Message, *, with_metadata: bool) -> dict[str, Any]:
        user, bot = message.author or (self.bot_user, BOT_ID)
        shown: dict[str, Any] = {
            "type": "message",
            "user": user,
            "bot_id": bot,
            "app_id": APP_ID if message.author is None else "A0OTHER",
            "text": message.text,
            "blocks": message.blocks,
            "ts": message.ts,
        }
        if message.thread_ts:
            shown["thread_ts"] = message.thread_ts
        if message.metadata and with_metadata:
            shown["metadata"] = message.metadata
        return shown

    def _chat_postEphemeral(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        problem = self._check_message(params)
        if problem is not None:
            return problem
        if not params.get("user"):
            return self._error("user_not_found")
        message = Message(
            channel=str(params["channel"]),
            ts=self._next_ts(),
            text=str(params.get("text", "")),
            blocks=list(params.get("blocks") or []),
            thread_ts=params.get("thread_ts"),
            to=str(params["user"]),
        )
        self.ephemerals[(message.channel, message.to or "")].append(message)
        return {"ok": True, "message_ts": message.ts}

    def _chat_update(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        problem = self._check_message(params)
        if problem is not None:
            return problem
        for message in self.messages[str(params["channel"])]:
            if message.ts == params.get("ts"):
                message.text = str(params.get("text", ""))
                message.blocks = list(params.get("blocks") or [])
                message.updates += 1
                return {"ok": True, "channel": message.channel, "ts": message.ts}
        return self._error("message_not_found")

    def _view(self, view: object) -> dict[str, Any] | None:
        if not isinstance(view, dict) or not view.get("blocks"):
            return None
        if len(view["blocks"]) > VIEW_BLOCKS:
            return None
        return view

    def _views_open(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        user = self._triggers.pop(str(params.get("trigger_id", "")), None)
        if user is None:
            return self._error("expired_trigger_id")
        view = self._view(params.get("view"))
        if view is None:
            return self._error("invalid_arguments")
        opened = OpenedView(id=f"V{next(self._ts):08d}", user=user, view=view)
        self.modals.append(opened)
        return {"ok": True, "view": {**view, "id": opened.id, "hash": opened.hash}}

    def _views_publish(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        user = str(params.get("user_id", ""))
        view = self._view(params.get("view"))
        if not user:
            return self._error("user_not_found")
        if view is None:
            return self._error("invalid_arguments")
        published = OpenedView(id=f"V{next(self._ts):08d}", user=user, view=view)
        self.homes[user] = published
        return {"ok": True, "view": {**view, "id": published.id, "hash": published.hash}}

    def _conversations_open(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        users = str(params.get("users", ""))
        if not users:
            return self._error("users_not_found")
        return {"ok": True, "channel": {"id": "D" + users.split(",")[0].lstrip("U")}}

    @staticmethod
    def _page(params: Mapping[str, Any], items: list[Any]) -> tuple[list[Any], str]:
        """One page of ``items`` by ``limit`` and ``cursor``, and the next cursor ("" at the
        end), as Slack's cursor-paginated methods answer."""
        try:
            limit = max(1, min(int(params.get("limit") or 100), 1000))
            start = int(str(params.get("cursor") or "page:0").removeprefix("page:"))
        except ValueError:
            return [], "invalid_cursor"
        end = start + limit
        return items[start:end], f"page:{end}" if end < len(items) else ""

    def _conversations_history(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if channel not in self.messages:
            return self._error("channel_not_found")
        try:
            oldest = float(params.get("oldest") or 0)
        except ValueError:
            return self._error("invalid_arguments")
        metadata = str(params.get("include_all_metadata", "")).lower() in {"true", "1"}
        found = [
            m
            for m in reversed(self.messages[channel])
            if float(m.ts) > oldest and m.thread_ts in (None, m.ts)  # no thread replies
        ]
        page, cursor = self._page(params, found)
        if cursor == "invalid_cursor":
            return self._error("invalid_cursor")
        return {
            "ok": True,
            "messages": [self._as_posted(m, with_metadata=metadata) for m in page],
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_replies(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        thread = [m for m in self.messages.get(channel, []) if ts in (m.ts, m.thread_ts)]
        if not thread:
            return self._error("thread_not_found")
        try:
            oldest = float(params.get("oldest") or 0)
        except ValueError:
            return self._error("invalid_arguments")
        metadata = str(params.get("include_all_metadata", "")).lower() in {"true", "1"}
        # The parent first, then the replies, oldest first (as Slack answers).
        found = [m for m in thread if m.ts == ts or float(m.ts) > oldest]
        page, cursor = self._page(params, found)
        if cursor == "invalid_cursor":
            return self._error("invalid_cursor")
        return {
            "ok": True,
            "messages": [self._as_posted(m, with_metadata=metadata) for m in page],
            "has_more": bool(cursor),
            "response_metadata": {"next_cursor": cursor},
        }

    def _conversations_members(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if channel not in self.members:
            return self._error("channel_not_found")
        page, cursor = self._page(params, self.members[channel])
        if cursor == "invalid_cursor":
            return self._error("invalid_cursor")
        return {"ok": True, "members": page, "response_metadata": {"next_cursor": cursor}}

    def _users_info(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        user = str(params.get("user", ""))
        if not user:
            return self._error("user_not_found")
        handle = user.removeprefix("U0").lower()
        profile = {"display_name": "", "real_name": handle.capitalize()}
        profile.update(self.profiles.get(user, {}))
        profile["display_name_normalized"] = profile["display_name"]
        profile["real_name_normalized"] = profile["real_name"]
        return {
            "ok": True,
            "user": {
                "id": user,
                "team_id": self.team,
                "name": handle,
                "real_name": profile["real_name"],
                "tz": self.zones.get(user, "Europe/London"),
                "is_bot": user == self.bot_user,
                "profile": profile,
            },
        }

    def _apps_connections_open(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if not (token or "").startswith("xapp-"):
            return self._error("invalid_auth")
        return {"ok": True, "url": self.url.replace("http://", "ws://") + "/socket"}

    def _oauth_v2_access(self, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if not params.get("code"):
            return self._error("invalid_code")
        return dict(self.installation)
