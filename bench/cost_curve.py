"""The cost curve of the outbox on PostgreSQL: the unlimited fan-out with 6,500, 65,000 and
650,000 messages queued.

What it measures (item 7 of docs/benchmarks.md): whether one ``valuesbot serve`` sends as
fast, and in as little memory, when the outbox holds a hundred times more messages. At each
size, on a fresh database:

1. one person is recorded as the Slack adapter records people at first contact
   (``bench.fanout.seed``), and comms open a barometer round with ``valuesbot barometer open``:
   the product itself writes the person's rows (``people``, ``conversations``), the round, their
   participation row and their outbox message;
2. those rows are the template of everyone else's: ``generate_series`` copies them inside
   PostgreSQL for people 1..N-1 (every column as the product wrote it; only the person's id,
   name, direct conversation and the outbox key that names them differ), so a round to 650,000
   people is made in seconds and holds exactly what ``barometer open`` would have queued: one
   card, one ``now`` for every message, ids in the order of the people;
3. ``valuesbot serve`` starts against the mock Slack Web API with its limits lifted and the
   bot's rates at the settings' maximum (as ``bench.fanout --unlimited``); after 2 s idle, the
   N outbox rows are inserted in one statement (and the table analysed, as autovacuum would
   soon after such an insert: this server runs without it) and committed while serve runs;
4. serve sends until the mock has accepted N messages, or ``--send-at-most`` (default 65,000:
   the 650,000 size sends its first 65,000 with 585,000 and more still queued behind them,
   which is what the claim and everything else sees; the rest stay queued when serve stops).

Reported at each size: messages/s (first..last accepted, and the steady state without the
first and last 5%), serve's CPU per message, database time per message, the claim's time,
serve's peak resident memory. Database time is counted two ways: the CPU (user + system, from
``/proc/PID/stat``) of the PostgreSQL backends serving this database (found in
``pg_stat_activity`` every 0.25 s, the benchmark's own connections left out), and
``pg_stat_database.active_time`` (time spent running statements, waits included), the
benchmark's own statements subtracted. The claim's time is ``EXPLAIN ANALYZE`` of the claim's
own statement (``storage.delivery.sql.due_messages``, batch size as serve uses it, ``FOR
UPDATE SKIP LOCKED``, rolled back) at the start of the sending and every ``--explain-every``
seconds while it runs.

Target: the steady rate at the largest size within 15% of the rate at the smallest, and the
peak RSS within 20%.

Run from the repository root (PostgreSQL at 127.0.0.1:5432, user postgres)::

    .venv/bin/python -m bench.cost_curve --sizes 6500,65000,650000
    .venv/bin/python -m bench.cost_curve --sizes 6500,20000          # a quick look

``--profile`` records serve with py-spy at each size (``bench/profiles/cost-curve-N.txt``).
Writes ``bench/results/cost-curve-postgresql.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import aiohttp
import asyncpg  # type: ignore[import-untyped]  # asyncpg ships no type information
from sqlalchemy.dialects import postgresql

from bench.common import (
    ROOT,
    MemorySampler,
    cpu_seconds,
    fresh_database,
    parser,
    plain_url,
    profiling,
    serving,
    write_result,
)
from bench.fanout import MAX_RATE, rate_figures, run_cli, seed, serve_env, start_mock
from bot.delivery.worker import DeliveryConfig
from storage.delivery.sql import due_messages

# The rate at the largest size may be this much lower than at the smallest; the peak RSS this
# much higher.
RATE_TOLERANCE = 0.15
RSS_TOLERANCE = 0.20
# The claim's batch at the unlimited rate (``DeliveryConfig.batch_for`` at the settings' maximum).
_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(DeliveryConfig)}
BATCH = max(1, min(int(_DEFAULTS["max_batch"]), int(MAX_RATE * float(_DEFAULTS["batch_seconds"]))))


# -- the rows -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Naming:
    """How person ``i`` is named (SQL expressions over ``i``), as ``bench.fanout.seed`` names
    them: person 0 is the template the product wrote."""

    user: str
    conversation: str
    name: str


NAMING = {
    "slack": Naming(
        user="'U' || lpad(i::text, 8, '0')",
        conversation="'D' || lpad(i::text, 8, '0')",
        name="'Person ' || i",
    ),
}


async def _columns(connection: asyncpg.Connection, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
        table,
    )
    return [str(r["column_name"]) for r in rows]


async def _copy(
    connection: asyncpg.Connection,
    table: str,
    source: str,
    replaced: Mapping[str, str],
    first: int,
    last: int,
    *,
    skip: Sequence[str] = (),
) -> str:
    """``INSERT INTO table SELECT ...`` copying the one row of ``source`` (as ``t``) for
    ``i`` in ``first..last``, with the columns of ``replaced`` given by their expressions."""
    columns = [c for c in await _columns(connection, table) if c not in skip]
    values = [replaced.get(c, f"t.{c}") for c in columns]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"SELECT {', '.join(values)} FROM {source} AS t "
        f"CROSS JOIN generate_series({first}, {last}) AS i"
    )


async def generate_people(connection: asyncpg.Connection, size: int, naming: Naming) -> str:
    """Everyone but person 0 in ``people``, ``conversations`` and the round's participation,
    copied from person 0's rows; the outbox's one message is kept aside (``cc_message``) and
    the ``INSERT`` of everyone's messages returned, to run later."""
    found = await connection.fetchval("SELECT count(*) FROM outbox")
    assert found == 1, f"barometer open queued {found} messages for one person"
    await connection.execute("CREATE TEMP TABLE cc_message AS SELECT * FROM outbox")
    await connection.execute("DELETE FROM outbox")
    if size > 1:
        await connection.execute(
            await _copy(
                connection,
                "people",
                "people",
                {
                    "user_id": naming.user,
                    "display_name": naming.name,
                    "direct_conversation": naming.conversation,
                },
                1,
                size - 1,
            )
        )
        await connection.execute(
            await _copy(
                connection,
                "conversations",
                "conversations",
                {"conversation": naming.conversation},
                1,
                size - 1,
            )
        )
        await connection.execute(
            await _copy(
                connection,
                "barometer_participation",
                "barometer_participation",
                {"user_id": naming.user},
                1,
                size - 1,
            )
        )
    await connection.execute(
        "ANALYZE people; ANALYZE conversations; ANALYZE barometer_participation"
    )
    # The key ends with the recipient ("barometer:PERIOD:slack:TEAM:USER").
    return await _copy(
        connection,
        "outbox",
        "cc_message",
        {
            "recipient": naming.user,
            "key": f"left(t.key, length(t.key) - length(t.recipient)) || {naming.user}",
        },
        0,
        size - 1,
        skip=("id",),
    )


# -- what the database spends -------------------------------------------------------------------


def _pid_cpu(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class BackendCpu:
    """The CPU of the PostgreSQL backends serving one database (but ``mine``), sampled from
    ``/proc`` while running: a backend seen at ``start`` counts from its CPU then, one that
    appears later from zero; one that goes away keeps what it had at its last sample."""

    database: str
    connection: asyncpg.Connection
    mine: set[int]
    interval: float = 0.25
    baseline: dict[int, float] = field(default_factory=dict)
    latest: dict[int, float] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    _task: asyncio.Task[None] | None = None

    async def _backends(self) -> dict[int, str]:
        rows = await self.connection.fetch(
            "SELECT pid, backend_type FROM pg_stat_activity WHERE datname = $1", self.database
        )
        return {int(r["pid"]): str(r["backend_type"]) for r in rows if r["pid"] not in self.mine}

    async def start(self) -> None:
        for pid, kind in (await self._backends()).items():
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.baseline[pid] = self.latest[pid] = cpu
                self.kinds[pid] = kind
        self._task = asyncio.create_task(self._run())

    async def _sample(self) -> None:
        for pid, kind in (await self._backends()).items():
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.baseline.setdefault(pid, 0.0)
                self.latest[pid] = cpu
                self.kinds[pid] = kind
        for pid in list(self.latest):  # those still there, once more
            cpu = _pid_cpu(pid)
            if cpu is not None:
                self.latest[pid] = cpu

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._sample()

    async def stop(self) -> dict[str, float]:
        """CPU seconds by kind of backend since ``start``."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._sample()
        spent: dict[str, float] = {}
        for pid, cpu in self.latest.items():
            kind = self.kinds.get(pid, "?")
            spent[kind] = spent.get(kind, 0.0) + cpu - self.baseline.get(pid, 0.0)
        return spent


async def active_ms(connection: asyncpg.Connection, database: str) -> float:
    """``pg_stat_database.active_time`` of the database (milliseconds running statements)."""
    value = await connection.fetchval(
        "SELECT active_time FROM pg_stat_database WHERE datname = $1", database
    )
    return float(value or 0.0)


# -- the claim ----------------------------------------------------------------------------------


def claim_sql(platform: str, now: datetime) -> str:
    """The claim's statement as serve runs it (with its values written in)."""
    statement = due_messages([platform], now, BATCH)
    return str(
        statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    )


async def explain_claim(connection: asyncpg.Connection, platform: str) -> dict[str, Any]:
    """``EXPLAIN ANALYZE`` of the claim on the rows as they are now, rolled back."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        now = await connection.fetchval("SELECT now()")
        started = time.perf_counter()
        [plan] = json.loads(
            await connection.fetchval(
                f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {claim_sql(platform, now)}"
            )
        )
        wall = time.perf_counter() - started
    finally:
        await transaction.rollback()
    top = plan["Plan"]
    nodes = []
    stack = [top]
    while stack:
        node = stack.pop()
        nodes.append(
            node["Node Type"]
            + (f" using {node['Index Name']}" if "Index Name" in node else "")
            + (f" ({node['Sort Method']})" if "Sort Method" in node else "")
        )
        stack.extend(node.get("Plans", []))
    return {
        "ms": round(plan["Execution Time"], 2),
        "rows": top.get("Actual Rows"),
        "plan": " > ".join(nodes),
        "wall_s": wall,
    }


# -- one size -----------------------------------------------------------------------------------


async def count_accepted(http: aiohttp.ClientSession, control: str) -> int:
    async with http.get(f"{control}/count") as answer:
        return int((await answer.json())["accepted"])


async def one_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    target = min(size, args.send_at_most) if args.send_at_most else size
    options = argparse.Namespace(
        platform=args.platform, unlimited=True, rate=0.0, concurrency=args.concurrency
    )
    async with fresh_database("postgresql", "costcurve") as database_url:
        mock, where = await start_mock(options)
        try:
            return await _one_size(args, options, size, target, database_url, mock, where)
        finally:
            if mock.returncode is None:
                mock.send_signal(signal.SIGTERM)
                await mock.wait()


async def _one_size(
    args: argparse.Namespace,
    options: argparse.Namespace,
    size: int,
    target: int,
    database_url: str,
    mock: asyncio.subprocess.Process,
    where: Mapping[str, str],
) -> dict[str, Any]:
    env = serve_env(options, database_url, where["url"])
    dsn = plain_url(database_url)
    database = dsn.rsplit("/", 1)[-1]
    started = time.perf_counter()
    await seed(database_url, args.platform, 1, where["url"])
    await run_cli(env, "barometer", "open")
    writer = await asyncpg.connect(dsn)
    monitor = await asyncpg.connect(dsn)  # the claim's EXPLAINs
    # The statistics are read from another database: reading them is no work of this one's.
    watcher = await asyncpg.connect(dsn.rsplit("/", 1)[0] + "/postgres")
    try:
        insert = await generate_people(writer, size, NAMING[args.platform])
        people_s = time.perf_counter() - started
        mine = {int(await c.fetchval("SELECT pg_backend_pid()")) for c in (writer, monitor)}
        name = f"cost-curve-{size}"
        async with serving(env, name=name) as serve, aiohttp.ClientSession() as http:
            idle = MemorySampler(serve.pid, interval=0.2)
            idle.start()
            await asyncio.sleep(2.0)
            await idle.stop()
            async with profiling(serve.pid, name, args.profile) as profile:
                backends = BackendCpu(database, watcher, mine)
                await backends.start()
                active_before = await active_ms(watcher, database)
                cpu_before = (cpu_seconds(serve.pid), cpu_seconds(mock.pid))
                busy = MemorySampler(serve.pid, interval=0.2)
                busy.start()
                queued_at = time.time()
                ours = time.perf_counter()
                async with writer.transaction():
                    await writer.execute(insert)
                    await writer.execute("ANALYZE outbox")
                committed_at = time.time()
                ours = time.perf_counter() - ours
                claims = [{**await explain_claim(monitor, args.platform), "at_s": 0.0, "sent": 0}]
                next_explain = time.monotonic() + args.explain_every
                deadline = time.monotonic() + args.timeout
                sent = 0
                timeline: list[tuple[float, int, float]] = []  # (s, sent, RSS MiB)
                next_point = 0.0
                while time.monotonic() < deadline:
                    sent = await count_accepted(http, where["control"])
                    if time.monotonic() >= next_point or sent >= target:
                        at = round(time.time() - committed_at, 1)
                        timeline.append((at, sent, serve.rss_mib()))
                        next_point = time.monotonic() + args.timeline_every
                    if sent >= target:
                        break
                    if time.monotonic() >= next_explain:
                        claims.append(
                            {
                                **await explain_claim(monitor, args.platform),
                                "at_s": round(time.time() - committed_at, 1),
                                "sent": sent,
                            }
                        )
                        next_explain = time.monotonic() + args.explain_every
                    await asyncio.sleep(0.25)
                finished_at = time.time()
                serve_cpu = cpu_seconds(serve.pid) - cpu_before[0]
                mock_cpu = cpu_seconds(mock.pid) - cpu_before[1]
                await busy.stop()
                backend_cpu = await backends.stop()
            async with http.get(f"{where['control']}/summary") as answer:
                summary = await answer.json()
            ours += sum(c["wall_s"] for c in claims)
        # serve has stopped: its sessions' statistics are in (a backend reports them as it
        # ends); so are the writer's, once closed.
        await writer.close()
        await asyncio.sleep(1.5)
        active = await active_ms(watcher, database) - active_before - 1000 * ours
        status = {
            str(r["status"]): int(r["count"])
            for r in await monitor.fetch("SELECT status, count(*) FROM outbox GROUP BY status")
        }
    finally:
        for connection in (writer, monitor, watcher):
            await connection.close()
    return _figures(
        size=size,
        target=target,
        summary=summary,
        people_s=people_s,
        queued_at=queued_at,
        committed_at=committed_at,
        finished_at=finished_at,
        idle=idle,
        busy=busy,
        serve_cpu=serve_cpu,
        mock_cpu=mock_cpu,
        backend_cpu=backend_cpu,
        active_ms=active,
        claims=claims,
        timeline=timeline,
        status=status,
        profile=str(profile.relative_to(ROOT)) if profile else None,
    )


def _figures(
    *,
    size: int,
    target: int,
    summary: Mapping[str, Any],
    people_s: float,
    queued_at: float,
    committed_at: float,
    finished_at: float,
    idle: MemorySampler,
    busy: MemorySampler,
    serve_cpu: float,
    mock_cpu: float,
    backend_cpu: Mapping[str, float],
    active_ms: float,
    claims: list[dict[str, Any]],
    timeline: list[tuple[float, int, float]],
    status: Mapping[str, int],
    profile: str | None,
) -> dict[str, Any]:
    times = sorted(summary["times"])
    polls = {k: n for k, n in summary["keys"].items() if k.startswith("barometer:")}
    sent = sum(polls.values())
    rates = rate_figures(times)
    per = max(1, sent)
    db_cpu = sum(backend_cpu.values())
    claim_ms = [c["ms"] for c in claims]
    return {
        "queued": size,
        "sent": sent,
        "target_sent": target,
        "duplicates": sum(n - 1 for n in polls.values() if n > 1),
        "rate": round(rates["rate"], 1) if rates["rate"] else None,
        "steady_rate": round(rates["steady_rate"], 1) if rates["steady_rate"] else None,
        "span_s": round(rates["span_s"], 1) if rates["span_s"] else None,
        "people_s": round(people_s, 1),
        "insert_s": round(committed_at - queued_at, 1),
        "first_send_after_commit_s": round(times[0] - committed_at, 2) if times else None,
        "serve_cpu_ms_per_message": round(1000 * serve_cpu / per, 3),
        "db_cpu_ms_per_message": round(1000 * db_cpu / per, 3),
        "db_cpu_by_backend_s": {k: round(v, 2) for k, v in backend_cpu.items()},
        "db_active_ms_per_message": round(active_ms / per, 3),
        "mock_cpu_ms_per_message": round(1000 * mock_cpu / per, 3),
        "claim_ms_first": claim_ms[0],
        "claim_ms_median": round(statistics.median(claim_ms), 2),
        "claim_ms_max": max(claim_ms),
        "claim_samples": len(claims),
        "claim_plan": claims[0]["plan"],
        "claims": [{k: c[k] for k in ("at_s", "sent", "ms")} for c in claims],
        "rss_idle_mb": idle.figures()["peak_mib"],
        "rss_peak_mb": busy.figures()["peak_mib"],
        "wall_s": round(finished_at - committed_at, 1),
        "timeline": [{"at_s": t, "sent": n, "rss_mb": m} for t, n, m in timeline],
        "outbox_after": dict(status),
        "profile": profile,
    }


# -- the curve ----------------------------------------------------------------------------------


def verdict(by_size: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """The largest size against the smallest: steady rate within 15%, peak RSS within 20%."""
    sizes = sorted(by_size)
    small, large = by_size[sizes[0]], by_size[sizes[-1]]
    rate_ratio = (large["steady_rate"] or 0.0) / (small["steady_rate"] or 1.0)
    rss_ratio = large["rss_peak_mb"] / max(small["rss_peak_mb"], 1.0)
    complete = all(f["sent"] >= f["target_sent"] and f["duplicates"] == 0 for f in by_size.values())
    return {
        "smallest": sizes[0],
        "largest": sizes[-1],
        "rate_ratio": round(rate_ratio, 3),
        "rss_ratio": round(rss_ratio, 3),
        "rate_met": rate_ratio >= 1 - RATE_TOLERANCE,
        "rss_met": rss_ratio <= 1 + RSS_TOLERANCE,
        "all_sent_once": complete,
        "met": rate_ratio >= 1 - RATE_TOLERANCE and rss_ratio <= 1 + RSS_TOLERANCE and complete,
    }


def report(by_size: Mapping[int, Mapping[str, Any]], result: Mapping[str, Any]) -> str:
    columns = [
        ("queued", "queued"),
        ("sent", "sent"),
        ("msg/s", "rate"),
        ("steady/s", "steady_rate"),
        ("serve CPU ms/msg", "serve_cpu_ms_per_message"),
        ("db CPU ms/msg", "db_cpu_ms_per_message"),
        ("db active ms/msg", "db_active_ms_per_message"),
        ("claim ms (first/median/max)", None),
        ("RSS idle/peak MB", None),
    ]
    rows = []
    for figures in by_size.values():
        row = []
        for _, key in columns[:-2]:
            value = figures[str(key)]
            row.append(f"{value:,}" if isinstance(value, int) else str(value))
        row.append(
            f"{figures['claim_ms_first']}/{figures['claim_ms_median']}/{figures['claim_ms_max']}"
        )
        row.append(f"{figures['rss_idle_mb']}/{figures['rss_peak_mb']}")
        rows.append(row)
    widths = [max(len(h), *(len(r[n]) for r in rows)) for n, (h, _) in enumerate(columns)]
    lines = ["cost curve of the unlimited Slack fan-out on PostgreSQL"]
    lines.append("  " + "  ".join(h.rjust(w) for (h, _), w in zip(columns, widths, strict=True)))
    lines += ["  " + "  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    for figures in by_size.values():
        lines.append(f"  claim plan at {figures['queued']:,}: {figures['claim_plan']}")
    v = result["verdict"]
    lines.append(
        f"  steady rate at {v['largest']:,} / at {v['smallest']:,}: {v['rate_ratio']:.1%} "
        f"(target >= {1 - RATE_TOLERANCE:.0%}): {'met' if v['rate_met'] else 'missed'}"
    )
    lines.append(
        f"  peak RSS at {v['largest']:,} / at {v['smallest']:,}: {v['rss_ratio']:.1%} "
        f"(target <= {1 + RSS_TOLERANCE:.0%}): {'met' if v['rss_met'] else 'missed'}"
    )
    lines.append(f"  every message sent once: {'yes' if v['all_sent_once'] else 'NO'}")
    return "\n".join(lines)


async def curve(args: argparse.Namespace) -> dict[int, dict[str, Any]]:
    by_size: dict[int, dict[str, Any]] = {}
    for size in args.sizes:
        print(f"{size:,} queued ...", flush=True)
        by_size[size] = await one_size(args, size)
        figures = by_size[size]
        print(
            f"  {figures['sent']:,} sent, {figures['steady_rate']}/s steady, claim "
            f"{figures['claim_ms_median']} ms, RSS {figures['rss_peak_mb']} MB",
            flush=True,
        )
    return by_size


def _sizes(text: str) -> list[int]:
    sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError("sizes are positive numbers, comma-separated")
    return sizes


def main() -> None:
    options = parser(__doc__)
    options.set_defaults(db="postgresql")
    options.add_argument("--sizes", type=_sizes, default=_sizes("6500,65000,650000"))
    options.add_argument("--platform", choices=sorted(NAMING), default="slack")
    options.add_argument(
        "--send-at-most",
        type=int,
        default=65_000,
        help="stop once this many are sent (0: all); the rest stay queued",
    )
    options.add_argument(
        "--concurrency", type=int, default=0, help="VALUESBOT_DELIVERY_CONCURRENCY (0: 200)"
    )
    options.add_argument(
        "--explain-every", type=float, default=10.0, help="seconds between claim EXPLAINs"
    )
    options.add_argument(
        "--timeline-every", type=float, default=5.0, help="seconds between RSS/sent points"
    )
    options.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    args = options.parse_args()
    if args.db != "postgresql":
        options.error("the cost curve runs on PostgreSQL only")
    by_size = asyncio.run(curve(args))
    result: dict[str, Any] = {"sizes": {str(k): v for k, v in by_size.items()}}
    result["verdict"] = verdict(by_size)
    chosen = {k: v for k, v in vars(args).items() if k not in ("db", "profile")}
    path = write_result("cost-curve", "postgresql", chosen, result)
    print(report(by_size, result))
    print(f"  -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
