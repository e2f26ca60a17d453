"""Messages Slack refuses for good (the bot is not in the channel) reach a person with what to
do, are logged at WARNING without their text, and can be sent again: a team check-in's
results, a shared commitment, a digest, the barometer's results. Slack's payloads go to
POST /slack/events; the mock Slack Web API plays a workspace where the bot was never added to
(or was removed from) the channel."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from bot.clock import ManualClock
from dialogs.digest import TICK_JOB as DIGEST_TICK
from storage.delivery import OutboxStatus
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import Message

ALICE, BOB, COMMS = "U0ALICE", "U0BOB", "U0COMMS"
TEAM, VALUES, STAFF, RESULTS = "C0TEAM", "C0VALUES", "C0STAFF", "C0RESULTS"
WORK = "Winter planning letter"
PLEDGE = "publish the minutes within a week"
BEHAVIOURS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {
        "VALUESBOT_VALUES_CHANNEL": f"slack:{VALUES}",
        "VALUESBOT_COMMS": f"slack:{COMMS}",
        "VALUESBOT_BAROMETER_AUTO": "false",
        "VALUESBOT_BAROMETER_CHANNELS": f"slack:T1:{STAFF}",
        "VALUESBOT_BAROMETER_RESULTS": f"slack:T1:{RESULTS}",
    }


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="valuesbot")
    return caplog


def undelivered(logs: pytest.LogCaptureFixture) -> list[str]:
    """The WARNING lines about messages given up for good."""
    return [
        r.getMessage()
        for r in logs.records
        if r.levelno == logging.WARNING and "undelivered for good" in r.getMessage()
    ]


async def deliver(slack: SlackWorkspace) -> None:
    """Send the outbox, moving the clock on while a busy conversation puts a message off for a
    moment (a conversation's budget runs on the wall clock, the test's clock stands still)."""
    for _ in range(1000):
        await slack.deliver()
        if await rows(slack.app, "SELECT COUNT(*) FROM outbox WHERE status = 'queued'") == [(0,)]:
            return
        slack.clock.advance(timedelta(seconds=1))
    raise AssertionError("the outbox never emptied")


def shown(message: Message) -> str:
    """What a person reads in a message's blocks."""
    return message.text_all().removeprefix(message.text + "\n")


def everything_logged(logs: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in logs.records)


async def test_team_results_the_bot_cannot_post_reach_the_starter_and_can_be_posted(
    slack: SlackWorkspace, clock: ManualClock, logs: pytest.LogCaptureFixture
) -> None:
    api = slack.api
    api.outside(TEAM)  # nobody added the bot to the channel: its commands still work
    await slack.command(WORK, user=ALICE, channel=TEAM, name="alice")
    card = api.last(TEAM)  # posted through the command's response URL
    assert f"Team values lens: {WORK}" in card.text_all()
    # Slack says nothing of a message posted that way that the bot may change: when the
    # check-in closes, its card turns closed at its next click instead (nothing is queued).
    assert await rows(slack.app, "SELECT card_message FROM team_checkins") == [(None,)]
    for user, ratings in (
        (BOB, ["strongly", "partly", "not_yet", "strongly", "partly", "not_relevant"]),
        (ALICE, ["strongly"] * 6),
    ):
        await slack.click(
            "Add my ratings",
            user=user,
            message=card,
            inputs={f"b_{b}": r for b, r in zip(BEHAVIOURS, ratings, strict=True)},
        )
    assert "2 people have answered so far" in api.ephemeral(TEAM, ALICE)[-1].text_all()

    # A day later it closes by itself; its results go through the outbox, which Slack refuses.
    clock.advance(timedelta(hours=25))
    await slack.app.housekeeping()
    [(checkin,)] = await rows(slack.app, "SELECT id FROM team_checkins")
    key = f"team-lens:{checkin}:results"
    await deliver(slack)
    assert [m.text for m in api.channel(TEAM)] == [card.text]  # nothing more reached it
    notice = f"{key}:undelivered:slack:T1:{ALICE}"
    assert await rows(
        slack.app, "SELECT key, status, attempts, last_error FROM outbox ORDER BY id"
    ) == [
        (key, OutboxStatus.FAILED, 1, "not_in_channel"),  # refused for good: not tried again
        (notice, OutboxStatus.SENT, 1, None),
    ]

    # Alice is told, in her direct conversation with the bot, what happened and what to do.
    told = api.last(direct(ALICE))
    assert told.metadata == {"event_type": "valuesbot_outbox", "event_payload": {"key": notice}}
    assert told.text == "Your team check-in's results were not posted"
    assert shown(told) == (
        "Your team check-in's results were not posted\n"
        f'The team check-in on "{WORK}" closed by itself, but I could not post its results in '
        "#winter-planning: I am not a member of it, or it was archived or deleted.\n\n"
        "Add valuesbot to #winter-planning, then type /valueslens results post there to post "
        "them for everyone.\n"
        "Reason: not_in_channel"
    )
    # The log says which message failed and why, never what it or the notice said.
    assert undelivered(logs) == [
        f"outbox message undelivered for good id=1 job=team-lens:{checkin} key={key} "
        "platform=slack failure=unreachable reason=not_in_channel"
    ]
    assert WORK not in everything_logged(logs)

    # Once only: later rounds of the worker and the housekeeping tell nobody again.
    seen = len(api.channel(direct(ALICE)))
    await slack.app.housekeeping()
    await deliver(slack)
    assert len(api.channel(direct(ALICE))) == seen

    # Alice adds the bot and posts the results for everyone.
    api.join(TEAM)
    await slack.command("results post", user=ALICE, channel=TEAM, name="alice")
    posted = api.last(TEAM)
    assert posted.text == f"Team values lens results: {WORK}"
    assert "2 people answered." in posted.text_all()
    assert api.calls_to("chat.postMessage")[-1].params["channel"] == TEAM


async def test_a_share_the_values_channel_refuses_is_undone_and_can_be_shared_again(
    slack: SlackWorkspace, clock: ManualClock, logs: pytest.LogCaptureFixture
) -> None:
    api, dm = slack.api, direct(ALICE)
    api.outside(VALUES)
    await slack.command(f"My contribution is to {PLEDGE} #open", user=ALICE, channel=dm,
                        command="/commitment")  # fmt: skip
    await slack.click("Share with the values channel", user=ALICE, message=api.last(dm))
    await slack.click("Share it", user=ALICE, message=api.last(dm))
    assert "Shared: it will appear in the values channel in a moment." in api.last(dm).text_all()
    [(commitment, shared_at)] = await rows(slack.app, "SELECT id, shared_at FROM commitments")
    assert shared_at is not None

    await deliver(slack)
    assert api.channel(VALUES) == []
    # Not shared after all: private again, so it can be shared again.
    assert await rows(slack.app, "SELECT shared_at FROM commitments") == [(None,)]
    key = f"commitment-share:{commitment}:20261130T093000000000Z"
    notice = f"{key}:undelivered:slack:T1:{ALICE}"
    assert await rows(slack.app, "SELECT key, status, last_error FROM outbox ORDER BY id") == [
        (key, OutboxStatus.FAILED, "not_in_channel"),
        (notice, OutboxStatus.SENT, None),
    ]
    told = api.last(dm)
    assert told.text == "Your commitment was not shared"
    text = shown(told)
    assert text.startswith(
        "Your commitment was not shared\n"
        f"I could not post your commitment in the values channel (the channel {VALUES}): I am "
        "not a member of it, or it was archived or deleted. It is private again. Ask your comms "
        "team to add valuesbot to the values channel, then share it again.\n\n"
        "We create the culture and conditions"
    )
    assert f"My contribution is to {PLEDGE}" in text
    assert "*Shared*\nNo: private to you" in text
    assert text.endswith("Reason: not_in_channel")
    assert told.buttons() == ["Share with the values channel", "Edit", "Mark done", "Delete"]
    assert undelivered(logs) == [
        "outbox message undelivered for good id=1 job=commitment-share "
        f"key={key} platform=slack failure=unreachable reason=not_in_channel"
    ]
    assert PLEDGE not in everything_logged(logs)

    # Comms add the bot to the values channel; Alice shares it again from the notice.
    api.join(VALUES)
    clock.advance(timedelta(minutes=10))
    await slack.click("Share with the values channel", user=ALICE, message=told)
    await slack.click("Share it", user=ALICE, message=api.last(dm))
    await deliver(slack)
    [post] = api.channel(VALUES)
    assert post.text == "A commitment from Alice"
    assert f"My contribution is to {PLEDGE}" in post.text_all()
    assert await rows(slack.app, "SELECT shared_at IS NOT NULL FROM commitments") == [(1,)]
    assert await rows(slack.app, "SELECT status FROM outbox WHERE job = 'commitment-share'") == [
        (OutboxStatus.FAILED,),
        (OutboxStatus.SENT,),
    ]


async def test_a_digest_the_channel_refuses_is_reported_to_comms_once(
    slack: SlackWorkspace, clock: ManualClock, logs: pytest.LogCaptureFixture
) -> None:
    api = slack.api
    await slack.joins(VALUES, "UBOT")
    await slack.command(
        "schedule <#C0VALUES|values> weekly monday 09:00",
        user=COMMS,
        channel=direct(COMMS),
        command="/digest",
    )
    api.outside(VALUES)  # then someone removes the bot from the channel
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    assert await slack.app.run_schedules(DIGEST_TICK) == ["digest.tick@2026-12-07T09:00:00Z"]
    await deliver(slack)  # the digest's cards go a second apart

    assert api.channel(VALUES) == []
    failed = await rows(
        slack.app, "SELECT key, job, last_error FROM outbox WHERE status = 'failed' ORDER BY id"
    )
    [job] = {str(row[1]) for row in failed}
    assert job.startswith("digest:")
    assert failed == [(f"{job}:{n}", job, "not_in_channel") for n in range(len(failed))]
    notices = await rows(slack.app, "SELECT key, status FROM outbox WHERE job = 'undelivered'")
    assert notices == [(f"{job}:undelivered:slack:T1:{COMMS}", OutboxStatus.SENT)]
    told = api.last(direct(COMMS))
    assert shown(told) == (
        "A values digest was not posted\n"
        "I could not post the values digest in #values: I am not a member of it, or it was "
        "archived or deleted.\n\n"
        "Add valuesbot to #values, then type /digest send-now #values to send it again.\n"
        "Reason: not_in_channel"
    )
    assert len(undelivered(logs)) == len(failed)


async def test_barometer_results_the_channel_refuses_reach_comms_and_can_be_sent_again(
    slack: SlackWorkspace, logs: pytest.LogCaptureFixture
) -> None:
    api = slack.api
    api.members[STAFF] = ["UBOT", ALICE, BOB]
    api.outside(RESULTS)
    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    await deliver(slack)
    await slack.command("close", user=COMMS, channel=direct(COMMS), command="/barometer")
    await deliver(slack)

    key = f"barometer:2026-11:results:slack:T1:{RESULTS}"
    notice = f"{key}:undelivered:slack:T1:{COMMS}"
    assert await rows(
        slack.app, "SELECT key, status, last_error FROM outbox WHERE to_person = false"
    ) == [(key, OutboxStatus.FAILED, "not_in_channel")]
    assert await rows(slack.app, f"SELECT status FROM outbox WHERE key = '{notice}'") == [
        (OutboxStatus.SENT,)
    ]
    told = api.last(direct(COMMS))
    assert shown(told) == (
        "The barometer results were not posted\n"
        "I could not post the results of the November 2026 barometer in the channel "
        f"{RESULTS}: I am not a member of it, or it was archived or deleted.\n\n"
        f"Add valuesbot to the channel {RESULTS}; then whoever runs valuesbot can post them "
        "again with valuesbot deliveries requeue barometer:2026-11:results --failed. Meanwhile "
        "anyone can see them with /barometer results.\n"
        "Reason: not_in_channel"
    )
    assert undelivered(logs) == [
        "outbox message undelivered for good id=3 job=barometer:2026-11:results "
        f"key={key} platform=slack failure=unreachable reason=not_in_channel"
    ]

    # The bot is added; the failed post is sent again, as the command comms were given does.
    api.join(RESULTS)
    async with slack.app.database.unit() as stores:
        again = await stores.outbox.requeue(
            "barometer:2026-11:results", OutboxStatus.FAILED, slack.app.clock.now()
        )
    assert again == 1
    await deliver(slack)
    assert api.last(RESULTS).text.startswith("Staff barometer results: November 2026")
