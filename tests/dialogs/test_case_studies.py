"""Case studies through the harness: submitted (conversation and form), moderated, told."""

from __future__ import annotations

from bot.app import App
from bot.events import Platform
from bot.ui import Card, ChoiceInput, TextInput
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness

TITLE = "Patients shaped the discharge letter"
STORY = "We ran two workshops with patients <!here> & carers\nand rewrote the letter with them."
DIFFERENCE = "Complaints about discharge fell by half."


async def submit_in_conversation(harness: Harness, user: str = "alice") -> Card:
    card = (await harness.user_says("/casestudy", user=user))[-1]
    assert "What happened?" not in card.text
    await harness.user_says(TITLE, user=user)
    await harness.user_says(STORY, user=user)
    await harness.user_says("patients, listen", user=user)
    await harness.user_says(DIFFERENCE, user=user)
    confirm = (await harness.click("No, keep me anonymous", user=user))[-1]
    assert confirm.title == TITLE
    assert ("Your name", "not shown") in [(f.label, f.value) for f in confirm.fields]
    return (await harness.click("Send to comms", user=user))[-1]


async def test_a_case_study_in_conversation_goes_to_comms(harness: Harness, app: App) -> None:
    done = await submit_in_conversation(harness)
    assert done.title == "Thank you: it is with comms"
    assert await rows(
        app, "SELECT author, title, story, behaviours, difference, named, status FROM case_studies"
    ) == [("alice", TITLE, STORY, '["patients", "listen"]', DIFFERENCE, 0, "pending")]
    queued = await harness.outbox()
    assert [(q.recipient, q.to_person, q.counts_towards_cap) for q in queued] == [
        ("carol", True, False)
    ]
    review = queued[0].card
    assert review.title == f"Case study to review: {TITLE}"
    assert review.text == STORY
    assert ("From", "Alice (wants to stay anonymous)") in [
        (f.label, f.value) for f in review.fields
    ]
    assert [c.label for c in review.choices] == ["Approve", "Ask for changes", "Reject"]


async def test_comms_approve_and_the_author_is_told(harness: Harness, app: App) -> None:
    await submit_in_conversation(harness)
    await harness.deliver_outbox()
    review = harness.last_card(user="carol")
    answer = (await harness.click("Approve", user="carol", card=review))[-1]
    assert answer.text.startswith("Approved: it will be in the next values digest.")
    assert await rows(app, "SELECT status, moderator FROM case_studies") == [("approved", "carol")]
    sent = await harness.deliver_outbox()
    assert [(q.recipient, q.respect_working_hours) for q in sent] == [("alice", True)]
    told = harness.last_card(user="alice")
    assert told.title == "Your case study is approved"
    assert "without your name" in told.text
    # A second click, by comms or anyone, decides nothing more.
    again = (await harness.click("Reject", user="admin", card=review))[-1]
    assert again.title == "Already decided"
    assert again.text == f'"{TITLE}": approved by Carol 30 Nov 2026.'


async def test_only_comms_moderate(harness: Harness, app: App) -> None:
    await submit_in_conversation(harness)
    await harness.deliver_outbox()
    review = harness.last_card(user="carol")
    refused = (await harness.click("Approve", user="bob", card=review))[-1]
    assert refused.title == "Only comms can do this"
    refused = (await harness.user_says("/casestudy queue", user="bob"))[-1]
    assert refused.title == "Only comms can do this"
    assert await rows(app, "SELECT status FROM case_studies") == [("pending",)]
    queue = await harness.user_says("/casestudy queue", user="carol")
    assert queue[0].text == "1 case study waiting, oldest first."
    assert queue[1].title == f"Case study to review: {TITLE}"


async def test_changes_asked_then_edited_and_sent_again(harness: Harness, app: App) -> None:
    await submit_in_conversation(harness)
    await harness.deliver_outbox()
    review = harness.last_card(user="carol")
    needs_note = (await harness.click("Ask for changes", user="carol", card=review))[-1]
    assert needs_note.text.startswith("Please write a note saying what to change.")
    await harness.click(
        "Ask for changes",
        user="carol",
        card=review,
        inputs={"note": "Please add what patients said."},
    )
    await harness.deliver_outbox()
    asked = harness.last_card(user="alice")
    assert asked.title == "Comms asked for a change"
    assert "Please add what patients said." in asked.text

    card = (await harness.click("Edit and send again"))[-1]
    assert card.title == "Edit your case study"
    assert f"Now: {TITLE}" in card.text
    await harness.click("Keep it")
    await harness.user_says("We ran two workshops. Patients said the letter was unreadable.")
    await harness.click("Next")  # keep the behaviours
    await harness.click("Keep it")
    await harness.click("Yes, name me")
    done = (await harness.click("Send to comms"))[-1]
    assert done.title == "Thank you: it is with comms"
    assert await rows(app, "SELECT status, revision, named, story FROM case_studies") == [
        ("pending", 2, 1, "We ran two workshops. Patients said the letter was unreadable.")
    ]
    stale = (await harness.click("Approve", user="carol", card=review))[-1]
    assert stale.title == "There is a newer version"
    await harness.deliver_outbox()
    newer = harness.last_card(user="carol")
    assert ("Sent", "30 Nov 2026, version 2") in [(f.label, f.value) for f in newer.fields]
    await harness.click("Reject", user="carol", card=newer, inputs={"note": "Not this time."})
    await harness.deliver_outbox()
    assert harness.last_card().title == "Your case study was not accepted"
    mine = (await harness.user_says("/casestudy mine"))[-1]
    assert mine.fields[0].value.startswith("not accepted · sent 30 Nov 2026 · note from comms")


async def test_the_form_on_slack_keeps_what_was_typed_and_files_once(
    harness: Harness, app: App
) -> None:
    form = (await harness.user_says("/casestudy", platform=Platform.SLACK))[-1]
    assert form.title == "Share a case study"
    assert [(type(i).__name__, i.name) for i in form.inputs] == [
        ("TextInput", "title"),
        ("TextInput", "story"),
        ("ChoiceInput", "behaviours"),
        ("TextInput", "difference"),
        ("ChoiceInput", "named"),
    ]
    behaviours = form.inputs[2]
    assert isinstance(behaviours, ChoiceInput)
    assert behaviours.multiple
    story = form.inputs[1]
    assert isinstance(story, TextInput)
    assert story.multiline

    partial = {"title": TITLE, "behaviours": "listen"}
    again = (
        await harness.click("Send to comms", card=form, inputs=partial, platform=Platform.SLACK)
    )[-1]
    assert again.text.startswith(
        "Please write what happened.\nPlease say what difference it made.\n"
        "Please say whether we may use your name."
    )
    assert [getattr(i, "initial", None) for i in again.inputs][:3] == [TITLE, "", "listen"]
    assert await rows(app, "SELECT count(*) FROM case_studies") == [(0,)]

    full = {**partial, "story": STORY, "difference": DIFFERENCE, "named": "yes"}
    done = (await harness.click("Send to comms", card=again, inputs=full, platform=Platform.SLACK))[
        -1
    ]
    assert done.title == "Thank you: it is with comms"
    twice = (
        await harness.click("Send to comms", card=again, inputs=full, platform=Platform.SLACK)
    )[-1]
    assert twice.title == "Already sent"
    assert await rows(app, "SELECT platform, named FROM case_studies") == [("slack", 1)]
    assert [(q.platform, q.recipient) for q in await harness.outbox()] == [("slack", "carol")]


async def test_help_and_a_channel(harness: Harness) -> None:
    help_card = (await harness.user_says("/casestudy help"))[-1]
    assert "/casestudy queue" in [f.label for f in help_card.fields]
    pointer = (await harness.user_says("/casestudy", channel="team-x"))[-1]
    assert pointer.title == "Let's do this in a direct chat"
    assert harness.public("team-x") == []
    assert "/casestudy" in (await harness.user_says("/values"))[-1].plain_text()
    started = (await harness.user_says(f"/casestudy {TITLE}"))[-1]
    assert started.text.startswith("What happened? Who did what")
    assert (await harness.user_says("/casestudy cancel"))[-1].title == "Cancelled"
