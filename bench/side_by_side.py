"""valuesbot beside a minimal Bolt app (item 5), in alternation: 50 people on Slack each sending
``/values`` and waiting for the reply (``bench.ack_latency --scenario help``), against the Bolt
app of ``bench/peers/bolt_help.py``, then valuesbot on SQLite, then on PostgreSQL, and again,
``--rounds`` times. Each valuesbot run is set against the Bolt run of its own round, minutes
apart at most, so a machine whose speed drifts during the hour (by a third, on the shared
machines these figures come from) moves both sides of a ratio alike; the verdict is on the
median of the rounds' ratios.

    .venv/bin/python -m bench.side_by_side                 # 3 rounds of 20 s each
    .venv/bin/python -m bench.side_by_side --rounds 5 --duration 10

Results: ``bench/results/side_by_side-help.json`` (every round, the ratios and their medians),
and, for the table's ``/values`` rows, ``ack_latency-help[-bolt]-<db>.json`` from the round
whose ratio is the median.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from bench.ack_latency import Options, measure
from bench.common import write_result

TARGET_TURNS_RATIO = 0.6
TARGET_P99_RATIO = 1.5
DATABASES = ("sqlite", "postgresql")


def ratios(ours: Mapping[str, Any], theirs: Mapping[str, Any]) -> dict[str, float]:
    """valuesbot's turns a second and visible p99 as multiples of the Bolt app's."""
    return {
        "turns": round(ours["turns_per_second"] / theirs["turns_per_second"], 3),
        "p99": round(ours["visible"]["all"]["p99_ms"] / theirs["visible"]["all"]["p99_ms"], 3),
    }


def summary(rounds: Sequence[Mapping[str, Any]], db: str) -> dict[str, Any]:
    """The median of the rounds' ratios on ``db``, the round it came from, and the verdict."""
    turns = [r["ratios"][db]["turns"] for r in rounds]
    p99 = [r["ratios"][db]["p99"] for r in rounds]
    middle = statistics.median_low(turns)
    median = {"turns": statistics.median(turns), "p99": statistics.median(p99)}
    return {
        "turns_ratios": turns,
        "p99_ratios": p99,
        "median": {k: round(v, 3) for k, v in median.items()},
        "median_round": turns.index(middle),
        "met": median["turns"] >= TARGET_TURNS_RATIO and median["p99"] <= TARGET_P99_RATIO,
    }


def one_run(db: str, app: str, duration: float, clients: int) -> Options:
    """``bench.ack_latency --scenario help --teams-share 0`` for ``app`` on ``db``."""
    return Options(
        db=db, clients=clients, duration=duration, teams_share=0.0, scenario="help", app=app
    )


async def alternate(rounds: int, duration: float, clients: int) -> list[dict[str, Any]]:
    done: list[dict[str, Any]] = []
    for n in range(rounds):
        print(f"round {n + 1} of {rounds}", flush=True)
        bolt = await measure(one_run("sqlite", "bolt", duration, clients))
        ours = {db: await measure(one_run(db, "valuesbot", duration, clients)) for db in DATABASES}
        done.append(
            {
                "bolt": bolt,
                "valuesbot": ours,
                "ratios": {db: ratios(ours[db], bolt) for db in DATABASES},
            }
        )
    return done


def main() -> None:
    options = argparse.ArgumentParser(
        description="valuesbot beside a minimal Bolt app, in alternation.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    options.add_argument("--rounds", type=int, default=3, help="rounds of the three runs")
    options.add_argument("--duration", type=float, default=20.0, help="seconds of each run")
    options.add_argument("--clients", type=int, default=50, help="concurrent people")
    args = options.parse_args()
    if args.rounds < 1:
        raise SystemExit("--rounds must be at least 1")
    rounds = asyncio.run(alternate(args.rounds, args.duration, args.clients))
    summaries = {db: summary(rounds, db) for db in DATABASES}
    figures = {
        "rounds": rounds,
        "summary": summaries,
        "target": f"turns/s >= {TARGET_TURNS_RATIO}x, visible p99 <= {TARGET_P99_RATIO}x",
    }
    path = write_result("side_by_side", "help", vars(args), figures)
    for db in DATABASES:
        # The table's /values rows: the round whose ratio is the median, each side of it.
        chosen = rounds[summaries[db]["median_round"]]
        run = {**vars(args), "scenario": "help", "teams_share": 0, "db": db}
        write_result("ack_latency-help", db, run, chosen["valuesbot"][db])
        if db == "sqlite":
            write_result("ack_latency-help-bolt", db, {**run, "app": "bolt"}, chosen["bolt"])
        s = summaries[db]
        print(
            f"{db}: turns/s {s['median']['turns']:.2f}x (rounds {s['turns_ratios']}), "
            f"visible p99 {s['median']['p99']:.2f}x (rounds {s['p99_ratios']}): "
            f"{'met' if s['met'] else 'missed'}"
        )
    print(f"written to {path}")


if __name__ == "__main__":
    main()
