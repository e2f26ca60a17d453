"""A team check-in's card in a Slack channel turns closed in place however the check-in closes:
by the starter's command, by its time running out, or from the card itself. Slack's payloads go
to POST /slack/events; the change is the ``chat.update`` the mock Slack Web API received from
the outbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.clock import ManualClock
from bot.delivery import to_channel
from bot.ui import Card
from storage.delivery import OutboxStatus
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import Message

ALICE, BOB, COMMS = "U0ALICE", "U0BOB", "U0COMMS"
CHANNEL = "C0TEAM"
WORK = "Winter planning letter"
BEHAVIOURS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]

CLOSED_BLOCKS: list[dict[str, Any]] = [
    {
        "type": "header",
        "text": {"type": "plain_text", "text": f"Team values lens: {WORK}", "emoji": True},
    },
    {
        "type": "section",
        "text": {
            "type": "mrkdwn",
            "text": "This team check-in has closed. Its results are posted in the channel; "
            "type /valueslens results there to see them again.",
        },
    },
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "Counts only, never names."}]},
]


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {"VALUESBOT_COMMS": f"slack:{COMMS}"}


async def open_with_one_answer(slack: SlackWorkspace) -> Message:
    """Alice starts a team check-in in the channel and Bob answers on its card."""
    await slack.command(WORK, user=ALICE, channel=CHANNEL, name="alice")
    card = slack.api.last(CHANNEL)
    assert card.buttons() == ["Add my ratings", "Close and show results"]
    await slack.click(
        "Add my ratings",
        user=BOB,
        message=card,
        inputs={f"b_{b}": "partly" for b in BEHAVIOURS},
    )
    return card


async def deliver(slack: SlackWorkspace) -> None:
    """Send the outbox, moving the clock on while the channel's budget puts a message off."""
    for _ in range(100):
        await slack.deliver()
        if await rows(slack.app, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'") == [(0,)]:
            return
        slack.clock.advance(timedelta(seconds=1))
    raise AssertionError("the outbox never emptied")


def results_in(slack: SlackWorkspace) -> list[Message]:
    return [
        m for m in slack.api.channel(CHANNEL) if f"Team values lens results: {WORK}" in m.text_all()
    ]


def assert_closed(card: Message) -> None:
    """The card as people in the channel now see it: closed, nothing to answer."""
    assert card.blocks == CLOSED_BLOCKS
    assert card.buttons() == []
    assert [b for b in card.blocks if b["type"] in ("input", "actions")] == []


async def test_closing_by_command_changes_the_card_in_the_channel(slack: SlackWorkspace) -> None:
    api = slack.api
    card = await open_with_one_answer(slack)
    assert await rows(slack.app, "SELECT card_message FROM team_checkins") == [(card.ts,)]

    await slack.command("close", user=ALICE, channel=CHANNEL, name="alice")
    # The results answer the command at once; the card's change waits for the outbox.
    assert len(results_in(slack)) == 1
    assert api.calls_to("chat.update") == []
    await deliver(slack)

    [update] = api.calls_to("chat.update")
    assert update.params == {
        "channel": CHANNEL,
        "ts": card.ts,
        "blocks": CLOSED_BLOCKS,
        "text": f"Team values lens: {WORK}",
    }
    assert update.token == "xoxb-1-test-token"
    assert_closed(card)
    assert card.updates == 1
    [(checkin,)] = await rows(slack.app, "SELECT id FROM team_checkins")
    assert await rows(slack.app, "SELECT key, status, message_id FROM outbox") == [
        (f"team-lens:{checkin}:closed-card", OutboxStatus.SENT, card.ts)
    ]
    # Once: later rounds change nothing more, and the results were posted once.
    await slack.app.housekeeping()
    await deliver(slack)
    assert len(api.calls_to("chat.update")) == 1
    assert len(results_in(slack)) == 1


async def test_closing_by_time_changes_the_card_and_posts_the_results_once(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    api = slack.api
    card = await open_with_one_answer(slack)
    clock.advance(timedelta(hours=25))
    await slack.app.housekeeping()
    await deliver(slack)

    [update] = api.calls_to("chat.update")
    assert update.params == {
        "channel": CHANNEL,
        "ts": card.ts,
        "blocks": CLOSED_BLOCKS,
        "text": f"Team values lens: {WORK}",
    }
    assert_closed(card)
    [results] = results_in(slack)
    assert "1 person answered" in results.text_all()
    [(checkin,)] = await rows(slack.app, "SELECT id FROM team_checkins")
    assert await rows(slack.app, "SELECT key, status FROM outbox ORDER BY id") == [
        (f"team-lens:{checkin}:closed-card", OutboxStatus.SENT),
        (f"team-lens:{checkin}:results", OutboxStatus.SENT),
    ]
    await slack.app.housekeeping()
    await deliver(slack)
    assert len(api.calls_to("chat.update")) == 1
    assert len(results_in(slack)) == 1


async def test_closing_from_the_card_changes_it_once(slack: SlackWorkspace) -> None:
    api = slack.api
    card = await open_with_one_answer(slack)
    assert await rows(slack.app, "SELECT card_message FROM team_checkins") == [(card.ts,)]
    await slack.click("Close and show results", user=ALICE, message=card)
    assert_closed(card)
    await deliver(slack)
    # The click replaced the card it was on: the outbox has nothing to change.
    assert [c.params["ts"] for c in api.calls_to("chat.update")] == [card.ts]
    assert await rows(slack.app, "SELECT count(*) FROM outbox") == [(0,)]
    assert len(results_in(slack)) == 1


async def test_a_card_slack_will_not_change_tells_nobody_and_turns_closed_when_clicked(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    api = slack.api
    card = await open_with_one_answer(slack)
    api.fail("chat.update", "message_not_found", ts=card.ts)  # once: someone deleted it
    clock.advance(timedelta(hours=25))
    await slack.app.housekeeping()
    await deliver(slack)

    [(checkin,)] = await rows(slack.app, "SELECT id FROM team_checkins")
    assert await rows(
        slack.app, "SELECT key, status, attempts, last_error FROM outbox ORDER BY id"
    ) == [
        (f"team-lens:{checkin}:closed-card", OutboxStatus.FAILED, 1, "message_not_found"),
        (f"team-lens:{checkin}:results", OutboxStatus.SENT, 1, None),
    ]
    # Nobody is told: not the starter, not comms.
    assert api.channel(direct(ALICE)) == []
    assert api.channel(direct(COMMS)) == []
    assert len(results_in(slack)) == 1
    # The card (still there, as far as this test's Slack knows) turns closed at its next click.
    await slack.click(
        "Add my ratings", user=BOB, message=card, inputs={f"b_{b}": "strongly" for b in BEHAVIOURS}
    )
    assert_closed(card)


async def test_a_change_cut_off_mid_call_is_made_again_without_asking(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    api = slack.api
    card = await open_with_one_answer(slack)
    api.drop_answer("chat.update")  # Slack changes it, but its answer is lost
    await slack.command("close", user=ALICE, channel=CHANNEL, name="alice")
    await deliver(slack)
    clock.advance(timedelta(minutes=15))  # past any backoff
    await deliver(slack)

    # Made twice, it shows the same card: no history read to find out, nothing left waiting.
    assert [c.params["ts"] for c in api.calls_to("chat.update")] == [card.ts, card.ts]
    assert api.calls_to("conversations.history", "conversations.replies") == []
    assert_closed(card)
    assert await rows(slack.app, "SELECT status FROM outbox") == [(OutboxStatus.SENT,)]


async def test_a_change_nobody_reacts_to_is_not_reported_to_comms(slack: SlackWorkspace) -> None:
    # Any feature's change of a channel message, refused for good, is only logged and counted:
    # the card keeps its old face and nothing anyone waits for was lost.
    async with slack.app.database.unit() as stores:
        await stores.outbox.enqueue(
            to_channel(
                "notes:1:card",
                "notes:1",
                "slack",
                "T1",
                CHANNEL,
                Card(title="Changed"),
                replaces="1700000000.000001",
            ),
            slack.clock.now(),
        )
    await deliver(slack)
    assert await rows(slack.app, "SELECT key, status, last_error FROM outbox ORDER BY id") == [
        ("notes:1:card", OutboxStatus.FAILED, "message_not_found")
    ]
    [update] = slack.api.calls_to("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (CHANNEL, "1700000000.000001")
    assert slack.api.channel(direct(COMMS)) == []
