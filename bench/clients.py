"""People using the bot over HTTP, as Slack's and Teams' servers send their requests: signed Slack
slash commands and ``block_actions`` clicks, Teams message activities and Adaptive Card submits,
built from the recorded payloads the tests use (``tests/fixtures``) and timed to the response.

A click is built from what the bot really sent, as the project's mock platform servers recorded
it (``tests/mocks``), so every click answers a real card of a real dialog run.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp

from tests.adapters.slack.workspace import click_payload, direct, name_of, sign
from tests.adapters.slack.workspace import fixture as slack_fixture
from tests.adapters.teams.conftest import TENANT, buttons
from tests.adapters.teams.conftest import fixture as teams_fixture
from tests.mocks.bot_connector import Call, MockBotConnector
from tests.mocks.slack_api import Message, MockSlackApi

FORM = "application/x-www-form-urlencoded"
SLACK_SECRET = "bench-signing-secret-0123456789ab"
SLACK_TOKEN = "xoxb-1-bench-token"
TEAM = "T1"


class Recorder:
    """Acknowledgement times, visible-answer times and errors, by kind of request."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = defaultdict(list)
        # From sending a request to the bot's answer reaching the platform (``Watch``).
        self.visible: dict[str, list[float]] = defaultdict(list)
        # When each person's first request went (``time.time()``; ``blast``, in their order).
        self.first_sent: list[float] = []
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)
        self.recording = True

    def error(self, kind: str, reason: str) -> None:
        self.errors[kind][reason] += 1

    async def post(
        self,
        http: aiohttp.ClientSession,
        kind: str,
        url: str,
        data: bytes,
        headers: Mapping[str, str],
        expect: int,
    ) -> bool:
        """POST and time it to the end of the response; False (and an error) unless ``expect``."""
        started = time.perf_counter()
        try:
            async with http.post(url, data=data, headers=headers) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as problem:
            self.error(kind, f"exception {type(problem).__name__}")
            return False
        elapsed = time.perf_counter() - started
        if self.recording:
            self.seconds[kind].append(elapsed)
        if status != expect:
            self.error(kind, f"HTTP {status}")
            return False
        return True


class _Announcing(list[Any]):
    """A mock platform's list of calls that says when it grows."""

    def __init__(self, items: list[Any], grew: Callable[[], None]) -> None:
        super().__init__(items)
        self._grew = grew

    def append(self, item: Any) -> None:
        super().append(item)
        self._grew()


class Changes:
    """When the mock Slack API first changed each conversation's message (``chat.update``), in
    ``time.time()``: the moment a person's card turned into its answer."""

    def __init__(self, api: MockSlackApi) -> None:
        self.first: dict[str, float] = {}
        api.calls = _Announcing(api.calls, self._grew)
        self._calls = api.calls

    def _grew(self) -> None:
        call = self._calls[-1]
        if call.method == "chat.update" and call.status == 200:
            self.first.setdefault(str(call.params.get("channel", "")), time.time())


class Watch:
    """When something the bot sent reaches the mock platforms: every call they record wakes the
    people waiting, whose own check says whether it was their answer. The mocks change what they
    hold in the same step as they record the call, so the check runs (soon after, on this event
    loop) against the platform as the bot left it; the time kept is the moment of the call."""

    def __init__(self, *mocks: MockSlackApi | MockBotConnector) -> None:
        self._waiting: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        self._scheduled = False
        self._stamp = 0.0
        for mock in mocks:
            mock.calls = _Announcing(mock.calls, self._grew)

    def _grew(self) -> None:
        self._stamp = time.perf_counter()
        if not self._scheduled and self._waiting:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._check)

    def _check(self) -> None:
        self._scheduled = False
        stamp = self._stamp  # the latest call's moment: an answer is never counted early
        still = []
        for check, future in self._waiting:
            if future.done():
                continue
            if check():
                future.set_result(stamp)
            else:
                still.append((check, future))
        self._waiting = still

    async def until(self, check: Callable[[], bool], limit: float) -> float | None:
        """The moment (``perf_counter``) ``check`` first held after a call reached a mock, or
        now if it holds already; None after ``limit`` seconds."""
        if check():
            return time.perf_counter()
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiting.append((check, future))
        try:
            return await asyncio.wait_for(future, limit)
        except TimeoutError:
            return None


async def wait_until(check: Callable[[], bool], limit: float, every: float = 0.02) -> bool:
    """Poll ``check`` until it holds (True) or ``limit`` seconds pass (False)."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)
    return True


def signed(raw: bytes, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of a form Slack posts now with ``raw`` as its body, signed with the bot's
    signing secret, and ``headers`` (a retry's, say) besides."""
    stamp = str(int(time.time()))
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SLACK_SECRET, stamp, raw),
        **headers,
    }


class Slack:
    """Slack's servers posting to ``POST /slack/events`` of a running bot."""

    def __init__(
        self, http: aiohttp.ClientSession, bot_url: str, api: MockSlackApi, recorder: Recorder
    ) -> None:
        self.http = http
        self.url = f"{bot_url}/slack/events"
        self.api = api
        self.recorder = recorder
        self._seq = itertools.count(1)

    async def send(self, kind: str, body: str, headers: Mapping[str, str] | None = None) -> bool:
        raw = body.encode()
        return await self.recorder.post(
            self.http, kind, self.url, raw, signed(raw, headers or {}), 200
        )

    def command_body(self, user: str, command: str, text: str = "") -> str:
        """The form Slack posts when ``user`` types ``command text`` in their direct chat."""
        channel = direct(user)
        form = slack_fixture("slash_command.json")
        form.update(
            team_id=TEAM,
            channel_id=channel,
            channel_name="directmessage",
            user_id=user,
            user_name=name_of(user),
            command=command,
            text=text,
            response_url=self.api.response_url(channel=channel, user=user),
            trigger_id=self.api.trigger(user),
        )
        return urlencode(form)

    def click_body(
        self,
        user: str,
        message: Message,
        label: str,
        inputs: Mapping[str, str] | None = None,
    ) -> str:
        """The form Slack posts when ``user`` clicks ``label`` on ``message`` (a message the bot
        posted in a conversation), with ``inputs`` filled in."""
        action_ts = f"{time.time():.0f}.{next(self._seq):06d}"
        payload = click_payload(self.api, TEAM, user, message, label, inputs, action_ts)
        return urlencode({"payload": json.dumps(payload)})

    def seen(self, user: str) -> int:
        """How much the bot has shown ``user`` in their direct chat: messages, updates of them,
        and ephemeral messages (grows with every answer the bot gives)."""
        channel = direct(user)
        messages = self.api.messages.get(channel, [])
        ephemerals = self.api.ephemerals.get((channel, user), [])
        return len(messages) + sum(m.updates for m in messages) + len(ephemerals)

    def newest(self, user: str) -> Message | None:
        messages = self.api.messages.get(direct(user))
        return messages[-1] if messages else None


class Teams:
    """Teams' servers posting activities to ``POST /api/messages`` of a running bot."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        bot_url: str,
        connector: MockBotConnector,
        recorder: Recorder,
    ) -> None:
        self.http = http
        self.url = f"{bot_url}/api/messages"
        self.connector = connector
        self.recorder = recorder
        self._ids = itertools.count(1_764_495_100_000)
        self._read = 0
        self._posts: dict[str, list[Call]] = defaultdict(list)
        self._updates: dict[str, int] = defaultdict(int)

    @staticmethod
    def person(n: int) -> dict[str, str]:
        return {
            "id": f"29:1bench{n:05d}Xq3k9T2yq8nQm4rVw7Zp",
            "name": f"B{n:05d} Staff",
            "aadObjectId": f"be0c{n:04d}-8c3e-4f5b-9d21-6a0b3c4d5e6f",
        }

    @staticmethod
    def chat(person: Mapping[str, str]) -> str:
        """The person's personal chat with the bot."""
        return "a:1direct-" + person["id"].removeprefix("29:")

    def _activity(self, name: str, person: Mapping[str, str]) -> dict[str, Any]:
        activity = copy.deepcopy(teams_fixture(name))
        activity["id"] = str(next(self._ids))
        activity["serviceUrl"] = self.connector.url
        activity["from"] = dict(person)
        activity["conversation"] = {
            "conversationType": "personal",
            "tenantId": TENANT,
            "id": self.chat(person),
        }
        return activity

    async def _send(self, kind: str, activity: Mapping[str, Any]) -> bool:
        data = json.dumps(activity).encode()
        headers = {"Content-Type": "application/json"}
        return await self.recorder.post(self.http, kind, self.url, data, headers, 202)

    async def says(self, person: Mapping[str, str], text: str) -> bool:
        activity = self._activity("personal_message", person)
        activity["text"] = text
        return await self._send("teams message", activity)

    async def clicks(
        self,
        person: Mapping[str, str],
        call: Call,
        label: str,
        inputs: Mapping[str, str] | None = None,
    ) -> bool:
        """``person`` clicks ``label`` on the card the bot posted in ``call``."""
        card = call.card or {}
        action = next(a for a in buttons(card) if a.get("title") == label)
        activity = self._activity("card_submit_personal", person)
        activity["replyToId"] = call.answered_id
        value = dict(action["data"])
        if action.get("associatedInputs") != "none":
            value.update(inputs or {})
        activity["value"] = value
        return await self._send("teams card submit", activity)

    def _index(self) -> None:
        calls = self.connector.calls
        for call in calls[self._read :]:
            if call.status >= 300 or call.conversation is None:
                continue
            if call.method == "POST":
                self._posts[call.conversation].append(call)
            elif call.method == "PUT":
                self._updates[call.conversation] += 1
        self._read = len(calls)

    def seen(self, person: Mapping[str, str]) -> int:
        """How much the bot has shown ``person`` in their chat: posts and card updates."""
        self._index()
        chat = self.chat(person)
        return len(self._posts[chat]) + self._updates[chat]

    def newest(self, person: Mapping[str, str]) -> Call | None:
        self._index()
        posts = self._posts[self.chat(person)]
        return posts[-1] if posts else None


# -- load from processes of its own --------------------------------------------------------------

# One person's requests, sent in order: (kind, form body, extra headers).
Requests = list[tuple[str, str, dict[str, str]]]


def warm() -> None:
    """Nothing: makes a worker process start (and import this module) before the clock runs."""


def blast(
    url: str, people: list[Requests], concurrency: int, pace: Pace | None = None
) -> dict[str, Any]:
    """Post everyone's signed Slack requests from ``concurrency`` clients of this process (run in a
    worker process, so the load generator does not share an event loop with the mock platform);
    the times to the responses, the errors, and when the first and the last request went. With
    ``pace`` the people come at their own times instead, whatever the bot answers (an open
    loop: ``concurrency`` is not used)."""
    return asyncio.run(_blast(url, people, concurrency, pace))


@dataclass(frozen=True)
class Pace:
    """People arriving at a steady rate, shared by several worker processes: person ``n`` of
    this process's share (every ``step``-th person from ``offset``) comes ``(offset + n *
    step) / rate`` seconds after ``start`` (``time.time()``)."""

    rate: float
    start: float
    offset: int = 0
    step: int = 1

    def due(self, n: int) -> float:
        return self.start + (self.offset + n * self.step) / self.rate


async def _blast(
    url: str, people: list[Requests], concurrency: int, pace: Pace | None
) -> dict[str, Any]:
    recorder = Recorder()
    queue = list(reversed(list(enumerate(people))))
    first_sent = [0.0] * len(people)
    started, cpu = time.time(), time.process_time()

    async def one(http: aiohttp.ClientSession, n: int, requests: Requests) -> None:
        first_sent[n] = time.time()
        for kind, body, headers in requests:
            raw = body.encode()
            await recorder.post(http, kind, url, raw, signed(raw, headers), 200)

    async def client(http: aiohttp.ClientSession) -> None:
        while queue:
            n, requests = queue.pop()
            await one(http, n, requests)

    async def arrivals(http: aiohttp.ClientSession, pace: Pace) -> None:
        loop = asyncio.get_running_loop()
        coming: list[asyncio.Task[None]] = []
        for n, requests in enumerate(people):
            wait = pace.due(n) - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            coming.append(loop.create_task(one(http, n, requests)))
        await asyncio.gather(*coming)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        if pace is not None:
            await arrivals(http, pace)
        else:
            await asyncio.gather(*(client(http) for _ in range(concurrency)))
    return {
        "seconds": dict(recorder.seconds),
        "errors": {k: dict(c) for k, c in recorder.errors.items()},
        "started": started,
        "ended": time.time(),
        "cpu": time.process_time() - cpu,
        "first_sent": first_sent,
    }
