"""The console chat in-process: typed lines in, terminal text out, two people in one channel."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from adapters.console.app import ConsoleChat, ScriptedLines
from bot.app import App, build_app
from bot.clock import ManualClock
from storage.barometer import BarometerAnswer
from tests.contract.test_barometer import answers_now
from tests.dialogs.test_values_lens import rows


async def chat(app: App, lines: Sequence[str], *, user: str, channel: str | None = None) -> str:
    output: list[str] = []
    console = ConsoleChat(
        app, user=user, channel=channel, source=ScriptedLines(lines), write=output.append, echo=True
    )
    await console.run()
    return "\n".join(output)


async def test_a_personal_checkin_in_the_terminal(app: App) -> None:
    out = await chat(
        app,
        [
            "/valueslens",
            "Drafting the allocation guidance",
            "1",
            "2 we asked two patient reps",
            "partly - some evidence",
            "3",
            "4",
            "1",
            "Test the draft with two patient representatives",
            "1",
        ],
        user="Alice",
    )
    assert "┌─ Hello Alice" in out
    assert "│ Prioritise patients     ██████████  strongly" in out
    assert "│ Listen and learn        █████░░░░░  partly · we asked two patient reps" in out
    assert "│ Most worth your attention: We are open and transparent." in out
    assert "✓ Saved as a commitment" in out
    assert await rows(app, "SELECT owner, focus FROM checkins") == [("alice", "open")]
    assert await rows(app, "SELECT owner, source LIKE 'lens:%' FROM commitments") == [("alice", 1)]


async def test_two_people_in_one_channel(app: App) -> None:
    await chat(app, ["/valueslens Winter planning letter"], user="Alice", channel="team-x")
    bob = await chat(
        app, ["/valueslens", "1", "1", "2", "3", "1", "2", "4"], user="Bob", channel="team-x"
    )
    assert "Team values lens: Winter planning letter" in bob
    assert "Thanks, your ratings are in. 1 person has answered so far." in bob
    alice = await chat(
        app, ["/valueslens", "1", "1", "1", "1", "3", "2", "4", "2"], user="Alice", channel="team-x"
    )
    assert "┌─ Team values lens results: Winter planning letter" in alice
    assert "│ Evidence-based          █████░░░░░  1 strongly, 1 not yet" in alice
    assert "Bob" not in alice.split("Team values lens results")[1]
    # Bob's next visit shows what was posted in the channel while he was away.
    later = await chat(app, [], user="Bob", channel="team-x")
    assert "Team values lens results: Winter planning letter" in later


async def test_a_team_card_that_closed_by_itself_is_shown_changed(
    app: App, clock: ManualClock
) -> None:
    output: list[str] = []
    bob = ConsoleChat(
        app, user="Bob", channel="team-x", source=ScriptedLines([]), write=output.append
    )
    await bob.run()  # Bob's terminal joins the channel, and stays open
    await chat(app, ["/valueslens Winter planning letter"], user="Alice", channel="team-x")
    await bob.drain()
    assert "┌─ Team values lens: Winter planning letter" in output[-1]
    assert bob.last is not None  # a typed number would answer the team card
    [(card_post,)] = await rows(app, "SELECT card_message FROM team_checkins")

    clock.advance(timedelta(hours=25))
    await app.housekeeping()
    await app.delivery.drain()
    [(checkin,)] = await rows(app, "SELECT id FROM team_checkins")
    assert await rows(
        app, "SELECT replaces, outbox_key FROM console_posts WHERE replaces IS NOT NULL"
    ) == [(card_post, f"team-lens:{checkin}:closed-card")]
    # Bob's terminal, still open, prints the change and the results from the feed.
    output.clear()
    await bob.drain()
    assert output[:2] == [
        "(a card above has changed)",
        "  Team values lens: Winter planning letter: This team check-in has closed. Its results "
        "are posted in the channel; type /valueslens results there to see them again.",
    ]
    assert "┌─ Team values lens results: Winter planning letter" in output[2]
    assert bob.last is None  # the closed card answers nothing


async def test_cancel_while_filling_a_card_sends_nothing(app: App) -> None:
    await chat(app, ["/valueslens Letter"], user="Alice", channel="team-x")
    out = await chat(app, ["/valueslens", "1", "1", "cancel"], user="Bob", channel="team-x")
    assert "(stopped; nothing was sent)" in out
    assert await rows(app, "SELECT * FROM team_ratings") == []


async def test_a_restart_resumes_the_checkin_at_the_same_step(app: App) -> None:
    await chat(app, ["/valueslens", "Budget paper", "1", "2"], user="Alice")
    again = await build_app(app.settings, clock=app.clock, prepare=False)
    try:
        out = await chat(again, ["3"], user="Alice")
    finally:
        await again.close()
    welcome = out.split("Alice> 3")[0]
    assert "Welcome back. You were in the middle of a values lens check-in on" in welcome
    assert "┌─ We are evidence-based" in welcome
    assert "We are evidence-based: ✓ Not yet" in out


async def test_a_commitment_in_the_terminal(app: App) -> None:
    out = await chat(
        app,
        [
            "/commitment",
            "test every draft with patients",
            "1",
            "2 4",
            "In a month",
            "/commitment list",
        ],
        user="Alice",
    )
    assert "Which of our behaviours does it show? (one or more numbers, e.g. 1 3)" in out
    assert "│ Behaviours: Listen and learn, Open and transparent" in out
    words = " ".join(out.replace("│", " ").split())
    assert "My contribution is to test every draft with patients" in words
    assert "1. test every draft with patients: open · Listen and learn, Open and" in words
    assert await rows(app, "SELECT behaviours FROM commitments") == [('["listen", "open"]',)]


async def test_the_barometer_in_the_terminal(app: App) -> None:
    for person in ("Alice", "Bob", "Dan", "Erin", "Fay"):
        await chat(app, ["/values"], user=person)
    opened = await chat(app, ["/barometer open"], user="Carol")
    assert "The questions are queued for 6 people" in opened
    # The delivery worker sends the polls to each person's direct chat (the terminal's feed).
    await app.delivery.drain()
    out = await chat(app, ["1", "4", "5", "", "Proud of the team"], user="Bob")
    assert "┌─ Staff barometer:" in out
    assert "Where do you work? (optional, for breakdowns) (Enter to skip)" in out
    assert "┌─ Thank you: Staff barometer:" in out
    assert "1) Change my answer" in out
    # The answer waits, sealed, for a batch of others (opened here with the key: tests only).
    assert await rows(app, "SELECT count(*) FROM barometer_responses") == [(0,)]
    [waiting] = (await answers_now(app.database)).values()
    assert waiting == BarometerAnswer(
        values={"nhs": "agree", "organisation": "strongly_agree"}, comment="Proud of the team"
    )
