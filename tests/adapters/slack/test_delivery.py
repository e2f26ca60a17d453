"""The delivery worker sending the outbox through the real Slack outbound to the mock Slack Web
API: a worker that dies between Slack's answer and its commit, or before its call reached Slack,
ends with every recipient reached exactly once, because the outbox key travels as message
metadata and ``conversations.history`` reads it back (docs/delivery.md)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from bot.clock import ManualClock
from bot.delivery import fan_out
from bot.events import Actor, ConversationKind, ConversationRef, Platform
from bot.ui import Card
from storage import migrate
from storage.delivery import SqlDeliveryQueue
from storage.engine import Database
from storage.people import PersonKey
from tests.adapters.slack.conftest import BOT_TOKEN, SECRET
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.conftest import statements_run
from tests.delivery.helpers import FAST, job_progress
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import MockSlackApi

JOB = "barometer:2026-11"
CARD = Card(title="Staff barometer", text="My work is making a positive difference.")
PEOPLE = [PersonKey("slack", "T1", f"U0P{n:03d}") for n in range(30)]


def key(person: PersonKey) -> str:
    return f"{JOB}:slack:T1:{person.user}"


async def test_a_worker_that_dies_mid_send_reaches_everyone_once(
    slack: SlackWorkspace, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with slack.app.database.unit() as stores:
        await fan_out(stores, job=JOB, people=PEOPLE, card=CARD, now=clock.now())

    # The first worker dies twice over: for ten people before its call reached Slack, for the
    # other twenty after Slack took the message but before "sent" was committed.
    never_called = {p.user for p in PEOPLE[:10]}
    outbound = slack.app.dispatcher.outbound(Platform.SLACK)
    real_post_direct = outbound.post_direct

    async def dies_before_the_call(person: PersonKey, card: Card, **kw: Any) -> Any:
        if person.user in never_called:
            raise ConnectionError("the process died before the request left")
        return await real_post_direct(person, card, **kw)

    async def dies_before_the_commit(*args: Any, **kw: Any) -> bool:
        raise ConnectionError("the process died before sent was committed")

    monkeypatch.setattr(outbound, "post_direct", dies_before_the_call)
    monkeypatch.setattr(SqlDeliveryQueue, "mark_sent_many", dies_before_the_commit)
    await slack.app.delivery.run_once()
    assert len(slack.api.keys()) == 20
    stuck = await job_progress(slack.app.database, JOB)
    assert (stuck.sent, stuck.remaining) == (0, 30)

    # A worker (restarted) finds the interrupted sends once their lease has run out, and asks
    # Slack about each: twenty are in the people's conversations, ten are not.
    monkeypatch.undo()
    clock.advance(timedelta(minutes=2))
    await slack.deliver()

    assert slack.api.keys() == {key(p): 1 for p in PEOPLE}
    for person in PEOPLE:
        [message] = slack.api.channel(direct(person.user))
        assert message.text == "Staff barometer"
    done = await job_progress(slack.app.database, JOB)
    assert (done.sent, done.failed, done.uncertain, done.remaining) == (30, 0, 0, 0)
    asked = slack.api.calls_to("conversations.history")
    assert sorted(c.params["channel"] for c in asked) == sorted(direct(p.user) for p in PEOPLE)
    assert all(c.params["include_all_metadata"] is True for c in asked)
    # Twenty found and marked sent; ten sent now, for the first time.
    assert len(slack.api.calls_to("chat.postMessage")) == 30


async def test_a_send_whose_answer_was_lost_is_looked_up_not_repeated(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    person = PEOPLE[0]
    async with slack.app.database.unit() as stores:
        await fan_out(stores, job=JOB, people=[person], card=CARD, now=clock.now())
    # Slack took the message but the answer never came back (a dropped connection).
    slack.api.drop_answer("chat.postMessage")
    await slack.app.delivery.run_once()
    assert slack.api.keys() == {key(person): 1}
    clock.advance(timedelta(minutes=5))
    await slack.deliver()
    assert slack.api.keys() == {key(person): 1}
    done = await job_progress(slack.app.database, JOB)
    assert (done.sent, done.remaining) == (1, 0)
    assert slack.api.methods().count("conversations.history") == 1


async def test_a_fan_out_reads_and_writes_the_database_per_batch_not_per_message(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    """People the bot has met get the message in their stored direct conversation; the batch's
    people are read together and the sends start and finish in shared statements, so the
    database work does not grow with each recipient (a statement or more per message used to
    make the bot, not the platform, the limit of a fan-out)."""
    async with slack.app.database.unit() as stores:
        for person in PEOPLE:
            place = ConversationRef(
                platform=Platform.SLACK,
                tenant="T1",
                conversation=direct(person.user),
                kind=ConversationKind.DIRECT,
            )
            await stores.people.seen(place, Actor(id=person.user), clock.now())
        await fan_out(stores, job=JOB, people=PEOPLE, card=CARD, now=clock.now())
    with statements_run(slack.app.database) as statements:
        await slack.app.delivery.run_once()

    assert slack.api.keys() == {key(p): 1 for p in PEOPLE}
    posted = slack.api.calls_to("chat.postMessage")
    assert sorted(c.params["channel"] for c in posted) == sorted(direct(p.user) for p in PEOPLE)
    assert "conversations.open" not in slack.api.methods()
    done = await job_progress(slack.app.database, JOB)
    assert (done.sent, done.remaining) == (30, 0)
    people_reads = [s for s in statements if s.startswith("SELECT") and " FROM people" in s]
    assert len(people_reads) == 2  # time zones with the claim, then the people themselves
    # No statement about one message alone: each names the messages of its group (how many
    # share a group depends on timing, so the number of statements is not fixed).
    assert not [s for s in statements if "outbox.id = " in s], statements


# The same with a real process, killed with SIGKILL in the middle of a delivery.

ROOT = Path(__file__).parents[3]
KILL_RECIPIENTS = 600


async def start_worker(database_url: str, api: MockSlackApi) -> asyncio.subprocess.Process:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VALUESBOT_", "DATABASE_URL", "SLACK_", "CONNECTIONS__"))
    }
    env.update(
        {
            **FAST,
            # Slow enough to be killed half-way, fast enough to finish in seconds.
            "VALUESBOT_SLACK_RATE": "100",
            "VALUESBOT_BAROMETER_AUTO": "false",
            "VALUESBOT_LOG_LEVEL": "WARNING",
            "DATABASE_URL": database_url,
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": api.api_url,
        }
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.adapters.slack.delivery_process",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    assert line.startswith(b"ready"), line
    return process


async def until(check: Callable[[], Awaitable[bool]], what: str, limit: float = 120) -> None:
    """Wait (bounded) until ``await check()`` is true."""
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_a_worker_killed_mid_delivery_restarts_and_everyone_gets_it_once(
    tmp_path: Path, slack_api: MockSlackApi
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'valuesbot.db'}"
    await migrate.upgrade(url)
    database = Database(url)
    people = [PersonKey("slack", "T1", f"U{n:05d}") for n in range(KILL_RECIPIENTS)]
    async with database.unit() as stores:
        await fan_out(stores, job=JOB, people=people, card=CARD, now=datetime.now(UTC))

    async def a_third_arrived() -> bool:
        return len(slack_api.keys()) >= KILL_RECIPIENTS // 3

    async def all_done() -> bool:
        progress = await job_progress(database, JOB)
        return progress.remaining == 0

    try:
        first = await start_worker(url, slack_api)
        try:
            await until(a_third_arrived, "a third of the delivery")
        finally:
            first.send_signal(signal.SIGKILL)
            await first.wait()
        async with database.engine.connect() as connection:
            in_flight = (
                await connection.execute(
                    text("SELECT COUNT(*) FROM outbox WHERE status = 'sending'")
                )
            ).scalar_one()
        at_kill = len(slack_api.keys())
        assert at_kill < KILL_RECIPIENTS

        second = await start_worker(url, slack_api)
        try:
            await until(all_done, "the rest of the delivery")
        finally:
            second.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(second.wait(), 30) == 0
        done = await job_progress(database, JOB)
    finally:
        await database.dispose()
    assert (done.sent, done.failed, done.uncertain) == (KILL_RECIPIENTS, 0, 0)
    assert slack_api.keys() == {key(p): 1 for p in people}
    # Every send the kill interrupted was looked up in its conversation, not repeated blindly.
    assert len(slack_api.calls_to("conversations.history")) >= in_flight
    print(f"killed with {in_flight} sends in flight, {at_kill} delivered before the kill")


async def test_a_message_waits_for_the_persons_own_working_hours(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    # Alice works in New York: Slack says so (users.info) when she first talks to the bot.
    slack.api.zones["U0ALICE"] = "America/New_York"
    await slack.says("hello", user="U0ALICE")
    assert await rows(slack.app, "SELECT user_id, timezone FROM people") == [
        ("U0ALICE", "America/New_York")
    ]
    alice = PersonKey("slack", "T1", "U0ALICE")
    async with slack.app.database.unit() as stores:
        await fan_out(stores, job=JOB, people=[alice], card=CARD, now=clock.now())
    await slack.deliver()  # 09:30 in London is 04:30 in New York: it waits
    assert slack.api.keys() == {}
    clock.set(datetime(2026, 11, 30, 14, 0, tzinfo=UTC))  # 09:00 in New York
    await slack.deliver()
    assert slack.api.keys() == {key(alice): 1}
    assert slack.api.last(direct("U0ALICE")).text == "Staff barometer"
    # Asked once: later events use what the adapter remembers.
    await slack.says("hello again", user="U0ALICE")
    assert slack.api.methods().count("users.info") == 1
