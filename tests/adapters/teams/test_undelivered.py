"""Messages for Teams channels: the values channel of a team the bot was added to (a channel
it never heard from), and what happens when a channel refuses the bot for good: the person
who is waiting is told in their chat with the bot, the log says which message and why, and it
can be sent again. Real activity JSON goes to the running server; what Teams received is read
back from the mock Bot Connector."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import App, build_app
from bot.clock import ManualClock
from storage.delivery import OutboxStatus
from tests.adapters.teams.conftest import (
    ALICE,
    ANONYMOUS,
    BOB,
    BOT_ID,
    CHANNEL,
    TENANT,
    TeamsWorld,
    start_world,
)
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector, card_texts

# The team "Winter planning" (its General channel has the team's id) and its "Values" channel.
VALUES = "19:9a8b7c6d5e4f40312f1e0d9c8b7a6f5e@thread.tacv2"
# Another team, the bot not in it at first, with a channel of its own.
COMMS_TEAM = "19:5e6f7a8b9c0d41e2a3b4c5d6e7f8a9b0@thread.tacv2"
SHOWCASE = "19:1f2e3d4c5b6a47988776655443322110@thread.tacv2"
PLEDGE = "publish the minutes within a week"
IDS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    settings = make_settings(sqlite_url, **ANONYMOUS, VALUESBOT_VALUES_CHANNEL=f"teams:{VALUES}")
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    connector.team(CHANNEL, "Winter planning", {CHANNEL: None, VALUES: "Values"})
    connector.team(COMMS_TEAM, "Comms", {COMMS_TEAM: None, SHOWCASE: "Showcase"})
    yield world
    await world.client.close()
    await app.close()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="valuesbot")
    return caplog


async def deliver(app: App, clock: ManualClock) -> None:
    """Send the outbox, moving the clock on while a busy conversation puts a message off for a
    moment (a conversation's budget runs on the wall clock, the test's clock stands still)."""
    for _ in range(1000):
        await app.delivery.drain()
        if await rows(app, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'") == [(0,)]:
            return
        clock.advance(timedelta(seconds=1))
    raise AssertionError("the outbox never emptied")


async def added_to_team(teams: TeamsWorld, team: str, name: str) -> None:
    """Someone adds the app to a team: Teams tells the bot in the team's General channel."""
    activity = teams.activity("channel_install", channel=team)
    activity["channelData"]["team"].update(id=team, name=name)
    activity["channelData"]["settings"]["selectedChannel"]["id"] = team
    assert await teams.send(activity) == 202


async def share(teams: TeamsWorld) -> None:
    await teams.says(f"commitment My contribution is to {PLEDGE} #open")
    await teams.clicks("Share with the values channel")
    await teams.clicks("Share it")
    assert "Shared: it will appear in the values channel in a moment." in teams.last(ALICE.direct)


def undelivered(logs: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.levelno == logging.WARNING and "undelivered for good" in r.getMessage()
    ]


async def test_a_share_reaches_the_values_channel_of_a_team_the_bot_was_added_to(
    teams: TeamsWorld, clock: ManualClock
) -> None:
    await teams.installs(ALICE)
    await added_to_team(teams, CHANNEL, "Winter planning")  # told in General, not in Values
    await share(teams)
    await deliver(teams.app, clock)

    # The bot found the channel in its team's channel list and posted there, as the team's
    # member: the team's service URL, the bot's account, the tenant.
    [listed, post] = [
        c for c in teams.connector.calls if not c.path.startswith("/v3/conversations/a:")
    ]
    assert (listed.method, listed.path, listed.status) == (
        "GET", f"/v3/teams/{CHANNEL}/conversations", 200,
    )  # fmt: skip
    [(commitment,)] = await rows(teams.app, "SELECT id FROM commitments")
    key = f"commitment-share:{commitment}:20261130T093000000000Z"
    assert (post.method, post.path, post.status) == (
        "POST", f"/v3/conversations/{VALUES}/activities", 201,
    )  # fmt: skip
    assert post.body["conversation"] == {
        "isGroup": True,
        "conversationType": "channel",
        "id": VALUES,
        "tenantId": TENANT,
    }
    assert post.body["from"] == {"id": BOT_ID, "name": "valuesbot"}
    assert post.body["serviceUrl"] == teams.connector.url
    assert post.body["channelData"] == {"valuesbotOutboxKey": key}
    assert card_texts(post.card) == [
        "A commitment from Alice Smith",
        "We create the culture and conditions for health and care services and staff to "
        f"deliver the highest standards of care. My contribution is to {PLEDGE}",
        "Behaviours: Open and transparent",
        "Make your own with /commitment.",
    ]
    assert await rows(teams.app, "SELECT status FROM outbox") == [(OutboxStatus.SENT,)]
    # The channel is remembered, with its name: the next post goes straight there.
    assert await rows(
        teams.app,
        f"SELECT service_url, extra ->> '$.bot_id', extra ->> '$.name' FROM conversations "
        f"WHERE conversation = '{VALUES}'",
    ) == [(teams.connector.url, BOT_ID, "Values in Winter planning")]


async def test_a_share_to_a_channel_of_a_team_without_the_bot_is_undone_and_told(
    sqlite_url: str,
    clock: ManualClock,
    connector: MockBotConnector,
    logs: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(sqlite_url, **ANONYMOUS, VALUESBOT_VALUES_CHANNEL=f"teams:{SHOWCASE}")
    app = await build_app(settings, clock=clock, prepare=False)
    teams = await start_world(app, connector)
    connector.team(CHANNEL, "Winter planning", {CHANNEL: None, VALUES: "Values"})
    connector.team(COMMS_TEAM, "Comms", {COMMS_TEAM: None, SHOWCASE: "Showcase"})
    try:
        await teams.installs(ALICE)
        await added_to_team(teams, CHANNEL, "Winter planning")  # not the Comms team
        await share(teams)
        await deliver(app, clock)

        assert connector.posts(SHOWCASE) == []
        [(commitment, shared_at)] = await rows(app, "SELECT id, shared_at FROM commitments")
        assert shared_at is None  # private again: it can be shared again
        key = f"commitment-share:{commitment}:20261130T093000000000Z"
        reason = "never met: the bot is in no team with that channel"
        notice = f"{key}:undelivered:teams:{TENANT}:{ALICE.id}"
        assert await rows(app, "SELECT key, status, last_error FROM outbox ORDER BY id") == [
            (key, OutboxStatus.FAILED, reason),
            (notice, OutboxStatus.SENT, None),
        ]
        [told] = [c for c in connector.posts(ALICE.direct) if c.body.get("channelData")]
        assert told.body["channelData"] == {"valuesbotOutboxKey": notice}
        shown = card_texts(told.card)
        assert shown[:2] == [
            "Your commitment was not shared",
            f"I could not post your commitment in the values channel (the channel {SHOWCASE}): "
            "I am not a member of it, or it was archived or deleted. It is private again. Ask "
            "your comms team to add valuesbot to the values channel, then share it again.",
        ]
        assert "Shared: No: private to you" in shown
        assert shown[-5:] == [
            "Reason: " + reason,
            "Share with the values channel",
            "Edit",
            "Mark done",
            "Delete",
        ]
        assert undelivered(logs) == [
            "outbox message undelivered for good id=1 job=commitment-share "
            f"key={key} platform=teams failure=unreachable reason={reason}"
        ]
        assert PLEDGE not in "\n".join(r.getMessage() for r in logs.records)

        # Comms add the app to their team; Alice shares again from the notice, and it goes.
        await added_to_team(teams, COMMS_TEAM, "Comms")
        clock.advance(timedelta(minutes=10))
        await teams.clicks("Share with the values channel", call=told)
        await teams.clicks("Share it")
        await deliver(app, clock)
        print(
            await rows(app, "SELECT key, status, next_attempt_at, last_error FROM outbox"),
            app.clock.now(),
            [(c.method, c.path, c.status) for c in connector.calls][-4:],
        )
        [post] = connector.posts(SHOWCASE)
        assert post.body["conversation"]["id"] == SHOWCASE
        assert card_texts(post.card)[0] == "A commitment from Alice Smith"
        assert await rows(app, "SELECT shared_at IS NOT NULL FROM commitments") == [(1,)]
    finally:
        await teams.client.close()
        await app.close()


async def test_team_results_the_channel_refuses_reach_the_starter(
    teams: TeamsWorld, clock: ManualClock, logs: pytest.LogCaptureFixture
) -> None:
    await teams.installs(ALICE)
    await teams.installs(BOB)
    await added_to_team(teams, CHANNEL, "Winter planning")
    await teams.says("valueslens Winter planning letter", channel=CHANNEL)
    for person in (ALICE, BOB):
        inputs = {f"b_{b}": "strongly" for b in IDS}
        await teams.clicks("Add my ratings", person=person, inputs=inputs, where=CHANNEL)

    teams.connector.gone(CHANNEL, 403)  # the app was removed from the team
    clock.advance(timedelta(hours=25))
    await teams.app.housekeeping()
    await deliver(teams.app, clock)

    [(checkin,)] = await rows(teams.app, "SELECT id FROM team_checkins")
    card = f"team-lens:{checkin}:closed-card"
    key = f"team-lens:{checkin}:results"
    notice = f"{key}:undelivered:teams:{TENANT}:{ALICE.id}"
    # Its card could not be changed either: that tells nobody (it turns closed when clicked).
    assert await rows(teams.app, "SELECT key, status, last_error FROM outbox ORDER BY id") == [
        (card, OutboxStatus.FAILED, "the bot is not in that conversation"),
        (key, OutboxStatus.FAILED, "the bot is not in that conversation"),
        (notice, OutboxStatus.SENT, None),
    ]
    assert teams.last(ALICE.direct) == (
        "Your team check-in's results were not posted\n"
        'The team check-in on "Winter planning letter" closed by itself, but I could not post '
        "its results in General in Winter planning: I am not a member of it, or it was "
        "archived or deleted.\n"
        "Add valuesbot to General in Winter planning, then type /valueslens results post "
        "there to post them for everyone.\n"
        "Reason: the bot is not in that conversation"
    )
    assert all("Team values lens results" not in t for t in teams.texts(BOB.direct))
    assert undelivered(logs) == [
        f"outbox message undelivered for good id=1 job=team-lens:{checkin} key={card} "
        "platform=teams failure=unreachable reason=the bot is not in that conversation",
        f"outbox message undelivered for good id=2 job=team-lens:{checkin} key={key} "
        "platform=teams failure=unreachable reason=the bot is not in that conversation",
    ]
