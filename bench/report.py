"""The results table of docs/benchmarks.md, from the JSON files the benchmarks wrote in
``bench/results/`` (run them first: ``bench/run_all.sh``).

    .venv/bin/python -m bench.report            # Markdown, to paste into docs/benchmarks.md
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


def load(name: str) -> dict[str, Any] | None:
    """One result file, or None when that benchmark has not been run."""
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def ack_rows() -> Iterator[list[str]]:
    for db in ("sqlite", "postgresql"):
        result = load(f"ack_latency-{db}")
        if result is None:
            continue
        figures = result["figures"]
        every = figures["latency"]["all"]
        kinds = ", ".join(
            f"{kind} {row['p99_ms']:.0f}"
            for kind, row in figures["latency"].items()
            if kind != "all"
        )
        yield [
            f"1. Acknowledgement latency, {result['options']['clients']} clients, "
            f"{result['options']['duration']:g} s",
            db,
            f"p50 {every['p50_ms']:.1f} ms, p95 {every['p95_ms']:.1f} ms, "
            f"**p99 {every['p99_ms']:.1f} ms** ({kinds}); {every['count']:,} requests, "
            f"{every['errors']} errors, every answer seen at the mock",
            "p99 < 100 ms, 0 errors",
            verdict(every["p99_ms"] < 100 and every["errors"] == 0),
        ]


def fanout_rows(unlimited: bool) -> Iterator[list[str]]:
    for platform in ("slack", "teams"):
        for db in ("sqlite", "postgresql"):
            name = f"fanout-{platform}{'-unlimited' if unlimited else ''}-{db}"
            result = load(name)
            if result is None:
                continue
            f = result["figures"]
            common = (
                f"{f['sent']:,}/{f['recipients']:,} sent, {f['duplicates']} duplicates, "
                f"{f['missed']} missed, {f['rate_limited_429']} 429s"
            )
            if unlimited:
                yield [
                    f"3. Sender headroom ({platform}, mock limits lifted)",
                    db,
                    f"**{f['rate']:.0f} messages/s** (steady {f['steady_rate']:.0f}/s); "
                    f"{common}; serve CPU {f['serve_cpu_ms_per_message']:.1f} ms/message",
                    "≥ 500/s",
                    verdict(f["rate"] >= 500),
                ]
            else:
                yield [
                    f"2. Fan-out at the limit ({platform}, {f['allowed_rate']:g}/s)",
                    db,
                    f"**{f['share_of_allowed']:.1%} of the allowed rate** ({f['rate']:.1f}/s; "
                    f"steady {f['steady_share_of_allowed']:.1%}); {common}; "
                    f"finished in {f['finish_s']:.0f} s",
                    "≥ 90%, 0 duplicates, 0 missed",
                    verdict(
                        f["share_of_allowed"] >= 0.9 and not f["duplicates"] and not f["missed"]
                    ),
                ]


def memory_rows() -> Iterator[list[str]]:
    for platform in ("slack", "teams"):
        for db in ("sqlite", "postgresql"):
            result = load(f"fanout-{platform}-{db}")
            if result is None:
                continue
            f = result["figures"]
            yield [
                f"6. Memory of `valuesbot serve` ({platform} fan-out of {f['recipients']:,})",
                db,
                f"idle {f['rss_idle_mb']:.0f} MB, **peak {f['rss_peak_mb']:.0f} MB**",
                "< 250 MB",
                verdict(f["rss_peak_mb"] < 250),
            ]


def answer_rows() -> Iterator[list[str]]:
    for db in ("sqlite", "postgresql"):
        result = load(f"answers-{db}")
        if result is None:
            continue
        f = result["figures"]
        answer = f["latency"]["answer click"]
        every = f["latency"]["all"]
        people = result["options"]["people"]
        yield [
            f"4. Answer burst, {people:,} answers, {result['options']['clients']} clients",
            db,
            f"**p99 {answer['p99_ms']:.0f} ms** (p50 {answer['p50_ms']:.0f}; with retries "
            f"and double clicks p99 {every['p99_ms']:.0f}); {f['answers_per_second']:.0f} "
            f"answers/s; {f['participation_rows']:,} answered, "
            f"{f['responses_per_question_min_max'][0]:,} per question, stored exactly once: "
            f"{'yes' if f['stored_exactly_once'] else 'NO'}; peak RSS "
            f"{f['rss_during_burst_mib']['peak_mib']:.0f} MB",
            "p99 < 200 ms, exactly once",
            verdict(answer["p99_ms"] < 200 and f["stored_exactly_once"]),
        ]


def national_rows() -> Iterator[list[str]]:
    result = load("national")
    if result is None:
        return
    timings = result["timings_seconds"]
    published = timings["published_figures"]
    pages = ", ".join(
        f"{key.removeprefix('GET ')} {value['median']:.2f} s"
        for key, value in timings.items()
        if key.startswith("GET ")
    )
    yield [
        f"5. Results at national scale, {result['responses']:,} responses",
        "postgresql",
        f"**{published['median']:.3f} s** warm median (cold {published['cold']:.3f} s, max "
        f"{published['max']:.3f} s); pages {pages}; closing the round "
        f"{timings['close_round']:.0f} s once; {result['checks']}",
        "< 2 s",
        verdict(published["median"] < 2),
    ]


def mixed_rows() -> Iterator[list[str]]:
    for db in ("sqlite", "postgresql"):
        result = load(f"mixed-{db}")
        if result is None:
            continue
        f = result["figures"]
        o = result["options"]
        every = f["latency"]["all"]
        kinds = ", ".join(
            f"{kind} {row['p99_ms']:.0f}"
            for kind, row in f["latency"].items()
            if kind != "all" and row.get("count")
        )
        fan = f["fanout"]
        alone = (f.get("fanout_alone") or {}).get("rate")
        yield [
            f"7. Mixed load: {o['clients']} interactive clients while {o['fanout_people']:,} "
            f"Teams messages go out (limits lifted) and {o['people']:,} answers come from "
            f"{o['answer_clients']} clients, one serve",
            db,
            f"**interactive p99 {every['p99_ms']:.0f} ms** ({kinds}); {every['count']:,} "
            f"requests, {every['errors']} errors; answers p99 "
            f"{f['answer_latency']['all']['p99_ms']:.0f} ms, stored exactly once: "
            f"{'yes' if f['stored_exactly_once'] else 'NO'}; fan-out {fan['rate']:.0f}/s "
            f"(alone {alone:.0f}/s), {fan['duplicates']} duplicates, {fan['missed']} missed"
            if alone
            else f"**interactive p99 {every['p99_ms']:.0f} ms** ({kinds}); {every['errors']} "
            f"errors; fan-out {fan['rate']:.0f}/s",
            "p99 < 100 ms, 0 errors",
            verdict(f["target_met"]),
        ]


def instances_rows() -> Iterator[list[str]]:
    for platform in ("slack", "teams"):
        result = load(f"instances-{platform}-postgresql")
        if result is None:
            continue
        f = result["figures"]
        yield [
            f"8. {f['instances']} instances on one {platform} budget ({f['allowed_rate']:g}/s)",
            "postgresql",
            f"**{f['share_of_allowed']:.1%} of the allowed rate** ({f['rate']:.1f}/s; busiest "
            f"second {f['busiest_second']}); {f['sent']:,}/{f['recipients']:,} sent (by "
            f"instance {', '.join(str(n) for n in f['sent_by_instance'])}), "
            f"{f['duplicates']} duplicates, {f['missed']} missed, {f['rate_limited_429']} 429s",
            "≤ limit and ≥ 90%, 0 duplicates, 0 missed, 0 429s",
            verdict(f["target_met"]),
        ]


def table() -> str:
    rows = [
        *ack_rows(),
        *fanout_rows(unlimited=False),
        *fanout_rows(unlimited=True),
        *answer_rows(),
        *national_rows(),
        *memory_rows(),
        *mixed_rows(),
        *instances_rows(),
    ]
    lines = [
        "| measurement | database | figures | target | |",
        "|---|---|---|---|---|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
    return "\n".join(lines)


def main() -> None:
    if not RESULTS.exists() or not any(RESULTS.glob("*.json")):
        sys.exit("no results in bench/results/: run bench/run_all.sh first")
    print(table())


if __name__ == "__main__":
    main()
