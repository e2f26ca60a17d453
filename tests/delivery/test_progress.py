"""Progress for comms: counts, rate and ETA, in chat (comms only) and on the command line."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import App
from bot.clock import ManualClock
from bot.delivery import fan_out
from bot.delivery.hours import WorkingHours
from bot.delivery.progress import estimate, table
from bot.ui import Card
from storage.delivery import DeliveryProgress
from tests.delivery.helpers import people
from tests.harness import Harness

LONDON = ZoneInfo("Europe/London")
HOURS = WorkingHours.parse("Mon-Fri 09:00-17:00")


def test_rate_and_eta_come_from_the_last_minutes() -> None:
    now = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    job = DeliveryProgress(
        job="barometer:2027-05",
        queued=3000,
        in_flight=0,
        sent=1500,
        sent_recently=1500,
        created_at=now - timedelta(minutes=10),
    )
    guess = estimate(job, now)
    assert guess.per_minute == 300
    assert guess.eta == now + timedelta(minutes=10)
    assert table([job], now, LONDON).splitlines() == [
        "job                queued  waiting  sent  failed  uncertain  rate/min    ETA",
        "barometer:2027-05    3000        0  1500       0          0       300  10:10",
    ]


def test_a_fan_out_longer_than_a_working_day_is_due_the_next_working_day() -> None:
    # A national round: 1.3 million people at 47.5 a second (95% of Teams' 50), opened at
    # 10:00 on a Monday. 7 hours fit today; the rest goes from 09:00 tomorrow.
    now = datetime(2026, 11, 30, 10, 5, tzinfo=UTC)  # London is on UTC in winter
    job = DeliveryProgress(
        job="barometer:2026-12",
        queued=1_300_000 - 14_250,
        sent=14_250,
        sent_recently=14_250,
        created_at=now - timedelta(minutes=5),
        keeps_hours=True,
    )
    guess = estimate(job, now, HOURS, LONDON)
    assert guess.per_minute == 2850
    # 1,285,750 / 47.5 = 27,068 s: 6 h 55 min until 17:00, then 36 min 8 s on Tuesday.
    assert guess.eta is not None
    assert guess.eta.replace(microsecond=0) == datetime(2026, 12, 1, 9, 36, 8, tzinfo=UTC)
    assert table([job], now, LONDON, HOURS).splitlines()[1].endswith("2850  Tue 01 Dec 09:36")
    # Without the working hours (or for messages that ignore them) it is the old estimate.
    assert estimate(job, now).eta == now + timedelta(seconds=1_285_750 / 47.5)


def test_at_night_the_eta_comes_from_the_jobs_rate_over_the_working_day() -> None:
    # The same round at 20:00: 1,197,000 sent between 10:00 and 17:00, 103,000 waiting for
    # the morning, nothing sent in the last minutes.
    opened = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    night = datetime(2026, 11, 30, 20, 0, tzinfo=UTC)
    job = DeliveryProgress(
        job="barometer:2026-12",
        waiting=103_000,
        sent=1_197_000,
        created_at=opened,
        last_sent_at=datetime(2026, 11, 30, 17, 0, tzinfo=UTC),
        next_waiting_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        keeps_hours=True,
    )
    guess = estimate(job, night, HOURS, LONDON)
    assert guess.per_minute == 0
    assert guess.eta is not None
    assert guess.eta.replace(microsecond=0) == datetime(2026, 12, 1, 9, 36, 8, tzinfo=UTC)
    assert estimate(job, night).note == "waiting"  # without the working hours: no ETA
    assert HOURS.working_seconds(opened, night, LONDON) == 7 * 3600


def test_working_time_stops_at_the_weekend() -> None:
    friday = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)
    assert HOURS.after_working(friday, 2 * 3600, LONDON) == datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert HOURS.after_working(saturday, 60, LONDON) == datetime(2026, 12, 7, 9, 1, tzinfo=UTC)
    always = WorkingHours.parse("Mon-Sun 00:00-24:00")
    assert always.after_working(friday, 3 * 86400, LONDON) == friday + timedelta(days=3)


async def test_comms_see_deliveries_in_chat_and_others_are_told_no(
    app: App, harness: Harness, clock: ManualClock
) -> None:
    async with app.database.unit() as stores:
        await fan_out(
            stores,
            job="barometer:2027-05",
            people=people("console", "test", 4),
            card=Card(title="Staff barometer", text="How is it going?"),
            now=clock.now(),
        )
    clock.set(datetime(2026, 12, 5, 10, 0, tzinfo=UTC))  # Saturday: they wait for Monday

    (refused,) = await harness.user_says("/values deliveries", user="alice")
    assert refused.title == "Only comms can do this"

    (shown,) = await harness.user_says("/values deliveries", user="admin")
    assert shown.title == "Deliveries"
    assert [(f.label, f.value) for f in shown.fields] == [
        (
            "barometer:2027-05",
            "0/4 sent, 4 queued, 0/min, not started",
        )
    ]
    await app.delivery.drain()
    (later,) = await harness.user_says("/values deliveries", user="admin")
    assert later.fields[0].value == (
        "0/4 sent, 0 queued, 4 waiting until Mon 07 Dec 09:00 (working hours or weekly cap), "
        "0/min, waiting"
    )


def test_the_deliveries_command(tmp_path: Path) -> None:
    valuesbot = str(Path(sys.executable).parent / "valuesbot")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'v.db'}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [valuesbot, "deliveries"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "No deliveries yet.\n"
    scheduled = subprocess.run(
        [valuesbot, "schedules", "set", "digest.weekly", "digest.send", "0 9 * * 1"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert scheduled.returncode == 2
    assert "write days of the week as names" in scheduled.stderr
    listed = subprocess.run(
        [valuesbot, "schedules", "set", "digest.weekly", "digest.send", "0 9 * * mon"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert listed.returncode == 0, listed.stderr
    shown = subprocess.run(
        [valuesbot, "schedules"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
        cwd=tmp_path,
    )
    assert shown.stdout.startswith("digest.weekly  digest.send  '0 9 * * mon' Europe/London  next ")
    assert shown.stdout.rstrip().endswith("last never")
