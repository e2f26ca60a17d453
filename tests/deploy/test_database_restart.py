"""PostgreSQL restarted in the middle of a fan-out of 2,000 poll cards and of a burst of answers,
under a real ``valuesbot serve`` (on a PostgreSQL server of the test's own: the machine's
shared one is never restarted).

While the database is down, requests get a 503 at once (well inside Slack's 3 s) and
``/healthz`` and ``/readyz`` say so; once it is back the bot is ready again by itself within
10 s; every person gets the poll exactly once, and every answer that was given a 2xx is stored
exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import text

from storage.engine import Database
from tests.deploy.fleet import (
    COMMS,
    STAFF,
    Answering,
    Bot,
    Slack,
    answers_stored,
    choices,
    delivered_keys,
    poll_card,
    sent,
    settings,
    summary,
    until,
)
from tests.deploy.private_pg import PrivatePostgres
from tests.mocks.slack_api import MockSlackApi

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PEOPLE = [f"U0P{n:05d}" for n in range(1, 2001)]
ANSWERING = PEOPLE[:600]
# Clicks while the database is down (a 503), and again once it is back.
LATE = PEOPLE[600]
# The bound on recovery: ready again within this many seconds of the database's return.
RECOVERY_SECONDS = 10.0


async def test_postgresql_restarted_mid_fan_out_and_mid_burst(
    private_pg: PrivatePostgres, private_db: str, tmp_path: Path
) -> None:
    database = Database(private_db)
    async with MockSlackApi() as api, aiohttp.ClientSession() as http:
        api.members[STAFF] = ["UBOT", *PEOPLE]
        # Paced so that the restart comes in the middle of the delivery.
        bot = await Bot.start(
            settings(private_db, api, VALUESBOT_SLACK_RATE="150"), tmp_path, "serve"
        )
        slack = Slack(api, http)
        slack.rotation = [bot]
        try:
            assert await slack.post(slack.command(COMMS, "/barometer", "open")) == 200
            answering = Answering(slack, ANSWERING)
            burst = asyncio.create_task(answering.run())

            async def under_way() -> bool:
                return (
                    len(delivered_keys(api)) >= 500
                    and len(answering.answered) >= 50
                    and poll_card(api, LATE) is not None
                )

            await until(under_way, "the delivery and the answers to be under way")

            # PostgreSQL goes away.
            await asyncio.to_thread(private_pg.stop)
            try:
                at_stop = len(delivered_keys(api))
                health = await http.get(f"{bot.url}/healthz")
                assert health.status == 503
                assert (await health.json())["status"] == "unavailable"
                ready = await http.get(f"{bot.url}/readyz")
                assert ready.status == 503
                # A click now is refused (within Slack's 3 s: ``Slack.post`` gives up then),
                # not acknowledged and lost.
                card = poll_card(api, LATE)
                assert card is not None
                refused = await slack.post(slack.click(LATE, card, choices(card, 0)))
                assert refused == 503
                await asyncio.sleep(2.0)  # the burst goes on against the closed database
            finally:
                await asyncio.to_thread(private_pg.start)
            back = time.monotonic()
            await bot.until_ready(limit=RECOVERY_SECONDS)
            recovered_in = time.monotonic() - back

            async def delivered() -> bool:
                return await sent(database) >= len(PEOPLE)

            await until(delivered, "the rest of the delivery")
            await asyncio.wait_for(burst, 300)
            # The person refused while the database was down tries again.
            card = poll_card(api, LATE)
            assert card is not None
            assert await slack.post(slack.click(LATE, card, choices(card, 0))) == 200

            async def stored() -> bool:
                return (await answers_stored(database))[0] >= len(ANSWERING) + 1

            await until(stored, "every acknowledged answer to be handled")
            assert await bot.terminate() == 0
        finally:
            bot.kill()
        keys = delivered_keys(api)
        answered, per_question = await answers_stored(database)
        outbox = await database_statuses(database)
    await database.dispose()

    assert at_stop < len(PEOPLE)  # the restart came in the middle of the delivery
    # Every person got the poll exactly once.
    assert len(keys) == len(PEOPLE)
    assert set(keys.values()) == {1}
    assert outbox == {"sent": len(PEOPLE)}
    # Every answer given a 2xx is stored once; nothing else was answered but 200 or 503, in time.
    assert answering.answered == set(ANSWERING)
    assert answered == len(ANSWERING) + 1  # and LATE, once, after its 503
    assert per_question == [len(ANSWERING) + 1, len(ANSWERING) + 1]
    assert set(slack.statuses) <= {"200", "503"}, slack.statuses
    assert slack.statuses["503"] >= 1
    print(
        f"restart after {at_stop} of {len(PEOPLE)} cards; ready {recovered_in:.1f} s after "
        f"PostgreSQL came back; answers {dict(slack.statuses)}; log: {summary([bot.log])}"
    )


async def database_statuses(database: Database) -> dict[str, int]:
    async with database.engine.connect() as connection:
        rows = (
            await connection.execute(text("SELECT status, count(*) FROM outbox GROUP BY status"))
        ).all()
    return {str(status): int(n) for status, n in rows}
