"""The team values lens in a channel: private ratings, counts without names, closing."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text

from bot.app import App
from bot.clock import ManualClock
from bot.events import Actor, CardPosted, MessageRef
from bot.ui import Card
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness, where

WORK = "Winter planning letter"
CHANNEL = "team-x"
IDS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]


def ratings(*given: str) -> dict[str, str]:
    return {f"b_{b}": r for b, r in zip(IDS, given, strict=True)}


async def start(harness: Harness, user: str = "alice") -> None:
    await harness.user_says(f"/valueslens {WORK}", user=user, channel=CHANNEL)


async def rate(harness: Harness, user: str, *given: str) -> str:
    cards = await harness.user_says("/valueslens", user=user, channel=CHANNEL)
    team_card = cards[-1]
    cards = await harness.click(
        "Add my ratings", user=user, channel=CHANNEL, inputs=ratings(*given), card=team_card
    )
    return cards[-1].text


async def test_starting_posts_the_team_card_in_the_channel(harness: Harness) -> None:
    await start(harness)
    card = harness.public(CHANNEL)[-1]
    assert card.title == f"Team values lens: {WORK}"
    assert "Started by Alice" in card.text
    assert "Closes Tue 1 Dec at 09:30" in card.text  # 24 hours, London time (GMT in winter)
    assert next(i.label for i in card.inputs) == "We prioritise patients in every decision we take"
    assert [c.label for c in card.choices] == ["Add my ratings", "Close and show results"]


async def test_without_work_it_asks_for_it_privately(harness: Harness, app: App) -> None:
    cards = await harness.user_says("/valueslens", channel=CHANNEL)
    assert cards[-1].title == "Team values lens"
    assert harness.public(CHANNEL) == []
    await harness.click("Start", channel=CHANNEL, inputs={"work": WORK})
    assert harness.public(CHANNEL)[-1].title == f"Team values lens: {WORK}"
    assert await rows(app, "SELECT work, status FROM team_checkins") == [(WORK, "open")]


async def test_two_people_rate_and_the_channel_sees_counts_without_names(
    harness: Harness, app: App
) -> None:
    await start(harness)
    said = await rate(
        harness, "bob", "strongly", "partly", "not_yet", "strongly", "partly", "not_relevant"
    )
    assert "Thanks, your ratings are in. 1 person has answered so far." in said
    said = await rate(
        harness, "alice", "strongly", "strongly", "strongly", "not_yet", "partly", "not_relevant"
    )
    assert "2 people have answered so far" in said
    # Ratings were private replies: nothing about them reached the channel.
    assert len(harness.public(CHANNEL)) == 1

    await harness.click("Close and show results", channel=CHANNEL)
    results, closed = harness.public(CHANNEL)[-2:]
    # The team card clicked says, in place, that it has closed: nothing left to answer.
    assert harness.updates(channel=CHANNEL) == [closed]
    assert closed.title == f"Team values lens: {WORK}"
    assert closed.text == (
        "This team check-in has closed. Its results are posted in the channel; type "
        "/valueslens results there to see them again."
    )
    assert (closed.choices, closed.inputs) == ((), ())
    assert results.title == f"Team values lens results: {WORK}"
    assert results.text.startswith("2 people answered.")
    assert [(b.label, b.caption) for b in results.bars] == [
        ("Prioritise patients", "2 strongly"),
        ("Listen and learn", "1 strongly, 1 partly"),
        ("Evidence-based", "1 strongly, 1 not yet"),
        ("Open and transparent", "1 strongly, 1 not yet"),
        ("Inclusive", "2 partly"),
        ("Strive for improvement", "2 not relevant"),
    ]
    assert 'Talk about "We are evidence-based" first: you see it differently' in results.text
    everything = results.plain_text().lower()
    assert "bob" not in everything
    assert "alice" not in everything.replace("started by alice", "")

    stored = await rows(app, "SELECT DISTINCT member_key FROM team_ratings")
    assert len(stored) == 2
    assert all(key not in ("alice", "bob") and len(str(key)) == 40 for (key,) in stored)
    assert await rows(app, "SELECT status, participants FROM team_checkins") == [("closed", 2)]


async def test_answering_again_replaces_my_ratings(harness: Harness, app: App) -> None:
    await start(harness)
    await rate(harness, "bob", *["not_yet"] * 6)
    said = await rate(harness, "bob", *["strongly"] * 6)
    assert "your ratings are updated. 1 person has answered" in said
    assert await rows(app, "SELECT DISTINCT rating FROM team_ratings") == [("strongly",)]


async def test_every_behaviour_must_be_rated(harness: Harness, app: App) -> None:
    await start(harness)
    team_card = harness.public(CHANNEL)[-1]
    cards = await harness.click(
        "Add my ratings",
        user="bob",
        channel=CHANNEL,
        inputs={"b_patients": "strongly"},
        card=team_card,
    )
    assert "still to rate: Listen and learn, Evidence-based" in cards[-1].text
    assert await rows(app, "SELECT * FROM team_ratings") == []


async def test_only_the_starter_or_an_admin_closes_it(harness: Harness, app: App) -> None:
    await start(harness)
    cards = await harness.click("Close and show results", user="bob", channel=CHANNEL)
    assert cards[-1].title == "Only the starter can close it"
    assert await rows(app, "SELECT status FROM team_checkins") == [("open",)]
    await harness.click("Close and show results", user="admin", channel=CHANNEL)
    assert await rows(app, "SELECT status FROM team_checkins") == [("closed",)]


async def test_with_one_answer_no_results_are_shown(harness: Harness) -> None:
    await start(harness)
    await rate(harness, "bob", *["partly"] * 6)
    await harness.user_says("/valueslens close", channel=CHANNEL)
    results = harness.public(CHANNEL)[-1]
    assert "1 person answered" in results.text
    assert "at least 2 people" in results.text
    assert results.bars == ()


async def test_closes_by_itself_when_time_runs_out(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await start(harness)
    await rate(harness, "bob", *["partly"] * 6)
    await rate(harness, "carol", *["not_yet"] * 6)
    clock.advance(timedelta(hours=23, minutes=59))
    await app.housekeeping()
    assert await rows(app, "SELECT status FROM team_checkins") == [("open",)]
    clock.advance(timedelta(minutes=1))
    await app.housekeeping()
    await app.housekeeping()
    # The results wait in the outbox (queued with the close, so a crash cannot lose them), and
    # so does the change of the card in the channel.
    [(checkin, card_id)] = await rows(app, "SELECT id, card_message FROM team_checkins")
    assert card_id == "1"  # the id the platform gave the team card
    queued = await harness.outbox()
    assert [(q.key, q.job, q.recipient, q.to_person, q.replaces) for q in queued] == [
        (f"team-lens:{checkin}:closed-card", f"team-lens:{checkin}", CHANNEL, False, "1"),
        (f"team-lens:{checkin}:results", f"team-lens:{checkin}", CHANNEL, False, None),
    ]
    await harness.deliver_outbox()
    [changed] = [s for s in harness.outbound.seen if s.message is not None]
    assert (changed.conversation, changed.message, changed.replaced) == (CHANNEL, "1", True)
    assert changed.card == closed_card()
    results = [c for c in harness.public(CHANNEL) if c.title.startswith("Team values lens results")]
    assert len(results) == 1
    assert "the team rates it lowest" in results[0].text
    again = await harness.user_says("/valueslens results", user="erin", channel=CHANNEL)
    assert again[-1] == results[0]
    late = await harness.click(
        "Add my ratings",
        user="dave",
        channel=CHANNEL,
        inputs=ratings(*["strongly"] * 6),
        card=harness.public(CHANNEL)[0],
    )
    # A click on the card as it was (a screen not refreshed yet) turns it closed in place too.
    assert late[-1] == closed_card()
    assert harness.updates(user="dave", channel=CHANNEL) == [closed_card(), late[-1]]


def closed_card() -> Card:
    return Card(
        title=f"Team values lens: {WORK}",
        text="This team check-in has closed. Its results are posted in the channel; type "
        "/valueslens results there to see them again.",
        footer="Counts only, never names.",
    )


async def test_closing_by_command_changes_the_card_in_the_channel_once(
    harness: Harness, app: App
) -> None:
    await start(harness)
    await rate(harness, "bob", *["partly"] * 6)
    await harness.user_says("/valueslens close", channel=CHANNEL)
    # The results answer the command at once; the card's change goes through the outbox.
    assert harness.public(CHANNEL)[-1].title == f"Team values lens results: {WORK}"
    [(checkin,)] = await rows(app, "SELECT id FROM team_checkins")
    [change] = await harness.outbox()
    assert (change.key, change.recipient, change.replaces) == (
        f"team-lens:{checkin}:closed-card",
        CHANNEL,
        "1",
    )
    assert change.card == closed_card()
    # Closing again, or any later turn, queues nothing more.
    await harness.user_says("/valueslens close", channel=CHANNEL)
    await app.housekeeping()
    assert len(await harness.outbox()) == 1
    await harness.deliver_outbox()
    assert [s.card for s in harness.outbound.seen if s.message == "1"] == [closed_card()]


async def test_closing_from_the_card_itself_replaces_it_without_the_outbox(
    harness: Harness, app: App
) -> None:
    await start(harness)
    await harness.click("Close and show results", channel=CHANNEL, card=harness.public(CHANNEL)[0])
    assert harness.updates(channel=CHANNEL) == [closed_card()]
    assert await harness.outbox() == []


async def test_a_card_that_landed_after_its_checkin_closed_is_changed_then(
    harness: Harness, app: App
) -> None:
    await start(harness)
    [(checkin,)] = await rows(app, "SELECT id FROM team_checkins")
    # The check-in closes before the platform's answer about its card was kept.
    async with app.database.unit() as stores:
        await stores.session.exec(text("UPDATE team_checkins SET card_message = NULL"))
    await harness.user_says("/valueslens close", channel=CHANNEL)
    assert await harness.outbox() == []
    await app.dispatcher.handle(
        CardPosted(
            conversation=where("alice", CHANNEL),
            actor=Actor(id="alice"),
            event_id="posted-late",
            key=f"team-lens:{checkin}:card",
            message=MessageRef(id="1"),
        )
    )
    assert await rows(app, "SELECT card_message FROM team_checkins") == [("1",)]
    [change] = await harness.outbox()
    assert (change.key, change.replaces, change.card) == (
        f"team-lens:{checkin}:closed-card",
        "1",
        closed_card(),
    )


async def test_a_card_posted_elsewhere_is_not_taken_for_the_checkins(
    harness: Harness, app: App
) -> None:
    await start(harness)
    [(checkin,)] = await rows(app, "SELECT id FROM team_checkins")
    await app.dispatcher.handle(
        CardPosted(
            conversation=where("alice", "another-channel"),
            actor=Actor(id="alice"),
            event_id="posted-elsewhere",
            key=f"team-lens:{checkin}:card",
            message=MessageRef(id="99"),
        )
    )
    assert await rows(app, "SELECT card_message FROM team_checkins") == [("1",)]


async def test_one_open_team_checkin_per_channel(harness: Harness, app: App) -> None:
    await start(harness)
    cards = await harness.user_says("/valueslens Something else", user="bob", channel=CHANNEL)
    assert f'There is already a team check-in on "{WORK}" here' in cards[-1].text
    assert await rows(app, "SELECT COUNT(*) FROM team_checkins") == [(1,)]


async def test_a_new_team_checkin_after_the_last_closed(harness: Harness, app: App) -> None:
    await start(harness)
    await harness.user_says("/valueslens close", channel=CHANNEL)
    await harness.user_says("/valueslens Next piece", channel=CHANNEL)
    assert await rows(app, "SELECT work, status FROM team_checkins ORDER BY opened_at, status") == [
        (WORK, "closed"),
        ("Next piece", "open"),
    ]
