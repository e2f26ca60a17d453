"""The gate that lets turns run their unit of work: a few at a time while requests are being
acknowledged, more otherwise, in the order they came (patient turns after every other), with no
place lost to a cancelled turn."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from bot.clock import ManualClock
from bot.dialogs import DialogRunner
from bot.dispatch import Dispatcher, TurnGate
from bot.router import Router
from storage.engine import Database


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Turns:
    """Turns that enter the gate and stay inside until released."""

    def __init__(self, gate: TurnGate) -> None:
        self.gate = gate
        self.inside: list[int] = []
        self.release = asyncio.Event()

    async def turn(self, n: int, patient: bool = False) -> None:
        async with self.gate.enter(patient=patient) if patient else self.gate:
            self.inside.append(n)
            await self.release.wait()

    def start(self, count: int, first: int = 0, patient: bool = False) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.turn(n, patient)) for n in range(first, first + count)]


async def test_at_most_most_turns_run_and_the_rest_follow_in_order() -> None:
    gate = TurnGate(most=3, few=1)
    turns = Turns(gate)
    tasks = turns.start(5)
    await settle()
    assert turns.inside == [0, 1, 2]
    turns.release.set()
    await asyncio.gather(*tasks)
    assert turns.inside == [0, 1, 2, 3, 4]
    assert gate.running == 0


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_while_acknowledging_only_a_few_turns_are_let_in() -> None:
    clock = Clock()
    gate = TurnGate(most=4, few=1, quiet=0.01, now=clock)
    turns = Turns(gate)
    with gate.acknowledging():
        tasks = turns.start(4)
        await settle()
        assert turns.inside == [0]  # the loop answers the platform first
    await settle()
    assert turns.inside == [0]  # a burst has gaps: one answer written is not its end
    clock.now += 0.02
    await asyncio.sleep(0.02)  # the gate's timer: no request for ``quiet`` seconds
    assert turns.inside == [0, 1, 2, 3]  # the others go in, though no turn has left
    turns.release.set()
    await asyncio.gather(*tasks)
    assert gate.running == 0


async def test_a_turn_leaving_after_the_burst_lets_the_others_in() -> None:
    clock = Clock()
    gate = TurnGate(most=3, few=1, quiet=60.0, now=clock)
    turns = Turns(gate)
    with gate.acknowledging():
        tasks = turns.start(3)
        await settle()
    clock.now += 61
    turns.release.set()
    await asyncio.gather(*tasks)
    assert turns.inside == [0, 1, 2]
    assert gate.running == 0


async def test_a_cancelled_waiting_turn_loses_no_place() -> None:
    gate = TurnGate(most=1, few=1)
    turns = Turns(gate)
    first, second, third = turns.start(3)
    await settle()
    second.cancel()
    await settle()
    turns.release.set()
    await asyncio.gather(first, third)
    assert second.cancelled()
    assert turns.inside == [0, 2]
    assert gate.running == 0


async def test_a_turn_goes_in_before_the_patient_ones_that_came_before_it() -> None:
    gate = TurnGate(most=2, few=1)
    turns = Turns(gate)
    answers = turns.start(5, patient=True)  # a poll's answers, 0-4
    await settle()
    assert turns.inside == [0, 1]
    person = turns.start(2, first=10)  # then people in a conversation with the bot
    await settle()
    assert gate.waiting == 5
    turns.release.set()
    await asyncio.gather(*answers, *person)
    assert turns.inside == [0, 1, 10, 11, 2, 3, 4]
    assert gate.running == 0
    assert gate.waiting == 0


async def test_while_acknowledging_the_one_place_goes_to_a_person_first() -> None:
    clock = Clock()
    gate = TurnGate(most=4, few=1, quiet=0.01, now=clock)
    turns = Turns(gate)
    with gate.acknowledging():
        answers = turns.start(3, patient=True)
        await settle()
        person = turns.start(1, first=10)
        await settle()
        assert turns.inside == [0]
        turns.release.set()
        await settle()
        # Each answer leaving lets one turn in: the person's first, the answers after.
        assert turns.inside[:2] == [0, 10]
    await asyncio.gather(*answers, *person)
    assert turns.inside == [0, 10, 1, 2]
    assert gate.running == 0


@pytest.mark.parametrize("gate", ["turns", "intake"])
async def test_while_acknowledging_one_turn_runs_on_sqlite_and_four_on_postgresql(
    database: Database, gate: str
) -> None:
    """On SQLite a turn's statements hold the event loop's thread, so one goes in while requests
    are answered; on PostgreSQL a turn mostly waits for the server, so four do; and as many
    requests are read at once as turns run."""
    dispatcher = Dispatcher(
        database=database,
        router=Router(),
        runner=DialogRunner({}),
        clock=ManualClock(datetime(2026, 12, 7, 9, tzinfo=UTC)),
    )
    turns = Turns(dispatcher.gate if gate == "turns" else dispatcher.intake)
    with dispatcher.acknowledging():
        tasks = turns.start(6)
        await settle()
        assert len(turns.inside) == (1 if database.dialect == "sqlite" else 4)
    turns.release.set()
    await asyncio.gather(*tasks)
    assert turns.inside == list(range(6))
