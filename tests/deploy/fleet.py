"""Several ``valuesbot serve`` processes on one database, and Slack's servers in front of them.

``Bot`` is one real ``valuesbot serve`` process (its output in a log file). ``Slack`` posts
signed requests to the bots in its rotation, in turn, as a load balancer in front of them would:
a bot is taken out of the rotation before it is stopped (as Kubernetes takes a pod out of a
Service's endpoints before its SIGTERM), and a connection that is refused is tried on the next
bot (as an ingress does); a request that got an HTTP answer is never sent again. Every answer's
status is counted. Requests time out after Slack's own deadline (3 s), counted as "timeout".

A barometer round is the load: comms open it for the members of the staff channel (every person
gets the poll card in their direct chat, through the outbox), and people answer it by clicking
"Send my answers" on the card the mock Slack API holds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import text

from storage.engine import Database
from tests.adapters.slack.workspace import FORM, click_payload, direct, fixture, name_of, sign
from tests.e2e.teams_processes import VALUESBOT, clean_env, free_port
from tests.mocks.slack_api import Message, MockSlackApi

SECRET = "fleet-signing-secret-0123456789ab"
TOKEN = "xoxb-1-fleet-token"
TEAM = "T1"
COMMS = "U0COMMS"
STAFF = "C0STAFF"
ANSWER = "Send my answers"
# Slack gives up on an answer after 3 seconds.
SLACK_DEADLINE = 3.0
# Any wait here is bounded by this many seconds (a bug fails the test instead of hanging it).
LIMIT = 300.0


def settings(database_url: str, api: MockSlackApi, **extra: str) -> dict[str, str]:
    """The environment of every bot: Slack over HTTP, the round sent to the staff channel, and
    delivery fast enough for a test (every day, every hour, no weekly cap)."""
    return {
        "DATABASE_URL": database_url,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_BOT_TOKEN": TOKEN,
        "SLACK_API_URL": api.api_url,
        "VALUESBOT_COMMS": f"slack:{COMMS}",
        "VALUESBOT_BAROMETER_AUTO": "false",
        "VALUESBOT_BAROMETER_CHANNELS": f"slack:{TEAM}:{STAFF}",
        "VALUESBOT_PSEUDONYM_SECRET": "fleet-pseudonym-secret-0123",
        "VALUESBOT_WORKING_HOURS": "Mon-Sun 00:00-24:00",
        "VALUESBOT_WEEKLY_CAP": "100",
        "VALUESBOT_SLACK_RATE": "300",
        "VALUESBOT_SLACK_CONVERSATION_RATE": "50",
        "VALUESBOT_DELIVERY_POLL": "0.05",
        "VALUESBOT_DELIVERY_LEASE": "2",
        "VALUESBOT_DELIVERY_BACKOFF": "0.1",
        "VALUESBOT_SEND_TIMEOUT": "3",
        "VALUESBOT_DELIVERY_CONCURRENCY": "16",
        "VALUESBOT_SHUTDOWN_GRACE": "20",
        **extra,
    }


class Bot:
    """One ``valuesbot serve`` process."""

    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.port = port
        self.log = log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    async def start(cls, env: Mapping[str, str], folder: Path, name: str) -> Bot:
        """Start it and wait until it is ready (``/readyz``)."""
        port = free_port()
        log = folder / f"{name}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                VALUESBOT,
                "serve",
                "--port",
                str(port),
                cwd=folder,
                env=clean_env(**env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        bot = cls(process, port, log)
        await bot.until_ready()
        return bot

    async def until_ready(self, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    raise AssertionError(f"valuesbot serve exited:\n{self.log.read_text()}")
                try:
                    async with http.get(f"{self.url}/readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"valuesbot serve was not ready in {limit:.0f} s: {self.log}")

    async def terminate(self) -> int:
        """SIGTERM; its exit status (it must exit by itself within its grace period)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.process.wait(), 40)

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()


class Slack:
    """Slack's servers, posting to the bots in ``rotation``."""

    def __init__(self, api: MockSlackApi, http: aiohttp.ClientSession) -> None:
        self.api = api
        self.http = http
        self.rotation: list[Bot] = []
        self.statuses: Counter[str] = Counter()
        self.refused = 0
        self._turn = itertools.count()
        self._seq = itertools.count(1)

    async def post(self, body: str) -> int | None:
        """POST a signed body to the next bot; its HTTP status (None: timed out, counted)."""
        raw = body.encode()
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": FORM,
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": sign(SECRET, stamp, raw),
        }
        for _ in range(10):
            bots = list(self.rotation)
            bot = bots[next(self._turn) % len(bots)]
            try:
                async with self.http.post(
                    f"{bot.url}/slack/events",
                    data=raw,
                    headers=headers,
                    timeout=aiohttp.ClientTimeout(total=SLACK_DEADLINE),
                ) as response:
                    await response.read()
                    self.statuses[str(response.status)] += 1
                    return response.status
            except aiohttp.ClientConnectorError:
                self.refused += 1  # never reached the bot: the next one
            except TimeoutError:
                self.statuses["timeout"] += 1
                return None
        raise AssertionError("no bot accepted a connection")

    def command(self, user: str, command: str, text_: str = "") -> str:
        form = fixture("slash_command.json")
        form.update(
            team_id=TEAM,
            channel_id=direct(user),
            channel_name="directmessage",
            user_id=user,
            user_name=name_of(user),
            command=command,
            text=text_,
            response_url=self.api.response_url(channel=direct(user), user=user),
            trigger_id=self.api.trigger(user),
        )
        return urlencode(form)

    def click(self, user: str, message: Message, inputs: Mapping[str, str]) -> str:
        action_ts = f"{time.time():.0f}.{next(self._seq):06d}"
        payload = click_payload(self.api, TEAM, user, message, ANSWER, inputs, action_ts)
        return urlencode({"payload": json.dumps(payload)})


def poll_card(api: MockSlackApi, user: str) -> Message | None:
    """The poll card in the person's direct chat, once it has arrived."""
    for message in api.messages.get(direct(user), ()):
        if ANSWER in message.buttons():
            return message
    return None


def choices(message: Message, n: int) -> dict[str, str]:
    """An answer to every question of the card (varied from person to person)."""
    given: dict[str, str] = {}
    for block in message.blocks:
        element = block.get("element", {})
        name = str(element.get("action_id", ""))
        if block.get("type") == "input" and name.startswith("q_"):
            options = element["options"]
            given[name] = str(options[(n + len(given)) % len(options)]["value"])
    return given


class Answering:
    """People answering their poll card as it arrives, ``at_once`` requests at a time, until
    each has had a 2xx; a 503 is clicked again a moment later (a person trying again)."""

    def __init__(self, slack: Slack, people: list[str], at_once: int = 12) -> None:
        self.slack = slack
        self.people = people
        self.at_once = at_once
        self.answered: set[str] = set()
        self.refused_503 = 0

    async def run(self) -> None:
        waiting = list(enumerate(self.people))
        deadline = time.monotonic() + LIMIT
        while waiting:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(waiting)} people could not answer")
            ready = [(n, u) for n, u in waiting if poll_card(self.slack.api, u) is not None]
            batch = ready[: self.at_once]
            if not batch:
                await asyncio.sleep(0.05)
                continue
            results = await asyncio.gather(*(self._answer(n, u) for n, u in batch))
            done = {u for (_, u), ok in zip(batch, results, strict=True) if ok}
            waiting = [(n, u) for n, u in waiting if u not in done]
            if not done:
                await asyncio.sleep(0.1)

    async def _answer(self, n: int, user: str) -> bool:
        card = poll_card(self.slack.api, user)
        assert card is not None
        status = await self.slack.post(self.slack.click(user, card, choices(card, n)))
        if status is not None and 200 <= status < 300:
            self.answered.add(user)
            return True
        if status == 503:
            self.refused_503 += 1
        return False


async def until(check: Callable[[], Awaitable[bool]], what: str, limit: float = LIMIT) -> None:
    """Wait (bounded) until ``await check()`` holds."""
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def scalar(database: Database, query: str) -> Any:
    async with database.engine.connect() as connection:
        return (await connection.execute(text(query))).scalar()


async def sent(database: Database) -> int:
    """Poll cards the outbox has marked sent."""
    return int(await scalar(database, "SELECT count(*) FROM outbox WHERE status = 'sent'") or 0)


async def answers_stored(database: Database) -> tuple[int, list[int]]:
    """People marked as having answered the open round, and the answers to each question:
    those written to the response table and those still waiting, sealed, for their batch (a
    first answer waits as one row holding every question; nobody changes an answer here)."""
    answered = await scalar(database, "SELECT count(*) FROM barometer_participation WHERE answered")
    waiting = await scalar(database, "SELECT count(*) FROM barometer_pending WHERE NOT replaces")
    async with database.engine.connect() as connection:
        per_question = (
            await connection.execute(
                text("SELECT count(*) FROM barometer_responses GROUP BY question ORDER BY 1")
            )
        ).all()
    return int(answered or 0), [int(n) + int(waiting or 0) for (n,) in per_question]


def delivered_keys(api: MockSlackApi) -> Counter[str]:
    """Accepted chat.postMessage calls carrying an outbox key, per key."""
    keys: Counter[str] = Counter()
    for call in api.calls_to("chat.postMessage"):
        if call.status != 200:
            continue
        metadata = call.params.get("metadata")
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        if isinstance(payload, dict) and payload.get("key"):
            keys[str(payload["key"])] += 1
    return keys


def summary(logs: list[Path]) -> str:
    """How many lines of each level the bots logged (for the test's output)."""
    levels: Counter[str] = Counter()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            for level in ("ERROR", "WARNING"):
                if f" {level} " in line:
                    levels[level] += 1
    return ", ".join(f"{n} {level}" for level, n in sorted(levels.items())) or "no warnings"
