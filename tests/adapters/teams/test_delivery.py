"""The outbox sent through the real Teams outbound to the mock Bot Connector: every message
carries its outbox key, Teams' limits are kept (the mock answers 429 beyond them), everyone is
reached once, and a send whose answer never came is left "uncertain", never sent twice."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from bot.app import App, build_app
from bot.delivery import fan_out
from bot.ui import Card
from storage.delivery import DeliveryProgress
from storage.people import PersonKey
from tests.adapters.teams.conftest import (
    ANONYMOUS,
    BOT_ID,
    TENANT,
    Person,
    TeamsWorld,
    staff,
    start_world,
)
from tests.conftest import make_settings, statements_run
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector, card_texts

POLL = Card(title="Staff barometer", text="My work is making a positive difference.")
# Teams' documented limits (50 a second per tenant, 7 per conversation), the bot's defaults;
# real time, every day a working day, so nothing waits for Monday morning.
SETTINGS = {
    **ANONYMOUS,
    "VALUESBOT_TEAMS_RATE": "50",
    "VALUESBOT_TEAMS_CONVERSATION_RATE": "7",
    "VALUESBOT_WORKING_HOURS": "Mon-Sun 00:00-24:00",
    "VALUESBOT_WEEKLY_CAP": "100",
    "VALUESBOT_DELIVERY_LEASE": "1",
    "VALUESBOT_DELIVERY_BACKOFF": "0.05",
    "VALUESBOT_SEND_TIMEOUT": "10",
}


@asynccontextmanager
async def running(
    sqlite_url: str, connector: MockBotConnector, **extra: str
) -> AsyncIterator[TeamsWorld]:
    """valuesbot on the real clock, sending to ``connector``."""
    app = await build_app(make_settings(sqlite_url, **{**SETTINGS, **extra}), prepare=False)
    started = await start_world(app, connector)
    try:
        yield started
    finally:
        await started.client.close()
        await app.close()


@pytest.fixture
async def world(sqlite_url: str) -> AsyncIterator[TeamsWorld]:
    """valuesbot on the real clock, the mock connector enforcing Teams' limits."""
    async with MockBotConnector(limits=True) as connector, running(sqlite_url, connector) as w:
        yield w


def keys(job: str, people: list[Person]) -> list[str]:
    return sorted(f"{job}:teams:{TENANT}:{p.id}" for p in people)


async def queue(app: App, job: str, people: list[Person]) -> None:
    async with app.database.unit() as stores:
        await fan_out(
            stores,
            job=job,
            people=[PersonKey("teams", TENANT, p.id) for p in people],
            card=POLL,
            now=app.clock.now(),
        )


async def progress(app: App, job: str) -> DeliveryProgress:
    async with app.database.unit() as stores:
        (found,) = await stores.outbox.progress(datetime.now(UTC), job=job)
    return found


async def deliver(app: App, job: str, limit_seconds: float = 120) -> DeliveryProgress:
    """The delivery worker's rounds until nothing of ``job`` is left (bounded)."""
    deadline = time.monotonic() + limit_seconds
    while True:
        if not await app.delivery.run_once():
            found = await progress(app, job)
            if found.remaining == 0:
                return found
            assert time.monotonic() < deadline, f"delivery did not finish: {found}"
            await asyncio.sleep(0.05)


async def test_200_people_each_get_it_once_within_teams_limits(world: TeamsWorld) -> None:
    people = staff(200)
    await world.meets(people)
    assert world.connector.posts() == []  # meeting people says nothing...
    assert len(world.connector.lookups()) == 200  # ...and asks Teams who each one is, once
    await queue(world.app, "barometer:2026-12", people)

    done = await deliver(world.app, "barometer:2026-12")

    assert (done.sent, done.failed, done.uncertain) == (200, 0, 0)
    # Each message carries its outbox key in channelData, and everyone got exactly one.
    assert sorted(world.connector.keys()) == keys("barometer:2026-12", people)
    assert sorted(c.conversation or "" for c in world.connector.posts()) == sorted(
        p.direct for p in people
    )
    # The bot never went faster than Teams allows: the mock would have answered 429.
    # Paced to Teams' limit: the mock answers 429 to anything faster. At exactly the limit, a
    # send that left a little late can land at the edge of Teams' one-second window; the few
    # 429s that causes are waited out (Retry-After) and cost no attempt.
    throttled = [c for c in world.connector.posts_tried() if c.status == 429]
    assert len(throttled) <= 4
    assert all(c.status == 201 for c in world.connector.posts_tried() if c not in throttled)
    assert all(card_texts(c.card)[0] == "Staff barometer" for c in world.connector.posts())
    assert await rows(world.app, "SELECT status, attempts, COUNT(*) FROM outbox GROUP BY 1, 2") == [
        ("sent", 1, 200)
    ]
    ids = await rows(world.app, "SELECT message_id FROM outbox ORDER BY message_id")
    assert sorted(i for (i,) in ids) == sorted(c.answered_id for c in world.connector.posts())


async def test_a_fan_out_to_people_met_reads_no_conversation_per_message(
    world: TeamsWorld,
) -> None:
    """The batch's people are read together, and each person's row holds their direct chat
    (its id and service URL) and the bot's account: a message needs no read of its own."""
    people = staff(30)
    await world.meets(people)
    await queue(world.app, "barometer:2026-12", people)
    with statements_run(world.app.database) as statements:
        done = await deliver(world.app, "barometer:2026-12")

    assert (done.sent, done.failed, done.uncertain) == (30, 0, 0)
    posts = world.connector.posts()
    assert sorted(c.conversation or "" for c in posts) == sorted(p.direct for p in people)
    assert {c.body["from"]["id"] for c in posts} == {BOT_ID}
    assert {c.body["conversation"]["tenantId"] for c in posts} == {TENANT}
    assert world.connector.created() == []
    assert not [s for s in statements if " FROM conversations" in s], statements
    people_reads = [s for s in statements if s.startswith("SELECT") and " FROM people" in s]
    assert len(people_reads) == 2  # time zones with the claim, then the people themselves


async def test_throttled_by_teams_the_worker_waits_and_nobody_gets_it_twice(
    sqlite_url: str,
) -> None:
    # Teams is stricter than the bot believes (3 a second): it answers 429 with Retry-After.
    async with (
        MockBotConnector(limits=True, per_tenant=3) as connector,
        running(sqlite_url, connector) as world,
    ):
        people = staff(20)
        await world.meets(people)
        await queue(world.app, "digest:w49", people)
        done = await deliver(world.app, "digest:w49")

        throttled = [c for c in connector.posts_tried() if c.status == 429]
        assert throttled
        assert done.sent == 20
        assert sorted(connector.keys()) == keys("digest:w49", people)
        # A 429 is Teams' doing, not the message's: no attempt counted.
        assert await rows(world.app, "SELECT MAX(attempts) FROM outbox") == [(1,)]
        registry = world.app.dispatcher.metrics.registry
        assert registry.get_sample_value(
            "valuesbot_outbox_rate_limited_total", {"platform": "teams"}
        ) == len(throttled)


async def test_a_send_whose_answer_never_came_is_uncertain_and_never_sent_again(
    sqlite_url: str, connector: MockBotConnector
) -> None:
    async with running(sqlite_url, connector, VALUESBOT_SEND_TIMEOUT="1") as world:
        await _uncertain(world)


async def _uncertain(world: TeamsWorld) -> None:
    people = staff(3)
    await world.meets(people)
    stuck = people[1]
    world.connector.stall(stuck.direct)  # Teams takes it, but its answer is lost
    await queue(world.app, "barometer:2027-01", people)

    done = await deliver(world.app, "barometer:2027-01")

    assert (done.sent, done.uncertain) == (2, 1)
    # The message did arrive once; the bot, not knowing, never sent it again.
    assert sorted(world.connector.keys()) == keys("barometer:2027-01", people)
    ((status, error),) = await rows(
        world.app, f"SELECT status, last_error FROM outbox WHERE recipient = '{stuck.id}'"
    )
    assert status == "uncertain"
    assert "teams cannot tell whether it arrived" in str(error)
    for _ in range(3):  # later rounds leave it alone
        await world.app.delivery.run_once()
    assert len(world.connector.posts(stuck.direct)) == 1
    registry = world.app.dispatcher.metrics.registry
    assert registry.get_sample_value("valuesbot_outbox_uncertain_total", {"platform": "teams"}) == 1
