"""A local mock of the two platforms' sending APIs, with their rate limits, for delivery tests.

One aiohttp server on 127.0.0.1 plays both:

- **Slack-like** (``/slack/api/...``): ``chat.postMessage`` with a workspace budget (the token
  names the workspace: ``xoxb-T1`` is workspace T1) and about one message a second per channel;
  posting to a user id posts to their direct message channel (``D`` + user id), as Slack does.
  Message metadata is kept and returned by ``conversations.history`` with
  ``include_all_metadata``; ``conversations.open`` gives a user's DM channel. Over a limit: HTTP
  429, ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
- **Teams-like** (``/teams/v3/conversations/{id}/activities``, Bot Connector shape): 50 requests a
  second per tenant (from ``conversation.tenantId``), 7 a second per conversation; 429 with
  ``Retry-After`` beyond. It has no way to read messages back, like the real one.

Limits are token buckets holding one second's worth (the platforms allow short bursts). Tests
scale the rates down or up; the defaults are the documented ones. The server records every
request and every message it accepted, so tests assert on what reached the "platform".

``SlackLikeOutbound`` and ``TeamsLikeOutbound`` are adapters' ``Outbound``s for this server: the
error mapping and the outbox-key handling that the real adapters must do (docs/delivery.md).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.events import ConversationRef, Event, MessageRef
from bot.outbound import RateLimited, RecipientUnreachable, Reply, TemporarySendError
from bot.ui import Card
from storage.people import Person, PersonKey

OUTBOX_EVENT = "valuesbot_outbox"
UNREACHABLE = ("user_not_found", "channel_not_found", "is_archived", "account_inactive")


class TokenBucket:
    """``rate`` per second, holding at most ``capacity``."""

    def __init__(self, rate: float, capacity: float | None = None) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.last = time.monotonic()

    def wait(self, now: float) -> float:
        """0 when a token is free (and takes it), else the seconds until one is."""
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class Accepted:
    """A message the mock platform took."""

    at: float
    platform: str
    tenant: str
    conversation: str
    key: str | None
    text: str
    id: str


@dataclass
class MockPlatformApi:
    """The mock server. ``start()`` it, point the outbounds at ``url``, ``stop()`` it."""

    slack_rate: float = 5.0
    slack_channel_rate: float = 1.0
    teams_rate: float = 50.0
    teams_conversation_rate: float = 7.0
    retry_after: float = 1.0
    unreachable: set[str] = field(default_factory=set)
    fail_first: dict[str, int] = field(default_factory=dict)
    slow_first: dict[str, float] = field(default_factory=dict)
    accepted: list[Accepted] = field(default_factory=list)
    throttled: int = 0
    requests: int = 0
    url: str = ""

    def __post_init__(self) -> None:
        self._buckets: dict[str, TokenBucket] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # -- running -----------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/slack/api/chat.postMessage", self._slack_post)
        app.router.add_post("/slack/api/conversations.open", self._slack_open)
        app.router.add_route("*", "/slack/api/conversations.history", self._slack_history)
        app.router.add_post("/teams/v3/conversations/{conversation}/activities", self._teams_post)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- what arrived ------------------------------------------------------------------------

    def keys(self) -> Counter[str]:
        """How many times each outbox key arrived."""
        return Counter(a.key for a in self.accepted if a.key)

    # -- limits and faults -------------------------------------------------------------------

    def _limited(self, buckets: Sequence[tuple[str, float]]) -> float:
        now = time.monotonic()
        waits = []
        for name, rate in buckets:
            bucket = self._buckets.setdefault(name, TokenBucket(rate))
            waits.append(bucket.wait(now))
            if waits[-1] > 0:
                break
        return max(waits)

    def _too_many(self, body: dict[str, Any], wait: float) -> web.Response:
        self.throttled += 1
        return web.json_response(
            body,
            status=429,
            headers={"Retry-After": str(max(1, round(max(wait, self.retry_after))))},
        )

    async def _fault(self, key: str | None) -> web.Response | None:
        if key and self.fail_first.get(key, 0) > 0:
            self.fail_first[key] -= 1
            return web.json_response({"ok": False, "error": "internal_error"}, status=500)
        return None

    async def _maybe_slow(self, key: str | None) -> None:
        # The message is taken, but the answer comes too late for the client (a timeout).
        if key and key in self.slow_first:
            await asyncio.sleep(self.slow_first.pop(key))

    # -- Slack-like --------------------------------------------------------------------------

    @staticmethod
    def _workspace(request: web.Request) -> str:
        return request.headers.get("Authorization", "").removeprefix("Bearer xoxb-") or "T?"

    async def _slack_post(self, request: web.Request) -> web.Response:
        self.requests += 1
        body = await request.json()
        workspace = self._workspace(request)
        channel = str(body["channel"])
        if channel.startswith("U"):
            if channel in self.unreachable:
                return web.json_response({"ok": False, "error": "user_not_found"})
            channel = "D" + channel
        key = (body.get("metadata") or {}).get("event_payload", {}).get("key")
        wait = self._limited(
            [
                (f"slack:{workspace}", self.slack_rate),
                (f"slack:{workspace}:{channel}", self.slack_channel_rate),
            ]
        )
        if wait > 0:
            return self._too_many({"ok": False, "error": "ratelimited"}, wait)
        fault = await self._fault(key)
        if fault is not None:
            return fault
        ts = f"{time.time():.6f}"
        self.accepted.append(
            Accepted(
                at=time.monotonic(),
                platform="slack",
                tenant=workspace,
                conversation=channel,
                key=key,
                text=str(body.get("text", "")),
                id=ts,
            )
        )
        await self._maybe_slow(key)
        return web.json_response({"ok": True, "channel": channel, "ts": ts})

    async def _slack_open(self, request: web.Request) -> web.Response:
        body = await request.json()
        user = str(body["users"])
        if user in self.unreachable:
            return web.json_response({"ok": False, "error": "user_not_found"})
        return web.json_response({"ok": True, "channel": {"id": "D" + user}})

    async def _slack_history(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        if request.can_read_body:
            params.update(await request.json())
        channel = str(params["channel"])
        oldest = float(params.get("oldest", 0))
        workspace = self._workspace(request)
        messages = [
            {
                "type": "message",
                "bot_id": "B1",
                "ts": a.id,
                "text": a.text,
                **(
                    {"metadata": {"event_type": OUTBOX_EVENT, "event_payload": {"key": a.key}}}
                    if a.key and str(params.get("include_all_metadata")).lower() == "true"
                    else {}
                ),
            }
            for a in self.accepted
            if a.platform == "slack"
            and a.tenant == workspace
            and a.conversation == channel
            and float(a.id) >= oldest
        ]
        return web.json_response({"ok": True, "messages": messages[::-1], "has_more": False})

    # -- Teams-like --------------------------------------------------------------------------

    async def _teams_post(self, request: web.Request) -> web.Response:
        self.requests += 1
        conversation = request.match_info["conversation"]
        body = await request.json()
        tenant = str(body.get("conversation", {}).get("tenantId", "?"))
        if conversation in self.unreachable:
            return web.json_response(
                {"error": {"code": "ConversationNotFound", "message": "not found"}}, status=404
            )
        key = (body.get("channelData") or {}).get("valuesbotOutboxKey")
        wait = self._limited(
            [
                (f"teams:{tenant}", self.teams_rate),
                (f"teams:{tenant}:{conversation}", self.teams_conversation_rate),
            ]
        )
        if wait > 0:
            return self._too_many({"error": {"code": "TooManyRequests"}}, wait)
        fault = await self._fault(key)
        if fault is not None:
            return fault
        activity_id = f"1:{next(self._ids)}"
        self.accepted.append(
            Accepted(
                at=time.monotonic(),
                platform="teams",
                tenant=tenant,
                conversation=conversation,
                key=key,
                text=str(body.get("text", "")),
                id=activity_id,
            )
        )
        await self._maybe_slow(key)
        return web.json_response({"id": activity_id}, status=201)


# -- the outbounds ---------------------------------------------------------------------------


class _HttpOutbound:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(
        self, method: str, url: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, dict[str, str], Any]:
        try:
            async with self.session.request(method, url, json=body, headers=headers) as response:
                data = await response.json(content_type=None)
                return response.status, dict(response.headers), data
        except aiohttp.ClientConnectorError as error:
            # Never connected: the platform cannot have seen the request.
            raise TemporarySendError(f"cannot connect: {error}") from error
        except (TimeoutError, aiohttp.ClientError) as error:
            # The request may have arrived and only the answer was lost.
            raise TemporarySendError(
                f"no answer: {type(error).__name__}", maybe_sent=True
            ) from error

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        return [await self.post(event.conversation, reply.card) for reply in replies]

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        raise NotImplementedError


class SlackLikeOutbound(_HttpOutbound):
    """Posts with ``chat.postMessage``; the outbox key rides in message metadata."""

    def __init__(self, base_url: str, workspace: str, timeout: float = 10.0) -> None:
        super().__init__(base_url, timeout)
        self.api = f"{base_url}/slack/api/"
        self.headers = {"Authorization": f"Bearer xoxb-{workspace}"}

    async def _post(self, channel: str, card: Card, key: str | None) -> MessageRef:
        body: dict[str, Any] = {"channel": channel, "text": card.plain_text()}
        if key:
            body["metadata"] = {"event_type": OUTBOX_EVENT, "event_payload": {"key": key}}
        status, headers, data = await self._request(
            "POST", self.api + "chat.postMessage", body, self.headers
        )
        if status == 429:
            raise RateLimited(float(headers.get("Retry-After", "1")))
        if status >= 500:
            raise TemporarySendError(f"HTTP {status}")
        if not data.get("ok"):
            error = str(data.get("error"))
            if error in UNREACHABLE:
                raise RecipientUnreachable(error)
            raise TemporarySendError(error)
        return MessageRef(id=str(data["ts"]), extra={"channel": str(data["channel"])})

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        return await self._post(place.conversation, card, key)

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        return await self._post(person.user, card, key)

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        if isinstance(to, PersonKey):
            status, _, data = await self._request(
                "POST", self.api + "conversations.open", {"users": to.user}, self.headers
            )
            if status == 429:
                raise RateLimited(1.0)
            if not data.get("ok"):
                return False
            channel = str(data["channel"]["id"])
        else:
            channel = to.conversation
        status, headers, data = await self._request(
            "POST",
            self.api + "conversations.history",
            {
                "channel": channel,
                "oldest": f"{since.timestamp():.6f}",
                "include_all_metadata": "true",
                "limit": 200,
            },
            self.headers,
        )
        if status == 429:
            raise RateLimited(float(headers.get("Retry-After", "1")))
        if not data.get("ok"):
            raise TemporarySendError(str(data.get("error")))
        return any(
            m.get("bot_id") and (m.get("metadata") or {}).get("event_payload", {}).get("key") == key
            for m in data["messages"]
        )


class TeamsLikeOutbound(_HttpOutbound):
    """Posts activities to the Bot Connector shape; it cannot read messages back."""

    def __init__(self, base_url: str, tenant: str, timeout: float = 10.0) -> None:
        super().__init__(base_url, timeout)
        self.api = f"{base_url}/teams/v3/conversations/"
        self.tenant = tenant

    async def _post(self, conversation: str, card: Card, key: str | None) -> MessageRef:
        body: dict[str, Any] = {
            "type": "message",
            "text": card.plain_text(),
            "conversation": {"id": conversation, "tenantId": self.tenant},
        }
        if key:
            body["channelData"] = {"valuesbotOutboxKey": key}
        status, headers, data = await self._request(
            "POST", f"{self.api}{conversation}/activities", body, {}
        )
        if status == 429:
            raise RateLimited(float(headers.get("Retry-After", "1")))
        if status in (403, 404):
            raise RecipientUnreachable(str((data.get("error") or {}).get("code", status)))
        if status >= 400:
            raise TemporarySendError(f"HTTP {status}")
        return MessageRef(id=str(data["id"]))

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        return await self._post(place.conversation, card, key)

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        # The real adapter uses the person's stored 1:1 conversation id (people table).
        return await self._post(f"a:{person.user}", card, key)

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        # The Bot Connector cannot list a conversation's messages: nobody can tell.
        return None
