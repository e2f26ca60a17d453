"""The delivery stores' contract, on SQLite and PostgreSQL: idempotent queueing, disjoint claims,
conditional marks, shared send budgets, weekly caps."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.delivery import ClaimedMessage, OutboxMessage, SendStart, SendToStart
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


async def test_outbox_enqueue_is_idempotent_by_key(database: Database) -> None:
    message = OutboxMessage(
        key="barometer:2027-05:slack:T1:U1",
        job="barometer:2027-05",
        platform="slack",
        tenant="T1",
        recipient="U1",
        to_person=True,
        card='{"title": "Staff barometer"}',
    )
    async with database.unit() as stores:
        assert await stores.outbox.enqueue(message, NOW)
        assert not await stores.outbox.enqueue(message, NOW + timedelta(minutes=1))
    async with database.engine.connect() as connection:
        found = (await connection.execute(text("SELECT key, status, attempts FROM outbox"))).all()
    assert [tuple(r) for r in found] == [("barometer:2027-05:slack:T1:U1", "queued", 0)]


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
    start = SendToStart(message=first, bucket="c", interval=0.0)
    async with database.unit() as stores:
        started = await stores.delivery.start_sends([start], thief, NOW, LEASE, 0.0)
        assert started == [(SendStart.LOST, None)]
    owner = "a" if a else "b"
    async with database.unit() as stores:
        assert await stores.delivery.start_sends([start], owner, NOW, LEASE, 0.0) == [
            (SendStart.STARTED, None)
        ]
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


async def outbox_rows(database: Database) -> list[tuple[str, str, int, str | None, str | None]]:
    async with database.unit() as stores:
        rows = await stores.session.exec(
            text(
                "SELECT recipient, status, attempts, lease_owner, message_id FROM outbox "
                "ORDER BY id"
            )
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


async def test_sends_start_together_each_as_if_alone(database: Database) -> None:
    """One call starts a batch: a message another worker holds is lost; a conversation with no
    room yet is deferred until it has; a second message to a conversation in the same call
    waits one interval behind the first; the rest start, each counting one attempt."""
    async with database.unit() as stores:
        await stores.outbox.enqueue_many([message(n) for n in range(6)], NOW)
        mine = await stores.delivery.claim(["slack"], "w", NOW, LEASE, 5)
        (theirs,) = await stores.delivery.claim(["slack"], "other", NOW, LEASE, 5)
        # U1's conversation sent a moment ago: free again at wall 1000.5.
        await stores.session.exec(
            text("INSERT INTO rate_buckets (bucket, tat, slowed_until) VALUES ('U1', 1000.5, 0)")
        )
    starts = [
        SendToStart(message=mine[0], bucket="U0", interval=1.0),
        SendToStart(message=mine[1], bucket="U1", interval=1.0),
        SendToStart(message=theirs, bucket="U5", interval=1.0),
        SendToStart(message=mine[2], bucket="U2", interval=1.0),
        SendToStart(message=mine[3], bucket="U2", interval=1.0),  # same conversation as U2's
        SendToStart(message=mine[4], bucket="", interval=0.0),  # no budget of its own
    ]
    async with database.unit() as stores:
        started = await stores.delivery.start_sends(starts, "w", NOW, LEASE, 1000.0)
    assert started == [
        (SendStart.STARTED, None),
        (SendStart.DEFERRED, NOW + timedelta(seconds=0.5)),
        (SendStart.LOST, None),
        (SendStart.STARTED, None),
        (SendStart.DEFERRED, NOW + timedelta(seconds=1)),
        (SendStart.STARTED, None),
    ]
    assert await outbox_rows(database) == [
        ("U0", "sending", 1, "w", None),
        ("U1", "queued", 0, None, None),
        ("U2", "sending", 1, "w", None),
        ("U3", "queued", 0, None, None),
        ("U4", "sending", 1, "w", None),
        ("U5", "claimed", 0, "other", None),
    ]
    async with database.unit() as stores:
        buckets = await stores.session.exec(
            text("SELECT bucket, tat FROM rate_buckets ORDER BY bucket")
        )
        assert [tuple(r) for r in buckets] == [("U0", 1001.0), ("U1", 1000.5), ("U2", 1001.0)]


async def test_sent_messages_are_marked_together_with_their_own_ids(database: Database) -> None:
    async with database.unit() as stores:
        await stores.outbox.enqueue_many([message(n) for n in range(4)], NOW)
        claimed = await stores.delivery.claim(["slack"], "w", NOW, LEASE, 3)
        starts = [SendToStart(message=m, bucket=m.recipient, interval=0.0) for m in claimed]
        await stores.delivery.start_sends(starts[:2], "w", NOW, LEASE, 0.0)
    sent = [(claimed[0].id, "1700000000.000100"), (claimed[1].id, None), (claimed[2].id, "x")]
    async with database.unit() as stores:
        assert await stores.delivery.mark_sent_many(sent, "thief", NOW) == [False, False, False]
        # The third was never started: a send that did not begin cannot be marked sent.
        assert await stores.delivery.mark_sent_many(sent, "w", NOW) == [True, True, False]
    assert await outbox_rows(database) == [
        ("U0", "sent", 1, "w", "1700000000.000100"),
        ("U1", "sent", 1, "w", None),
        ("U2", "claimed", 0, "w", None),
        ("U3", "queued", 0, None, None),
    ]


async def test_messages_to_a_leaver_are_cancelled_and_never_claimed(database: Database) -> None:
    from storage.people import PersonKey

    alice = PersonKey("slack", "T1", "U1")
    async with database.unit() as stores:
        await stores.outbox.enqueue_many([message(1), message(2)], NOW)
        assert await stores.outbox.waiting_for(alice) == 1
        assert await stores.outbox.cancel_to(alice, NOW) == 1
        assert await stores.outbox.waiting_for(alice) == 0
    async with database.unit() as stores:
        claimed = await stores.delivery.claim(["slack"], "w1", NOW, LEASE, 10)
    assert [m.recipient for m in claimed] == ["U2"]
    async with database.unit() as stores:
        [progress] = await stores.outbox.progress(NOW, job="job")
    assert (progress.cancelled, progress.in_flight, progress.remaining) == (1, 1, 1)


async def test_erasure_and_retention_of_outbox_rows(database: Database) -> None:
    from storage.people import PersonKey

    alice = PersonKey("slack", "T1", "U1")
    post = OutboxMessage(
        key="commitment-share:m1:1",
        job="commitment-share",
        platform="slack",
        tenant="T1",
        recipient="C1",
        to_person=False,
        card='{"title": "shared"}',
    )
    async with database.unit() as stores:
        await stores.outbox.enqueue_many([message(1), message(2), message(3), post], NOW)
        await stores.session.exec(
            text(
                "INSERT INTO person_weeks (platform, tenant, person, week, messages) VALUES "
                "('slack', 'T1', 'U1', '2026-W40', 1), ('slack', 'T1', 'U2', '2026-W40', 1), "
                "('slack', 'T1', 'U2', '2026-W49', 1)"
            )
        )
        await stores.session.exec(
            text("UPDATE outbox SET status = 'sent', sent_at = :at WHERE key = 'job:2'"),
            params={"at": NOW.replace(tzinfo=None) if database.dialect == "sqlite" else NOW},
        )
    async with database.unit() as stores:
        assert await stores.outbox.forget(alice, ["commitment-share:m1:"]) == 3
    async with database.unit() as stores:
        # Sent before the limit goes; queued stays whatever its age.
        assert await stores.outbox.forget_before(NOW + timedelta(days=1), "2026-W49") == 2
        keys = await stores.session.exec(text("SELECT key FROM outbox ORDER BY key"))
        weeks = await stores.session.exec(text("SELECT person, week FROM person_weeks"))
        assert [k[0] for k in keys] == ["job:3"]
        assert [tuple(w) for w in weeks] == [("U2", "2026-W49")]


async def test_finished_channel_posts_naming_someone_can_be_erased(database: Database) -> None:
    def post(key: str, card: str, tenant: str = "T1") -> OutboxMessage:
        return OutboxMessage(
            key=key,
            job=f"digest:{key}",
            platform="slack",
            tenant=tenant,
            recipient="C1",
            to_person=False,
            card=card,
        )

    async with database.unit() as stores:
        await stores.outbox.enqueue_many(
            [
                post("sent", '{"label": "A commitment from Alice"}'),
                post("queued", '{"label": "A commitment from Alice"}'),
                post("other", '{"label": "A commitment from Bob"}'),
                post("elsewhere", '{"label": "A commitment from Alice"}', tenant="T2"),
            ],
            NOW,
        )
        await stores.session.exec(text("UPDATE outbox SET status = 'sent'"))
        await stores.session.exec(text("UPDATE outbox SET status = 'queued' WHERE key = 'queued'"))
    async with database.unit() as stores:
        assert (
            await stores.outbox.forget_mentions(
                "digest:", "slack", "T1", ["A commitment from Alice", "100%_"]
            )
            == 1
        )
        keys = await stores.session.exec(text("SELECT key FROM outbox ORDER BY key"))
        assert [k[0] for k in keys] == ["elsewhere", "other", "queued"]


async def test_a_change_to_a_posted_message_is_claimed_with_the_message_it_changes(
    database: Database,
) -> None:
    change = OutboxMessage(
        key="team-lens:t1:closed-card",
        job="team-lens:t1",
        platform="slack",
        tenant="T1",
        recipient="C1",
        to_person=False,
        thread="1700000000.000100",
        card='{"title": "closed"}',
        respect_working_hours=False,
        counts_towards_cap=False,
        replaces="1700000000.000200",
    )
    async with database.unit() as stores:
        assert await stores.outbox.enqueue(change, NOW)
        assert await stores.outbox.enqueue(message(1), NOW)
    async with database.unit() as stores:
        claimed = await stores.delivery.claim(["slack"], "w", NOW, LEASE, 10)
    assert {m.key: (m.recipient, m.thread, m.replaces) for m in claimed} == {
        "team-lens:t1:closed-card": ("C1", "1700000000.000100", "1700000000.000200"),
        "job:1": ("U1", None, None),
    }
