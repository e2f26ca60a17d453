"""The audit trail: every comms and admin action is recorded with who, what and when, by the
command, the click or the timetable, never with what anyone wrote."""

from __future__ import annotations

from datetime import timedelta

from bot.app import App
from bot.clock import ManualClock
from tests.dialogs.test_case_studies import TITLE, submit_in_conversation
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness

CAROL = "console:test:carol"


async def trail(app: App) -> list[tuple[str, str]]:
    async with app.database.unit() as stores:
        return [(e.actor, e.action) for e in await stores.records.audit_since(None, 100)]


async def test_comms_actions_are_recorded_with_who_and_what(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await harness.user_says("/values", user="alice")
    await harness.user_says("/barometer open", user="carol")
    await harness.user_says("/barometer remind", user="carol")
    clock.advance(timedelta(minutes=1))
    await harness.user_says("/barometer close", user="carol")

    await submit_in_conversation(harness)
    await harness.deliver_outbox()
    await harness.click("Approve", user="carol", card=harness.last_card(user="carol"))

    await harness.user_says("/digest schedule #values weekly monday 09:00", user="carol")
    await harness.user_says("/digest pause", user="carol")
    await harness.user_says("/digest resume", user="carol")
    await harness.user_says("/digest send-now", user="carol")
    await harness.user_says("/digest cancel", user="carol")

    # One moment on the test's clock: entries made at the same instant come in any order.
    assert sorted(await trail(app)) == sorted(
        [
            (CAROL, "barometer.open"),
            (CAROL, "barometer.remind"),
            (CAROL, "barometer.close"),
            (CAROL, "casestudy.approved"),
            (CAROL, "digest.schedule"),
            (CAROL, "digest.pause"),
            (CAROL, "digest.resume"),
            (CAROL, "digest.send"),
            (CAROL, "digest.cancel"),
        ]
    )
    subjects = [str(s) for (s,) in await rows(app, "SELECT subject FROM audit_log")]
    assert "2026-11" in subjects
    assert all(TITLE not in s and "alice" not in s for s in subjects)


async def test_the_timetable_is_recorded_as_the_schedule(app: App, clock: ManualClock) -> None:
    await app.ensure_schedules()
    async with app.database.unit() as stores:
        await app.barometer.tick(stores, clock.now())
        await app.barometer.open_round(stores, clock.now())
    assert ("schedule", "barometer.open") in await trail(app)
