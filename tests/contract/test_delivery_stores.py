"""The delivery stores' contract, on SQLite and PostgreSQL: disjoint claims, conditional marks,
shared send budgets, weekly caps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.base import ClaimedMessage, OutboxMessage, SendStart
from storage.engine import Database

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
LEASE = NOW + timedelta(minutes=1)


def message(n: int) -> OutboxMessage:
    return OutboxMessage(
        key=f"job:{n}",
        job="job",
        platform="slack",
        tenant="T1",
        recipient=f"U{n}",
        to_person=True,
        card='{"title": "x"}',
    )


async def test_concurrent_claims_are_disjoint_and_marks_need_the_claim(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.outbox.enqueue_many([message(n) for n in range(40)], NOW) == 40
        assert await stores.outbox.enqueue_many([message(n) for n in range(40)], NOW) == 0

    async def claim(owner: str) -> list[ClaimedMessage]:
        async with database.unit() as stores:
            return await stores.delivery.claim(["slack"], owner, NOW, LEASE, 25)

    a, b = await asyncio.gather(claim("a"), claim("b"))
    assert not {m.id for m in a} & {m.id for m in b}
    assert len(a) + len(b) == 40

    first = a[0] if a else b[0]
    thief = "b" if a else "a"
    async with database.unit() as stores:
        started = await stores.delivery.start_send(first, thief, NOW, LEASE, "c", 0.0, 0.0)
        assert started == (SendStart.LOST, None)
    owner = "a" if a else "b"
    async with database.unit() as stores:
        assert (await stores.delivery.start_send(first, owner, NOW, LEASE, "c", 0.0, 0.0))[0] is (
            SendStart.STARTED
        )
        assert not await stores.delivery.mark_sent(first.id, thief, NOW, "ts")
        assert await stores.delivery.mark_sent(first.id, owner, NOW, "ts")
    async with database.unit() as stores:
        assert await stores.delivery.expire_claims(NOW + timedelta(minutes=2)) == 39
        (progress,) = await stores.outbox.progress(NOW, job="job")
    assert (progress.sent, progress.queued) == (1, 39)


async def test_send_budgets_hand_out_consecutive_slots(database: Database) -> None:
    async with database.unit() as stores:
        first = await stores.delivery.take_slots("slack:T1", 5, 0.2, 1000.0)
        second = await stores.delivery.take_slots("slack:T1", 5, 0.2, 1000.1)
    assert first == (1000.0, 0.2)
    assert second[0] == 1001.0
    async with database.unit() as stores:
        await stores.delivery.slow_down("slack:T1", 1001.0, 30.0, 60.0)
        paused = await stores.delivery.take_slots("slack:T1", 2, 0.2, 1002.0)
    assert paused == (1031.0, 0.25)  # paused until Retry-After, then at 80% speed


async def test_the_weekly_cap_is_held_atomically_and_freed_by_a_failure(
    database: Database,
) -> None:
    async with database.unit() as stores:
        for n in range(3):
            await stores.outbox.enqueue(
                OutboxMessage(
                    key=f"k{n}",
                    job="j",
                    platform="slack",
                    tenant="T1",
                    recipient="U1",
                    to_person=True,
                    card="{}",
                ),
                NOW,
            )
        claimed = await stores.delivery.claim(["slack"], "w", NOW, LEASE, 10)
        held = [await stores.delivery.hold_cap(m, "2026-W49", 2) for m in claimed]
        assert held == [True, True, False]
        assert await stores.delivery.fail(claimed[0].id, "w", NOW, "user_not_found")
        again = await stores.delivery.hold_cap(claimed[2], "2026-W49", 2)
    assert again is True


async def test_a_claimed_batch_holds_its_caps_together(database: Database) -> None:
    """Several people at once, one of them with more messages than the cap allows, one already
    at the cap: each message held or not as if held one by one, in order."""
    async with database.unit() as stores:
        await stores.outbox.enqueue_many([message(n) for n in range(4)], NOW)
        for n in range(3):
            extra = OutboxMessage(
                key=f"more:{n}", job="more", platform="slack", tenant="T1", recipient="U1",
                to_person=True, card="{}",
            )  # fmt: skip
            await stores.outbox.enqueue(extra, NOW)
    async with database.unit() as stores:
        full = await stores.delivery.claim(["slack"], "w", NOW, LEASE, 1)
        assert [m.recipient for m in full] == ["U0"]
        assert await stores.delivery.hold_caps([(full[0], "2026-W49")], 1) == [True]
        await stores.delivery.defer(full[0].id, "w", NOW)
    async with database.unit() as stores:
        claimed = await stores.delivery.claim(["slack"], "w", NOW, LEASE, 10)
        held = await stores.delivery.hold_caps([(m, "2026-W49") for m in claimed], 2)
        by_recipient = [(m.recipient, ok) for m, ok in zip(claimed, held, strict=True)]
    # U0 already counted its one message (held again: no second count); U1 has four messages
    # and a cap of two; U2 and U3 one each.
    assert sorted(by_recipient) == sorted(
        [("U0", True), ("U1", True), ("U1", True), ("U1", False), ("U1", False), ("U2", True),
         ("U3", True)]
    )  # fmt: skip
    async with database.unit() as stores:
        weeks = await stores.session.exec(
            text("SELECT person, messages FROM person_weeks ORDER BY person")
        )
        assert [tuple(r) for r in weeks] == [("U0", 1), ("U1", 2), ("U2", 1), ("U3", 1)]
