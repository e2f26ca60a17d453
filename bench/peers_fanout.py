"""Time to reach 6,500 people at the platform's limit: a straightforward sender, as the
platforms' samples write it, against ``valuesbot serve``.

Both send one poll to each of ``--people`` people through the same mock platform
(``bench.mock_platform``, a process of its own, started afresh for each sender) with the same
limits as ``bench.fanout``: Slack 50 messages/s per workspace (token) and 1/s per channel;
Teams 50 requests/s per tenant and 7/s per conversation; beyond them HTTP 429 with
``Retry-After``.

- the loop (``bench.peers.slack_loop`` / ``bench.peers.teams_loop``, each module's text says
  exactly what it does): one message after another with the SDK (slack_sdk's
  ``AsyncWebClient`` with its rate-limit retry handler; the Agents SDK's ``CloudAdapter``
  proactive turns with the retry Microsoft's guidance describes), in a process of its own;
- valuesbot: ``bench.fanout`` as it is (a real ``valuesbot serve`` whose delivery workers send
  the round that ``valuesbot barometer open`` queues), at the same limit.

Reported for each: time to reach everyone, from the command that starts the sending to the last
message the mock accepted (the loop: from starting its process, imports included; valuesbot:
from starting ``valuesbot barometer open``, so that command's start and the queueing count
against it, as the process's start counts against the loop), the span between the first and the last
accepted message, messages/s, 429s received, duplicates and missed people (from the mock's
record of accepted messages per conversation), and the ratio of the loop's time to valuesbot's.
Target: valuesbot at least 1.5x faster at the limit, with 0 429s.

    .venv/bin/python -m bench.peers_fanout --platform slack --people 6500
    .venv/bin/python -m bench.peers_fanout --platform teams --people 6500
    .venv/bin/python -m bench.peers_fanout --platform slack --people 500 --only loop   # quick

Results: ``bench/results/peers-fanout-PLATFORM-DB.json`` (``--only`` runs are written with the
sender's name added, so they never replace a comparison).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any

import aiohttp

from bench import fanout
from bench.common import ROOT, cpu_seconds, machine, parser, write_result
from bench.peers import slack_loop, teams_loop

TARGET_RATIO = 1.5


def children_cpu() -> float:
    """CPU seconds used by this process's children that have ended."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def summary_of(control: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{control}/summary") as answer:
        result: dict[str, Any] = await answer.json()
        return result


async def run_loop(args: argparse.Namespace) -> dict[str, Any]:
    """The sample's loop against a fresh mock; its figures."""
    mock, where = await fanout.start_mock(mock_options(args))
    try:
        if args.platform == "slack":
            command = ["-m", "bench.peers.slack_loop", "--api-url", where["url"]]
            expected = {slack_loop.user_id(n) for n in range(args.people)}
        else:
            command = ["-m", "bench.peers.teams_loop", "--service-url", where["url"]]
            expected = {teams_loop.conversation_id(n) for n in range(args.people)}
        cpu_before = children_cpu()
        mock_cpu_before = cpu_seconds(mock.pid)
        spawned_at = time.time()
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            "--people",
            str(args.people),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        try:
            out, _ = await asyncio.wait_for(process.communicate(), args.timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise SystemExit(f"the loop did not finish in {args.timeout:g} s") from None
        if process.returncode != 0:
            raise SystemExit(f"the loop failed (exit {process.returncode})")
        cpu = children_cpu() - cpu_before
        mock_cpu = cpu_seconds(mock.pid) - mock_cpu_before
        outcome = json.loads(out.decode().strip().splitlines()[-1])
        await asyncio.sleep(1.0)  # anything still in flight lands in the mock's record
        summary = await summary_of(where["control"])
    finally:
        if mock.returncode is None:
            mock.send_signal(signal.SIGTERM)
            await mock.wait()
    counts: Mapping[str, int] = summary["conversations"]
    times: list[float] = summary["times"]
    reached = {c for c in expected if counts.get(c, 0) > 0}
    sent = sum(counts.values())
    figures = fanout.rate_figures(times)
    last = max(times) if times else outcome["finished_at"]
    return {
        "sender": "loop",
        "what": f"bench.peers.{args.platform}_loop",
        "recipients": args.people,
        "sent": sent,
        "reached": len(reached),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1),
        "missed": args.people - len(reached),
        "strays": sum(n for c, n in counts.items() if c not in expected),
        "rate_limited_429": len(summary["rate_limited"]),
        "loop_failures": outcome["failed"],
        "loop_errors": outcome["errors"],
        "loop_retries": outcome.get("retried"),
        "busiest_second": fanout.busiest_second(times) if times else 0,
        "rate": _round(figures["rate"]),
        "steady_rate": _round(figures["steady_rate"]),
        "span_s": _round(figures["span_s"]),
        "time_to_reach_all_s": round(last - spawned_at, 1),
        "start_s": round(outcome["started_at"] - spawned_at, 2),
        "first_send_after_start_s": round(min(times) - spawned_at, 2) if times else None,
        "loop_run_s": round(outcome["finished_at"] - outcome["started_at"], 1),
        "sender_cpu_ms_per_message": round(1000 * cpu / max(1, sent), 2),
        "mock_cpu_ms_per_message": round(1000 * mock_cpu / max(1, sent), 2),
    }


async def run_valuesbot(args: argparse.Namespace) -> dict[str, Any]:
    """``bench.fanout`` at the same limit; its figures, in the loop's terms."""
    result = await fanout.fanout(fanout_options(args))
    return {
        "sender": "valuesbot",
        "what": "valuesbot serve (bench.fanout)",
        "recipients": result["recipients"],
        "sent": result["sent"],
        "reached": result["reached"],
        "duplicates": result["duplicates"],
        "missed": result["missed"],
        "rate_limited_429": result["rate_limited_429"],
        "busiest_second": result["busiest_second"],
        "rate": result["rate"],
        "steady_rate": result["steady_rate"],
        "span_s": None,  # filled in below from the rate (first..last)
        "time_to_reach_all_s": result["finish_s"],
        "start_s": result["open_s"],
        "first_send_after_start_s": result["first_send_after_open_s"],
        "sender_cpu_ms_per_message": result["serve_cpu_ms_per_message"],
        "mock_cpu_ms_per_message": result["mock_cpu_ms_per_message"],
        "outbox": result["outbox"],
        "settings": result["settings"],
    } | {
        "span_s": round((result["sent"] - 1) / result["rate"], 1)
        if result["rate"] and result["sent"] > 1
        else None
    }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def mock_options(args: argparse.Namespace) -> argparse.Namespace:
    """The options ``bench.fanout`` starts its mock with: the same limits for both."""
    return argparse.Namespace(platform=args.platform, rate=args.rate, unlimited=False)


def fanout_options(args: argparse.Namespace) -> argparse.Namespace:
    return argparse.Namespace(
        platform=args.platform,
        people=args.people,
        rate=args.rate,
        unlimited=False,
        concurrency=0,
        timeout=args.timeout,
        db=args.db,
        profile=False,
    )


def verdict(loop: Mapping[str, Any] | None, ours: Mapping[str, Any] | None) -> dict[str, Any]:
    """The ratio of the loop's time to valuesbot's, and whether the target is met."""
    if loop is None or ours is None:
        return {"ratio": None, "met": None}
    ratio = loop["time_to_reach_all_s"] / ours["time_to_reach_all_s"]
    clean = ours["rate_limited_429"] == 0 and ours["missed"] == 0 and ours["duplicates"] == 0
    spans = (loop["span_s"], ours["span_s"])
    return {
        "ratio": round(ratio, 2),
        # The sending alone (first to last accepted message), without the start of either.
        "sending_ratio": round(spans[0] / spans[1], 2) if spans[0] and spans[1] else None,
        "target": f">= {TARGET_RATIO}x, valuesbot with 0 429s, 0 missed, 0 duplicates",
        "met": ratio >= TARGET_RATIO and clean,
    }


def report(args: argparse.Namespace, figures: Mapping[str, Any]) -> str:
    senders = [s for s in (figures.get("loop"), figures.get("valuesbot")) if s is not None]
    rows = [
        ("time to reach all s", "time_to_reach_all_s"),
        ("first accepted after start s", "first_send_after_start_s"),
        ("first..last accepted s", "span_s"),
        ("messages/s (first..last)", "rate"),
        ("steady messages/s (5%..95%)", "steady_rate"),
        ("reached / recipients", None),
        ("429s received", "rate_limited_429"),
        ("duplicates", "duplicates"),
        ("missed", "missed"),
        ("busiest second (accepted)", "busiest_second"),
        ("sender CPU ms per message", "sender_cpu_ms_per_message"),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [
        f"peers-fanout-{args.platform}-{args.db}  ({fanout.limits_note(fanout_options(args))})",
        f"  {'':<{width}}  " + "".join(f"{s['sender']:>14}" for s in senders),
    ]
    for name, key in rows:
        cells = [
            f"{s['reached']}/{s['recipients']}" if key is None else str(s.get(key)) for s in senders
        ]
        lines.append(f"  {name:<{width}}  " + "".join(f"{c:>14}" for c in cells))
    outcome = figures["verdict"]
    if outcome["ratio"] is not None:
        mark = "met" if outcome["met"] else "missed"
        lines.append(
            f"  valuesbot is {outcome['ratio']:.2f}x faster to reach everyone "
            f"(target {outcome['target']}): {mark}"
        )
        lines.append(f"  sending alone (first..last accepted): {outcome['sending_ratio']}x")
    lines.append(
        "  load average (1, 5, 15 min): " + " ".join(f"{x:.2f}" for x in machine()["load_average"])
    )
    return "\n".join(lines)


async def compare(args: argparse.Namespace) -> dict[str, Any]:
    figures: dict[str, Any] = {"limits": fanout.limits_note(fanout_options(args))}
    if args.only in (None, "loop"):
        figures["loop"] = await run_loop(args)
    if args.only in (None, "valuesbot"):
        figures["valuesbot"] = await run_valuesbot(args)
    figures["verdict"] = verdict(figures.get("loop"), figures.get("valuesbot"))
    return figures


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--platform", choices=["slack", "teams"], default="slack")
    options.add_argument("--people", type=int, default=6500)
    options.add_argument("--rate", type=float, default=50.0, help="workspace/tenant budget, msg/s")
    options.add_argument(
        "--only", choices=["loop", "valuesbot"], default=None, help="run one sender only"
    )
    options.add_argument("--timeout", type=float, default=1800.0, help="give up after (s)")
    args = options.parse_args()
    started = time.perf_counter()
    figures = asyncio.run(compare(args))
    figures["bench_s"] = round(time.perf_counter() - started, 1)
    name = f"peers-fanout-{args.platform}" + (f"-{args.only}" if args.only else "")
    chosen = {k: v for k, v in vars(args).items() if k not in ("db", "profile")}
    path = write_result(name, args.db, chosen, figures)
    print(report(args, figures))
    print(f"  -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
