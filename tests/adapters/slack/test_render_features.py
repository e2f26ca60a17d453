"""Every card the barometer, commitments, case studies, the digest and the deliveries report
can produce passes slack-sdk's validation and Slack's limits, as a message and, where the card
is a form, as a modal. The cards come from driving each feature through every path the harness
reaches (mistakes, refusals, changes of mind), from the outbox (what the delivery worker sends)
and from the home page; long digests are drawn directly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from slack_sdk.models.views import View

from adapters.slack import render
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import Actor, ConversationKind, ConversationRef, Platform
from bot.ui import Card
from dialogs.digest import Digest, DigestCommitment, DigestStory, digest_cards
from tests.adapters.slack.test_render import check_limits
from tests.conftest import make_settings
from tests.harness import Harness

COMMS = "carol"
PEOPLE = [f"p{n:02d}" for n in range(12)]
LOUD = "<!channel> *loud* & <@U123> " * 20


@pytest.fixture
async def app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS=f"console:{COMMS},slack:{COMMS}",
            VALUESBOT_ADMINS="console:admin",
            VALUESBOT_VALUES_CHANNEL="console:values,slack:values",
            VALUESBOT_BAROMETER_RESULTS="console:test:announcements",
            VALUESBOT_BAROMETER_AUTO="false",
            VALUESBOT_PUBLIC_URL="https://values.example.org",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


async def barometer_cards(harness: Harness, app: App, clock: ManualClock) -> None:
    say, click = harness.user_says, harness.click
    for person in PEOPLE:
        await say("/values", user=person)
    for word in ("", "results", "trend", "help", "status", "nonsense"):
        await say(f"/barometer {word}".strip())
    await say("/barometer open")  # not comms
    for word in ("help", "status", "preview", "comments", "remind", "close"):
        await say(f"/barometer {word}", user=COMMS)
    await click("Send my answers", user=COMMS, inputs={"q_nhs": "agree"})  # the preview
    await say("/barometer open", user=COMMS)
    await say("/barometer open", user=COMMS)
    await say("/barometer status", user=COMMS)
    for n, person in enumerate(PEOPLE):
        card = (await harness.inbox(person))[0]
        if n == 0:  # a question missed, then a comment too long
            await click("Send my answers", user=person, card=card, inputs={"q_nhs": "agree"})
            await click(
                "Send my answers",
                user=person,
                card=card,
                inputs={"q_nhs": "agree", "q_organisation": "agree", "comment": LOUD * 3},
            )
        given = {
            "q_nhs": "agree" if n % 2 else "disagree",
            "q_organisation": "strongly_agree",
            "group": "area" if n < 6 else "regional",
            "comment": f"Comment {n}: {LOUD}"[:480],
        }
        await click("Send my answers", user=person, card=card, inputs=given)
    await say("/barometer", user=PEOPLE[0])  # already answered
    await click("Change my answer", user=PEOPLE[1])
    await click("Keep my answer", user=PEOPLE[1])
    await click("Change my answer", user=PEOPLE[1])
    await click(
        "Send my new answer",
        user=PEOPLE[1],
        inputs={"q_nhs": "neutral", "q_organisation": "neutral"},
    )
    await say("/barometer status", user=COMMS)
    await say("/barometer comments", user=COMMS)  # not while the round is open
    for _ in range(3):
        await say("/barometer remind", user=COMMS)
    await say("/barometer close", user=COMMS)
    await say("/barometer comments", user=COMMS)
    await click("Approve", user=COMMS)
    await click("Reject", user=COMMS)
    await click("Approve", user=PEOPLE[2], card=harness.card_with("Approve", user=COMMS))
    await click("Change my answer", user=PEOPLE[1])  # closed
    for word in ("", "results", "trend", "close"):
        await say(f"/barometer {word}".strip(), user=COMMS)
    # A second month with too few answers to show anything.
    clock.set(datetime(2027, 1, 4, 10, 0, tzinfo=UTC))
    await say("/barometer open", user=COMMS)
    await click(
        "Send my answers",
        user=PEOPLE[3],
        card=(await harness.inbox(PEOPLE[3]))[-1],
        inputs={"q_nhs": "agree", "q_organisation": "agree"},
    )
    await say("/barometer close", user=COMMS)
    await say("/barometer trend")
    await say("/barometer results")


async def commitment_cards(harness: Harness, app: App, clock: ManualClock) -> None:
    say, click = harness.user_says, harness.click
    for word in ("help", "list", "cancel", "edit 3"):
        await say(f"/commitment {word}")
    await say("/commitment", channel="team-x")
    await say("/commitment")
    await click("Next")  # nothing written
    await say("x" * 600)
    await say(f"My contribution is to {LOUD}"[:490])
    await say("kindness")
    await click("Next")  # no behaviour
    await click("Next", inputs={"behaviours": "listen,open,inclusive"})
    await click("On this date")  # no date typed
    await say("1/1/2020")
    await say("31 March 2027")
    clock.advance(timedelta(minutes=1))  # the list is newest first
    await say("/commitment My contribution is to publish our minutes #open #listen-and-learn")
    await say("/commitment " + "y" * 600)
    listed = (await say("/commitment list"))[-1]
    await click("Share")  # nothing picked
    first = listed.inputs[0].options[0].value  # type: ignore[union-attr]
    await click("Share", inputs={"commitment": first})
    await click("Share it")
    await click("Share it")
    await say("/commitment share 1")
    await say("/commitment edit 2")
    await click("Keep the words")
    await click("Next")
    await click("Keep 31 Mar 2027")
    await say("/commitment")
    await say("/commitment")  # already making one
    await say("/commitment cancel")
    await say("/commitment done 1")
    await say("/commitment delete 2")
    await click("Keep it")
    await say("/commitment delete 2")
    await click("Yes, delete it")
    await say("/commitment")
    await say("ask a patient every week")
    await say("1")
    await click("In a month")
    clock.advance(timedelta(days=32))
    async with app.database.unit() as stores:
        await app.commitments.queue_review_nudges(stores, clock.now())
    await harness.deliver_outbox()
    await click("Look again in a month")
    await click("Mark done", card=harness.card_with("Look again in a month"))
    await click("Edit", card=harness.card_with("Look again in a month"))
    await say("/commitment cancel")


async def case_study_cards(harness: Harness, app: App) -> None:
    say, click = harness.user_says, harness.click
    slack = Platform.SLACK
    for word in ("help", "mine", "queue", "cancel"):
        await say(f"/casestudy {word}")
    await say("/casestudy", channel="team-x")
    form = (await say("/casestudy Patients <!here> shaped the letter", platform=slack))[-1]
    again = (await click("Send to comms", card=form, platform=slack))[-1]
    story = {
        "title": "Patients <!here> shaped the letter",
        "story": (LOUD * 4)[:2000],
        "behaviours": "patients,listen",
        "difference": (LOUD * 2)[:1000],
        "named": "no",
    }
    await click("Send to comms", card=again, inputs=story, platform=slack)
    await click("Send to comms", card=again, inputs=story, platform=slack)  # twice
    await click("Cancel", card=form, platform=slack)
    # In the terminal, the same as a conversation.
    await say("/casestudy")
    await say("")
    await say("Discharge letters " + "long " * 40)
    await say("Discharge letters")
    await say(LOUD)
    await say("kindness")
    await say("patients, open")
    await say("Fewer calls")
    await say("maybe")
    await click("Yes, name me")
    await click("Send to comms")
    await say("/casestudy mine")
    await say("/casestudy queue", user=COMMS)
    await harness.deliver_outbox()
    await click("Ask for changes", user=COMMS)  # no note
    await click("Ask for changes", user=COMMS, inputs={"note": "Say who the patients were."})
    await click("Approve", user=COMMS)  # decided already
    await harness.deliver_outbox()
    await click("Edit and send again")
    await say("Discharge letters, again")
    await click("Keep it")
    await click("Next")
    await click("Keep it")
    await click("Yes, name me")
    await click("Send to comms")
    await harness.deliver_outbox()
    await click("Reject", user=COMMS, inputs={"note": "Not this time."})
    await click("Approve", user=COMMS, card=harness.card_with("Approve", user=COMMS))
    await click("Approve", user="bob", card=harness.card_with("Approve", user=COMMS))
    from_slack = next(c for c in harness.cards(user=COMMS) if "Patients" in c.title)
    await click(
        "Approve",
        user=COMMS,
        card=from_slack,
        inputs={"note": "Lovely, thank you."},
        platform=slack,
    )
    await harness.deliver_outbox()
    await say("/casestudy mine")


async def digest_and_delivery_cards(harness: Harness, app: App, clock: ManualClock) -> None:
    say = harness.user_says
    for words in (
        "help",
        "list",
        "preview",
        "pause",
        "schedule #values fortnightly monday 09:00",
        "schedule #values weekly monday 09:00",
        "schedule #values weekly fri 4:30pm Europe/Paris if-empty skip",
        "schedule here weekly monday 9am",
        "list",
        "preview",
        "preview #values",
        "send-now #values",
        "pause #values",
        "send-now #values",
        "resume #values",
        "cancel #values",
        "frobnicate",
    ):
        await say(f"/digest {words}", user=COMMS, channel="news" if "here" in words else None)
    await say("/digest list", user="bob")
    await say("/digest schedule #values weekly monday 09:00", user=COMMS)
    await say("/digest send-now #values", user=COMMS)
    await say("/values deliveries")  # not comms
    await app.delivery.drain()  # sent, or waiting: the progress card shows where each job is
    await say("/values deliveries", user="admin")


def long_digest() -> list[Card]:
    story = DigestStory(
        title="A story <!here> " * 20,
        story="What happened & why " * 100,
        difference="It mattered " * 60,
        behaviours="Listen and learn, Open and transparent",
        credit="a colleague",
    )
    digest = Digest(
        week_of="7 Dec 2026",
        behaviour="We listen and learn",
        behaviour_definition="We listen " * 40,
        barometer="November 2026: The NHS 82% agree · Our organisation 75% agree",
        stories=(story,) * 40,
        shared=25,
        commitments=(DigestCommitment(text=LOUD, behaviours="Inclusive", by="alice"),) * 3,
    )
    with_page, _ = digest_cards(digest, "https://values.example.org/digest/" + "a" * 32)
    without, _ = digest_cards(digest, None)
    return [*with_page, *without]


async def test_every_feature_card_renders_within_slacks_limits(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await barometer_cards(harness, app, clock)
    await commitment_cards(harness, app, clock)
    await case_study_cards(harness, app)
    await digest_and_delivery_cards(harness, app, clock)
    cards = [s.card for s in harness.outbound.seen]
    cards += [q.card for q in await harness.outbox()]  # what the delivery worker sends
    direct = ConversationRef(
        platform=Platform.SLACK, tenant="test", conversation="D1", kind=ConversationKind.DIRECT
    )
    home = await app.home_cards(direct, Actor(id=PEOPLE[0], name="P0"))
    cards += [*home, *long_digest()]

    titles = {c.title for c in cards}
    for expected in (
        "Staff barometer: November 2026",
        "Thank you: Staff barometer: November 2026",
        "Staff barometer results: November 2026",
        "Staff barometer results: January 2027",
        "Staff barometer: trend",
        "Comment on the November 2026 barometer",
        "Your commitment",
        "Your commitments",
        "A commitment from Alice",
        "A moment to look back",
        "Share a case study",
        "Edit your case study",
        "Case study to review: Discharge letters",
        "Case study to review: Patients <!here> shaped the letter",
        "Your case study is approved",
        "Comms asked for a change",
        "Values digest (comms team)",
        "Digest scheduled",
        "Deliveries",
        "Only comms can do this",
        "Only the comms team can do this",
        "Staff barometer: latest results",
    ):
        assert any(expected in t for t in titles), expected
    assert len(cards) > 150

    modals = 0
    for card in cards:
        drawn = render.message(card)
        check_limits(drawn.blocks)
        assert drawn.text
        if render.modal_choice(card) is not None:
            view = render.modal(card, conversation="C1", kind="channel")
            View(**view).validate_json()
            check_limits(view["blocks"], limit=100)
            modals += 1
    assert modals >= 10  # the case study forms, commitment and barometer questions
    View(**render.home(home, direct="D1")).validate_json()
