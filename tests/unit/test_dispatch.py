"""The dispatcher: retries handled once, failures roll back and apologise, logs stay clean."""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

import pytest

from bot.app import App
from bot.dispatch import TurnGate
from bot.events import ActionSubmitted, Actor, CardPosted, CommandReceived, MessageReceived
from bot.turn import Turn
from bot.ui import Card
from dialogs.barometer import cards as barometer_cards
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness, where


def command(text: str, event_id: str | None = None, user: str = "alice") -> CommandReceived:
    name, _, rest = text.lstrip("/").partition(" ")
    return CommandReceived(
        conversation=where(user, None),
        actor=Actor(id=user, name=user),
        event_id=event_id or uuid.uuid4().hex,
        command=name,
        text=rest,
    )


async def test_a_retried_event_is_handled_once(harness: Harness, app: App) -> None:
    first = await harness.send(command("/valueslens Budget paper", event_id="Ev-1"))
    retry = await harness.send(command("/valueslens Budget paper", event_id="Ev-1"))
    assert first[-1].title == "We prioritise patients in every decision we take"
    assert retry == []
    assert await rows(
        app, "SELECT platform, event_id FROM processed_events WHERE event_id = 'Ev-1'"
    ) == [("console", "Ev-1")]


async def test_a_failing_handler_rolls_back_and_apologises(harness: Harness, app: App) -> None:
    async def explode(turn: Turn[CommandReceived]) -> None:
        await turn.stores.meta.put("half-done", "yes")
        raise RuntimeError("bug")

    app.dispatcher.router.command("explode", explode)
    cards = await harness.send(command("/explode", event_id="Ev-2"))
    assert cards[-1].title == "Sorry, something went wrong on our side"
    assert "Nothing you said was lost" in cards[-1].text
    assert await rows(app, "SELECT * FROM meta WHERE key = 'half-done'") == []
    # Not recorded as handled, so the platform's retry gets another chance.
    assert await rows(app, "SELECT * FROM processed_events WHERE event_id = 'Ev-2'") == []


async def test_one_log_line_per_event_without_what_people_wrote(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    secret_work = "Restructuring the Leeds team quietly"
    caplog.set_level(logging.INFO)
    await harness.send(command(f"/valueslens {secret_work}"))
    await harness.send(
        MessageReceived(
            conversation=where("alice", None),
            actor=Actor(id="alice"),
            event_id="m1",
            text="not yet - nobody outside the team knows",
        )
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "valuesbot.events"]
    assert len(lines) == 2
    assert "kind=CommandReceived outcome=ok handler=valueslens" in lines[0]
    assert "dialog=values_lens step=rate" in lines[1]
    assert "duration_ms=" in lines[1]
    everything = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert secret_work not in everything
    assert "nobody outside" not in everything
    ids = [re.search(r"request_id=([0-9a-f]{12}) ", line) for line in lines]
    assert all(ids)
    assert ids[0].group(1) != ids[1].group(1)  # type: ignore[union-attr]


async def test_metrics_count_events(harness: Harness, app: App) -> None:
    await harness.user_says("/values")
    await harness.user_says("/values")
    value = app.dispatcher.metrics.registry.get_sample_value(
        "valuesbot_events_total",
        {"platform": "console", "kind": "CommandReceived", "outcome": "ok"},
    )
    assert value == 2


async def test_unknown_commands_and_stray_messages_get_help(harness: Harness) -> None:
    cards = await harness.user_says("/frobnicate")
    assert cards[-1].text == "I don't know /frobnicate. Type /values to see what I can do."
    cards = await harness.user_says("what is this?")
    assert "Type /valueslens" in cards[-1].text
    cards = await harness.user_says("/values")
    assert "/valueslens history" in [f.label for f in cards[-1].fields]
    cards = await harness.user_says("/values behaviours")
    assert len(cards[-1].fields) == 6


async def test_cards_asked_to_be_remembered_are_announced_where_they_landed(
    harness: Harness, app: App
) -> None:
    heard: list[tuple[str, str, str, str]] = []

    async def show(turn: Turn[CommandReceived]) -> None:
        turn.reply(Card(title="for everyone"), remember="demo:shared")
        turn.reply(Card(title="for you"), private=True, remember="demo:private")
        turn.reply(Card(title="not kept"))
        turn.post(where("alice", "elsewhere"), Card(title="posted"), remember="demo:posted")

    async def posted(turn: Turn[CardPosted]) -> None:
        event = turn.event
        heard.append((event.key, event.conversation.conversation, event.message.id, event.actor.id))
        turn.reply(Card(title="nobody waits for this"))  # dropped: nobody is waiting there

    app.dispatcher.router.command("showcards", show)
    app.dispatcher.router.posted("demo:", posted)
    before = len(harness.outbound.seen)
    await harness.send(
        CommandReceived(
            conversation=where("bob", "team-y"),
            actor=Actor(id="bob"),
            event_id="Ev-cards",
            command="showcards",
        )
    )
    # The private reply gave no reference; the shared one and the post did, once each.
    assert heard == [
        ("demo:shared", "team-y", str(before + 1), "bob"),
        ("demo:posted", "elsewhere", str(before + 4), "bob"),
    ]
    assert [s.card.title for s in harness.outbound.seen[before:]] == [
        "for everyone",
        "for you",
        "not kept",
        "posted",
    ]


async def test_a_person_is_not_queued_behind_a_burst_of_poll_answers(
    harness: Harness, app: App
) -> None:
    """Poll answers are patient turns: a command that comes while thousands of them wait for
    the gate runs as soon as a place is free, and the answers follow."""
    ran: list[str] = []
    hold = asyncio.Event()

    async def answer(turn: Turn[ActionSubmitted]) -> None:
        ran.append(turn.event.event_id)
        await hold.wait()

    async def lens(turn: Turn[CommandReceived]) -> None:
        ran.append(turn.event.event_id)

    dispatcher = app.dispatcher
    dispatcher.router.action("poll.answer", answer, patient=True)
    dispatcher.router.command("look", lens)
    dispatcher.gate = TurnGate(most=1, few=1)

    def click(n: int) -> ActionSubmitted:
        user = f"p{n}"
        return ActionSubmitted(
            conversation=where(user, None),
            actor=Actor(id=user, name=user),
            event_id=f"answer-{n}",
            action="poll.answer",
            values={},
        )

    answers = [asyncio.create_task(dispatcher.handle(click(n))) for n in range(4)]
    for _ in range(20):
        await asyncio.sleep(0)
        if ran:
            break
    person = asyncio.create_task(dispatcher.handle(command("/look", event_id="person")))
    await asyncio.sleep(0.05)
    assert ran == ["answer-0"]  # the first answer holds the one place
    hold.set()
    await asyncio.gather(*answers, person)
    assert ran == ["answer-0", "person", "answer-1", "answer-2", "answer-3"]
    handled = await rows(app, "SELECT event_id FROM processed_events ORDER BY event_id")
    assert handled == [(f"answer-{n}",) for n in range(4)] + [("person",)]


def test_the_barometer_answer_is_the_patient_click_of_the_bot(app: App) -> None:
    router = app.dispatcher.router
    assert router.patient_actions == {barometer_cards.ANSWER}
    base = {"conversation": where("alice", None), "actor": Actor(id="alice"), "event_id": "e"}
    assert app.dispatcher.patient(ActionSubmitted(action=barometer_cards.ANSWER, **base))
    assert not app.dispatcher.patient(ActionSubmitted(action=barometer_cards.CHANGE, **base))
    assert not app.dispatcher.patient(command("/barometer"))
