"""Fan-out at the platform limit: a barometer round to 6,500 people, sent by `valuesbot serve`.

What it measures (issue 8, items 2, 3 and the fan-out part of 6): a real ``valuesbot serve``
process (its delivery workers) sends a barometer round, opened the way comms open it
(``valuesbot barometer open`` against the same database while serve runs), to every person it
knows, through the project's mock platform (``tests/mocks``) running in a process of its own and
enforcing the documented limits on real time:

- Slack (``MockSlackApi``): 1 message/s per channel (each person's DM is its own channel) and a
  workspace budget we state: **50 messages/s** (``--rate``), the mock's limit and the bot's
  ``VALUESBOT_SLACK_RATE`` alike. Slack documents only "several hundred messages a minute" per
  workspace; the product's default is 5/s (300/min), at which 6,500 DMs take ~22 minutes, so
  the benchmark states a higher budget to measure the sender. 6,500 at 50/s is ~130 s.
- Teams (``MockBotConnector(limits=True)``): 50 requests/s per tenant, 7/s per conversation.

Answers beyond the limits are HTTP 429 with ``Retry-After``. People are seeded through
``stores.people.seen`` as the adapters record them at first contact (Slack: a DM channel in
the workspace; Teams: a personal conversation reference whose ``serviceUrl`` is the mock
connector, with the tenant and the bot's id). Working hours are set to the whole week
(``VALUESBOT_WORKING_HOURS="Mon-Sun 00:00-24:00"``) so they never delay the round; the weekly
cap (default 3) is not reached by one poll a person.

Reported: recipients, sent, duplicates (a recipient given the poll more than once, from the
mock's record), missed recipients, 429s, achieved rate between the first and the last accepted
send and in the steady state (first and last 5% left out) as a share of the allowed rate
(target >= 90%), time to finish, serve's resident memory idle and at its peak during the fan-out
(target < 250 MB), and the outbox's final state.

``--unlimited``: the mock's limits lifted and the bot's rate and concurrency raised to what the
settings allow (VALUESBOT_SLACK_RATE/VALUESBOT_TEAMS_RATE=1000, VALUESBOT_DELIVERY_CONCURRENCY
64): how many messages a second the bot itself can push from one process (target >= 500/s).

Run from the repository root (PostgreSQL: 127.0.0.1:5432, user postgres):

    .venv/bin/python -m bench.fanout --platform slack --db sqlite
    .venv/bin/python -m bench.fanout --platform teams --db sqlite
    .venv/bin/python -m bench.fanout --platform slack --db postgresql
    .venv/bin/python -m bench.fanout --platform slack --db sqlite --unlimited
    .venv/bin/python -m bench.fanout --platform slack --db sqlite --people 500   # quick

``--profile`` records the serve process with py-spy (``pip install -e .[bench]``) into
``bench/profiles/``. Results: ``bench/results/fanout-PLATFORM-DB[-unlimited].json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information

from bench.common import (
    ANSWER_KEY,
    ROOT,
    MemorySampler,
    cpu_seconds,
    fresh_database,
    machine,
    parser,
    plain_url,
    profiling,
    serving,
    write_result,
)
from tests.e2e.teams_processes import VALUESBOT, clean_env

if TYPE_CHECKING:
    from bot.events import Actor, ConversationRef

SLACK_TEAM = "T0BENCH"
TEAMS_TENANT = "00000000-0000-4000-8000-00000000bench"[:36]
TEAMS_BOT = "28:00000000-0000-4000-8000-000000000b07"
ALL_WEEK = "Mon-Sun 00:00-24:00"
# The most the settings allow (bot/settings.py).
MAX_RATE = 1000
UNLIMITED_CONCURRENCY = 200


# -- the database ---------------------------------------------------------------------------


async def outbox_status(database_url: str, platform: str | None = None) -> dict[str, int]:
    """Outbox rows by status (of one platform's messages, or all), read beside the bot (on SQLite
    without taking the write lock)."""
    where_platform = f"WHERE platform = '{platform}' " if platform else ""
    query = f"SELECT status, COUNT(*) FROM outbox {where_platform}GROUP BY status"
    where = plain_url(database_url)
    if database_url.startswith("sqlite"):

        def read() -> dict[str, int]:
            with sqlite3.connect(f"file:{where}?mode=ro", uri=True, timeout=30) as db:
                return {str(s): int(n) for s, n in db.execute(query)}

        return await asyncio.to_thread(read)
    connection = await asyncpg.connect(where)
    try:
        return {str(r[0]): int(r[1]) for r in await connection.fetch(query)}
    finally:
        await connection.close()


async def seed(url: str, platform: str, people: int, service_url: str) -> None:
    """Everyone the bot knows, as the adapters record people at first contact."""
    from bot.events import Actor, ConversationKind, ConversationRef, Platform

    def person(n: int) -> tuple[ConversationRef, Actor]:
        if platform == "slack":
            user = f"U{n:08d}"
            place = ConversationRef(
                platform=Platform.SLACK,
                tenant=SLACK_TEAM,
                conversation=f"D{n:08d}",
                kind=ConversationKind.DIRECT,
            )
        else:
            user = f"29:bench-{n:06d}"
            place = ConversationRef(
                platform=Platform.TEAMS,
                tenant=TEAMS_TENANT,
                conversation=f"a:bench-direct-{n:06d}",
                kind=ConversationKind.DIRECT,
                service_url=service_url,
                extra={"bot_id": TEAMS_BOT, "bot_name": "valuesbot"},
            )
        return place, Actor(id=user, name=f"Person {n}", timezone="Europe/London")

    await seed_people(url, [person(n) for n in range(people)])


async def seed_people(url: str, people: Sequence[tuple[ConversationRef, Actor]]) -> None:
    """People the bot knows, each with their direct conversation (``stores.people.seen``)."""
    from storage.engine import Database

    database = Database(url)
    now = datetime.now(UTC)
    try:
        for start in range(0, len(people), 500):
            async with database.unit() as stores:
                for place, actor in people[start : start + 500]:
                    await stores.people.seen(place, actor, now)
    finally:
        await database.dispose()


# -- the run -------------------------------------------------------------------------------


async def start_mock(args: argparse.Namespace) -> tuple[asyncio.subprocess.Process, dict[str, str]]:
    command = [sys.executable, "-m", "bench.mock_platform", args.platform]
    if args.platform == "slack":
        command += ["--team", SLACK_TEAM]
        if not args.unlimited:
            command += ["--per-workspace", str(int(args.rate)), "--per-channel", "1"]
    elif not args.unlimited:
        command += ["--limits", "--per-tenant", str(int(args.rate)), "--per-conversation", "7"]
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), 30)
    return process, json.loads(line)


def serve_env(args: argparse.Namespace, database_url: str, mock_url: str) -> dict[str, str]:
    rate = MAX_RATE if args.unlimited else args.rate
    env = {
        "DATABASE_URL": database_url,
        "VALUESBOT_WORKING_HOURS": ALL_WEEK,
        "VALUESBOT_LOG_LEVEL": "WARNING",
        "VALUESBOT_DELIVERY_CONCURRENCY": str(
            args.concurrency or (UNLIMITED_CONCURRENCY if args.unlimited else 8)
        ),
    }
    if args.platform == "slack":
        env |= {
            "SLACK_BOT_TOKEN": "xoxb-bench-token",
            "SLACK_SIGNING_SECRET": "bench-signing-secret",
            "SLACK_API_URL": mock_url,
            "VALUESBOT_SLACK_RATE": f"{rate:g}",
        }
        if args.unlimited:
            env["VALUESBOT_SLACK_CONVERSATION_RATE"] = f"{MAX_RATE}"
    else:
        env |= {
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
            "VALUESBOT_TEAMS_RATE": f"{rate:g}",
        }
        if args.unlimited:
            env["VALUESBOT_TEAMS_CONVERSATION_RATE"] = f"{MAX_RATE}"
    return env


async def run_cli(env: Mapping[str, str], *command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        VALUESBOT,
        *command,
        cwd=ROOT,
        env=clean_env(**{"VALUESBOT_ANSWER_KEY": ANSWER_KEY, **env}),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    text = out.decode(errors="replace")
    if process.returncode != 0:
        raise SystemExit(f"valuesbot {' '.join(command)} failed:\n{text}")
    return text


def busiest_second(times: list[float]) -> int:
    """The most accepted sends in any one-second sliding window (what the platforms count)."""
    times = sorted(times)
    most = start = 0
    for end, at in enumerate(times):
        while times[start] <= at - 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def window_before(times: list[float], at: float) -> int:
    """Accepted sends in the second before ``at``."""
    return sum(1 for t in times if at - 1.0 < t <= at)


def _rate_until(times: list[float], limited: list[float]) -> float | None:
    if not limited:
        return None
    before = sorted(t for t in times if t < min(limited))
    if len(before) < 2 or before[-1] <= before[0]:
        return None
    return round((len(before) - 1) / (before[-1] - before[0]), 1)


def rate_figures(times: list[float]) -> dict[str, float | None]:
    """Messages/s between the first and last accepted sends, and without the first and last
    5% (the steady state)."""
    times = sorted(times)
    if len(times) < 2:
        return {"rate": None, "steady_rate": None, "span_s": None}
    span = times[-1] - times[0]
    cut = len(times) // 20
    middle = times[cut : len(times) - cut]
    steady = (len(middle) - 1) / (middle[-1] - middle[0]) if middle[-1] > middle[0] else None
    return {
        "rate": (len(times) - 1) / span if span > 0 else None,
        "steady_rate": steady,
        "span_s": span,
    }


@asynccontextmanager
async def mock_platform(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[asyncio.subprocess.Process, dict[str, str]]]:
    """The mock platform of ``args`` in a process of its own, until the block ends: the process
    and where it listens (``url``, ``control``)."""
    mock, where = await start_mock(args)
    try:
        yield mock, where
    finally:
        if mock.returncode is None:
            mock.send_signal(signal.SIGTERM)
            await mock.wait()


async def mock_summary(where: Mapping[str, str]) -> dict[str, Any]:
    """What the mock platform received (``bench.mock_platform``'s ``/summary``)."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{where['control']}/summary") as answer,
    ):
        summary: dict[str, Any] = await answer.json()
        return summary


async def idle_memory(pids: Sequence[int], seconds: float = 2.0) -> list[MemorySampler]:
    """Samples of the processes' resident memory while they idle for ``seconds``."""
    idle = [MemorySampler(pid, interval=0.2) for pid in pids]
    for sampler in idle:
        sampler.start()
    await asyncio.sleep(seconds)
    for sampler in idle:
        await sampler.stop()
    return idle


async def fanout(args: argparse.Namespace) -> dict[str, Any]:
    async with (
        fresh_database(args.db, "fanout") as database_url,
        mock_platform(args) as (mock, where),
    ):
        return await _fanout(args, database_url, mock, where)


async def _fanout(
    args: argparse.Namespace,
    database_url: str,
    mock: asyncio.subprocess.Process,
    where: Mapping[str, str],
) -> dict[str, Any]:
    env = serve_env(args, database_url, where["url"])
    started = time.perf_counter()
    await seed(database_url, args.platform, args.people, where["url"])
    seeded = time.perf_counter() - started
    name = f"{variant(args)}-{args.db}"
    async with serving(env, name=name) as serve:
        idle = await idle_memory([serve.pid])
        async with profiling(serve.pid, name, args.profile) as profile:
            run = await fanout_round(args, env, database_url, [serve.pid], mock.pid)
        await asyncio.sleep(1.0)  # anything still in flight lands in the mock's record
        summary = await mock_summary(where)
        status = await outbox_status(database_url)
    return fanout_figures(args, env, run, summary, status, seeded, idle, profile)


async def fanout_round(
    args: argparse.Namespace,
    env: Mapping[str, str],
    database_url: str,
    pids: Sequence[int],
    mock_pid: int,
) -> dict[str, Any]:
    """Open the round as comms do and wait until everyone is reached (or the timeout), with the
    memory and CPU of the serve processes ``pids`` (and the mock's CPU) meanwhile."""
    busy = [MemorySampler(pid, interval=0.2) for pid in pids]
    for sampler in busy:
        sampler.start()
    cpu_before = [cpu_seconds(pid) for pid in pids], cpu_seconds(mock_pid)
    opened_at = time.time()
    opened = await run_cli(env, "barometer", "open")
    queued_at = time.time()
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        status = await outbox_status(database_url)
        done = sum(status.get(s, 0) for s in ("sent", "failed", "uncertain"))
        if done >= args.people:
            break
        await asyncio.sleep(0.5)
    finished_at = time.time()
    for sampler in busy:
        await sampler.stop()
    return {
        "opened": opened,
        "opened_at": opened_at,
        "queued_at": queued_at,
        "finished_at": finished_at,
        "busy": busy,
        "serve_cpu_s": [cpu_seconds(p) - c for p, c in zip(pids, cpu_before[0], strict=True)],
        "mock_cpu_s": cpu_seconds(mock_pid) - cpu_before[1],
    }


def polls_sent(summary: Mapping[str, Any]) -> dict[str, int]:
    """How many times the mock accepted each barometer message (by outbox key)."""
    keys: dict[str, int] = summary["keys"]
    return {k: n for k, n in keys.items() if k.startswith("barometer:")}


def reach(summary: Mapping[str, Any], people: int) -> dict[str, int]:
    """Whether a fan-out to ``people`` reached them once each, from what the mock accepted."""
    polls = polls_sent(summary)
    recipients = {k.rsplit(":", 1)[-1] for k in polls}
    return {
        "recipients": people,
        "sent": sum(polls.values()),
        "reached": len(recipients),
        "duplicates": sum(n - 1 for n in polls.values() if n > 1),
        "missed": people - len(recipients),
        "rate_limited_429": len(summary["rate_limited"]),
    }


def fanout_figures(
    args: argparse.Namespace,
    env: Mapping[str, str],
    run: Mapping[str, Any],
    summary: Mapping[str, Any],
    status: Mapping[str, int],
    seeded: float,
    idle: Sequence[MemorySampler],
    profile: Path | None,
) -> dict[str, Any]:
    """The figures of a fan-out from what the mock received (``summary``) and the outbox's final
    state; memory and CPU summed up over the serve processes that sent it."""
    opened, opened_at, queued_at = run["opened"], run["opened_at"], run["queued_at"]
    finished_at, busy = run["finished_at"], run["busy"]
    cpu = sum(run["serve_cpu_s"])

    polls = polls_sent(summary)
    figures = rate_figures(summary["times"])
    allowed = None if args.unlimited else float(args.rate)
    first = min(summary["times"]) if summary["times"] else None
    last = max(summary["times"]) if summary["times"] else None
    rate, steady = figures["rate"], figures["steady_rate"]
    result: dict[str, Any] = {
        "platform": args.platform,
        "unlimited": args.unlimited,
        "limits": limits_note(args),
        "settings": {k: v for k, v in env.items() if k.startswith("VALUESBOT")},
        **reach(summary, args.people),
        "rate_limited_at_s": [round(t - first, 2) for t in summary["rate_limited"]][:20]
        if first
        else [],
        "accepted_in_second_before_429": [
            window_before(summary["times"], t) for t in summary["rate_limited"][:20]
        ],
        "busiest_second": busiest_second(summary["times"]) if summary["times"] else 0,
        # What the pacing gives until a 429 halves the bucket's speed for a minute.
        "rate_before_first_429": _rate_until(summary["times"], summary["rate_limited"]),
        "other_calls": summary["other"],
        "allowed_rate": allowed,
        "rate": round(rate, 1) if rate else None,
        "steady_rate": round(steady, 1) if steady else None,
        "share_of_allowed": round(rate / allowed, 3) if allowed and rate else None,
        "steady_share_of_allowed": round(steady / allowed, 3) if allowed and steady else None,
        "seed_s": round(seeded, 1),
        "open_s": round(queued_at - opened_at, 2),
        "first_send_after_open_s": round(first - opened_at, 2) if first else None,
        "finish_s": round((last or finished_at) - opened_at, 1),
        "timed_out": finished_at - opened_at >= args.timeout,
        "rss_idle_mb": max(s.figures()["peak_mib"] for s in idle),
        "rss_peak_mb": max(s.figures()["peak_mib"] for s in busy),
        "serve_cpu_s": round(cpu, 1),
        "serve_cpu_ms_per_message": round(1000 * cpu / max(1, sum(polls.values())), 2),
        # The mock platform's own CPU: with the limits lifted, a mock near one core is the
        # limit of the measurement, not the bot.
        "mock_cpu_ms_per_message": round(1000 * run["mock_cpu_s"] / max(1, sum(polls.values())), 2),
        "outbox": dict(status),
        "opened": opened.strip().splitlines()[:1],
    }
    if profile is not None:
        result["profile"] = str(profile.relative_to(ROOT))
    return result


def variant(args: argparse.Namespace) -> str:
    name = f"fanout-{args.platform}"
    return name + "-unlimited" if args.unlimited else name


def limits_note(args: argparse.Namespace) -> str:
    if args.unlimited:
        return "mock limits lifted; bot rates at the settings' maximum (1000/s)"
    if args.platform == "slack":
        return (
            f"Slack: {args.rate:g} messages/s per workspace (stated budget; the product's "
            "default VALUESBOT_SLACK_RATE is 5/s) and 1/s per channel; 429 + Retry-After"
        )
    return f"Teams: {args.rate:g} requests/s per tenant, 7/s per conversation; 429 + Retry-After"


def report(title: str, result: Mapping[str, Any], load: list[float]) -> str:
    def pct(value: float | None) -> str:
        return "-" if value is None else f"{100 * value:.1f}%"

    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f}"

    rows = [
        ("recipients", result["recipients"]),
        ("sent (accepted by the mock)", result["sent"]),
        ("duplicates", result["duplicates"]),
        ("missed recipients", result["missed"]),
        ("429s received", result["rate_limited_429"]),
        ("allowed rate /s", num(result["allowed_rate"])),
        (
            "achieved rate /s (first..last)",
            f"{num(result['rate'])} ({pct(result['share_of_allowed'])})",
        ),
        (
            "steady-state rate /s (5%..95%)",
            f"{num(result['steady_rate'])} ({pct(result['steady_share_of_allowed'])})",
        ),
        ("time to finish s (from open)", result["finish_s"]),
        ("first send after open s", result["first_send_after_open_s"]),
        ("429s at (s after the first send)", result["rate_limited_at_s"] or "-"),
        ("rate before the first 429 /s", num(result["rate_before_first_429"])),
        ("busiest second (accepted)", result["busiest_second"]),
        ("serve RSS idle / peak MB", f"{result['rss_idle_mb']} / {result['rss_peak_mb']}"),
        ("serve CPU ms per message", result["serve_cpu_ms_per_message"]),
        ("mock platform CPU ms per message", result["mock_cpu_ms_per_message"]),
        ("outbox", json.dumps(result["outbox"])),
        ("load average (1, 5, 15 min)", " ".join(f"{x:.2f}" for x in load)),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{title}  ({result['limits']})"]
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


def add_options(options: argparse.ArgumentParser, people: int = 6500) -> None:
    """The options of a fan-out (``--platform``, ``--people``, ``--rate``...)."""
    options.add_argument("--platform", choices=["slack", "teams"], default="slack")
    options.add_argument("--people", type=int, default=people)
    options.add_argument("--rate", type=float, default=50.0, help="workspace/tenant budget, msg/s")
    options.add_argument("--unlimited", action="store_true", help="lift the mock's limits")
    options.add_argument(
        "--concurrency", type=int, default=0, help="VALUESBOT_DELIVERY_CONCURRENCY"
    )
    options.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")


def main() -> None:
    options = parser(__doc__)
    add_options(options)
    args = options.parse_args()
    result = asyncio.run(fanout(args))
    chosen = {k: v for k, v in vars(args).items() if k not in ("db", "profile")}
    path = write_result(variant(args), args.db, chosen, result)
    print(report(f"{variant(args)}-{args.db}", result, machine()["load_average"]))
    print(f"  -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
