"""The latency run's ``valuesbot serve``: nothing of the product's own timetable posts into the
people's chats while they go through their check-ins."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from bench.ack_latency import slack_and_teams
from bot.app import build_app
from bot.clock import ManualClock
from bot.events import Actor, ConversationKind, ConversationRef, Platform
from bot.settings import Settings
from tests.conftest import ANSWER_KEY

# A week into December, when the month's round is due by the timetable (the 1st, 10:00).
DUE = datetime(2026, 12, 7, 13, 45, tzinfo=UTC)


async def round_opened_by_the_tick(env: dict[str, str]) -> Any:
    settings = Settings.from_env(
        {**env, "VALUESBOT_ANSWER_KEY": ANSWER_KEY, "VALUESBOT_PSEUDONYM_SECRET": "s" * 24}
    )
    app = await build_app(settings, clock=ManualClock(DUE))
    try:
        person = ConversationRef(
            platform=Platform.SLACK, tenant="T1", conversation="D1", kind=ConversationKind.DIRECT
        )
        async with app.database.unit() as stores:
            await stores.people.seen(person, Actor(id="U1", name="Alice"), DUE)
        async with app.database.unit() as stores:
            await app.barometer.tick(stores, DUE)
        async with app.database.unit() as stores:
            return await stores.barometer.current()
    finally:
        await app.close()


@pytest.mark.parametrize("auto", [False, True], ids=["as-run", "product-default"])
async def test_the_months_round_does_not_open_in_the_middle_of_a_run(
    sqlite_url: str, auto: bool
) -> None:
    mocks: Any = SimpleNamespace(api_url="http://127.0.0.1:9/api/")
    env = slack_and_teams(sqlite_url, mocks, mocks)
    if auto:
        del env["VALUESBOT_BAROMETER_AUTO"]  # what the run had before: the round opened
    opened = await round_opened_by_the_tick(env)
    assert (opened is not None) is auto
