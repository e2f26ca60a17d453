"""Every card the barometer, commitments, case studies, the digest and deliveries produce, drawn
for Teams, is a valid Adaptive Card 1.5 that fits in a Teams message.

The cards are collected from a tour of every command and button of those features through the
platform-free harness (what people see, including what the outbox would send), plus cards built
with the longest text each feature allows; each is rendered by ``adapters.teams.render`` and
checked by ``adaptive_cards`` (in Python, and by the Adaptive Cards JavaScript library)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.teams.render import SHORTENED, attachment
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import Platform
from bot.ui import Card
from dialogs.case_studies import Submissions, form_card, outcome_card
from dialogs.commitments import commitment_card, commitment_picker, review_card, shared_card
from dialogs.digest import Digest, DigestCommitment, DigestStory, digest_cards
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.commitments import Commitment
from storage.people import PersonKey
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.conftest import make_settings
from tests.dialogs.test_barometer import answers
from tests.harness import Harness

PEOPLE = [f"p{n:02d}" for n in range(12)]
LONG = "Long words that go on and on, " * 200


@pytest.fixture
async def app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS="console:carol,teams:carol",
            VALUESBOT_VALUES_CHANNEL="console:values",
            VALUESBOT_BAROMETER_RESULTS="console:test:announcements",
            VALUESBOT_PUBLIC_URL="https://values.example.org",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


@pytest.fixture
def harness(app: App) -> Harness:
    return Harness(app)


def rendered(cards: list[Card]) -> list[dict[str, object]]:
    """The cards as Teams gets them; none needed shortening to fit."""
    found = []
    for card in cards:
        message = attachment(card)
        content = message["content"]
        assert isinstance(content, dict)
        found.append(content)
    return found


async def barometer_tour(harness: Harness, clock: ManualClock) -> None:
    say, click = harness.user_says, harness.click
    for person in PEOPLE:
        await say("/values", user=person)
    for word in ("help", "preview", "status", "results", "trend", "open", "open", "status"):
        await say(f"/barometer {word}", user="carol")
    await say("/barometer open", user="p00")  # refused
    for n, person in enumerate(PEOPLE[:11]):
        card = (await harness.inbox(person, "barometer:2026-11"))[0]
        if n == 0:
            await click("Send my answers", user=person, card=card, inputs={"q_nhs": "agree"})
        given = answers("agree", "neutral", "area", f"comment {n}")
        await click("Send my answers", user=person, card=card, inputs=given)
    await say("/barometer", user="p00")  # already answered
    thanks = harness.updates(user="p01")[-1]
    await click("Change my answer", user="p01", card=thanks)
    await click("Keep my answer", user="p01", card=harness.updates(user="p01")[-1])
    await click("Change my answer", user="p01", card=harness.updates(user="p01")[-1])
    await click(
        "Send my new answer",
        user="p01",
        card=harness.updates(user="p01")[-1],
        inputs=answers("disagree", "agree"),
    )
    for word in ("remind", "remind", "remind", "status", "comments"):
        await say(f"/barometer {word}", user="carol")
    clock.advance(timedelta(days=1))
    await say("/barometer close", user="carol")
    await say("/barometer comments", user="carol")
    comments = [c for c in harness.cards(user="carol") if c.choice("barometer.approve")]
    await click("Approve", user="carol", card=comments[0])
    await click("Reject", user="carol", card=comments[1])
    await say("/barometer", user="p11")
    await say("/barometer trend", user="p11")
    late = (await harness.inbox("p11", "barometer:2026-11"))[0]
    await click("Send my answers", user="p11", card=late, inputs=answers("agree", "agree"))
    await harness.deliver_outbox()


async def commitments_tour(harness: Harness, clock: ManualClock) -> None:
    say, click = harness.user_says, harness.click
    await say("/commitment help")
    await say("/commitment list")
    await say("/commitment")
    await click("Next")  # nothing written
    await say("test every draft with two patient representatives")
    await click("Next")  # no behaviour
    await click("Next", inputs={"behaviours": "listen,open"})
    await click("On this date", inputs={"review_on": "yesterday"})
    await click("On this date", inputs={"review_on": "in 2 days"})  # 3 Dec
    await click("Share with the values channel")
    await click("Share it")
    await click("Edit")
    await click("Keep the words")
    await click("Next")
    await click("Keep 3 Dec 2026")
    await say("/commitment My contribution is to publish the minutes #open")
    await say("/commitment list")
    await click("Share")  # none picked
    await say("/commitment delete 1")
    await click("Keep it")
    await say("/commitment", channel="team-x")
    await say("/commitment cancel")
    clock.advance(timedelta(days=3))
    async with harness.app.database.unit() as stores:
        assert await harness.app.commitments.queue_review_nudges(stores, clock.now()) == 1
    await harness.deliver_outbox()
    await click("Look again in a month")
    await click("Mark done")
    await say("/commitment delete 1")
    await click("Yes, delete it")


async def case_studies_tour(harness: Harness) -> None:
    say, click = harness.user_says, harness.click
    await say("/casestudy help")
    await say("/casestudy mine")
    for person in ("alice", "bob", "dan"):
        await say("/casestudy Patients shaped the letter", user=person, platform=Platform.TEAMS)
        await click("Send to comms", user=person, platform=Platform.TEAMS)  # empty: problems
        await click(
            "Send to comms",
            user=person,
            platform=Platform.TEAMS,
            inputs={
                "title": f"Patients shaped the letter ({person})",
                "story": "We ran two workshops with patients.",
                "behaviours": "patients,listen",
                "difference": "Complaints halved.",
                "named": "yes",
            },
        )
    await click("Cancel", user="alice", card=(await say("/casestudy", platform=Platform.TEAMS))[-1])
    teams = Platform.TEAMS
    await say("/casestudy queue", user="bob", platform=teams)
    await say("/casestudy queue", user="carol", platform=teams)
    reviews = sorted(
        (c for c in harness.cards(user="carol") if c.choice("casestudy.approve")),
        key=lambda c: c.title,  # alice, bob, dan
    )
    await click("Ask for changes", user="carol", card=reviews[0], platform=teams)
    await click(
        "Ask for changes",
        user="carol",
        card=reviews[0],
        inputs={"note": "Add a quote."},
        platform=teams,
    )
    await click("Approve", user="carol", card=reviews[1], platform=teams)
    await click(
        "Reject", user="carol", card=reviews[2], inputs={"note": "Not this time."}, platform=teams
    )
    await click("Approve", user="carol", card=reviews[2], platform=teams)  # already decided
    await harness.deliver_outbox()
    await click("Edit and send again", user="alice", platform=teams)
    await say("/casestudy mine")
    await say("/casestudy")  # the conversation, in the terminal
    for answer in ("Title", "What happened", "listen", "The difference"):
        await say(answer)
    await click("Yes, name me")


async def digest_tour(harness: Harness, clock: ManualClock) -> None:
    say = harness.user_says
    for words in (
        "help",
        "list",
        "preview",
        "schedule #values weekly monday 09:00",
        "schedule #values weekly friday 16:00 Europe/Paris if-empty skip",
        "list",
        "preview",
        "pause",
        "send-now",
        "resume",
        "send-now",
        "schedule nowhere weekly someday 25:00",
    ):
        await say(f"/digest {words}", user="carol")
    await say("/digest list", user="bob")
    await say("/values deliveries", user="carol")
    await say("/values deliveries", user="bob")
    await say("/digest cancel", user="carol")
    await harness.deliver_outbox()


async def test_every_card_of_the_features_is_valid_in_teams(
    harness: Harness, clock: ManualClock
) -> None:
    await barometer_tour(harness, clock)
    await commitments_tour(harness, clock)
    await case_studies_tour(harness)
    await digest_tour(harness, clock)
    cards = [s.card for s in harness.outbound.seen]
    assert len(cards) > 150
    titles = {c.title for c in cards}
    for expected in (
        "Staff barometer: November 2026",
        "Staff barometer results: November 2026",
        "Staff barometer: trend",
        "Comment on the November 2026 barometer",
        "Your commitments",
        "A moment to look back",
        "A commitment from Alice",
        "Share a case study",
        "Case study to review: Patients shaped the letter (alice)",
        "Comms asked for a change",
        "Your case study is approved",
        "Your case study was not accepted",
        "Digest schedules",
        "Values digest (comms team)",
        "Deliveries",
    ):
        assert expected in titles, expected
    teams = rendered(cards)
    assert all(SHORTENED not in str(c) for c in teams)
    assert_valid(teams)


def test_the_longest_cards_each_feature_makes_fit_in_teams(app: App) -> None:
    content, settings = app.content, app.settings
    now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    alice = PersonKey("teams", "t1", "29:alice")
    commitments = [
        Commitment(
            id=f"c{n:02d}",
            owner=alice,
            text=LONG[:500],
            behaviours=tuple(b.id for b in content.behaviours),
            review_on=date(2027, 1, 1),
            created_at=now,
        )
        for n in range(20)
    ]
    story = CaseStudy(
        id="s1",
        author=alice,
        title=LONG[:120],
        story=LONG[:2000],
        behaviours=tuple(b.id for b in content.behaviours),
        difference=LONG[:1000],
        named=True,
        submitted_at=now,
        status=CaseStudyStatus.CHANGES_REQUESTED,
        moderator_note=LONG[:500],
    )
    submissions = Submissions(content=content, settings=settings)
    digest = Digest(
        week_of="7 Dec 2026",
        behaviour=content.behaviours[0].name,
        behaviour_definition=content.behaviours[0].definition,
        barometer=LONG[:300],
        stories=tuple(
            DigestStory(
                title=LONG[:120],
                story=LONG[:2000],
                difference=LONG[:1000],
                behaviours=", ".join(b.short for b in content.behaviours),
                credit="a colleague with a long name " * 3,
            )
            for _ in range(60)
        ),
        shared=40,
        commitments=tuple(
            DigestCommitment(text=LONG[:500], behaviours="Inclusive", by="Alice " * 20)
            for _ in range(3)
        ),
    )
    big, _ = digest_cards(digest, "https://values.example.org/digest/" + "0" * 32)
    cards = [
        commitment_card(content, settings, commitments[0], note="Saved."),
        shared_card(content, commitments[0], "A person with a rather long name " * 3),
        review_card(content, settings, commitments[0]),
        Card(title="Your commitments", inputs=(commitment_picker(commitments),)),
        form_card(
            content,
            draft="d1",
            case_study="s1",
            values={
                "title": story.title,
                "story": story.story,
                "behaviours": "patients,listen,open",
                "difference": story.difference,
                "named": "yes",
            },
            problems=("Please write a title.", "Please choose at least one behaviour."),
        ),
        submissions.review_card(story, "A person with a rather long name", LONG[:500]),
        submissions.preview_card({"title": story.title, "story": story.story}),
        outcome_card(story),
        *big,
    ]
    teams = rendered(cards)
    assert len(big) == 6
    assert all(SHORTENED not in str(c) for c in teams)
    assert_valid(teams)
