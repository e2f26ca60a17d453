"""People's time, with a controlled clock: working hours in each person's own time zone, and a
weekly cap across all features."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.app import App
from bot.clock import ManualClock
from bot.delivery import to_person
from bot.events import Actor, ConversationKind, ConversationRef, Platform
from bot.ui import Card
from storage.people import PersonKey
from tests.harness import TENANT, Harness

CARD = Card(title="Staff barometer", text="How is it going?")
ALICE = PersonKey("console", TENANT, "alice")  # no time zone known: the organisation's
BOB = PersonKey("console", TENANT, "bob")  # in New York


async def meet(app: App, who: str, timezone: str | None) -> None:
    async with app.database.unit() as stores:
        await stores.people.seen(
            ConversationRef(
                platform=Platform.CONSOLE,
                tenant=TENANT,
                conversation=f"dm-{who}",
                kind=ConversationKind.DIRECT,
            ),
            Actor(id=who, name=who.capitalize(), timezone=timezone),
            app.clock.now(),
        )


async def send(app: App, *messages: object) -> None:
    async with app.database.unit() as stores:
        for message in messages:
            assert await stores.outbox.enqueue(message, app.clock.now())  # type: ignore[arg-type]


def received(harness: Harness) -> list[str | None]:
    return [s.key for s in harness.outbound.seen]


async def queued_until(app: App) -> dict[str, datetime]:
    from sqlalchemy import text

    async with app.database.engine.connect() as connection:
        found = await connection.execute(
            text("SELECT key, next_attempt_at FROM outbox WHERE status = 'queued'")
        )
        return {
            key: (at if isinstance(at, datetime) else datetime.fromisoformat(at)).replace(
                tzinfo=UTC
            )
            for key, at in found
        }


async def test_messages_wait_for_working_hours_in_each_persons_time_zone(
    app: App, harness: Harness, clock: ManualClock
) -> None:
    await meet(app, "alice", None)
    await meet(app, "bob", "America/New_York")
    clock.set(datetime(2026, 12, 5, 10, 0, tzinfo=UTC))  # a Saturday
    await send(app, to_person("a", "poll", ALICE, CARD), to_person("b", "poll", BOB, CARD))

    await app.delivery.drain()
    assert received(harness) == []
    assert await queued_until(app) == {
        "a": datetime(2026, 12, 7, 9, 0, tzinfo=UTC),  # Monday 09:00 in London (GMT)
        "b": datetime(2026, 12, 7, 14, 0, tzinfo=UTC),  # Monday 09:00 in New York
    }

    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    await app.delivery.drain()
    assert received(harness) == ["a"]

    clock.set(datetime(2026, 12, 7, 14, 0, tzinfo=UTC))
    await app.delivery.drain()
    assert sorted(received(harness)) == ["a", "b"]


async def test_working_hours_follow_the_clock_change(
    app: App, harness: Harness, clock: ManualClock
) -> None:
    # Friday 27 March 2027, 17:30 GMT; the clocks go forward on Sunday.
    clock.set(datetime(2027, 3, 26, 17, 30, tzinfo=UTC))
    await send(app, to_person("a", "poll", ALICE, CARD))
    await app.delivery.drain()
    # Monday 09:00 British Summer Time is 08:00 UTC.
    assert await queued_until(app) == {"a": datetime(2027, 3, 29, 8, 0, tzinfo=UTC)}


async def test_the_weekly_cap_defers_the_rest_to_next_week(
    app: App, harness: Harness, clock: ManualClock
) -> None:
    # Monday 30 November 2026, 09:30 London; the default cap is 3 a week, across features.
    jobs = ["barometer", "reminder", "digest", "nudge", "reminder-2"]
    await send(app, *(to_person(job, job, ALICE, CARD) for job in jobs))
    await send(app, to_person("welcome", "welcome", ALICE, CARD, counts_towards_cap=False))

    await app.delivery.drain()
    assert sorted(received(harness)) == ["barometer", "digest", "reminder", "welcome"]
    next_monday = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert await queued_until(app) == {"nudge": next_monday, "reminder-2": next_monday}

    clock.advance(next_monday - clock.now())
    await app.delivery.drain()
    assert sorted(received(harness)[4:]) == ["nudge", "reminder-2"]

    from sqlalchemy import text

    async with app.database.engine.connect() as connection:
        weeks = (
            await connection.execute(text("SELECT week, messages FROM person_weeks ORDER BY 1"))
        ).all()
    assert weeks == [("2026-W49", 3), ("2026-W50", 2)]


async def test_channel_posts_and_messages_told_to_ignore_hours_go_at_night(
    app: App, harness: Harness, clock: ManualClock
) -> None:
    from bot.delivery import to_channel

    clock.set(datetime(2026, 12, 5, 23, 0, tzinfo=UTC))
    await send(
        app,
        to_channel("digest", "digest", "console", TENANT, "general", CARD),
        to_person("urgent", "urgent", ALICE, CARD, respect_working_hours=False),
    )
    await app.delivery.drain()
    assert sorted(received(harness)) == ["digest", "urgent"]
