"""Case studies and the weekly digest in Slack: a story submitted through a modal, reviewed by
comms from the card in their direct conversation, the author told, and the story in the next
scheduled digest to a channel exactly once (the schedule run twice, and again by a restarted
bot); comms schedule it with Slack's escaped channel; others are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.app import App, build_app
from bot.clock import ManualClock
from dialogs.digest import TICK_JOB as DIGEST_TICK
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows

ALICE, BOB, COMMS = "U0ALICE", "U0BOB", "U0COMMS"
GENERAL, VALUES = "C0GENERAL", "C0VALUES"
STORY = {
    "title": "Patients <!here> shaped the discharge letter",
    "story": "We asked six patients & two carers to rewrite it with us.",
    "behaviours": "patients,listen",
    "difference": "Readmissions for letter mix-ups fell & calls halved.",
    "named": "yes",
}


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {"VALUESBOT_COMMS": f"slack:{COMMS}"}


async def digests_sent(app: App) -> int:
    [(count,)] = await rows(app, "SELECT COUNT(*) FROM digest_runs")
    return int(str(count))


@pytest.fixture
async def restarted(slack: SlackWorkspace, clock: ManualClock) -> AsyncIterator[App]:
    """A second valuesbot on the same database: the same bot after a restart (or another
    instance)."""
    app = await build_app(slack.app.settings, clock=clock, prepare=False)
    yield app
    await app.close()


async def test_a_story_from_the_modal_to_the_digest_once(
    slack: SlackWorkspace, clock: ManualClock, restarted: App
) -> None:
    api = slack.api
    # The bot is added to the values channel (Slack tells it), then comms schedule the digest
    # from their direct conversation, naming the channel as Slack escapes it.
    await slack.joins(VALUES, "UBOT")
    await slack.command(
        "schedule <#C0VALUES|values> weekly monday 09:00",
        user=COMMS,
        channel=direct(COMMS),
        command="/digest",
    )
    scheduled = api.last(direct(COMMS)).text_all()
    assert "Digest scheduled" in scheduled
    assert "A values digest goes to #values every Monday at 09:00 (Europe/London)" in scheduled
    assert "The next one: Mon 7 Dec" in scheduled
    assert await rows(slack.app, "SELECT conversation, weekday, hour FROM digest_schedules") == [
        (VALUES, 0, 9)
    ]

    # Alice shares a story from a channel: the form opens as a modal only she sees.
    await slack.command(user=ALICE, channel=GENERAL, command="/casestudy")
    form = api.modal(ALICE)
    assert form.view["title"]["text"] == "Share a case study"
    assert form.view["submit"]["text"] == "Send to comms"
    kinds = {
        b["element"]["action_id"]: b["element"]["type"]
        for b in form.view["blocks"]
        if b["type"] == "input"
    }
    assert kinds == {
        "title": "plain_text_input",
        "story": "plain_text_input",
        "behaviours": "checkboxes",
        "difference": "plain_text_input",
        "named": "radio_buttons",
    }
    await slack.submit(form, user=ALICE, inputs=STORY)
    [thanks] = api.ephemeral(GENERAL, ALICE)
    assert "comms" in thanks.text_all().lower()
    assert api.channel(GENERAL) == []
    assert await rows(slack.app, "SELECT title, behaviours, status, named FROM case_studies") == [
        (STORY["title"], '["patients", "listen"]', "pending", 1)
    ]

    # The review card reaches comms through the outbox.
    await slack.deliver()
    review = api.last(direct(COMMS))
    assert "Patients <!here> shaped the discharge letter" in review.text_all()  # a header
    assert "We asked six patients &amp; two carers" in review.text_all()
    assert review.buttons() == ["Approve", "Ask for changes", "Reject"]

    # Bob is not comms: /casestudy queue and a replayed click on the review card are refused.
    await slack.command("queue", user=BOB, channel=direct(BOB), command="/casestudy")
    assert "Only comms can do this" in api.last(direct(BOB)).text_all()
    replay = slack.click_payload("Approve", user=BOB, message=review)
    await slack.interact(replay)
    assert "Only comms can do this" in api.last(direct(BOB)).text_all()
    assert await rows(slack.app, "SELECT status FROM case_studies") == [("pending",)]

    # Comms approve from their direct conversation; the author is told.
    await slack.click("Approve", user=COMMS, message=review, inputs={"note": "Lovely story"})
    # The review card itself becomes the decision: nothing left on it to click twice.
    assert "Approved: it will be in the next values digest." in review.text_all()
    assert (review.buttons(), review.updates) == ([], 1)
    before = len(api.calls)
    await slack.deliver()
    told = [c for c in api.calls[before:] if c.method == "chat.postMessage"]
    assert [c.params["channel"] for c in told] == [direct(ALICE)]
    assert "Your case study is approved" in told[0].text()
    assert "with your name" in told[0].text()

    # Monday 7 December, 09:00 in London: the scheduler's digest job queues the digest once,
    # though it is run twice, then again a minute later by a restarted bot.
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))  # GMT: London time is UTC
    assert await slack.app.run_schedules(DIGEST_TICK) == ["digest.tick@2026-12-07T09:00:00Z"]
    assert await slack.app.run_schedules(DIGEST_TICK) == []
    clock.advance(timedelta(minutes=1))
    assert await restarted.run_schedules(DIGEST_TICK) == ["digest.tick@2026-12-07T09:01:00Z"]
    assert await digests_sent(slack.app) == 1
    for _ in range(3):  # the digest's cards go a second apart, in order
        await slack.deliver()
        clock.advance(timedelta(seconds=1))
    digest = api.channel(VALUES)
    assert [m.text for m in digest] == [
        "Values digest: week of 7 Dec 2026",
        "Stories of what good looks like",
    ]
    everything = "\n".join(m.text_all() for m in digest)
    assert everything.count("Patients &lt;!here&gt; shaped the discharge letter") == 1
    assert "Shared by Alice" in everything
    assert "<!here>" not in json.dumps([m.blocks for m in digest])
    keys = [
        c.params["metadata"]["event_payload"]["key"]
        for c in api.calls_to("chat.postMessage")
        if c.params["channel"] == VALUES
    ]
    assert len(keys) == len(set(keys)) == 2

    # The next week's digest does not carry the story again.
    clock.set(datetime(2026, 12, 14, 9, 0, tzinfo=UTC))
    await restarted.run_schedules(DIGEST_TICK)
    assert await digests_sent(slack.app) == 2
    for _ in range(2):
        await slack.deliver()
        clock.advance(timedelta(seconds=1))
    quiet = api.channel(VALUES)[2:]
    assert [m.text for m in quiet] == ["Values digest: week of 14 Dec 2026"]
    assert "A quiet week" in quiet[0].text_all()
    assert "discharge letter" not in quiet[0].text_all()
    assert await rows(slack.app, "SELECT COUNT(*) FROM digest_items") == [(1,)]


async def test_the_digest_is_for_comms_only(slack: SlackWorkspace) -> None:
    await slack.joins(VALUES, "UBOT")
    await slack.command(
        "schedule <#C0VALUES|values> weekly monday 09:00",
        user=BOB,
        channel=direct(BOB),
        command="/digest",
    )
    assert "Only comms can do this" in slack.api.last(direct(BOB)).text_all()
    assert await rows(slack.app, "SELECT COUNT(*) FROM digest_schedules") == [(0,)]


async def test_a_channel_the_bot_has_not_joined_is_named_back(slack: SlackWorkspace) -> None:
    await slack.command(
        "schedule <#C0ELSE|elsewhere> weekly friday 16:00",
        user=COMMS,
        channel=direct(COMMS),
        command="/digest",
    )
    answer = slack.api.last(direct(COMMS)).text_all()
    assert "I have not been in #elsewhere yet. Add me to the channel" in answer


async def test_the_thanks_after_a_modal_reaches_someone_where_the_bot_is_not(
    slack: SlackWorkspace,
) -> None:
    await slack.command(user=ALICE, channel=GENERAL, command="/casestudy")
    slack.api.fail("chat.postEphemeral", "not_in_channel")
    await slack.submit(slack.api.modal(ALICE), user=ALICE, inputs=STORY)
    # A view submission carries no response URL: the answer goes to her direct conversation.
    assert "comms" in slack.api.last(direct(ALICE)).text_all().lower()
    assert await rows(slack.app, "SELECT COUNT(*) FROM case_studies") == [(1,)]


async def test_the_form_in_the_direct_conversation_becomes_the_answer(
    slack: SlackWorkspace,
) -> None:
    api, dm = slack.api, direct(ALICE)
    await slack.command(user=ALICE, channel=dm, command="/casestudy")
    form = api.last(dm)
    assert form.buttons() == ["Send to comms", "Cancel"]
    # Sent with something missing: the form, in place, says what to fix.
    await slack.click("Send to comms", user=ALICE, message=form, inputs={"title": "A story"})
    assert "Please write what happened." in form.text_all()
    assert form.buttons() == ["Send to comms", "Cancel"]
    await slack.click("Send to comms", user=ALICE, message=form, inputs=STORY)
    # Sent: the form gives way to the thanks, so it cannot be sent twice.
    assert "Thank you: it is with comms" in form.text_all()
    assert (form.buttons(), form.updates) == ([], 2)
    assert len(api.channel(dm)) == 1
    assert await rows(slack.app, "SELECT COUNT(*) FROM case_studies") == [(1,)]
