"""Values identifiers through the harness: the conversation (from scratch and from a values
lens check-in), drafts surviving a restart, cancel, review by comms, the author told with the
links, changes asked for and made."""

from __future__ import annotations

import json
from datetime import timedelta

from bot.app import App, build_app
from bot.clock import ManualClock
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness

TITLE = "Winter plan 2027 <!channel>"
STATEMENTS = {
    "patients": "Patients <script>alert(1)</script> wrote half of it with us.",
    "listen": "We changed it after 40 listening sessions.",
    "evidence": "Every figure is sourced from published data.",
    "inclusive": "Carers and community groups co-wrote the actions.",
    "improve": "It sets out what we will measure and review.",
}
VISION = "It puts patients' own priorities at the centre of winter care."


async def make_one(harness: Harness, user: str = "alice") -> None:
    """Alice writes an identifier, typing every answer (the terminal)."""
    first = (await harness.user_says(f"/identifier {TITLE}", user=user))[-1]
    assert first.title == "We prioritise patients in every decision we take"
    assert f'how does "{TITLE}" show this?' in first.text
    assert [c.label for c in first.choices] == ["Next", "Not relevant", "Cancel"]
    for behaviour in ("patients", "listen", "evidence"):
        await harness.user_says(STATEMENTS[behaviour], user=user)
    await harness.user_says("not relevant", user=user)  # open and transparent
    await harness.user_says(STATEMENTS["inclusive"], user=user)
    asked = (await harness.user_says(STATEMENTS["improve"], user=user))[-1]
    assert "help us achieve our vision" in asked.text
    assert "High quality care for all" in asked.text
    await harness.user_says(VISION, user=user)
    await harness.user_says("Urgent and emergency care team", user=user)
    confirm = (await harness.user_says("31 March 2027", user=user))[-1]
    fields = {f.label: f.value for f in confirm.fields}
    assert fields["Open and transparent"] == "Not relevant"
    assert fields["Prioritise patients"] == STATEMENTS["patients"]
    assert fields["Intended publication"] == "31 March 2027"
    done = (await harness.click("Send to comms", user=user))[-1]
    assert done.title == "Thank you: it is with comms"


async def test_an_identifier_goes_to_comms_and_is_approved(harness: Harness, app: App) -> None:
    await make_one(harness)
    [(identifier_id, author, title, statements, vision, owner, intended, status)] = await rows(
        app,
        "SELECT id, author, title, statements, vision, owner, intended, status FROM identifiers",
    )
    assert (author, title, vision, owner, str(intended), status) == (
        "alice",
        TITLE,
        VISION,
        "Urgent and emergency care team",
        "2027-03-31",
        "pending",
    )
    stored = json.loads(str(statements))
    assert [s["behaviour"] for s in stored] == [
        "patients",
        "listen",
        "evidence",
        "open",
        "inclusive",
        "improve",
    ]
    assert {s["behaviour"]: s["text"] for s in stored} == {**STATEMENTS, "open": ""}

    # The review card reaches comms through the outbox.
    queued = await harness.deliver_outbox()
    assert [(q.recipient, q.job) for q in queued] == [
        ("carol", f"identifier-review:{identifier_id}")
    ]
    review = harness.last_card(user="carol")
    assert review.title == f"Values identifier to review: {TITLE}"
    assert [c.label for c in review.choices] == ["Approve", "Ask for changes", "Reject"]

    # Someone outside comms cannot decide.
    refused = (await harness.click("Approve", user="bob", card=review))[-1]
    assert refused.title == "Only comms can do this"
    assert await rows(app, "SELECT status FROM identifiers") == [("pending",)]

    answer = (await harness.click("Approve", user="carol", card=review))[-1]
    assert answer.text.startswith("Approved: it is published")
    assert await rows(app, "SELECT status, moderator FROM identifiers") == [("approved", "carol")]
    assert await rows(app, "SELECT actor, action, subject FROM audit_log") == [
        ("console:test:carol", "identifier.approved", identifier_id)
    ]
    sent = await harness.deliver_outbox()
    assert [(q.recipient, q.job) for q in sent] == [("alice", "identifier-outcome")]
    told = harness.last_card(user="alice")
    assert told.title == "Your values identifier is approved"
    links = {f.label: f.value for f in told.fields}
    assert links == {
        "Word page (to paste at the front)": f"/identifier/{identifier_id}.docx",
        "Print page (A4, one page)": f"/identifier/{identifier_id}",
        "Badge": f"/identifier/{identifier_id}.svg (or /identifier/{identifier_id}.png)",
    }
    again = (await harness.click("Reject", user="carol", card=review))[-1]
    assert again.title == "Already decided"

    mine = (await harness.user_says("/identifier mine"))[-1]
    assert mine.fields[0].label == f"1. {TITLE}"
    assert mine.fields[0].value.startswith("approved and published")
    assert mine.fields[0].value.endswith(f"/identifier/{identifier_id}")


async def test_comms_ask_for_changes_and_the_author_edits(harness: Harness, app: App) -> None:
    await make_one(harness)
    await harness.deliver_outbox()
    review = harness.last_card(user="carol")
    needs_note = (await harness.click("Ask for changes", user="carol", card=review))[-1]
    assert needs_note.text.startswith("Please write a note saying what to change.")
    await harness.click(
        "Ask for changes", user="carol", card=review, inputs={"note": "Say how patients helped"}
    )
    await harness.deliver_outbox()
    told = harness.last_card(user="alice")
    assert told.title == "Comms asked for a change"
    assert "Say how patients helped" in told.text

    # Alice edits: every answer can be kept; she changes one statement.
    title = (await harness.click("Edit and send again", card=told))[-1]
    assert f"Now: {TITLE}" in title.text
    first = (await harness.click("Keep it"))[-1]
    assert f"Draft: {STATEMENTS['patients']}" in first.text
    await harness.user_says("Patients chose the three priorities and wrote the summary.")
    for _ in range(2):
        await harness.click("Keep the draft")
    not_relevant = harness.last_card()
    assert "Draft: not relevant." in not_relevant.text
    await harness.click("Not relevant")
    for _ in range(2):
        await harness.click("Keep the draft")
    for _ in range(3):  # the vision, the owner, the date
        await harness.click("Keep it")
    done = (await harness.click("Send to comms"))[-1]
    assert done.title == "Thank you: it is with comms"
    [(revision, status, statements)] = await rows(
        app, "SELECT revision, status, statements FROM identifiers"
    )
    assert (revision, status) == (2, "pending")
    assert json.loads(str(statements))[0]["text"] == (
        "Patients chose the three priorities and wrote the summary."
    )
    # The first revision's card decides nothing now.
    stale = (await harness.click("Approve", user="carol", card=review))[-1]
    assert stale.title == "There is a newer version"


async def test_it_starts_from_a_values_lens_check_in(harness: Harness, app: App) -> None:
    # Alice's check-in of the same work: two notes, one "not relevant".
    await harness.user_says("/valueslens Winter plan 2027")
    await harness.user_says("1 patients chose the priorities")
    await harness.user_says("2")
    await harness.user_says("4")  # not relevant
    await harness.user_says("3 figures still missing")
    await harness.user_says("1")
    await harness.user_says("1")
    await harness.user_says("Add the missing figures")

    offered = (await harness.user_says("/identifier Winter plan 2027"))[-1]
    assert "Start" in offered.text
    assert [c.label for c in offered.choices] == [
        "My check-in: Winter plan 2027 (30 Nov 2026)",
        "Start afresh",
        "Cancel",
    ]
    first = (await harness.click("My check-in: Winter plan 2027 (30 Nov 2026)"))[-1]
    assert "Draft: patients chose the priorities" in first.text
    assert first.inputs[0].initial == "patients chose the priorities"  # type: ignore[union-attr]
    await harness.click("Keep the draft")
    second = harness.last_card()
    assert "Draft" not in second.text  # rated "partly", no note
    await harness.user_says("We listened.")
    third = harness.last_card()
    assert "Draft: not relevant." in third.text

    # Older check-ins are not offered.
    await harness.user_says("cancel")
    harness.app.clock.advance(timedelta(days=31))  # type: ignore[attr-defined]
    fresh = (await harness.user_says("/identifier Winter plan 2027"))[-1]
    assert fresh.title == "We prioritise patients in every decision we take"


async def test_a_draft_survives_a_restart_and_cancel_stops_it(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await harness.user_says("/identifier")
    await harness.user_says(TITLE)
    await harness.user_says(STATEMENTS["patients"])
    # The same bot after a restart: the draft is where it was.
    again = await build_app(app.settings, clock=clock, prepare=False)
    try:
        restarted = Harness(again)
        second = (await restarted.user_says(STATEMENTS["listen"]))[-1]
        assert second.title == "We are evidence-based"
        stopped = (await restarted.user_says("cancel"))[-1]
        assert stopped.title == "Cancelled"
        assert "Nothing was sent to comms" in stopped.text
    finally:
        await again.close()
    assert await rows(app, "SELECT COUNT(*) FROM identifiers") == [(0,)]
    assert await rows(app, "SELECT COUNT(*) FROM dialog_states") == [(0,)]


async def test_answers_are_checked(harness: Harness) -> None:
    await harness.user_says("/identifier " + "T" * 201)
    assert "200 characters or fewer" in harness.last_card().text
    await harness.user_says("Winter plan")
    await harness.user_says("x" * 301)
    assert "300 characters or fewer (that was 301)" in harness.last_card().text
    for _ in range(6):
        await harness.user_says("not relevant")
    assert "at least one behaviour" in harness.last_card().text
    await harness.user_says("Patients wrote it.")
    for _ in range(5):
        await harness.user_says("n/a")
    await harness.user_says(VISION)
    await harness.user_says("Team")
    await harness.user_says("next tuesday")
    assert "Please give a date" in harness.last_card().text
    await harness.user_says("2040-01-01")
    assert "five years after" in harness.last_card().text
    await harness.user_says("2027-01-31")
    assert harness.last_card().title == "Values identifier: Winter plan"


async def test_in_a_channel_it_asks_for_the_direct_chat(harness: Harness, app: App) -> None:
    answer = (await harness.user_says("/identifier Winter plan", channel="general"))[-1]
    assert answer.title == "Let's do this in a direct chat"
    assert await rows(app, "SELECT COUNT(*) FROM dialog_states") == [(0,)]
