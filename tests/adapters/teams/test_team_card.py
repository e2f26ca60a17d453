"""A team check-in's card in a Teams channel turns closed in place however the check-in closes:
by the starter's command, by its time running out, or from the card itself. Real activity JSON
goes to the running server; the change is the ``PUT /v3/conversations/{id}/activities/{id}``
the mock Bot Connector received from the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.app import App
from bot.clock import ManualClock
from storage.delivery import OutboxStatus
from tests.adapters.teams.conftest import BOB, BOT_ID, CHANNEL, TENANT, TeamsWorld, buttons
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import Call, card_texts

WORK = "Winter planning letter"
IDS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]
CLOSED = [
    f"Team values lens: {WORK}",
    "This team check-in has closed. Its results are posted in the channel; type "
    "valueslens results there to see them again.",
    "Counts only, never names.",
]


async def deliver(app: App, clock: ManualClock) -> None:
    """Send the outbox, moving the clock on while the channel's budget puts a message off."""
    for _ in range(100):
        await app.delivery.drain()
        if await rows(app, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'") == [(0,)]:
            return
        clock.advance(timedelta(seconds=1))
    raise AssertionError("the outbox never emptied")


async def open_with_one_answer(teams: TeamsWorld) -> Call:
    """Alice starts a team check-in in the channel and Bob answers on its card."""
    await teams.installs(BOB)
    await teams.says(f"valueslens {WORK}", channel=CHANNEL)
    card = teams.card_call("Add my ratings", CHANNEL)
    bob = {f"b_{b}": "partly" for b in IDS}
    await teams.clicks("Add my ratings", person=BOB, inputs=bob, where=CHANNEL)
    return card


def results(teams: TeamsWorld) -> list[str]:
    return [t for t in teams.texts(CHANNEL) if t.startswith(f"Team values lens results: {WORK}")]


def inputs(card: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if str(node.get("type", "")).startswith("Input."):
                found.append(str(node["type"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return found


def assert_changed(update: Call, card: Call, key: str) -> None:
    """``update`` is the outbox's change of ``card`` into the closed card."""
    assert card.conversation is not None
    assert card.answered_id is not None
    assert ";messageid=" in card.conversation  # the card sits in the thread that started it
    assert update.method == "PUT"
    assert update.path == f"/v3/conversations/{card.conversation}/activities/{card.answered_id}"
    body = update.body
    assert (body["type"], body["id"]) == ("message", card.answered_id)
    assert body["conversation"]["id"] == card.conversation
    assert body["conversation"]["tenantId"] == TENANT
    assert body["from"]["id"] == BOT_ID
    assert body["channelData"] == {"valuesbotOutboxKey": key}
    assert update.card is not None
    assert card_texts(update.card) == CLOSED
    assert buttons(update.card) == []
    assert inputs(update.card) == []


async def test_closing_by_command_changes_the_card_in_the_channel(
    teams: TeamsWorld, clock: ManualClock
) -> None:
    card = await open_with_one_answer(teams)
    assert await rows(teams.app, "SELECT card_message FROM team_checkins") == [(card.answered_id,)]
    await teams.says("valueslens close", channel=CHANNEL)
    # The results are posted at once; the card's change waits for the outbox.
    assert len(results(teams)) == 1
    assert teams.connector.updates(CHANNEL) == []
    await deliver(teams.app, clock)

    [(checkin,)] = await rows(teams.app, "SELECT id FROM team_checkins")
    key = f"team-lens:{checkin}:closed-card"
    (update,) = teams.connector.updates(CHANNEL)
    assert_changed(update, card, key)
    assert teams.current(card) == update.card
    assert await rows(teams.app, "SELECT key, status, message_id FROM outbox") == [
        (key, OutboxStatus.SENT, card.answered_id)
    ]
    # Once: later rounds change nothing more, and the results were posted once.
    await teams.app.housekeeping()
    await deliver(teams.app, clock)
    assert len(teams.connector.updates(CHANNEL)) == 1
    assert len(results(teams)) == 1


async def test_closing_by_time_changes_the_card_and_posts_the_results_once(
    teams: TeamsWorld, clock: ManualClock
) -> None:
    card = await open_with_one_answer(teams)
    clock.advance(timedelta(hours=25))
    await teams.app.housekeeping()
    await deliver(teams.app, clock)

    [(checkin,)] = await rows(teams.app, "SELECT id FROM team_checkins")
    (update,) = teams.connector.updates(CHANNEL)
    assert_changed(update, card, f"team-lens:{checkin}:closed-card")
    [said] = results(teams)
    assert "1 person answered" in said
    assert await rows(teams.app, "SELECT key, status FROM outbox ORDER BY id") == [
        (f"team-lens:{checkin}:closed-card", OutboxStatus.SENT),
        (f"team-lens:{checkin}:results", OutboxStatus.SENT),
    ]
    await teams.app.housekeeping()
    await deliver(teams.app, clock)
    assert len(teams.connector.updates(CHANNEL)) == 1
    assert len(results(teams)) == 1


async def test_closing_from_the_card_changes_it_once(teams: TeamsWorld, clock: ManualClock) -> None:
    card = await open_with_one_answer(teams)
    assert await rows(teams.app, "SELECT card_message FROM team_checkins") == [(card.answered_id,)]
    await teams.clicks("Close and show results", where=CHANNEL)
    await deliver(teams.app, clock)
    # The click replaced the card it was on: the outbox has nothing to change.
    (update,) = teams.connector.updates(CHANNEL)
    assert update.activity_id == card.answered_id
    assert await rows(teams.app, "SELECT count(*) FROM outbox") == [(0,)]
    assert len(results(teams)) == 1
