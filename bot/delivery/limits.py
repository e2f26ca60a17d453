"""Send budgets shared by every instance: how fast the bot may post to a platform.

The platforms limit an app per workspace or tenant and per conversation (Slack: about one
message a second per channel and "several hundred a minute" per workspace; Teams: 50 requests
a second per app per tenant and 7 a second per conversation). Several ``valuesbot serve``
processes share those limits, so the budget lives in the database (``rate_buckets``): each
bucket row holds the time of its next free slot (GCRA), and an instance reserves a short run of
slots at once (a quarter of a second's worth) with one atomic update, then spaces its sends to
those slots, planning to use 97% of the limit alone and 95% while other instances send too (the
rest absorbs network and scheduling jitter, and the lateness of another instance's calls).
Instances never hold the same slot, so together they never go faster than the limit, however
many there are; an idle instance takes nothing. A 429 pauses the bucket for
every instance for the ``Retry-After`` and slows it a little for a while.

Slots are wall-clock epoch seconds: instances on several machines need synchronised clocks
(NTP keeps them within milliseconds, far below one slot).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from storage.engine import Database

# How much budget an instance reserves in one go (seconds' worth): small enough that an
# instance that stops leaves little unused, large enough that fast platforms need few writes.
CHUNK_SECONDS = 0.25
# While other instances share a bucket, a call goes at most this long after its slot, or it
# waits for a fresh one (the missed slot is left unused). Each instance keeps its own calls
# within the limit with HEADROOM's margin (``within``), but only the slots keep instances
# apart: a call late by more than the headroom's share of a second (1/0.95 - 1: 53 ms) meets
# calls another instance makes on time, and together they go over the limit as the platform
# counts arrivals. Three instances at 50 a second, their calls up to half a second late, were
# answered 429 (bench/instances.py); the rest of the 53 ms is for the network.
MOST_LATE = 0.03
# Reserved slots older than this are dropped instead of used late, so a stalled instance never
# catches up with a burst (``MOST_LATE`` while other instances share the bucket).
STALE_SECONDS = 0.5
# A bucket counts as shared for this long after another instance was seen taking its slots.
SHARED_SECONDS = 5.0
# A send begins this long before its slot, at least, so that its "start" transaction (a few
# milliseconds; a hundred and more on a busy machine, hence ``LeadTimes``) is over when the
# slot comes, and the call is not late; and at most this long (a "sending" row waits so long).
SHORTEST_LEAD = 0.05
LONGEST_LEAD = 1.0
# The share of a workspace's or tenant's limit the bot plans to use while other instances take
# slots of the same bucket: the rest absorbs the jitter between our clock and the moment the
# platform counts a request (event-loop and network delays) and the lateness of the other
# instances' calls (up to ``MOST_LATE``). The platforms count requests in sliding one-second
# windows, and one 429 pauses the bucket and slows it for a while, so a little headroom costs
# far less than going over.
HEADROOM = 0.95
# The share an instance plans to use while it is the only one sending to a bucket: only the
# jitter between its own calls and the platform's count of them is left to absorb, and the
# headroom's share of a second (1/0.97 - 1: 31 ms) is still several times what it was measured
# at (4 ms, bench/fanout.py at 50 a second). At 50 a second the two points reach 6,500 people
# about four seconds sooner.
ALONE_HEADROOM = 0.97
# A wait shorter than this is not slept: the event loop wakes sleepers no sooner than its next
# pass (a millisecond or more), so at hundreds of sends a second sleeping for each slot would
# cap the rate at one send per pass of the loop. The spacing in ``space`` (``within``) still holds.
SHORTEST_WAIT = 0.003
# After a 429 (and its Retry-After), the bucket runs at 80% of its speed for this long: enough
# not to run straight into the limit again, little enough that one 429 costs a fan-out little.
RECOVERY_SECONDS = 20.0


@dataclass(frozen=True, slots=True)
class PlatformLimits:
    """One platform's limits: sends per second per workspace/tenant and per conversation
    (0 for no per-conversation limit)."""

    rate: float
    conversation_rate: float = 0.0

    @property
    def interval(self) -> float:
        """Seconds between two sends of one workspace or tenant."""
        return 1.0 / self.rate

    @property
    def conversation_interval(self) -> float:
        """Seconds between two sends to one conversation (0 when unlimited)."""
        return 1.0 / self.conversation_rate if self.conversation_rate > 0 else 0.0


def tenant_bucket(platform: str, tenant: str) -> str:
    """The budget of a workspace or tenant."""
    return f"{platform}:{tenant}"


def conversation_bucket(platform: str, tenant: str, conversation: str) -> str:
    """The budget of one conversation (a person's direct chat is named after the person)."""
    return f"{platform}:{tenant}:{conversation}"


class LeadTimes:
    """How long before its slot a send should begin: longer than the work before its call
    (its "start" transaction) took for 90% of the recent sends."""

    def __init__(self, kept: int = 64) -> None:
        self._recent: deque[float] = deque(maxlen=kept)
        self.lead = SHORTEST_LEAD

    def took(self, seconds: float) -> None:
        """One send's work before its call took ``seconds``."""
        self._recent.append(seconds)
        ordered = sorted(self._recent)
        usual = ordered[int(0.9 * (len(ordered) - 1))]
        self.lead = min(LONGEST_LEAD, max(SHORTEST_LEAD, usual + 0.01))


def within(limits: PlatformLimits, headroom: float) -> tuple[int, float]:
    """How many calls an instance may make to a workspace or tenant in how many seconds: the
    calls the platform takes in a second (at least one), in the time they take at the planned
    pace (``headroom`` of the limit). At 50 a second and 95%: 50 calls in 1.053 s, so that the
    51st comes a second and 53 ms after the first: a call may reach the platform 53 ms later
    than the ones after it and none is over the limit. At 5 a second: 5 calls in 1.053 s (not
    4 in one: that was 80% of the limit, where the slots plan 95%)."""
    most = max(1, math.floor(limits.rate))
    return most, most * limits.interval / headroom


class SharedBudget:
    """Paces this instance's sends to slots reserved from the shared buckets."""

    def __init__(
        self,
        database: Database,
        *,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.database = database
        self.wall = wall
        self.sleep = sleep
        self._slots: dict[str, deque[float]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._calls: dict[str, deque[float]] = {}
        self._reserved_until: dict[str, float] = {}
        self._shared_until: dict[str, float] = {}

    def lead(self, bucket: str, lead: float) -> float:
        """How long before its slot a send to ``bucket`` begins: ``lead`` while the bucket is
        shared (so that its call is on time), none otherwise (alone, a late call still goes,
        and a send waiting for its slot would hold a place among the sends under way)."""
        return lead if self.shared(bucket) else 0.0

    def headroom(self, bucket: str) -> float:
        """The share of the limit this instance plans to use of ``bucket`` now: nearer the limit
        only once it knows it is alone (it has taken slots, and seen nobody else take any)."""
        alone = bucket in self._reserved_until and not self.shared(bucket)
        return ALONE_HEADROOM if alone else HEADROOM

    def shared(self, bucket: str) -> bool:
        """Whether another instance has taken slots of ``bucket`` lately (``SHARED_SECONDS``)."""
        return self.wall() < self._shared_until.get(bucket, -math.inf)

    async def acquire(self, bucket: str, limits: PlatformLimits, lead: float = 0.0) -> float:
        """Wait for this instance's next slot in ``bucket`` (until ``lead`` seconds before it);
        the slot (wall-clock seconds)."""
        lock = self._locks.setdefault(bucket, asyncio.Lock())
        async with lock:
            slots = self._slots.setdefault(bucket, deque())
            while True:
                now = self.wall()
                missed = now - (MOST_LATE if self.shared(bucket) else STALE_SECONDS)
                while slots and slots[0] < missed:
                    slots.popleft()
                if slots:
                    slot = slots.popleft()
                    break
                headroom = self.headroom(bucket)
                count = max(1, int(limits.rate * headroom * CHUNK_SECONDS))
                async with self.database.unit() as stores:
                    first, step = await stores.delivery.take_slots(
                        bucket, count, limits.interval / headroom, now
                    )
                # The bucket's next free slot was past both now and the end of this instance's
                # own last run of slots: another instance holds the slots in between. Until
                # this instance has taken slots twice, it cannot tell: others may be starting.
                ours = self._reserved_until.get(bucket)
                if ours is None or first > max(now, ours) + step / 2:
                    self._shared_until[bucket] = now + SHARED_SECONDS
                self._reserved_until[bucket] = first + count * step
                slots.extend(first + i * step for i in range(count))
            delay = slot - lead - self.wall()
            if delay > SHORTEST_WAIT:
                await self.sleep(delay)
            return slot

    async def space(self, bucket: str, limits: PlatformLimits, slot: float | None = None) -> None:
        """Right before each call: wait for its ``slot`` (from ``acquire``), or for a fresh one
        if it would go more than ``MOST_LATE`` after it while other instances share the bucket;
        and keep this instance's calls to ``bucket`` at least half an interval apart and never
        more of them than the platform takes in a second within a second and the headroom
        (``within``): the slots' own pace, so on time they are never held, and the headroom's
        share of a second left for the jitter between a call and the platform's count of it,
        however the calls bunch. The slot is taken before the send's "start" transaction, whose
        duration varies (a busy database, a busy event loop): sends held up together would
        otherwise reach the platform together, over its limit (answered 429)."""
        window = self._calls.setdefault(bucket, deque())
        while True:
            now = self.wall()
            most, span = within(limits, self.headroom(bucket))
            if slot is not None:
                if now - slot > MOST_LATE and self.shared(bucket):
                    slot = await self.acquire(bucket, limits)
                    continue
                if slot - now > SHORTEST_WAIT:
                    await self.sleep(slot - now)
                    continue
            while window and window[0] <= now - span:
                window.popleft()
            wait = window[0] + span - now if len(window) >= most else 0.0
            if window:
                wait = max(wait, window[-1] + limits.interval / 2 - now)
            if wait <= SHORTEST_WAIT:
                # Measured when the call goes, not when it was planned: a busy event loop
                # wakes several sleepers at once, and they must not all go together.
                window.append(now)
                if len(window) > most:
                    window.popleft()
                return
            await self.sleep(wait)

    async def penalise(self, bucket: str, retry_after: float) -> None:
        """The platform answered 429: pause the bucket for every instance."""
        self._slots.pop(bucket, None)
        async with self.database.unit() as stores:
            await stores.delivery.slow_down(
                bucket, self.wall(), max(retry_after, 0.0), RECOVERY_SECONDS
            )
