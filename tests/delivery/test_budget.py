"""Instances sharing a workspace's budget: slots from the database, calls on their slots.

Each test runs ``SharedBudget``s on one SQLite database on a clock of its own (a sleep moves
it on), so the times below are exact.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import AsyncIterator

import pytest

from bot.delivery.limits import (
    ALONE_HEADROOM,
    HEADROOM,
    MOST_LATE,
    SHARED_SECONDS,
    SHORTEST_WAIT,
    LeadTimes,
    PlatformLimits,
    SharedBudget,
)
from storage.engine import Database

BUCKET = "slack:T1"
LIMITS = PlatformLimits(rate=20.0)  # five slots a chunk, 1/19 s apart
STEP = LIMITS.interval / HEADROOM


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def wall(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)


@pytest.fixture
async def database(sqlite_url: str) -> AsyncIterator[Database]:
    db = Database(sqlite_url)
    yield db
    await db.dispose()


def budget(database: Database, clock: Clock) -> SharedBudget:
    return SharedBudget(database, wall=clock.wall, sleep=clock.sleep)


async def test_instances_take_turns_and_a_late_call_waits_for_a_fresh_slot(
    database: Database,
) -> None:
    clock = Clock()
    first, second = budget(database, clock), budget(database, clock)
    start = clock.now

    assert await first.acquire(BUCKET, LIMITS) == start
    # The second instance's slots come after the first one's five.
    late_slot = await second.acquire(BUCKET, LIMITS, lead=1.0)
    assert late_slot == pytest.approx(start + 5 * STEP)
    assert second.shared(BUCKET)

    # Its send is held up past the slot by more than MOST_LATE: it does not go then, when it
    # would meet the other instance's calls, but on the next slot of its own.
    clock.now = late_slot + MOST_LATE + 0.01
    await second.space(BUCKET, LIMITS, late_slot)
    assert clock.now == pytest.approx(late_slot + STEP)

    # A call on time goes on its slot, not before.
    slot = await second.acquire(BUCKET, LIMITS, lead=0.5)
    assert clock.now == pytest.approx(slot - 0.5)
    await second.space(BUCKET, LIMITS, slot)
    assert clock.now == pytest.approx(slot)


async def test_alone_a_late_call_goes_at_once(database: Database) -> None:
    clock = Clock()
    alone = budget(database, clock)
    first = await alone.acquire(BUCKET, LIMITS)
    assert alone.shared(BUCKET)  # others may be starting too: it cannot tell yet
    for n in range(1, 6):
        assert await alone.acquire(BUCKET, LIMITS) == pytest.approx(first + n * STEP)
    clock.now += SHARED_SECONDS
    # Its slots follow its own: nobody else takes any.
    following = await alone.acquire(BUCKET, LIMITS)
    assert not alone.shared(BUCKET)

    clock.now = following + 0.2
    await alone.space(BUCKET, LIMITS, following)
    assert clock.now == pytest.approx(following + 0.2)


async def test_calls_on_their_slots_are_never_held(database: Database) -> None:
    # 50 a second: the slots come 1/47.5 s apart, and every call goes on its own.
    clock = Clock()
    alone = budget(database, clock)
    limits = PlatformLimits(rate=50.0)
    late = []
    for _ in range(200):
        slot = await alone.acquire(BUCKET, limits)
        await alone.space(BUCKET, limits, slot)
        late.append(clock.now - slot)
    assert max(late) <= SHORTEST_WAIT


@pytest.mark.parametrize("rate", [5.0, 50.0, 0.5])
async def test_calls_that_bunch_keep_the_headroom_of_the_platforms_second(
    database: Database, rate: float
) -> None:
    # Calls that come all at once (no slots: a stalled instance catching up) go at the planned
    # pace on the whole, and no more of them than the platform takes in a second come within
    # 1/HEADROOM of a second: a call may reach the platform that much later than those after
    # it and still not be over the limit.
    clock = Clock()
    alone = budget(database, clock)
    limits = PlatformLimits(rate=rate)
    times = []
    for _ in range(300):
        await alone.space(BUCKET, limits)
        times.append(clock.now)
    most = max(1, int(rate))
    spans = [times[i + most] - times[i] for i in range(len(times) - most)]
    assert min(spans) >= most / rate / HEADROOM - SHORTEST_WAIT
    assert min(b - a for a, b in itertools.pairwise(times)) >= 0.5 / rate - SHORTEST_WAIT
    whole = most * ((len(times) - 1) // most)  # whole runs of the window: bursts, then waits
    assert whole / (times[whole] - times[0]) == pytest.approx(rate * HEADROOM, rel=0.001)


async def test_an_instance_plans_nearer_the_limit_alone_than_beside_others(
    database: Database,
) -> None:
    clock = Clock()
    first, second = budget(database, clock), budget(database, clock)
    limits = PlatformLimits(rate=50.0)

    async def step(instance: SharedBudget, calls: int) -> float:
        """The usual time between its next ``calls`` slots (within a run of them)."""
        slots = [await instance.acquire(BUCKET, limits) for _ in range(calls)]
        return statistics.median(b - a for a, b in itertools.pairwise(slots))

    # Its first slots: it cannot tell yet whether it is alone.
    assert await step(first, 30) == pytest.approx(limits.interval / HEADROOM)
    clock.now += SHARED_SECONDS
    assert await step(first, 200) == pytest.approx(limits.interval / ALONE_HEADROOM)
    assert not first.shared(BUCKET)

    # Another instance takes slots of the same bucket: both plan 95% from their next run.
    await step(second, 12)
    await step(first, 12)
    assert first.shared(BUCKET)
    assert second.shared(BUCKET)
    assert await step(first, 48) == pytest.approx(limits.interval / HEADROOM)
    assert await step(second, 48) == pytest.approx(limits.interval / HEADROOM)


def test_the_lead_follows_what_the_work_before_a_call_took() -> None:
    lead = LeadTimes()
    assert lead.lead == 0.05
    for _ in range(20):
        lead.took(0.002)
    assert lead.lead == 0.05
    for _ in range(60):
        lead.took(0.3)
    assert lead.lead == pytest.approx(0.31)
    for _ in range(64):
        lead.took(5.0)
    assert lead.lead == 1.0
