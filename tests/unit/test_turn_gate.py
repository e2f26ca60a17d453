"""The gate that lets turns run their unit of work: a few at a time while requests are being
acknowledged, more otherwise, in the order they came, with no place lost to a cancelled turn."""

from __future__ import annotations

import asyncio

from bot.dispatch import TurnGate


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Turns:
    """Turns that enter the gate and stay inside until released."""

    def __init__(self, gate: TurnGate) -> None:
        self.gate = gate
        self.inside: list[int] = []
        self.release = asyncio.Event()

    async def turn(self, n: int) -> None:
        async with self.gate:
            self.inside.append(n)
            await self.release.wait()

    def start(self, count: int) -> list[asyncio.Task[None]]:
        return [asyncio.create_task(self.turn(n)) for n in range(count)]


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
