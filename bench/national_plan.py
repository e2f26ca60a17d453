"""A national round at the platform's limit (issue 8, item 2): 1.3 million people on one Teams
tenant at 50 requests a second, in simulated time.

What the bot does (bot/delivery/, ``Barometer.open_round``): when the round opens it queues
the question card for everyone at once, one outbox message each; the delivery worker sends
them at 97% of the tenant's limit (``ALONE_HEADROOM``: one instance, alone on the tenant's
budget; 95% beside others), only in each person's working hours
(``VALUESBOT_WORKING_HOURS``, default Mon-Fri 09:00-17:00, in their time zone) and within their
weekly cap (``VALUESBOT_WEEKLY_CAP``, 3: the question is one, the round's reminders at most two
more). There are no cohorts planned in advance: the queue is sent oldest first, and whoever is
not reached before working hours end waits for the next working morning. So the cohorts are the
working days: this benchmark computes them (the plan), then checks them, and the ETA that
``valuesbot deliveries`` shows, against a run.

The run is compressed, and says so: 1.3 million sends at 48.5 a second take 7.4 hours, and
one machine cannot run the real worker that long for a benchmark. So ``--scale`` (default 500)
divides the people and the rate by the same factor (2,600 people at 0.1 a second): the run
then lasts, in simulated time, what the national one lasts. (The rate ``valuesbot deliveries``
shows is counted over the last five minutes: 28 messages at this scale, so it is a few percent
coarser than at full scale, where five minutes hold 14,250.) The product's own
``DeliveryWorker`` sends them (claims, working hours, weekly caps, the shared rate budget, the
start and finish of every send, on SQLite), driven by a ``ManualClock`` and a simulated wall
clock: its waits for a slot move the clock instead of sleeping, and when nothing is due the
clock jumps to the next message's time (the night, the weekend). The platform is a mock Teams
outbound that accepts at most the scaled limit (50 requests in any ``scale`` simulated seconds)
and answers 429 beyond it. Every simulated hour the ETA is read the way ``valuesbot
deliveries`` reads it (``stores.outbox.progress`` and ``bot.delivery.progress``), with the
working hours and without them (as the command showed it before they were taken into
account), and compared with the time the run actually finished: the ratio is the time the ETA
said was left over the time that was. What is not simulated: network latency, more than one
instance, people in other time zones, replies and reminders arriving meanwhile.

Run from the repository root::

    .venv/bin/python -m bench.national_plan                   # 1.3 million, scale 500
    .venv/bin/python -m bench.national_plan --scale 2000      # quicker (650 people)

Writes ``bench/results/national_plan.json`` and prints the tables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
from collections import Counter, deque
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any
from zoneinfo import ZoneInfo

from prometheus_client import CollectorRegistry

from bench.common import machine
from bot.app import App, build_app, delivery_config
from bot.clock import ManualClock
from bot.delivery import fan_out
from bot.delivery.hours import WorkingHours
from bot.delivery.limits import ALONE_HEADROOM
from bot.delivery.progress import estimate, table
from bot.delivery.worker import DeliveryMetrics, DeliveryWorker
from bot.events import Event, MessageRef, Platform
from bot.outbound import RateLimited, Reply
from bot.settings import Settings
from bot.ui import Card
from storage import migrate
from storage.people import Person, PersonKey

RESULTS = Path(__file__).parent / "results" / "national_plan.json"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PERIOD = "2026-12"
JOB = f"barometer:{PERIOD}"
CARD = Card(title="Staff barometer", text="My work is making a positive difference to the NHS.")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.national_plan", description=__doc__)
    parser.add_argument("--people", type=int, default=1_300_000, help="people asked")
    parser.add_argument("--rate", type=float, default=50.0, help="the tenant's limit, a second")
    parser.add_argument(
        "--scale", type=int, default=500, help="people and rate divided by this in the run"
    )
    parser.add_argument("--hours", default="Mon-Fri 09:00-17:00", help="VALUESBOT_WORKING_HOURS")
    parser.add_argument("--timezone", default="Europe/London", help="VALUESBOT_TIMEZONE")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    args = parser.parse_args(argv)
    if args.scale < 1 or args.people // args.scale < 1:
        parser.error("--scale must leave at least one person")
    return args


def plan(
    people: int, per_second: float, opens: datetime, hours: WorkingHours, zone: ZoneInfo
) -> list[dict[str, Any]]:
    """The working days a fan-out of ``people`` at ``per_second`` takes from ``opens``: for
    each, when sending starts and stops, and how many it reaches."""
    days: list[dict[str, Any]] = []
    left = people
    moment = opens
    while left > 0:
        start = hours.next_open(moment, zone)
        local = start.astimezone(zone)
        day_end = (
            datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
            if hours.end == time.max
            else datetime.combine(local.date(), hours.end, tzinfo=zone)
        )
        window = (day_end - start).total_seconds()
        reached = min(left, math.floor(window * per_second))
        ends = start + timedelta(seconds=reached / per_second)
        days.append(
            {
                "day": local.strftime("%a %d %b"),
                "starts": local.strftime("%H:%M"),
                "ends": ends.astimezone(zone).strftime("%H:%M"),
                "people": reached,
            }
        )
        left -= reached
        moment = day_end
    return days


class SimulatedTime:
    """A ``ManualClock`` and a wall clock in epoch seconds that move together, and a sleep that
    moves them instead of waiting."""

    def __init__(self, start: datetime) -> None:
        self.clock = ManualClock(start)
        self.slept = 0.0

    def wall(self) -> float:
        return self.clock.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.clock.advance(timedelta(seconds=seconds))
            self.slept += seconds
        await asyncio.sleep(0)


class LimitedTeams:
    """A Teams tenant as the bot's outbound sees it: accepts at most ``limit`` direct messages
    in any ``window`` simulated seconds and answers 429 beyond that."""

    def __init__(self, time_: SimulatedTime, limit: int, window: float) -> None:
        self.time = time_
        self.limit = limit
        self.window = window
        self.recent: deque[float] = deque()
        self.accepted: list[tuple[float, str]] = []
        self.throttled = 0

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        now = self.time.wall()
        while self.recent and self.recent[0] <= now - self.window:
            self.recent.popleft()
        if len(self.recent) >= self.limit:
            self.throttled += 1
            raise RateLimited(1.0)
        self.recent.append(now)
        self.accepted.append((now, key or ""))
        return MessageRef(id=f"m{len(self.accepted)}")

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        raise NotImplementedError

    async def replace(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    async def post(self, *args: Any, **kwargs: Any) -> MessageRef | None:
        raise NotImplementedError

    async def was_sent(self, *args: Any, **kwargs: Any) -> bool | None:
        return None


def _when(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).strftime("%a %d %b %H:%M")


async def simulate(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """The compressed run: the product's worker sends the scaled round in simulated time."""
    zone = ZoneInfo(args.timezone)
    hours = WorkingHours.parse(args.hours)
    people = args.people // args.scale
    rate = args.rate / args.scale
    url = f"sqlite+aiosqlite:///{folder / 'plan.db'}"
    settings = Settings.from_env(
        {
            "DATABASE_URL": url,
            "VALUESBOT_PSEUDONYM_SECRET": "bench-national-plan-0123456789",
            "VALUESBOT_ANSWER_KEY": "bench-national-plan-answer-key-0123456789",
            "VALUESBOT_TEAMS_RATE": repr(rate),
            "VALUESBOT_WORKING_HOURS": args.hours,
            "VALUESBOT_TIMEZONE": args.timezone,
            # One send at a time: the simulated clock moves for the one that waits.
            "VALUESBOT_DELIVERY_CONCURRENCY": "1",
        }
    )
    await migrate.upgrade(url)
    opens_at = datetime(2026, 11, 30, 12, tzinfo=zone)  # placeholder until the app says
    sim = SimulatedTime(opens_at)
    app: App = await build_app(settings, clock=sim.clock, prepare=False)
    opens_at = app.barometer.timetable.opens(PERIOD)
    sim.clock.set(opens_at)
    teams = LimitedTeams(sim, limit=round(args.rate), window=float(args.scale))
    app.dispatcher.connect(Platform.TEAMS, teams)
    worker = DeliveryWorker(
        database=app.database,
        dispatcher=app.dispatcher,
        clock=sim.clock,
        config=delivery_config(settings),
        metrics=DeliveryMetrics(CollectorRegistry()),
        instance="simulated",
        wall=sim.wall,
    )
    worker.budget.sleep = sim.sleep
    snapshots: list[dict[str, Any]] = []
    started = perf_counter()
    try:
        async with app.database.unit() as stores:
            await fan_out(
                stores,
                job=JOB,
                people=[PersonKey("teams", TENANT, f"29:{n}") for n in range(1, people + 1)],
                card=CARD,
                now=sim.clock.now(),
            )
        checkpoint = opens_at + timedelta(minutes=15)
        while True:
            now = sim.clock.now()
            if now >= checkpoint:
                async with app.database.unit() as stores:
                    (progress,) = await stores.outbox.progress(now, job=JOB)
                with_hours = estimate(progress, now, hours, zone)
                before = estimate(progress, now)
                snapshots.append(
                    {
                        "at": now,
                        "sent": progress.sent,
                        "left": progress.remaining,
                        "per_minute": round(with_hours.per_minute, 2),
                        "eta": with_hours.eta,
                        "eta_before": before.eta,
                        "note": with_hours.note,
                        "deliveries": table([progress], now, zone, hours).splitlines()[1],
                    }
                )
                while checkpoint <= now:
                    checkpoint += timedelta(hours=1)
            if await worker.run_once():
                continue
            async with app.database.unit() as stores:
                (progress,) = await stores.outbox.progress(sim.clock.now(), job=JOB)
            if progress.remaining == 0:
                break
            # Nothing due now (the night, the weekend): on to the next message's time, or the
            # next checkpoint if sooner.
            upcoming = progress.next_waiting_at or sim.clock.now() + timedelta(seconds=1)
            sim.clock.set(max(min(upcoming, checkpoint), sim.clock.now()))
    finally:
        await app.close()
    seconds = perf_counter() - started
    sent_at = [datetime.fromtimestamp(t, zone) for t, _ in teams.accepted]
    finished = max(sent_at)
    by_day = Counter(t.strftime("%a %d %b") for t in sent_at)
    for snap in snapshots:
        snap["actual_left_hours"] = round((finished - snap["at"]).total_seconds() / 3600, 2)
        for key in ("eta", "eta_before"):
            eta = snap[key]
            snap[f"{key}_ratio"] = (
                None
                if eta is None or finished <= snap["at"]
                else round((eta - snap["at"]) / (finished - snap["at"]), 3)
            )
            snap[key] = None if eta is None else _when(eta, zone)
        snap["at"] = _when(snap["at"], zone)
    return {
        "opens_at": opens_at,
        "people": people,
        "rate_per_second": rate,
        "opens": _when(opens_at, zone),
        "finished": _when(finished, zone),
        "simulated_hours": round((finished - opens_at).total_seconds() / 3600, 2),
        "sent": len(teams.accepted),
        "duplicates": len(teams.accepted) - len({k for _, k in teams.accepted}),
        "throttled_429": teams.throttled,
        "real_seconds": round(seconds, 1),
        "per_day": [{"day": d, "people": n} for d, n in sorted(by_day.items(), key=_day_order)],
        "snapshots": snapshots,
    }


def _day_order(item: tuple[str, int]) -> datetime:
    return datetime.strptime(f"2026 {item[0]}", "%Y %a %d %b")


async def run(args: argparse.Namespace) -> dict[str, Any]:
    zone = ZoneInfo(args.timezone)
    hours = WorkingHours.parse(args.hours)
    planned = args.rate * ALONE_HEADROOM
    with tempfile.TemporaryDirectory(prefix="valuesbot-plan-", dir=args.folder) as folder:
        run_ = await simulate(args, Path(folder))
    opens = run_.pop("opens_at")
    days = plan(args.people, planned, opens, hours, zone)
    for day in days:
        day["run_people_scaled"] = next(
            (d["people"] * args.scale for d in run_["per_day"] if d["day"] == day["day"]), 0
        )
    return {
        "benchmark": "national_plan",
        "date": datetime.now(zone).isoformat(timespec="seconds"),
        "machine": machine(),
        "people": args.people,
        "limit_per_second": args.rate,
        "planned_per_second": round(planned, 3),
        "working_hours": str(hours),
        "timezone": args.timezone,
        "weekly_cap": Settings.model_fields["weekly_cap"].default,
        "sending_hours": round(args.people / planned / 3600, 2),
        "working_days": len(days),
        "plan": days,
        "scale": args.scale,
        "run": run_,
    }


def report(result: dict[str, Any]) -> str:
    run_ = result["run"]
    lines = [
        f"national round at the platform limit: {result['people']:,} people on one Teams "
        f"tenant, limit {result['limit_per_second']:g}/s, the bot plans "
        f"{result['planned_per_second']:g}/s; working hours {result['working_hours']} "
        f"{result['timezone']}; weekly cap {result['weekly_cap']}",
        f"sending time {result['sending_hours']} h over {result['working_days']} working "
        f"day(s); the round opens {run_['opens']}",
        f"{'working day':<14}{'starts':>8}{'ends':>8}{'plan':>12}{'run x scale':>14}",
    ]
    for day in result["plan"]:
        lines.append(
            f"{day['day']:<14}{day['starts']:>8}{day['ends']:>8}{day['people']:>12,}"
            f"{day['run_people_scaled']:>14,}"
        )
    lines += [
        f"compressed run: {run_['people']:,} people at {run_['rate_per_second']:g}/s "
        f"(scale 1/{result['scale']}), finished {run_['finished']} "
        f"({run_['simulated_hours']} simulated hours, {run_['real_seconds']} s real); sent "
        f"{run_['sent']:,}, duplicates {run_['duplicates']}, 429s {run_['throttled_429']}",
        f"{'at':<18}{'left':>7}{'/min':>7}  {'ETA shown':<18}{'ratio':>6}  "
        f"{'ETA before':<18}{'ratio':>6}  actual left h",
    ]
    for snap in run_["snapshots"]:
        lines.append(
            f"{snap['at']:<18}{snap['left']:>7}{snap['per_minute']:>7.1f}  "
            f"{snap['eta'] or snap['note']:<18}{_ratio(snap['eta_ratio']):>6}  "
            f"{snap['eta_before'] or '-':<18}{_ratio(snap['eta_before_ratio']):>6}  "
            f"{snap['actual_left_hours']}"
        )
    return "\n".join(lines)


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _memory_folder() -> str | None:
    """Where the run's SQLite file goes: in memory where the machine offers it (/dev/shm), so
    the run measures the plan, not the disk."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    args.folder = _memory_folder()
    result = asyncio.run(run(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(report(result))
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
