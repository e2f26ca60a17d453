"""Barometer results at national scale (issue 8, item 5), on PostgreSQL.

What it measures: a barometer round with 1.3 million responses (generated in the database, in
exactly the rows the bot would have stored while the round was open: participation rows for
everyone asked, two response rows per respondent with the card's token hash, an optional group,
comments with their moderation status) is closed the way the bot closes it
(``Barometer.close_round``: close, tally, seal, results card), scrubbed (VACUUM, as the
housekeeping does), and then its published figures are computed and served through the
product's own code: ``Barometer.published`` (every figure the cards, page, JSON and CSV show)
and ``GET /barometer``, ``/barometer.json``, ``/barometer.csv`` on the bot's aiohttp app. The
first run on a fresh app (new engine and connections) is reported as cold; then ``--repeat``
warm runs (min/median/max). The figures are checked against direct SQL counts of what was
generated. Targets: all published figures in under 2 s; closing the round in under 15 s.

Closing is timed as a whole (``close_round``) and in its parts: ``count`` (the store's
``close``: the last batch, the participation rows counted and deleted; then ``tally``),
``seal`` (``seal``: the responses counted into ``barometer_counts`` and deleted, the comments
written again) and the rest (the results card, the
scorecard's line, the queue). The PostgreSQL backend's CPU seconds for the close are read from
``/proc`` when the server runs on this machine: on a shared machine they say more than the
wall clock about what the close costs.

Run from the repository root (PostgreSQL at 127.0.0.1:5432, user postgres, trust)::

    .venv/bin/python -m bench.national                      # 1.3 million responses, 5 repeats
    .venv/bin/python -m bench.national --responses 100000   # a quick run

It creates the database ``valuesbot_bench_national_<pid>``, migrates it with the project's
migrations, and drops it afterwards (unless ``--keep``). Writes
``bench/results/national.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from aiohttp.test_utils import TestClient, TestServer

from bench.common import machine
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.content import Content, load_content
from bot.settings import Settings
from bot.web import build_web_app
from dialogs.barometer.results import RoundResults
from storage import migrate
from storage.barometer import BarometerRound
from storage.scrub import scrub

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
RESULTS = Path(__file__).parent / "results" / "national.json"
CLOSE_TARGET_SECONDS = 15.0
PUBLISHED_TARGET_SECONDS = 2.0
# The content allows at most 50 groups (bot/content.py), so a national round offers 50.
MAX_GROUPS = 50
# Groups kept below the minimum group size, with their number of respondents (0: nobody
# said they were in it), so the suppression rules are exercised.
SMALL_GROUPS = (0, 1, 2, 3, 4)
PERIOD = "2026-11"
CLOSES = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
# How each question is answered, most negative point first: shares of the 5-point scale.
DISTRIBUTIONS = (
    (0.04, 0.08, 0.18, 0.45, 0.25),  # positive difference to the NHS: 70% agree
    (0.05, 0.10, 0.22, 0.42, 0.21),  # to our organisation: 63% agree
)
# The share of respondents whose later answers sit at the same place on the scale as their
# first (people who agree on one question tend to agree on the other).
CORRELATION = 0.7
COMMENTS = (
    "More time for patients would make the biggest difference.",
    "The new rota has helped our team a lot this month.",
    "Please fix the IT log-in problems on the wards.",
    "Proud of how the team handled winter pressures.",
    "We need more staff on nights.",
    "Good to see the values being talked about in team meetings.",
    "Car parking is still a real problem for shift workers.",
    "Training opportunities have improved, thank you.",
)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.national", description=__doc__)
    parser.add_argument("--responses", type=int, default=1_300_000, help="people who answered")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs of each measurement")
    parser.add_argument(
        "--response-rate", type=float, default=0.8, help="answered out of asked (0-1]"
    )
    parser.add_argument("--groups", type=int, default=MAX_GROUPS, help="groups offered (<= 50)")
    parser.add_argument(
        "--group-share", type=float, default=0.7, help="share of respondents who give a group"
    )
    parser.add_argument(
        "--comment-share", type=float, default=0.02, help="share who leave a comment"
    )
    parser.add_argument("--approved", type=int, default=200, help="comments approved by comms")
    parser.add_argument("--rejected", type=int, default=50, help="comments rejected by comms")
    parser.add_argument("--min-group", type=int, default=5, help="VALUESBOT_MIN_GROUP")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--output", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument(
        "--profile",
        type=Path,
        help="write pyinstrument profiles of closing and of the published figures to "
        "PROFILE-close.txt and PROFILE-published.txt (needs the bench extra)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.response_rate <= 1:
        parser.error("--response-rate must be in (0, 1]")
    if not len(SMALL_GROUPS) < args.groups <= MAX_GROUPS:
        parser.error(f"--groups must be between {len(SMALL_GROUPS) + 1} and {MAX_GROUPS}")
    return args


def _content(groups: int) -> Content:
    data = load_content().model_dump()
    data["barometer"]["groups"] = [
        {"id": f"g{n:02d}", "label": f"Trust {n:02d}"} for n in range(1, groups + 1)
    ]
    return Content.model_validate(data)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _group_case(round_: BarometerRound, min_group: int, group_share: float) -> str:
    """A SQL expression over ``i`` (the respondent's number) and ``ug`` (a random number) that
    gives the respondent's group: the first few respondents fill the small groups exactly; the
    others give no group (1 - group_share) or one of the rest, the earlier groups larger
    (weights 1/rank, like organisations' sizes)."""
    ids = [g.id for g in round_.groups]
    small = ids[-len(SMALL_GROUPS) :]
    branches = []
    upto = 0
    for group, size in zip(small, SMALL_GROUPS, strict=True):
        assert size < min_group
        if size:
            upto += size
            branches.append(f"WHEN i <= {upto} THEN {_quote(group)}")
    large = ids[: -len(SMALL_GROUPS)]
    weights = [1 / rank for rank in range(1, len(large) + 1)]
    total = sum(weights)
    edge = 1 - group_share
    branches.append(f"WHEN ug < {edge!r} THEN NULL")
    for group, weight in zip(large[:-1], weights, strict=False):
        edge += group_share * weight / total
        branches.append(f"WHEN ug < {edge!r} THEN {_quote(group)}")
    return f"CASE {' '.join(branches)} ELSE {_quote(large[-1])} END"


def _value_case(round_: BarometerRound, column: str, shares: Sequence[float]) -> str:
    points = [p.id for p in round_.scale]
    assert len(points) == len(shares), "the distributions are for a 5-point scale"
    branches = []
    edge = 0.0
    for point, share in zip(points[:-1], shares, strict=False):
        edge += share
        branches.append(f"WHEN {column} < {edge!r} THEN {_quote(point)}")
    return f"CASE {' '.join(branches)} ELSE {_quote(points[-1])} END"


async def generate(connection: asyncpg.Connection, round_: BarometerRound, args: Any) -> int:
    """Write the open round's participation, responses and comments as the bot would have
    written them; return how many were asked."""
    n: int = args.responses
    invited: int = max(n, round(n / args.response_rate))
    questions = [q.id for q in round_.questions]
    quantiles = ", ".join(
        "u AS u0"
        if k == 0
        else f"CASE WHEN random() < {CORRELATION} THEN u ELSE random() END AS u{k}"
        for k in range(len(questions))
    )
    await connection.execute(
        f"""
        CREATE TEMP TABLE bench_people AS
        SELECT i, {_group_case(round_, args.min_group, args.group_share)} AS group_id,
               encode(sha256(convert_to(gen_random_uuid()::text, 'UTF8')), 'hex') AS token_hash,
               random() AS c, {quantiles}
        FROM (SELECT i, random() AS ug, random() AS u FROM generate_series(1, {n}) AS i) AS s
        """
    )
    values = " ".join(
        f"WHEN {k} THEN {_value_case(round_, f'p.u{k}', DISTRIBUTIONS[k % len(DISTRIBUTIONS)])}"
        for k in range(len(questions))
    )
    question_rows = ", ".join(f"({_quote(q)}, {k})" for k, q in enumerate(questions))
    # One row per respondent and question: a random id (what the bot's secrets.token_hex(16)
    # gives: 32 hex digits), the group, the hash of the answered card's token.
    await connection.execute(
        f"""
        INSERT INTO barometer_responses (round_id, id, question, value, group_id, token_hash)
        SELECT $1, replace(gen_random_uuid()::text, '-', ''), q.id, CASE q.k {values} END,
               p.group_id, p.token_hash
        FROM bench_people AS p CROSS JOIN (VALUES {question_rows}) AS q(id, k)
        """,
        round_.id,
    )
    texts = "ARRAY[" + ", ".join(_quote(t) for t in COMMENTS) + "]"
    await connection.execute(
        f"""
        INSERT INTO barometer_comments (round_id, id, text, status, token_hash)
        SELECT $1, replace(gen_random_uuid()::text, '-', ''),
               ({texts})[1 + i % {len(COMMENTS)}],
               CASE WHEN row_number() OVER (ORDER BY c) <= {args.approved} THEN 'approved'
                    WHEN row_number() OVER (ORDER BY c) <= {args.approved + args.rejected}
                    THEN 'rejected' ELSE 'pending' END,
               token_hash
        FROM bench_people WHERE c < {args.comment_share!r}
        """,
        round_.id,
    )
    # Who was asked: a quarter on Teams, the rest on Slack. The first ``n`` answered (nothing
    # links these rows to the responses).
    await connection.execute(
        f"""
        INSERT INTO barometer_participation (round_id, platform, tenant, user_id, answered)
        SELECT $1,
               CASE WHEN i % 4 = 0 THEN 'teams' ELSE 'slack' END,
               CASE WHEN i % 4 = 0 THEN '72f988bf-86f1-41af-91ab-2d7cd011db47' ELSE 'T0NHSENG'
               END,
               CASE WHEN i % 4 = 0 THEN '29:1' || md5(i::text) ELSE 'U' || lpad(upper(to_hex(i)),
               10, '0') END,
               i <= {n}
        FROM generate_series(1, {invited}) AS i
        """,
        round_.id,
    )
    await connection.execute("DROP TABLE bench_people")
    await connection.execute(
        "ANALYZE barometer_responses; ANALYZE barometer_comments; ANALYZE barometer_participation"
    )
    return invited


async def expected(connection: asyncpg.Connection, round_: BarometerRound) -> dict[str, Any]:
    """The figures straight from the rows, for checking the product's."""
    agree = [p.id for p in round_.scale if p.agree]
    first = round_.questions[0].id
    per_question = {
        r["question"]: {"respondents": r["n"], "agree": r["agree"]}
        for r in await connection.fetch(
            "SELECT question, count(*) AS n, count(*) FILTER (WHERE value = ANY($2)) AS agree "
            "FROM barometer_responses WHERE round_id = $1 GROUP BY question",
            round_.id,
            agree,
        )
    }
    groups = {
        r["group_id"]: r["n"]
        for r in await connection.fetch(
            "SELECT group_id, count(*) AS n FROM barometer_responses "
            "WHERE round_id = $1 AND question = $2 GROUP BY group_id",
            round_.id,
            first,
        )
    }
    comments = await connection.fetchval(
        "SELECT count(*) FROM barometer_comments WHERE round_id = $1 AND status = 'approved'",
        round_.id,
    )
    asked, answered = await connection.fetchrow(
        "SELECT count(*), count(*) FILTER (WHERE answered) FROM barometer_participation "
        "WHERE round_id = $1",
        round_.id,
    )
    return {
        "asked": asked,
        "answered": answered,
        "questions": per_question,
        "groups": groups,
        "approved_comments": comments,
    }


def figures(results: RoundResults) -> dict[str, Any]:
    """The published figures of the round, in short."""
    return {
        "asked": results.invited,
        "answered": results.answered,
        "response_rate": None if results.response_rate is None else round(results.response_rate, 4),
        "shown": results.shown,
        "questions": {
            q.question.id: {
                "respondents": q.respondents,
                "agree": q.agree,
                "agree_share": round(q.agree_share, 4),
                "answers": {a.point.id: a.count for a in q.answers},
            }
            for q in results.questions
        },
        "groups_shown": sum(1 for g in results.groups if g.group is not None),
        "groups_withheld": results.groups_withheld,
        "remainder": next((g.respondents for g in results.groups if g.group is None), 0),
        "comments": len(results.comments),
    }


def check(found: dict[str, Any], want: dict[str, Any], min_group: int) -> list[str]:
    """What differs between the published figures and the direct counts (empty: all agree)."""
    problems = []
    if found["asked"] != want["asked"] or found["answered"] != want["answered"]:
        problems.append(f"asked/answered {found['asked']}/{found['answered']} != {want}")
    for question, counts in want["questions"].items():
        mine = found["questions"].get(question, {})
        if (mine.get("respondents"), mine.get("agree")) != (counts["respondents"], counts["agree"]):
            problems.append(f"{question}: {mine} != {counts}")
    large = {g for g, n in want["groups"].items() if g is not None and n >= min_group}
    if found["groups_shown"] != len(large):
        problems.append(f"groups shown {found['groups_shown']} != {len(large)}")
    rest = sum(n for g, n in want["groups"].items() if g not in large)
    if found["remainder"] != rest:
        problems.append(f"remainder {found['remainder']} != {rest}")
    if found["comments"] != want["approved_comments"]:
        problems.append(f"comments {found['comments']} != {want['approved_comments']}")
    return problems


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await work()
    return time.perf_counter() - start, result


async def profiled(
    work: Callable[[], Awaitable[Any]], into: Path | None, what: str
) -> tuple[float, Any]:
    """``timed``, under pyinstrument when ``into`` is given (its text report is written to
    ``<into>-<what>.txt``)."""
    if into is None:
        return await timed(work)
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")
    profiler.start()
    try:
        seconds, result = await timed(work)
    finally:
        profiler.stop()
    path = into.with_name(f"{into.name}-{what}.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(profiler.output_text(unicode=False, color=False), encoding="utf-8")
    return seconds, result


class StoreTimer:
    """Wraps some of a store's methods to add up the seconds each takes (closing, in parts)."""

    def __init__(self, store: Any, names: Sequence[str]) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(names, 0.0)
        for name in names:
            setattr(store, name, self._timed(name, getattr(store, name)))

    def _timed(self, name: str, method: Callable[..., Awaitable[Any]]) -> Any:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - start

        return wrapper


def backend_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a PostgreSQL backend on this machine has used so far; None
    when its /proc entry cannot be read (another machine, another container)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(cold: float, warm: list[float]) -> dict[str, float]:
    return {
        "cold": round(cold, 4),
        "min": round(min(warm), 4) if warm else round(cold, 4),
        "median": round(statistics.median(warm), 4) if warm else round(cold, 4),
        "max": round(max(warm), 4) if warm else round(cold, 4),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


async def run(args: argparse.Namespace) -> dict[str, Any]:
    name = f"valuesbot_bench_national_{os.getpid()}"
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    server_version = await admin.fetchval("SHOW server_version")
    await admin.close()
    try:
        return await _measure(args, url, name, str(server_version))
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            admin = await asyncpg.connect(ADMIN_URL)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


async def _app(url: str, content: Content, min_group: int) -> App:
    settings = Settings.from_env(
        {
            "DATABASE_URL": url,
            "VALUESBOT_PSEUDONYM_SECRET": "bench-national-0123456789",
            "VALUESBOT_MIN_GROUP": str(min_group),
            "VALUESBOT_PUBLIC_URL": "https://values.example.org",
            "VALUESBOT_BAROMETER_RESULTS": "slack:T0NHSENG:C0ANNOUNCE",
        }
    )
    return await build_app(
        settings, content=content, clock=ManualClock(CLOSES + timedelta(minutes=1)), prepare=False
    )


async def _measure(
    args: argparse.Namespace, url: str, name: str, server_version: str
) -> dict[str, Any]:
    await migrate.upgrade(url)
    content = _content(args.groups)
    app = await _app(url, content, args.min_group)
    now = app.clock.now()
    timings: dict[str, Any] = {}
    try:
        round_ = app.barometer.new_round(CLOSES - timedelta(days=14), PERIOD, CLOSES)
        async with app.database.unit() as stores:
            assert await stores.barometer.open(round_)
        print(f"generating {args.responses:,} responses in {name} ...", flush=True)
        raw = await asyncpg.connect(url.replace("+asyncpg", ""))
        try:
            seconds, invited = await timed(lambda: generate(raw, round_, args))
            timings["generate"] = round(seconds, 2)
            want = await expected(raw, round_)
        finally:
            await raw.close()
        print(f"generated in {seconds:.1f} s; closing the round ...", flush=True)

        parts: dict[str, float] = {}
        cpu: dict[str, float | None] = {}

        async def close() -> Any:
            async with app.database.unit() as stores:
                connection = await stores.barometer.session.connection()
                pid = (await connection.exec_driver_sql("SELECT pg_backend_pid()")).scalar_one()
                before = backend_cpu(pid)
                timer = StoreTimer(stores.barometer, ("close", "tally", "seal"))
                result = await app.barometer.close_round(stores, now)
                parts.update(timer.seconds)
            after = backend_cpu(pid)
            cpu["seconds"] = None if before is None or after is None else after - before
            return result

        load_before = os.getloadavg()
        seconds, closed = await profiled(close, args.profile, "close")
        assert closed is not None
        timings["close_round"] = round(seconds, 4)
        count = parts["close"] + parts["tally"]
        close_figures = {
            "seconds": round(seconds, 3),
            "count_seconds": round(count, 3),
            "seal_seconds": round(parts["seal"], 3),
            "rest_seconds": round(seconds - count - parts["seal"], 3),
            "server_cpu_seconds": None if cpu["seconds"] is None else round(cpu["seconds"], 2),
            "load_average_before": [round(x, 2) for x in load_before],
            "target_seconds": CLOSE_TARGET_SECONDS,
            "target_met": seconds < CLOSE_TARGET_SECONDS,
        }
        seconds, _ = await timed(lambda: scrub(app.database))
        timings["scrub"] = round(seconds, 4)
    finally:
        await app.close()

    # A fresh app: new engine, new connections (PostgreSQL's caches hold what closing wrote).
    app = await _app(url, content, args.min_group)
    try:

        async def compute() -> list[RoundResults]:
            async with app.database.unit() as stores:
                return await app.barometer.published(stores)

        cold, history = await timed(compute)
        warm = []
        for _ in range(args.repeat):
            seconds, history = await timed(compute)
            warm.append(seconds)
        timings["published_figures"] = summary(cold, warm)
        if args.profile is not None:
            await profiled(compute, args.profile, "published")
        async with TestClient(TestServer(build_web_app(app))) as client:
            for path in ("/barometer", "/barometer.json", "/barometer.csv"):

                async def get(path: str = path) -> int:
                    response = await client.get(path)
                    await response.read()
                    return response.status

                cold, status = await timed(get)
                assert status == 200, (path, status)
                warm = []
                for _ in range(args.repeat):
                    seconds, status = await timed(get)
                    warm.append(seconds)
                timings[f"GET {path}"] = summary(cold, warm)
    finally:
        await app.close()

    found = figures(history[0])
    problems = check(found, want, args.min_group)
    return {
        "benchmark": "national",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "machine": machine(),
        "postgresql": server_version,
        "responses": args.responses,
        "asked": invited,
        "groups": args.groups,
        "small_groups": list(SMALL_GROUPS),
        "min_group": args.min_group,
        "repeat": args.repeat,
        "timings_seconds": timings,
        "figures": found,
        "direct_sql": {**want, "groups": len(want["groups"])},
        "checks": problems or "published figures equal the direct SQL counts",
        "target_seconds": PUBLISHED_TARGET_SECONDS,
        "close": close_figures,
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"barometer results at national scale: {result['responses']:,} responses, "
        f"{result['asked']:,} asked, {result['groups']} groups (PostgreSQL "
        f"{result['postgresql']}, {result['machine']['nproc']} cores, load "
        f"{result['machine']['load_average']})",
        f"{'measurement':<24}{'cold s':>10}{'min s':>10}{'median s':>10}{'max s':>10}",
    ]
    for key, value in result["timings_seconds"].items():
        if isinstance(value, dict):
            lines.append(
                f"{key:<24}{value['cold']:>10.3f}{value['min']:>10.3f}"
                f"{value['median']:>10.3f}{value['max']:>10.3f}"
            )
        else:
            lines.append(f"{key:<24}{value:>10.3f}  (once)")
    found = result["figures"]
    lines.append(
        f"asked {found['asked']:,}, answered {found['answered']:,} "
        f"({found['response_rate']:.1%}); groups shown {found['groups_shown']}, withheld: "
        f"{found['groups_withheld']}, remainder {found['remainder']:,}; "
        f"comments {found['comments']}"
    )
    for question, counts in found["questions"].items():
        lines.append(
            f"  {question}: {counts['agree']:,} of {counts['respondents']:,} agree "
            f"({counts['agree_share']:.2%})"
        )
    lines.append(f"check: {result['checks']}")
    target = result["timings_seconds"]["published_figures"]["median"]
    lines.append(f"published figures (warm median) {target:.3f} s; target under 2 s")
    close = result["close"]
    cpu = close["server_cpu_seconds"]
    lines.append(
        f"closing the round {close['seconds']:.1f} s (count {close['count_seconds']:.1f} s, "
        f"seal {close['seal_seconds']:.1f} s, results card {close['rest_seconds']:.1f} s; "
        f"PostgreSQL CPU {'-' if cpu is None else f'{cpu:.1f} s'}; load before "
        f"{close['load_average_before'][0]}); target under "
        f"{close['target_seconds']:.0f} s: {'met' if close['target_met'] else 'missed'}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    result = asyncio.run(run(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(report(result))
    print(f"written to {args.output}")
    return 0 if isinstance(result["checks"], str) else 1


if __name__ == "__main__":
    sys.exit(main())
