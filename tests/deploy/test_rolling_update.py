"""A rolling update without containers: three ``valuesbot serve`` processes on one PostgreSQL
database while a barometer round goes out to 2,000 people and they answer it; twice, one is taken
out of the rotation, stopped with SIGTERM, and a new one started in its place (what Kubernetes
does with ``maxUnavailable: 0``).

Every person gets the poll exactly once, no request gets a 5xx, every answer is stored once,
and every process stopped exits with status 0 by itself.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from storage import migrate
from storage.engine import Database
from tests.conftest import PG_URL, SKIP_PG, create_pg_database, drop_pg_database
from tests.deploy.fleet import (
    COMMS,
    STAFF,
    Answering,
    Bot,
    Slack,
    answers_stored,
    delivered_keys,
    sent,
    settings,
    summary,
    until,
)
from tests.mocks.slack_api import MockSlackApi

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PEOPLE = [f"U0R{n:05d}" for n in range(1, 2001)]
ANSWERING = PEOPLE[::5]  # 400 of them answer while the round goes out


@pytest.fixture
async def shared_pg() -> str:
    """A fresh, migrated database on the machine's PostgreSQL server (dropped afterwards)."""
    if SKIP_PG:
        pytest.skip("VALUESBOT_TEST_SKIP_PG=1")
    name = f"valuesbot_rolling_{os.getpid()}_{secrets.token_hex(3)}"
    await create_pg_database(name)
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    await migrate.upgrade(url)
    try:
        yield url
    finally:
        await drop_pg_database(name)


async def test_two_rolling_replacements_during_a_fan_out_of_2000(
    shared_pg: str, tmp_path: Path
) -> None:
    database = Database(shared_pg)
    stopped: list[int] = []
    at_stop: list[int] = []
    bots: list[Bot] = []
    async with MockSlackApi() as api, aiohttp.ClientSession() as http:
        api.members[STAFF] = ["UBOT", *PEOPLE]
        # Paced so that the replacements come in the middle of the delivery.
        env = settings(shared_pg, api, VALUESBOT_SLACK_RATE="60")
        try:
            for n in range(3):
                bots.append(await Bot.start(env, tmp_path, f"serve-{n}"))
            slack = Slack(api, http)
            slack.rotation = list(bots)
            assert await slack.post(slack.command(COMMS, "/barometer", "open")) == 200
            answering = Answering(slack, ANSWERING)
            burst = asyncio.create_task(answering.run())
            for cycle, share in enumerate((0.25, 0.55), start=3):

                async def reached(share: float = share) -> bool:
                    return len(delivered_keys(api)) >= share * len(PEOPLE)

                await until(reached, f"{share:.0%} of the delivery")
                leaving = slack.rotation[0]
                slack.rotation.remove(leaving)  # out of the Service's endpoints first
                at_stop.append(len(delivered_keys(api)))
                stopped.append(await leaving.terminate())  # SIGTERM, requests still in flight
                arriving = await Bot.start(env, tmp_path, f"serve-{cycle}")
                bots.append(arriving)
                slack.rotation.append(arriving)

            async def delivered() -> bool:
                return await sent(database) >= len(PEOPLE)

            await until(delivered, "the whole delivery")
            await asyncio.wait_for(burst, 300)

            async def stored() -> bool:
                return (await answers_stored(database))[0] >= len(ANSWERING)

            await until(stored, "every answer to be handled")
            for bot in slack.rotation:
                stopped.append(await bot.terminate())
        finally:
            for bot in bots:
                bot.kill()
        keys = delivered_keys(api)
        answered, per_question = await answers_stored(database)
        async with database.engine.connect() as connection:
            outbox = dict(
                (
                    await connection.execute(
                        text("SELECT status, count(*) FROM outbox GROUP BY status")
                    )
                ).all()
            )
            senders = (
                await connection.execute(
                    text("SELECT count(DISTINCT lease_owner) FROM outbox WHERE status = 'sent'")
                )
            ).scalar()
    await database.dispose()

    assert stopped == [0] * 5  # each exited by itself, in its grace period
    assert max(at_stop) < len(PEOPLE)  # both replacements came during the delivery
    # Nothing went wrong on the way out either (a session closed under a send, say).
    errors = [
        line for bot in bots for line in bot.log.read_text().splitlines() if " ERROR " in line
    ]
    assert errors == []
    # Every person got the poll exactly once, from five processes between them.
    assert len(keys) == len(PEOPLE)
    assert set(keys.values()) == {1}
    assert outbox == {"sent": len(PEOPLE)}
    assert senders is not None
    assert senders >= 4
    # No request got anything but a 2xx; every answer is stored once.
    assert set(slack.statuses) == {"200"}, slack.statuses
    assert answering.answered == set(ANSWERING)
    assert answered == len(ANSWERING)
    assert per_question == [len(ANSWERING), len(ANSWERING)]
    print(
        f"stopped at {at_stop} of {len(PEOPLE)} cards; requests {dict(slack.statuses)}, "
        f"refused connections {slack.refused}; "
        f"senders {senders}; log: {summary([b.log for b in bots])}"
    )
