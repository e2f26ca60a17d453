"""Case studies and the weekly digest in Teams: a story submitted through its card form,
approved by a comms member from the review card in their own chat with the bot, its author
told, and posted in the next scheduled digest to a channel exactly once (the schedule run twice,
and again after a restart). The digest is scheduled by typing ``digest schedule here ...`` in
the channel, which the bot names as people do. Someone outside comms is refused."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.app import App, build_app
from bot.clock import ManualClock
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import (
    ALICE,
    ANONYMOUS,
    BOB,
    CAROL,
    CHANNEL,
    TENANT,
    Person,
    TeamsWorld,
    buttons,
    start_world,
)
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import Call, MockBotConnector, card_texts

# A second channel of the "Winter planning" team (whose General channel is CHANNEL).
PLANNING = "19:3b2a1f0e9d8c47b6a5f4e3d2c1b0a9f8@thread.tacv2"
TITLE = "Patients shaped the discharge letter"
STORY = (
    "We ran two workshops with **patients** <at>Everyone</at> and [rewrote](https://x.example) it."
)
MONDAY_0900 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # 09:00 in London (winter)


def in_planning(world: TeamsWorld, text: str, person: Person) -> dict[str, Any]:
    """``person`` writes ``text`` in a new post of the Planning channel, mentioning the bot."""
    activity = world.activity("channel_mention_command", person=person, channel=PLANNING)
    activity["text"] = f"<at>valuesbot</at>&nbsp;{text}\n"
    activity["conversation"]["id"] = f"{PLANNING};messageid={activity['id']}"
    data = copy.deepcopy(activity["channelData"])
    data["teamsChannelId"] = PLANNING
    data["channel"] = {"id": PLANNING}
    activity["channelData"] = data  # the team stays CHANNEL's: Winter planning
    return activity


def team_calls(connector: MockBotConnector) -> list[Call]:
    """What the bot asked of the team APIs (what a team and its channels are called)."""
    return [c for c in connector.calls if c.path.startswith("/v3/teams/")]


def settings(sqlite_url: str) -> dict[str, str]:
    return {
        "DATABASE_URL": sqlite_url,
        **ANONYMOUS,
        "VALUESBOT_COMMS": f"teams:{CAROL.id}",
    }


async def deliver(app: App) -> None:
    """The delivery worker's rounds until the outbox is empty (bounded). A message that must
    wait a moment (a digest's cards go a second apart; one channel takes 7 a second) is let go
    by moving the clock on a second."""
    deadline = time.monotonic() + 60
    while True:
        while await app.delivery.run_once():
            assert time.monotonic() < deadline, "the delivery never finished"
        waiting = await rows(app, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'")
        if waiting == [(0,)]:
            return
        assert time.monotonic() < deadline, "the delivery never finished"
        assert isinstance(app.clock, ManualClock)
        app.clock.advance(timedelta(seconds=1))
        await asyncio.sleep(0.05)


async def run_schedule(app: App) -> int:
    """What the scheduler does for digests: queue every one that is due; how many."""
    now = app.clock.now()
    async with app.database.unit() as stores:
        due = await app.digests.due(stores, now)
    for item in due:
        async with app.database.unit() as stores:
            await app.digests.run_digest(stores, item.schedule, item.period, now)
    return len(due)


async def test_a_story_approved_in_teams_reaches_the_next_digest_once(
    sqlite_url: str, tmp_path: Path, clock: ManualClock
) -> None:
    async with MockBotConnector() as connector:
        app = await build_app(
            make_settings(sqlite_url, **settings(sqlite_url)), clock=clock, prepare=False
        )
        teams = await start_world(app, connector)
        try:
            await _story_and_digest(teams, clock)
        finally:
            await teams.client.close()
            await app.close()

        # Restarted: the schedule runs again for the same slot; nothing is sent twice.
        again = await build_app(
            make_settings(sqlite_url, **settings(sqlite_url)), clock=clock, prepare=False
        )
        restarted = await start_world(again, connector)
        try:
            before = len(connector.posts(PLANNING))
            assert await run_schedule(again) == 0
            await deliver(again)
            assert len(connector.posts(PLANNING)) == before

            # The next week: the story is not repeated (a quiet week sends a short note).
            clock.set(MONDAY_0900 + timedelta(days=7))
            assert await run_schedule(again) == 1
            await deliver(again)
            (quiet,) = connector.posts(PLANNING)[before:]
            texts = card_texts(quiet.card)
            assert texts[0] == "Values digest: week of 14 Dec 2026"
            assert texts[1] == "A quiet week: no new stories or shared commitments."
            assert TITLE not in json.dumps(quiet.body)
            assert await rows(again, "SELECT COUNT(*) FROM digest_items") == [(1,)]
        finally:
            await restarted.client.close()
            await again.close()


async def _story_and_digest(teams: TeamsWorld, clock: ManualClock) -> None:
    connector = teams.connector
    connector.team(CHANNEL, "Winter planning", {CHANNEL: None, PLANNING: "Planning"})
    for person in (ALICE, BOB, CAROL):
        await teams.installs(person)
    await teams.send(teams.activity("channel_install", channel=CHANNEL))

    # Comms schedule the digest from the Planning channel itself; the bot asks Teams what the
    # channel is called, once, and says so. The answer is private: in Carol's chat.
    assert await teams.send(in_planning(teams, "digest schedule here weekly monday 09:00", CAROL))
    lookups = [c.path for c in team_calls(connector)]
    assert lookups == [f"/v3/teams/{CHANNEL}/conversations"]  # the team's name was known
    scheduled = teams.last(CAROL.direct)
    assert scheduled.startswith("Digest scheduled\nA values digest goes to Planning in Winter ")
    assert "every Monday at 09:00 (Europe/London). The next one: Mon 7 Dec" in scheduled
    assert connector.posts(PLANNING) == []
    assert await rows(teams.app, "SELECT conversation, label FROM digest_schedules") == [
        (PLANNING, "Planning in Winter planning")
    ]
    await teams.send(in_planning(teams, "digest list", CAROL))
    assert "1. Planning in Winter planning" in teams.last(CAROL.direct)
    assert len(team_calls(connector)) == 1  # remembered

    # Someone outside comms is refused, in private.
    await teams.send(in_planning(teams, "digest send-now", BOB))
    assert teams.last(BOB.direct).startswith("Only comms can do this")
    await teams.says("casestudy queue", person=BOB)
    assert teams.last(BOB.direct).startswith("Only comms can do this")

    # Alice submits a story through the card form (behaviours as check boxes).
    await teams.says("casestudy")
    form_call = teams.card_call("Send to comms", ALICE.direct)
    form = teams.current(form_call)
    assert form is not None
    inputs = {e["id"]: e for e in form["body"] if e["type"].startswith("Input.")}
    assert list(inputs) == ["title", "story", "behaviours", "difference", "named"]
    assert inputs["behaviours"]["isMultiSelect"] is True
    await teams.clicks(
        "Send to comms",
        inputs={
            "title": TITLE,
            "story": STORY,
            "behaviours": "listen,patients",
            "difference": "Complaints about the letter halved.",
            "named": "yes",
        },
    )
    assert teams.last(ALICE.direct).startswith("Thank you: it is with comms")
    # The form itself gave way to the thanks: it cannot be sent twice.
    sent = teams.current(form_call)
    assert sent is not None
    assert card_texts(sent)[0] == "Thank you: it is with comms"
    assert buttons(sent) == []
    assert len(connector.posts(ALICE.direct)) == 2  # the welcome, the form
    assert await rows(teams.app, "SELECT title, behaviours, status FROM case_studies") == [
        (TITLE, '["patients", "listen"]', "pending")
    ]

    # The review card reaches Carol's chat through the outbox.
    await deliver(teams.app)
    (review,) = connector.posts(CAROL.direct)[-1:]
    assert card_texts(review.card)[0] == f"Case study to review: {TITLE}"
    assert card_texts(review.card)[1] == STORY
    assert r"\\*\\*patients\\*\\* \\<at\\>Everyone\\</at\\>" in json.dumps(review.body)
    assert review.body["channelData"]["valuesbotOutboxKey"].startswith("casestudy-review:")

    # Bob cannot approve it, even with the card's data; Carol approves from her chat.
    await teams.clicks("Approve", person=BOB, call=review)
    assert teams.last(BOB.direct).startswith("Only comms can do this")
    await teams.clicks("Approve", person=CAROL, where=CAROL.direct)
    # The review card itself becomes the decision: nothing left on it to click twice.
    decided = teams.current(review)
    assert card_texts(decided) == [
        TITLE,
        "Approved: it will be in the next values digest. The author will be told.",
    ]
    assert decided is not None
    assert buttons(decided) == []
    assert await rows(teams.app, "SELECT status, moderator FROM case_studies") == [
        ("approved", CAROL.id)
    ]
    await deliver(teams.app)
    told = teams.last(ALICE.direct)
    assert told.startswith("Your case study is approved")
    assert f'"{TITLE}" will be in the next values digest, with your name.' in told

    # Monday 09:00: the schedule fires; run twice, it is queued once, posted in the channel.
    clock.set(MONDAY_0900 - timedelta(minutes=1))
    assert await run_schedule(teams.app) == 0
    clock.set(MONDAY_0900)
    assert await run_schedule(teams.app) == 1
    assert await run_schedule(teams.app) == 0
    await deliver(teams.app)
    header, stories = connector.posts(PLANNING)
    # A new post in the channel (not in the thread the command was typed in), with the stored
    # reference: the outbox row held only the channel's id.
    assert header.path == stories.path == f"/v3/conversations/{PLANNING}/activities"
    assert card_texts(header.card)[0] == "Values digest: week of 7 Dec 2026"
    assert card_texts(header.card)[1].startswith("This week: 1 story of what good looks like")
    shown = card_texts(stories.card)
    assert shown[0] == "Stories of what good looks like"
    assert shown[1].startswith(f"1. {TITLE}")
    assert STORY in shown[1]
    assert "Shared by Alice Smith" in shown[1]
    assert r"\\*\\*patients\\*\\*" in json.dumps(stories.body)
    assert await rows(
        teams.app, "SELECT recipient, to_person, status FROM outbox WHERE job LIKE 'digest:%'"
    ) == [(PLANNING, 0, "sent"), (PLANNING, 0, "sent")]
    assert await rows(teams.app, "SELECT COUNT(*) FROM digest_items") == [(1,)]
    assert TENANT in json.dumps(header.body["conversation"])
    # Every card Teams received is a valid Adaptive Card 1.5 (the Adaptive Cards library says).
    assert_valid(teams.every_card())


async def test_here_names_the_channel_or_falls_back_to_its_id(
    sqlite_url: str, clock: ManualClock
) -> None:
    async with MockBotConnector() as connector:
        app = await build_app(
            make_settings(sqlite_url, **settings(sqlite_url)), clock=clock, prepare=False
        )
        teams = await start_world(app, connector)
        try:
            await teams.installs(CAROL)
            # The General channel: named by the install itself, nothing to ask.
            await teams.send(teams.activity("channel_install", channel=CHANNEL))
            await teams.says(
                "digest schedule here weekly friday 16:00", person=CAROL, channel=CHANNEL
            )
            assert "A values digest goes to General in Winter planning every Friday" in (
                teams.last(CAROL.direct)
            )
            assert team_calls(connector) == []
            # Teams cannot say what another channel is called: the team's name (from the
            # install) stands in, the command still works, and the name is asked again later.
            connector.fail(503)
            await teams.send(in_planning(teams, "digest schedule here weekly monday 09:00", CAROL))
            assert "A values digest goes to a channel of Winter planning every Monday" in (
                teams.last(CAROL.direct)
            )
            connector.team(CHANNEL, "Winter planning", {CHANNEL: None, PLANNING: "Planning"})
            await teams.send(in_planning(teams, "digest list", CAROL))
            listed = teams.last(CAROL.direct)
            assert ". General in Winter planning: every Friday" in listed
            # A label is fixed when the digest is scheduled.
            assert ". a channel of Winter planning: every Monday" in listed
            assert await rows(
                app,
                f"SELECT extra ->> '$.name' FROM conversations WHERE conversation = '{PLANNING}'",
            ) == [("Planning in Winter planning",)]
        finally:
            await teams.client.close()
            await app.close()
