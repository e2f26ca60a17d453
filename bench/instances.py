"""Several instances on one budget: three ``valuesbot serve`` processes on one PostgreSQL database
send one barometer round to 6,500 people of one workspace or tenant, through a mock platform
that enforces the limit and answers 429 beyond it (as ``bench.fanout``, whose pieces this uses).

The instances share the workspace's or tenant's budget through the database (``rate_buckets``,
``bot/delivery/limits.py``): together they must stay within the limit (no 429) and use at least
90% of it, and everyone must get the poll exactly once (no duplicate, nobody missed).

    .venv/bin/python -m bench.instances --platform slack|teams --instances 3 --people 6500

Reported as ``bench.fanout`` reports a fan-out, and for each instance how many messages it sent
(its ``valuesbot_outbox_sent`` counter) and its CPU. Results:
``bench/results/instances-PLATFORM-postgresql.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

import aiohttp

from bench.common import ROOT, Serve, fresh_database, machine, parser, serving, write_result
from bench.fanout import (
    add_options,
    fanout_figures,
    fanout_round,
    idle_memory,
    mock_platform,
    mock_summary,
    outbox_status,
    report,
    seed,
    serve_env,
)

TARGET_SHARE = 0.9


async def sent_by(serve: Serve, platform: str) -> int:
    """The messages one instance sent (``valuesbot_outbox_sent`` on its ``/metrics``)."""
    async with aiohttp.ClientSession() as http, http.get(f"{serve.url}/metrics") as answer:
        text = await answer.text()
    pattern = rf'^valuesbot_outbox_sent_total\{{platform="{platform}"\}} ([0-9.e+]+)$'
    found = re.search(pattern, text, re.MULTILINE)
    return int(float(found.group(1))) if found else 0


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    async with (
        fresh_database("postgresql", "instances") as url,
        mock_platform(args) as (mock, where),
    ):
        env = serve_env(args, url, where["url"])
        started = time.perf_counter()
        await seed(url, args.platform, args.people, where["url"])
        seeded = time.perf_counter() - started
        async with AsyncExitStack() as stack:
            serves = [
                await stack.enter_async_context(
                    serving(env, name=f"instances-{args.platform}-{n + 1}")
                )
                for n in range(args.instances)
            ]
            pids = [s.pid for s in serves]
            idle = await idle_memory(pids)
            run = await fanout_round(args, env, url, pids, mock.pid)
            await asyncio.sleep(1.0)  # anything still in flight lands in the mock's record
            sent = [await sent_by(s, args.platform) for s in serves]
        summary = await mock_summary(where)
        status = await outbox_status(url)
    figures = fanout_figures(args, env, run, summary, status, seeded, idle, None)
    logs = [
        (ROOT / "bench" / "results" / f"instances-{args.platform}-{n + 1}-serve.log").read_text(
            encoding="utf-8", errors="replace"
        )
        for n in range(args.instances)
    ]
    figures["instances"] = args.instances
    figures["sent_by_instance"] = sent
    figures["serve_cpu_s_by_instance"] = [round(c, 1) for c in run["serve_cpu_s"]]
    figures["serve_log_errors"] = sum(
        len(re.findall(r"\b(ERROR|CRITICAL|Traceback)\b", log)) for log in logs
    )
    share = figures["share_of_allowed"] or 0.0
    figures["target"] = (
        f"aggregate <= the limit and >= {TARGET_SHARE:.0%} of it, 0 duplicates, 0 missed, 0 429s"
    )
    figures["target_met"] = bool(
        TARGET_SHARE <= share <= 1.0
        and figures["busiest_second"] <= args.rate
        and figures["duplicates"] == 0
        and figures["missed"] == 0
        and figures["rate_limited_429"] == 0
        and not figures["timed_out"]
    )
    return figures


def print_result(args: argparse.Namespace, figures: Mapping[str, Any]) -> None:
    name = f"instances-{args.platform}-postgresql"
    print(report(f"{name} ({args.instances} instances)", figures, machine()["load_average"]))
    print(f"  sent by each instance          {figures['sent_by_instance']}")
    print(f"  serve CPU s by instance        {figures['serve_cpu_s_by_instance']}")
    print(f"  errors in the serve logs       {figures['serve_log_errors']}")
    verdict = "met" if figures["target_met"] else "MISSED"
    print(f"  target ({figures['target']}): {verdict}")


def main() -> None:
    options = parser(__doc__)
    options.set_defaults(db="postgresql")
    add_options(options)
    options.add_argument("--instances", type=int, default=3, help="valuesbot serve processes")
    args = options.parse_args()
    if args.db != "postgresql" or args.unlimited:
        raise SystemExit("instances share one PostgreSQL database and a limit: --db postgresql")
    figures = asyncio.run(measure(args))
    chosen = {k: v for k, v in vars(args).items() if k not in ("db", "profile")}
    path = write_result(f"instances-{args.platform}", "postgresql", chosen, figures)
    print_result(args, figures)
    print(f"  -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
