"""What one unit of work costs the process, alone: the CPU of ``Database.unit()`` around no
statement, and around what every turn writes first (the event's row, ``SqlEventLog.first_time``),
one unit after another in this process against a fresh database. The difference is what a turn
pays to have a delivery that comes twice count once (item 5, "A sixth off a turn"). And a
dialog's turn: the event's row, then the person's dialog state read, as two statements
("event, then state") or as the one PostgreSQL runs for both ("event with state"; SQLite runs
two either way).

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
from storage.dialog_states import DialogKey, DialogState
from storage.engine import Database

KINDS = ("empty", "event", "event, then state", "event with state")
# The dialog state a dialog's turn reads (saved once, before the units are timed).
KEY = DialogKey("slack", "T1", "D1", "U1")


async def one_kind(database: Database, kind: str, units: int) -> float:
    """Milliseconds of this process's CPU a unit, over ``units`` units of ``kind``."""
    now = datetime.now(UTC)
    started = time.process_time()
    for _ in range(units):
        async with database.unit() as stores:
            if kind != "empty":
                event = f"bench-{secrets.token_hex(8)}"
                dialog = KEY if kind == "event with state" else None
                await stores.events.first_time("slack", event, now, dialog=dialog)
            if kind in ("event, then state", "event with state"):
                await stores.dialogs.load(KEY)
    return (time.process_time() - started) / units * 1000


async def measure(db: str, units: int, rounds: int) -> dict[str, Any]:
    async with fresh_database(db, "unit_cost") as url:
        database = Database(url)
        try:
            async with database.unit() as stores:
                await stores.dialogs.save(
                    KEY, DialogState(dialog="lens", step="s1"), datetime.now(UTC)
                )
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
        "state_read_apart_cpu_ms": round(median["event, then state"] - median["event"], 3),
        "state_read_with_the_event_cpu_ms": round(median["event with state"] - median["event"], 3),
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
    print(
        f"  the dialog state read after it: {figures['state_read_apart_cpu_ms']} ms a unit; "
        f"read with it: {figures['state_read_with_the_event_cpu_ms']} ms"
    )
    print(f"  -> {path}")


if __name__ == "__main__":
    main()
