"""``valuesbot serve`` stopping (SIGTERM): ``bot.server.Server.stop`` in this process, on a
real port.

It refuses new connections at once, answers the requests under way, lets the turns it
acknowledged run to the end, lets the sends under way finish and gives the messages it had
claimed back to the queue, all within the grace period; past it, it stops anyway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text

from adapters import channel_directories, web_mounts
from bot.app import App, build_app
from bot.delivery import fan_out
from bot.events import Event
from bot.server import Server
from bot.ui import Card
from bot.web import Mount, build_web_app
from storage.engine import Database
from tests.adapters.slack.conftest import BOT_TOKEN, SECRET
from tests.adapters.slack.workspace import FORM, direct, fixture, name_of, sign
from tests.conftest import make_settings
from tests.delivery.helpers import people
from tests.mocks.slack_api import MockSlackApi

LIMIT = 30.0  # seconds any wait here may take before the test fails (never reached when right)


@pytest.fixture
async def slack_api() -> AsyncIterator[MockSlackApi]:
    async with MockSlackApi() as api:
        yield api


class Held:
    """A route of the test's own whose requests wait until released."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    def mount(self, _: App, web_app: web.Application) -> None:
        async def held(_: web.Request) -> web.Response:
            self.entered.set()
            await self.release.wait()
            return web.Response(text="answered")

        web_app.router.add_get("/held", held)


async def serving(
    url: str, api: MockSlackApi, mounts: list[Mount], grace: float = LIMIT, **env: str
) -> Server:
    settings = make_settings(
        url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=api.api_url,
        VALUESBOT_WORKING_HOURS="Mon-Sun 00:00-24:00",
        VALUESBOT_WEEKLY_CAP="100",
        VALUESBOT_DELIVERY_POLL="0.05",
        **env,
    )
    app = await build_app(settings, prepare=False, directories=channel_directories(settings))
    web_app = build_web_app(app, [*web_mounts(settings), *mounts])
    server = Server(app, web_app, host="127.0.0.1", port=0, grace=grace)
    await server.start()
    return server


async def refused(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return True
    except ConnectionResetError:
        return False  # caught in the backlog as the socket closed: look again
    writer.close()
    await writer.wait_closed()
    return False


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + LIMIT
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_stopping_refuses_new_connections_and_answers_the_requests_under_way(
    sqlite_url: str, slack_api: MockSlackApi
) -> None:
    held = Held()
    server = await serving(sqlite_url, slack_api, [held.mount])
    async with aiohttp.ClientSession() as http:
        request = asyncio.create_task(http.get(f"http://127.0.0.1:{server.port}/held"))
        await asyncio.wait_for(held.entered.wait(), LIMIT)

        stopping = asyncio.create_task(server.stop())
        await until(lambda: refused(server.port), "the listening socket to close")
        assert server.app.stopping
        assert not stopping.done()  # it waits for the request under way

        held.release.set()
        response = await asyncio.wait_for(request, LIMIT)
        assert (response.status, await response.text()) == (200, "answered")
    assert await asyncio.wait_for(stopping, LIMIT) is True


async def test_a_turn_acknowledged_before_the_stop_runs_to_the_end(
    sqlite_url: str, slack_api: MockSlackApi
) -> None:
    server = await serving(sqlite_url, slack_api, [])
    app = server.app
    release = asyncio.Event()
    handle = app.dispatcher.handle

    async def held_turn(event: Event) -> None:
        await release.wait()
        await handle(event)

    app.dispatcher.handle = held_turn  # type: ignore[method-assign]
    alice = "U0ALICE"
    async with aiohttp.ClientSession() as http:
        body = command_body(slack_api, alice, "/values")
        response = await http.post(
            f"http://127.0.0.1:{server.port}/slack/events", data=body, headers=signed(body)
        )
        assert response.status == 200  # acknowledged; the turn waits
    stopping = asyncio.create_task(server.stop())
    await until(lambda: refused(server.port), "the listening socket to close")
    assert slack_api.calls_to("chat.postMessage") == []
    release.set()
    assert await asyncio.wait_for(stopping, LIMIT) is True
    assert "/valueslens" in slack_api.last(direct(alice)).text_all()


async def test_claimed_messages_go_back_to_the_queue_and_another_instance_sends_them_once(
    sqlite_url: str, slack_api: MockSlackApi
) -> None:
    total = 60
    database = Database(sqlite_url)
    async with database.unit() as stores:
        await fan_out(
            stores,
            job="barometer:2027-05",
            people=people("slack", "T1", total),
            card=Card(title="Staff barometer", text="My work makes a positive difference."),
            now=datetime.now(UTC),
        )
    # Slow enough that the stop comes in the middle of a claimed batch (2 a second: batches of
    # ten, paced half a second apart).
    server = await serving(sqlite_url, slack_api, [], VALUESBOT_SLACK_RATE="2")
    try:
        await until(lambda: sent_at_least(slack_api, 1), "the first sends")
        claimed = await count(database, "status = 'claimed'")
        assert claimed > 0  # the stop finds messages claimed and not yet sent
    finally:
        assert await asyncio.wait_for(server.stop(), LIMIT) is True
    instance = server.app.delivery.instance
    assert await count(database, f"lease_owner = '{instance}' AND status <> 'sent'") == 0
    assert await count(database, "status IN ('claimed', 'sending', 'uncertain')") == 0
    sent = await count(database, "status = 'sent'")
    assert sent == len(keys_of(slack_api))  # every send under way finished and was recorded
    assert sent < total

    # Another instance takes over at once (no lease to wait out) and sends the rest, once each.
    after = await serving(sqlite_url, slack_api, [], VALUESBOT_SLACK_RATE="200")
    try:
        await until(lambda: sent_at_least(slack_api, total), "the rest of the delivery")
    finally:
        assert await asyncio.wait_for(after.stop(), LIMIT) is True
    await database.dispose()
    delivered = keys_of(slack_api)
    assert len(delivered) == total
    assert set(delivered.values()) == {1}


async def test_past_the_grace_period_it_stops_anyway(
    sqlite_url: str, slack_api: MockSlackApi
) -> None:
    held = Held()
    server = await serving(sqlite_url, slack_api, [held.mount], grace=0.5)
    async with aiohttp.ClientSession() as http:
        request = asyncio.create_task(http.get(f"http://127.0.0.1:{server.port}/held"))
        await asyncio.wait_for(held.entered.wait(), LIMIT)
        assert await asyncio.wait_for(server.stop(), LIMIT) is False
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(request, LIMIT)
    assert server.app.delivery.stopping


# Helpers


def command_body(api: MockSlackApi, user: str, command: str) -> bytes:
    form = fixture("slash_command.json")
    form.update(
        team_id="T1",
        channel_id=direct(user),
        channel_name="directmessage",
        user_id=user,
        user_name=name_of(user),
        command=command,
        text="",
        response_url=api.response_url(channel=direct(user), user=user),
        trigger_id=api.trigger(user),
    )
    return urlencode(form).encode()


def signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SECRET, stamp, body),
    }


def keys_of(api: MockSlackApi) -> dict[str, int]:
    """Accepted chat.postMessage calls per outbox key."""
    found: dict[str, int] = {}
    for call in api.calls_to("chat.postMessage"):
        metadata: Any = call.params.get("metadata") or {}
        key = str((metadata.get("event_payload") or {}).get("key"))
        found[key] = found.get(key, 0) + 1
    return found


async def sent_at_least(api: MockSlackApi, n: int) -> bool:
    return len(api.calls_to("chat.postMessage")) >= n


async def count(database: Database, where: str) -> int:
    async with database.engine.connect() as connection:
        found = await connection.execute(text(f"SELECT count(*) FROM outbox WHERE {where}"))
        return int(found.scalar() or 0)
