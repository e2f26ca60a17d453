"""The personal values lens, driven through the harness: what people see, what is stored."""

from __future__ import annotations

from sqlalchemy import text

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.ui import Card
from storage.dialog_states import DialogKey
from storage.people import PersonKey
from tests.harness import TENANT, Harness

WORK = "Drafting the allocation guidance"
BEHAVIOURS = [
    "We prioritise patients in every decision we take",
    "We listen and learn",
    "We are evidence-based",
    "We are open and transparent",
    "We are inclusive",
    "We strive for improvement",
]


async def rows(app: App, sql: str) -> list[tuple[object, ...]]:
    async with app.database.engine.connect() as connection:
        return [tuple(r) for r in (await connection.execute(text(sql))).all()]


async def test_lens_asks_what_the_work_is(harness: Harness) -> None:
    cards = await harness.user_says("/valueslens")
    assert "What piece of work are you looking at?" in cards[-1].text
    assert [i.name for i in cards[-1].inputs] == ["work"]


async def test_lens_asks_each_behaviour_in_turn_with_its_definition(harness: Harness) -> None:
    await harness.user_says("/valueslens")
    seen = []
    card = (await harness.user_says(WORK))[-1]
    for _ in BEHAVIOURS:
        seen.append(card.title)
        assert f'How well does "{WORK}" show this today?' in card.text
        assert [c.label for c in card.choices] == [
            "Strongly",
            "Partly",
            "Not yet",
            "Not relevant",
            "Cancel",
        ]
        card = (await harness.click("Partly"))[-1]
    assert seen == BEHAVIOURS
    assert card.title == "One action"
    first = harness.cards()[1]
    assert "Everything we do is directly connected to our purpose" in first.text


async def complete_checkin(harness: Harness, user: str = "alice") -> Card:
    await harness.user_says("/valueslens", user=user)
    await harness.user_says(WORK, user=user)
    await harness.click("Strongly", user=user)
    await harness.click("Partly", user=user, inputs={"note": "we asked two patient reps"})
    await harness.user_says("partly - some evidence", user=user)
    await harness.click("Not yet", user=user)
    await harness.click("Not relevant", user=user)
    await harness.user_says("1", user=user)
    cards = await harness.user_says("Test the draft with two patient representatives", user=user)
    return cards[-1]


async def test_summary_shows_profile_focus_and_action(harness: Harness) -> None:
    summary = await complete_checkin(harness)

    assert summary.title == f'Your values lens on "{WORK}"'
    assert [(b.label, b.caption) for b in summary.bars] == [
        ("Prioritise patients", "strongly"),
        ("Listen and learn", "partly · we asked two patient reps"),
        ("Evidence-based", "partly · some evidence"),
        ("Open and transparent", "not yet"),
        ("Inclusive", "not relevant"),
        ("Strive for improvement", "strongly"),
    ]
    assert [b.value for b in summary.bars] == [2, 1, 1, 0, 0, 2]
    focus, action = summary.fields
    assert focus.label == "Most worth your attention"
    assert focus.value.startswith("We are open and transparent. We are accountable")
    assert action.value == "Test the draft with two patient representatives"
    assert [c.label for c in summary.choices] == ["Save the action as a commitment"]


async def test_completed_checkin_is_stored_and_dialog_state_is_gone(
    harness: Harness, app: App
) -> None:
    await complete_checkin(harness)

    checkins = await rows(app, "SELECT owner, work, action, focus FROM checkins")
    assert checkins == [("alice", WORK, "Test the draft with two patient representatives", "open")]
    ratings = await rows(
        app, "SELECT behaviour, rating, note FROM checkin_ratings ORDER BY behaviour"
    )
    assert ratings == [
        ("evidence", "partly", "some evidence"),
        ("improve", "strongly", ""),
        ("inclusive", "not_relevant", ""),
        ("listen", "partly", "we asked two patient reps"),
        ("open", "not_yet", ""),
        ("patients", "strongly", ""),
    ]
    assert await rows(app, "SELECT * FROM dialog_states") == []


async def test_answered_questions_are_updated_to_show_the_answer(harness: Harness) -> None:
    await harness.user_says("/valueslens")
    await harness.user_says(WORK)
    await harness.click("Partly", inputs={"note": "two reps"})
    update = harness.updates()[-1]
    assert update.title == BEHAVIOURS[0]
    assert update.text == "✓ Partly: two reps"
    assert update.choices == ()


async def test_save_the_action_as_a_commitment_once(harness: Harness, app: App) -> None:
    summary = await complete_checkin(harness)
    await harness.click("Save the action as a commitment", card=summary)
    await harness.click("Save the action as a commitment", card=summary)

    stored = await rows(app, "SELECT owner, text, behaviours, source FROM commitments")
    assert len(stored) == 1
    owner, saved, behaviours, source = stored[0]
    assert (owner, saved) == ("alice", "Test the draft with two patient representatives")
    assert "open" in str(behaviours)
    assert str(source).startswith("lens:")
    saved_card = harness.updates()[-1]
    assert saved_card.choices == ()
    assert "Saved as a commitment" in saved_card.footer


async def test_someone_else_cannot_save_my_action(harness: Harness, app: App) -> None:
    summary = await complete_checkin(harness)
    cards = await harness.click("Save the action as a commitment", card=summary, user="mallory")
    assert "not one of yours" in cards[-1].text
    assert await rows(app, "SELECT * FROM commitments") == []


async def test_cancel_works_at_every_step(harness: Harness, app: App) -> None:
    steps = [[], [WORK], [WORK, "1"], [WORK, "1", "2", "3", "1", "2", "4"]]
    for answers in steps:
        await harness.user_says("/valueslens")
        for answer in answers:
            await harness.user_says(answer)
        cards = await harness.user_says("cancel")
        assert cards[-1].title == "Cancelled"
        assert "Nothing was saved" in cards[-1].text
        assert await rows(app, "SELECT * FROM dialog_states") == []
    await harness.user_says("/valueslens")
    await harness.click("Cancel")
    assert harness.last_card().title == "Cancelled"
    assert await rows(app, "SELECT * FROM checkins") == []


async def test_a_half_finished_checkin_survives_a_restart(
    harness: Harness, app: App, sqlite_url: str, clock: ManualClock
) -> None:
    await harness.user_says("/valueslens")
    await harness.user_says(WORK)
    await harness.click("Strongly")
    await harness.click("Partly")
    await app.close()

    restarted = await build_app(app.settings, clock=clock, prepare=False)
    try:
        again = Harness(restarted)
        welcome = (await again.opens())[-1]
        assert welcome.title == BEHAVIOURS[2]
        assert "Welcome back" in welcome.text
        assert WORK in welcome.text
        cards = await again.click("Not yet")
        assert cards[-1].title == BEHAVIOURS[3]
    finally:
        await restarted.close()


async def test_valueslens_again_resumes_instead_of_starting_over(harness: Harness) -> None:
    await harness.user_says("/valueslens")
    await harness.user_says(WORK)
    await harness.click("Strongly")
    cards = await harness.user_says("/valueslens")
    assert cards[-1].title == BEHAVIOURS[1]
    assert "carrying on from where you were" in cards[-1].text


async def test_a_click_on_an_old_card_is_not_applied_twice(harness: Harness, app: App) -> None:
    await harness.user_says("/valueslens")
    await harness.user_says(WORK)
    first = harness.card_with("Strongly")
    await harness.click("Strongly", card=first)
    cards = await harness.click("Not yet", card=first)
    assert "already answered" in cards[-1].text
    assert cards[-1].title == BEHAVIOURS[1]
    state = await rows(app, "SELECT step, data FROM dialog_states")
    assert state[0][0] == "rate"
    assert '"patients": "strongly"' in str(state[0][1])


async def test_typed_ratings_are_understood(harness: Harness) -> None:
    await harness.user_says("/valueslens")
    await harness.user_says(WORK)
    cards = await harness.user_says("no idea")
    assert "Please pick one of: Strongly, Partly, Not yet, Not relevant." in cards[-1].text
    assert cards[-1].title == BEHAVIOURS[0]
    cards = await harness.user_says("Not yet: no patient input so far")
    assert cards[-1].title == BEHAVIOURS[1]


async def test_the_work_and_action_must_be_given_and_short(harness: Harness) -> None:
    await harness.user_says("/valueslens")
    cards = await harness.click("Next")
    assert "Tell me in a few words" in cards[-1].text
    cards = await harness.user_says("x" * 201)
    assert "Please name the work in 200 characters or fewer (that was 201)." in cards[-1].text
    await harness.user_says(WORK)
    for _ in BEHAVIOURS:
        await harness.click("Strongly")
    cards = await harness.click("Finish")
    assert "Write one thing you will do" in cards[-1].text


async def test_all_strong_has_no_focus(harness: Harness) -> None:
    await harness.user_says(f"/valueslens {WORK}")
    for _ in BEHAVIOURS:
        await harness.click("Strongly")
    summary = (await harness.user_says("Keep doing it"))[-1]
    assert (
        summary.fields[0].value
        == "Every behaviour that applies is shown strongly. Keep it that way."
    )


async def test_history_lists_my_checkins_newest_first(harness: Harness, clock: ManualClock) -> None:
    from datetime import timedelta

    empty = (await harness.user_says("/valueslens history"))[-1]
    assert "no check-ins yet" in empty.text
    await complete_checkin(harness)
    clock.advance(timedelta(days=2))
    await harness.user_says("/valueslens Second piece of work")
    for _ in BEHAVIOURS:
        await harness.click("Strongly")
    await harness.user_says("Share it")
    await complete_checkin(harness, user="bob")

    history = (await harness.user_says("/valueslens history"))[-1]
    assert [f.label for f in history.fields] == [
        "2 Dec 2026 · Second piece of work",
        f"30 Nov 2026 · {WORK}",
    ]
    assert history.fields[1].value.startswith("Focus: Open and transparent.")


async def test_person_and_dialog_keys_are_per_person(harness: Harness, app: App) -> None:
    await harness.user_says("/valueslens", user="alice")
    await harness.user_says("/valueslens", user="bob")
    async with app.database.unit() as stores:
        alice = await stores.dialogs.load(DialogKey("console", TENANT, "dm-alice", "alice"))
        bob = await stores.dialogs.load(DialogKey("console", TENANT, "dm-bob", "bob"))
        person = await stores.people.get(PersonKey("console", TENANT, "alice"))
    assert alice is not None
    assert bob is not None
    assert alice.data["dlg_run"] != bob.data["dlg_run"]
    assert person is not None
    assert person.direct_conversation == "dm-alice"


async def test_the_cancel_command_stops_a_checkin(harness: Harness, app: App) -> None:
    await harness.user_says("/valueslens")
    await harness.user_says(WORK)
    cards = await harness.user_says("/valueslens cancel")
    assert cards[-1].title == "Cancelled"
    assert await rows(app, "SELECT * FROM dialog_states") == []


# About 5,000 characters: pasted in by mistake, or on purpose.
LONG_WORK = " ".join(["Winter planning letter"] * 218)
TOO_LONG = "Please name the work in 200 characters or fewer (that was 5,013)."


async def test_over_long_work_is_refused_alike_however_it_is_given(
    harness: Harness, app: App
) -> None:
    assert len(LONG_WORK) == 5_013
    # After /valueslens in a direct chat: told why, and asked for the work again.
    cards = await harness.user_says(f"/valueslens {LONG_WORK}")
    assert cards[-1].text.startswith(TOO_LONG)
    assert "What piece of work are you looking at?" in cards[-1].text
    # Typed as the answer, and in the question's text box.
    assert (await harness.user_says(LONG_WORK))[-1].text.startswith(TOO_LONG)
    cards = await harness.click("Next", inputs={"work": LONG_WORK})
    assert cards[-1].text.startswith(TOO_LONG)
    [(step, data)] = await rows(app, "SELECT step, data FROM dialog_states")
    assert step == "work"
    assert '"work": ""' in str(data)
    # After /valueslens in a channel: told privately, with the form to name it again.
    cards = await harness.user_says(f"/valueslens {LONG_WORK}", channel="team-x")
    assert cards[-1].title == "Team values lens"
    assert cards[-1].text.startswith(TOO_LONG)
    assert [i.name for i in cards[-1].inputs] == ["work"]
    # In that form.
    cards = await harness.click("Start", channel="team-x", inputs={"work": LONG_WORK})
    assert cards[-1].text.startswith(TOO_LONG)
    assert harness.public("team-x") == []
    assert await rows(app, "SELECT count(*) FROM team_checkins") == [(0,)]


async def test_work_of_exactly_the_limit_is_taken(harness: Harness, app: App) -> None:
    work = "w" * 200
    cards = await harness.user_says(f"/valueslens {work}")
    assert cards[-1].title == BEHAVIOURS[0]
    await harness.user_says(f"/valueslens {work}", channel="team-x")
    assert harness.public("team-x")[-1].title == f"Team values lens: {work}"
    assert await rows(app, "SELECT work FROM team_checkins") == [(work,)]


async def test_cancel_on_a_card_of_a_cancelled_checkin_leaves_the_new_one(
    harness: Harness, app: App
) -> None:
    await harness.user_says(f"/valueslens {WORK}")
    first = harness.card_with("Cancel")
    await harness.click("Cancel", card=first)
    assert harness.last_card().title == "Cancelled"
    await harness.user_says("/valueslens Second piece of work")
    await harness.click("Strongly")
    before = await rows(app, "SELECT step, data, version FROM dialog_states")

    cards = await harness.click("Cancel", card=first)

    assert [c.title for c in cards] == [BEHAVIOURS[1]]
    assert cards[-1].text.startswith(
        "That card is from a conversation that is over or was cancelled, so it changes "
        'nothing. You are in the middle of a values lens check-in on "Second piece of work". '
        "Here is where you are now:"
    )
    assert await rows(app, "SELECT step, data, version FROM dialog_states") == before
    # The card shown is the current one: its buttons carry on the second check-in.
    cards = await harness.click("Partly", card=cards[-1])
    assert cards[-1].title == BEHAVIOURS[2]
    # Typing "cancel" still stops the check-in under way.
    assert (await harness.user_says("cancel"))[-1].title == "Cancelled"
    assert await rows(app, "SELECT * FROM dialog_states") == []


async def test_other_buttons_of_a_finished_checkin_change_nothing(
    harness: Harness, app: App
) -> None:
    await harness.user_says(f"/valueslens {WORK}")
    first = harness.card_with("Strongly")
    await harness.user_says("cancel")
    await harness.user_says("/valueslens Second piece of work")
    before = await rows(app, "SELECT step, data, version FROM dialog_states")

    cards = await harness.click("Not yet", card=first)

    assert [c.title for c in cards] == [BEHAVIOURS[0]]
    assert "over or was cancelled, so it changes nothing" in cards[-1].text
    assert await rows(app, "SELECT step, data, version FROM dialog_states") == before


async def test_cancel_on_an_earlier_card_of_the_same_checkin_changes_nothing(
    harness: Harness, app: App
) -> None:
    await harness.user_says(f"/valueslens {WORK}")
    first = harness.card_with("Cancel")
    await harness.click("Strongly")
    before = await rows(app, "SELECT step, data, version FROM dialog_states")

    cards = await harness.click("Cancel", card=first)

    assert [c.title for c in cards] == [BEHAVIOURS[1]]
    assert cards[-1].text.startswith(
        "That card is out of date, so nothing was cancelled. Cancel on this one stops "
        f'a values lens check-in on "{WORK}". Here is where you are now:'
    )
    assert await rows(app, "SELECT step, data, version FROM dialog_states") == before
    await harness.click("Cancel", card=cards[-1])
    assert harness.last_card().title == "Cancelled"
    assert await rows(app, "SELECT * FROM dialog_states") == []


async def test_a_card_clicked_after_its_checkin_ended_says_so(harness: Harness, app: App) -> None:
    await harness.user_says(f"/valueslens {WORK}")
    first = harness.card_with("Cancel")
    await harness.user_says("cancel")

    cards = await harness.click("Cancel", card=first)

    assert [(c.title, c.text) for c in cards] == [
        (
            "That has finished",
            "The conversation this card belonged to is over or was cancelled.",
        )
    ]
    assert await rows(app, "SELECT * FROM dialog_states") == []
