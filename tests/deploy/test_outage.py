"""The database goes away and comes back: on a PostgreSQL server of the test's own, stopped and
started under a running valuesbot (the machine's shared server is never touched).

While it is down, a unit of work fails at once with ``DatabaseUnavailable`` instead of waiting
for a connection; whatever needs the database is answered 503 with ``Retry-After`` (Slack and
Teams before they acknowledge, so nothing is acknowledged that could be lost; the web pages), and
``/healthz`` and ``/readyz`` say so. An event acknowledged just before the loss was noticed
waits for the database and is handled once it is back. Once it is back everything works again,
by itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from adapters import channel_directories, web_mounts
from adapters.slack.app import SLACK_KEY
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.web import build_web_app
from storage.engine import Database, DatabaseUnavailable
from tests.adapters.slack.conftest import BOT_TOKEN, SECRET
from tests.adapters.slack.workspace import FORM, SlackWorkspace, direct, fixture, name_of, sign
from tests.adapters.teams.conftest import ALICE, ANONYMOUS, start_world
from tests.conftest import make_settings
from tests.deploy.private_pg import PrivatePostgres
from tests.mocks.bot_connector import MockBotConnector
from tests.mocks.slack_api import MockSlackApi

pytestmark = pytest.mark.postgres

# Long enough that a unit after the first failure is refused without a new attempt, whatever
# the machine's load: the tests say when to look again (``probe``).
NO_RETRY = 3600.0
# How long a test waits for the bot to notice that the database is back (bounded, so a bug
# fails instead of hanging).
RECOVERY = 10.0


@pytest.fixture
async def database(private_db: str) -> AsyncIterator[Database]:
    found = Database(private_db)
    yield found
    await found.dispose()


async def stopped(server: PrivatePostgres) -> None:
    await asyncio.to_thread(server.stop)


async def started(server: PrivatePostgres) -> None:
    await asyncio.to_thread(server.start)


async def test_a_unit_fails_at_once_while_the_database_is_down_and_works_once_it_is_back(
    private_pg: PrivatePostgres, database: Database
) -> None:
    database.retry_interval = NO_RETRY
    async with database.unit() as stores:
        await stores.meta.put("kept", "before")
    assert database.available

    await stopped(private_pg)
    try:
        with pytest.raises(DatabaseUnavailable) as tried:
            async with database.unit() as stores:
                await stores.meta.get("kept")
        # It was tried: the connection used a moment ago failed on its first statement, or
        # (idle longer than PING_AFTER_IDLE) its ping failed and a new one was refused.
        assert isinstance(tried.value.__cause__, DBAPIError | OSError)
        assert not database.available
        with pytest.raises(DatabaseUnavailable) as refused:
            async with database.unit() as stores:
                await stores.meta.get("kept")
        assert refused.value.__cause__ is None  # refused without a new attempt: no wait
        assert isinstance(await database.probe(), OSError)
        assert not database.available
    finally:
        await started(private_pg)

    assert await database.probe() is None
    assert database.available
    async with database.unit() as stores:
        assert await stores.meta.get("kept") == "before"


async def test_a_unit_cut_off_by_a_restart_is_unavailable_and_the_next_one_reconnects(
    private_pg: PrivatePostgres, database: Database
) -> None:
    async def write_across_a_restart() -> None:
        async with database.unit() as stores:
            await stores.meta.put("cut", "off")
            await asyncio.to_thread(private_pg.restart)
            await stores.meta.put("after", "restart")

    with pytest.raises(DatabaseUnavailable) as lost:
        await write_across_a_restart()
    assert isinstance(lost.value.__cause__, DBAPIError)
    assert await database.wait_available(RECOVERY)
    async with database.unit() as stores:
        assert await stores.meta.get("cut") is None  # rolled back with the connection
        await stores.meta.put("after", "restart")
    async with database.unit() as stores:
        assert await stores.meta.get("after") == "restart"


async def test_a_statement_that_fails_is_not_taken_for_a_lost_database(database: Database) -> None:
    with pytest.raises(DBAPIError):
        async with database.unit() as stores:
            await stores.session.exec(text("SELECT * FROM no_such_table"))
    assert database.available


# The whole server: Slack and Teams in front of one database


@pytest.fixture
async def slack_api() -> AsyncIterator[MockSlackApi]:
    async with MockSlackApi() as api:
        yield api


@pytest.fixture
async def slack(
    private_db: str, clock: ManualClock, slack_api: MockSlackApi
) -> AsyncIterator[SlackWorkspace]:
    """valuesbot serving Slack on the private server's database."""
    settings = make_settings(
        private_db,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack_api.api_url,
    )
    slack_api.wall = lambda: clock.now().timestamp()
    app = await build_app(
        settings, clock=clock, prepare=False, directories=channel_directories(settings)
    )
    app.database.retry_interval = NO_RETRY
    web_app = build_web_app(app, web_mounts(settings))
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield SlackWorkspace(
            client=client,
            api=slack_api,
            adapter=web_app[SLACK_KEY],
            app=app,
            clock=clock,
            secret=SECRET,
        )
    finally:
        await client.close()
        await app.close()


async def status_of(client: TestClient[Any, Any], path: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path)
    body = await response.text()
    return response.status, json.loads(body) if body.startswith("{") else {"text": body}


async def test_while_the_database_is_down_requests_get_503_and_health_says_so(
    private_pg: PrivatePostgres, slack: SlackWorkspace
) -> None:
    client = slack.client
    assert (await status_of(client, "/readyz"))[0] == 200
    alice = "U0ALICE"

    await stopped(private_pg)
    try:
        status, health = await status_of(client, "/healthz")
        assert (status, health["status"]) == (503, "unavailable")
        status, ready = await status_of(client, "/readyz")
        assert (status, ready["status"]) == (503, "unavailable")
        assert (await status_of(client, "/livez"))[0] == 200  # alive: a restart would not help

        answered = await slack.command(user=alice, channel=direct(alice), command="/values")
        assert answered.status == 503
        assert answered.headers["Retry-After"] == "2"
        assert slack.api.calls_to("chat.postMessage") == []  # nothing was acknowledged

        for page in ("/barometer", "/barometer.json", "/digest/" + "a" * 32):
            response = await client.get(page)
            assert response.status == 503, page
            assert response.headers["Retry-After"] == "2"
    finally:
        await started(private_pg)

    # Back: the bot finds out by itself (here through the readiness probe).
    await until_ready(client)
    answered = await slack.command(user=alice, channel=direct(alice), command="/values")
    assert answered.status == 200
    assert "/valueslens" in slack.api.last(direct(alice)).text_all()
    assert (await status_of(client, "/healthz"))[0] == 200


async def until_ready(client: TestClient[Any, Any]) -> None:
    for _ in range(int(RECOVERY / 0.1)):
        if (await client.get("/readyz")).status == 200:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"not ready {RECOVERY:.0f} s after the database came back")


async def test_an_event_acknowledged_as_the_database_went_away_is_handled_when_it_is_back(
    private_pg: PrivatePostgres, slack: SlackWorkspace
) -> None:
    alice = "U0ALICE"
    async with slack.app.database.unit():
        pass  # connected: the bot has no reason to think the database is gone
    await stopped(private_pg)
    try:
        # Slack's request arrives before anything noticed: it is acknowledged...
        body = slack_command_body(slack, alice)
        response = await slack.client.post("/slack/events", data=body, headers=signed(slack, body))
        assert response.status == 200
        # ...its turn finds the database gone and waits for it.
        await until(lambda: not slack.app.database.available)
        assert slack.api.calls_to("chat.postMessage") == []
    finally:
        await started(private_pg)
    await slack.app.database.probe()  # what the watcher does every half second in serve
    await slack.adapter.drain()
    assert "/valueslens" in slack.api.last(direct(alice)).text_all()
    handled = await rows(slack.app, "SELECT count(*) FROM processed_events")
    assert handled == 1


async def test_teams_gets_503_while_the_database_is_down(
    private_pg: PrivatePostgres, private_db: str, clock: ManualClock
) -> None:
    async with MockBotConnector() as connector:
        app = await build_app(make_settings(private_db, **ANONYMOUS), clock=clock, prepare=False)
        app.database.retry_interval = NO_RETRY
        world = await start_world(app, connector)
        try:
            assert await world.installs() == 202
            answered = len(connector.calls)
            await stopped(private_pg)
            try:
                await app.database.probe()  # what the watcher does every half second in serve
                message = world.activity("personal_message", person=ALICE, text="help")
                response = await world.post(message)
                assert response.status == 503
                assert response.headers["Retry-After"] == "2"
            finally:
                await started(private_pg)
            await app.database.probe()
            assert await world.send(message) == 202
            assert len(connector.calls) > answered  # answered once it was back
        finally:
            await world.client.close()
            await app.close()


# Helpers


def slack_command_body(slack: SlackWorkspace, user: str) -> bytes:
    form = fixture("slash_command.json")
    form.update(
        team_id=slack.team,
        channel_id=direct(user),
        channel_name="directmessage",
        user_id=user,
        user_name=name_of(user),
        command="/values",
        text="",
        response_url=slack.api.response_url(channel=direct(user), user=user),
        trigger_id=slack.api.trigger(user),
    )
    return urlencode(form).encode()


def signed(slack: SlackWorkspace, body: bytes) -> dict[str, str]:
    stamp = str(int(slack.clock.now().timestamp()))
    return {
        "Content-Type": FORM,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": sign(SECRET, stamp, body),
    }


async def until(check: Any, limit: float = RECOVERY) -> None:
    for _ in range(int(limit / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def rows(app: App, query: str) -> Any:
    async with app.database.engine.connect() as connection:
        return (await connection.execute(text(query))).scalar()
