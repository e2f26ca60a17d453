"""What one unit of work costs the process, alone: the CPU of ``Database.unit()`` around no
statement, and around what every turn writes first (the event's row, ``SqlEventLog.first_time``),
one unit after another in this process against a fresh database. The difference is what a turn
pays to have a delivery that comes twice count once (item 5, "A sixth off a turn").

    .venv/bin/python -m bench.unit_cost --db sqlite|postgresql [--units 3000] [--rounds 2]

Writes ``bench/results/unit_cost-<db>.json`` and prints the CPU a unit (``time.process_time``,
so PostgreSQL's own work is not in it), each kind measured ``--rounds`` times in turn.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from bench.common import fresh_database, parser, print_table, write_result
from storage.engine import Database

KINDS = ("empty", "event")


async def one_kind(database: Database, kind: str, units: int) -> float:
    """Milliseconds of this process's CPU a unit, over ``units`` units of ``kind``."""
    now = datetime.now(UTC)
    started = time.process_time()
    for _ in range(units):
        async with database.unit() as stores:
            if kind == "event":
                await stores.events.first_time("slack", f"bench-{secrets.token_hex(8)}", now)
    return (time.process_time() - started) / units * 1000


async def measure(db: str, units: int, rounds: int) -> dict[str, Any]:
    async with fresh_database(db, "unit_cost") as url:
        database = Database(url)
        try:
            await one_kind(database, "event", min(units, 200))  # warm: pool, statement caches
            seen: dict[str, list[float]] = {kind: [] for kind in KINDS}
            for _ in range(rounds):
                for kind in KINDS:
                    seen[kind].append(round(await one_kind(database, kind, units), 3))
        finally:
            await database.dispose()
    median = {kind: statistics.median(values) for kind, values in seen.items()}
    return {
        "units": units,
        "rounds": rounds,
        "cpu_ms_per_unit": seen,
        "median_cpu_ms_per_unit": {k: round(v, 3) for k, v in median.items()},
        "event_row_cpu_ms": round(median["event"] - median["empty"], 3),
    }


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--units", type=int, default=3000, help="units timed per measurement")
    options.add_argument("--rounds", type=int, default=2, help="measurements of each kind")
    args = options.parse_args()
    figures = asyncio.run(measure(args.db, args.units, args.rounds))
    path = write_result("unit_cost", args.db, {"units": args.units, "rounds": args.rounds}, figures)
    print_table(
        f"CPU of one unit of work ({args.db})",
        {kind: {"ms a unit (median)": figures["median_cpu_ms_per_unit"][kind]} for kind in KINDS},
    )
    print(f"  the event's row: {figures['event_row_cpu_ms']} ms a unit")
    print(f"  -> {path}")


if __name__ == "__main__":
    main()
