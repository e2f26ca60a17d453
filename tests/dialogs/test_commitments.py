"""Personal commitments, through the harness: made, listed, edited, done, shared, nudged."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.content import load_content
from bot.ui import Card
from dialogs.commitments import add_months, clean_text, parse_review, sentence
from tests.dialogs.test_values_lens import complete_checkin, rows
from tests.harness import Harness

CALL = (
    "We create the culture and conditions for health and care services and staff to deliver "
    "the highest standards of care."
)


async def make_commitment(harness: Harness, text: str = "test every draft with patients") -> Card:
    await harness.user_says("/commitment")
    await harness.user_says(text)
    await harness.click("Next", inputs={"behaviours": "listen,open"})
    return (await harness.click("In a month"))[-1]


async def test_a_commitment_starts_from_the_call_to_action(harness: Harness) -> None:
    card = (await harness.user_says("/commitment"))[-1]
    assert card.text.startswith(CALL + " My contribution is to...")
    assert [i.name for i in card.inputs] == ["text"]
    card = (await harness.user_says("My contribution is to test every draft with patients"))[-1]
    assert "Which of our behaviours does it show?" in card.text
    behaviours = card.inputs[0]
    assert behaviours.name == "behaviours"
    assert [o.label for o in behaviours.options] == [  # type: ignore[union-attr]
        "Prioritise patients",
        "Listen and learn",
        "Evidence-based",
        "Open and transparent",
        "Inclusive",
        "Strive for improvement",
    ]
    card = (await harness.click("Next", inputs={"behaviours": "open,listen"}))[-1]
    assert "When would you like to look back at it?" in card.text
    saved = (await harness.click("In a month"))[-1]
    assert saved.title == "Your commitment"
    assert f"{CALL} My contribution is to test every draft with patients" in saved.text
    assert ("Behaviours", "Listen and learn, Open and transparent") in [
        (f.label, f.value) for f in saved.fields
    ]
    assert ("Review", "30 Dec 2026") in [(f.label, f.value) for f in saved.fields]
    assert await rows(
        harness.app, "SELECT owner, text, behaviours, review_on FROM commitments"
    ) == [("alice", "test every draft with patients", '["listen", "open"]', "2026-12-30")]
    assert await rows(harness.app, "SELECT * FROM dialog_states") == []


async def test_typed_answers_work_too(harness: Harness, app: App) -> None:
    await harness.user_says("/commitment")
    await harness.user_says("Publish the minutes of every board meeting")
    again = (await harness.user_says("kindness"))[-1]
    assert again.text.startswith("Please name one or more of: 1. Prioritise patients")
    await harness.user_says("1, 4")
    late = (await harness.user_says("1/1/2020"))[-1]
    assert late.text.startswith("Please pick a day after today.")
    saved = (await harness.user_says("31 March 2027"))[-1]
    assert "My contribution is to publish the minutes" in saved.text
    assert await rows(app, "SELECT behaviours, review_on FROM commitments") == [
        ('["patients", "open"]', "2027-03-31")
    ]


async def test_a_behaviour_is_required(harness: Harness) -> None:
    await harness.user_says("/commitment")
    await harness.user_says("test drafts with patients")
    card = (await harness.click("Next"))[-1]
    assert card.text.startswith("Please choose at least one behaviour.")


async def test_one_line_with_tags_is_saved_at_once(harness: Harness, app: App) -> None:
    cards = await harness.user_says(
        "/commitment My contribution is to publish our minutes #open #listen-and-learn #soon"
    )
    assert cards[-1].title == "Your commitment"
    assert "Only you can see it" in cards[-1].text
    assert await rows(app, "SELECT text, behaviours, review_on FROM commitments") == [
        ("publish our minutes #soon", '["listen", "open"]', None)
    ]
    assert await rows(app, "SELECT * FROM dialog_states") == []


async def test_a_channel_gets_a_private_pointer_not_a_public_dialog(harness: Harness) -> None:
    cards = await harness.user_says("/commitment", channel="team-x")
    assert cards[-1].title == "Commitments are private"
    assert harness.public("team-x") == []
    await harness.user_says("/commitment publish the minutes", channel="team-x")
    assert harness.public("team-x") == []


async def test_list_edit_done_and_delete(harness: Harness, app: App, clock: ManualClock) -> None:
    await make_commitment(harness, "test every draft with patients")
    clock.advance(timedelta(minutes=1))
    await harness.user_says("/commitment ask one patient a week #patients")
    listed = (await harness.user_says("/commitment list"))[-1]
    assert [f.label for f in listed.fields] == [
        "1. ask one patient a week",
        "2. test every draft with patients",
    ]
    assert "review 30 Dec 2026" in listed.fields[1].value
    assert [c.label for c in listed.choices] == [
        "Edit",
        "Mark done",
        "Share",
        "Delete",
        "Make a new one",
    ]
    first_id = listed.inputs[0].options[1].value  # type: ignore[union-attr]

    # Edit: new words, keep the behaviours, drop the review date.
    card = (await harness.click("Edit", inputs={"commitment": first_id}, card=listed))[-1]
    assert card.title == "Change your commitment"
    assert "Now: " + CALL + " My contribution is to test every draft" in card.text
    await harness.user_says("test every draft with two patients")
    await harness.click("Next")
    saved = (await harness.click("No review date"))[-1]
    assert "Changed." in saved.text
    found = await rows(
        app, f"SELECT text, behaviours, review_on FROM commitments WHERE id = '{first_id}'"
    )
    assert found == [("test every draft with two patients", '["listen", "open"]', None)]

    # Done, by number.
    done = (await harness.user_says("/commitment done 2"))[-1]
    assert done.text.startswith("Marked done.")
    assert [c.label for c in done.choices] == ["Share with the values channel", "Edit", "Delete"]
    assert await rows(app, f"SELECT status FROM commitments WHERE id = '{first_id}'") == [("done",)]

    # Delete asks first.
    ask = (await harness.click("Delete", card=done))[-1]
    assert ask.title == "Delete this commitment?"
    await harness.click("Keep it")
    assert len(await rows(app, "SELECT id FROM commitments")) == 2
    await harness.click("Yes, delete it", card=ask)
    assert await rows(app, f"SELECT id FROM commitments WHERE id = '{first_id}'") == []


async def test_share_posts_to_the_values_channel_once_attributed_and_plain(
    harness: Harness, app: App
) -> None:
    risky = "speak up <!channel> *loudly* & <https://evil.example|click>"
    card = await make_commitment(harness, risky)
    ask = (await harness.click("Share with the values channel", card=card))[-1]
    assert ask.title == "Share it with the values channel?"
    shared = (await harness.click("Share it"))[-1]
    assert shared.text.startswith("Shared:")
    assert "Share with the values channel" not in [c.label for c in shared.choices]
    await harness.click("Share it", card=ask)  # a second click changes nothing

    queued = await harness.outbox()
    assert len(queued) == 1
    post = queued[0]
    assert (post.platform, post.recipient, post.to_person) == ("console", "values", False)
    assert (post.respect_working_hours, post.counts_towards_cap) == (False, False)
    # The outbox holds plain text exactly as written: the adapter escapes it for its platform.
    assert post.card.title == "A commitment from Alice"
    assert post.card.text == f"{CALL} My contribution is to {risky}"
    assert [(f.label, f.value) for f in post.card.fields] == [
        ("Behaviours", "Listen and learn, Open and transparent")
    ]
    await harness.deliver_outbox()
    assert [c.title for c in harness.public("values")] == ["A commitment from Alice"]
    assert (await rows(app, "SELECT count(*) FROM commitments WHERE shared_at IS NOT NULL")) == [
        (1,)
    ]


async def test_commitments_are_private_to_their_owner(harness: Harness) -> None:
    card = await make_commitment(harness)
    listed = (await harness.user_says("/commitment list", user="bob"))[-1]
    assert listed.text == "You have no commitments yet."
    forged = (await harness.click("Mark done", user="bob", card=card))[-1]
    assert forged.title == "Not found"
    forged = (await harness.click("Share with the values channel", user="bob", card=card))[-1]
    assert forged.title == "Not found"
    assert await harness.outbox() == []


async def test_review_nudge_is_queued_once_on_the_day(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await make_commitment(harness)
    assert await run_nudges(app) == 0
    clock.set(datetime(2026, 12, 30, 0, 5, tzinfo=UTC))
    assert await run_nudges(app) == 1
    assert await run_nudges(app) == 0
    queued = await harness.outbox()
    assert [
        (q.recipient, q.to_person, q.respect_working_hours, q.counts_towards_cap) for q in queued
    ] == [("alice", True, True, True)]
    assert queued[0].key.endswith(":2026-12-30")
    await harness.deliver_outbox()
    nudge = harness.last_card()
    assert nudge.title == "A moment to look back"
    later = (await harness.click("Look again in a month"))[-1]
    assert "I will remind you again on 30 Jan 2027." in later.text
    clock.set(datetime(2027, 1, 30, 8, 0, tzinfo=UTC))
    assert await run_nudges(app) == 1
    await harness.deliver_outbox()
    done = (await harness.click("Mark done"))[-1]
    assert done.text.startswith("Marked done.")


async def run_nudges(app: App) -> int:
    async with app.database.unit() as stores:
        return await app.commitments.queue_review_nudges(stores, app.clock.now())


async def test_the_values_lens_action_becomes_a_commitment(harness: Harness) -> None:
    await complete_checkin(harness)
    await harness.click("Save the action as a commitment")
    listed = (await harness.user_says("/commitment list"))[-1]
    assert listed.fields[0].label == "1. Test the draft with two patient representatives"
    assert listed.fields[0].value.startswith("open · Open and transparent")


async def test_help_and_cancel(harness: Harness) -> None:
    help_card = (await harness.user_says("/commitment help"))[-1]
    assert "/commitment list" in [f.label for f in help_card.fields]
    assert "/commitment" in (await harness.user_says("/values"))[-1].plain_text()
    await harness.user_says("/commitment")
    cancelled = (await harness.user_says("/commitment cancel"))[-1]
    assert cancelled.title == "Cancelled"
    nothing = (await harness.user_says("/commitment cancel"))[-1]
    assert nothing.title == "Nothing to cancel"


def test_sentences_and_dates() -> None:
    assert clean_text("My contribution is to... listen more") == "listen more"
    assert clean_text("my contribution is to: Listen") == "Listen"
    assert sentence_end("Test drafts") == "My contribution is to test drafts"
    assert sentence_end("NHS forms") == "My contribution is to NHS forms"
    today = date(2026, 11, 30)
    assert add_months(date(2027, 1, 31), 1) == date(2027, 2, 28)
    assert parse_review("2027-03-31", today) == date(2027, 3, 31)
    assert parse_review("31/3/27", today) == date(2027, 3, 31)
    assert parse_review("in 2 weeks", today) == date(2026, 12, 14)
    assert parse_review("a month", today) == date(2026, 12, 30)
    assert parse_review("1 Feb", today) == date(2027, 2, 1)
    for bad, why in (
        ("31/02/2027", "not a date"),
        ("next tuesday", "could not read"),
        ("2029-01-01", "within the next two years"),
        ("30/11/2026", "after today"),
    ):
        with pytest.raises(ValueError, match=why):
            parse_review(bad, today)


def sentence_end(text: str) -> str:
    return sentence(load_content(), text).removeprefix(CALL + " ")


async def test_the_dialog_survives_a_restart(harness: Harness, app: App) -> None:
    await harness.user_says("/commitment")
    await harness.user_says("listen at every team meeting")
    again = await build_app(app.settings, clock=app.clock, prepare=False)
    try:
        other = Harness(again)
        cards = await other.user_says("2")
    finally:
        await again.close()
    assert cards[-1].text.startswith("When would you like to look back at it?")
