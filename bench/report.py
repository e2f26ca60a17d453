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
            f"6.1 Acknowledgement latency, {result['options']['clients']} clients, "
            f"{result['options']['duration']:g} s",
            db,
            f"p50 {every['p50_ms']:.1f} ms, p95 {every['p95_ms']:.1f} ms, "
            f"**p99 {every['p99_ms']:.1f} ms** ({kinds}); {every['count']:,} requests, "
            f"{every['errors']} errors, every answer seen at the mock",
            "p99 < 100 ms, 0 errors",
            verdict(every["p99_ms"] < 100 and every["errors"] == 0),
        ]


def _visible(figures: dict[str, Any]) -> str:
    every = figures["visible"]["all"]
    kinds = ", ".join(
        f"{kind} {row['p99_ms']:.0f}" for kind, row in figures["visible"].items() if kind != "all"
    )
    return (
        f"**p99 {every['p99_ms']:.0f} ms** (p50 {every['p50_ms']:.0f}; {kinds}); "
        f"**{figures['turns_per_second']:.0f} turns/s**; serve CPU "
        f"{figures['serve_cpu_ms_per_turn']:.1f} ms a turn; "
        f"{figures['latency']['all']['errors']} errors"
    )


def visible_rows() -> Iterator[list[str]]:
    """What a person waits for: the whole journey at 10, 50 and 200 people, and ``/values``."""
    for db in ("sqlite", "postgresql"):
        for clients in (10, 50, 200):
            name = "ack_latency" if clients == 50 else f"ack_latency-{clients}"
            result = load(f"{name}-{db}")
            if result is None or "visible" not in result["figures"]:
                continue
            figures = result["figures"]
            target = clients == 50
            yield [
                f"0. Visible answer, check-ins by clicks, {clients} people",
                db,
                _visible(figures),
                "p99 < 250 ms, ≥ 250 turns/s" if target else "(no target)",
                verdict(figures["visible_target_met"]) if target else "",
            ]
        result = load(f"ack_latency-help-{db}")
        if result is not None:
            figures = result["figures"]
            yield [
                "0. Visible answer, `/values` again and again, 50 people (Slack)",
                db,
                _visible(figures),
                "p99 < 250 ms, ≥ 250 turns/s",
                verdict(figures["visible_target_met"]),
            ]


def bolt_rows() -> Iterator[list[str]]:
    """valuesbot beside a minimal Bolt app on the same ``/values`` load, in alternation
    (``bench.side_by_side``): the median of the rounds' ratios."""
    result = load("side_by_side-help")
    if result is None:
        return
    figures = result["figures"]
    for db, s in figures["summary"].items():
        chosen = figures["rounds"][s["median_round"]]
        ours, theirs = chosen["valuesbot"][db], chosen["bolt"]
        rounds = len(figures["rounds"])
        yield [
            "5. `/values` for 50 people: valuesbot beside a minimal Bolt app, "
            f"{rounds} rounds in alternation",
            db,
            f"turns/s **{s['median']['turns']:.2f}x** (rounds: "
            f"{', '.join(f'{r:.2f}' for r in s['turns_ratios'])}; in the median round "
            f"{ours['turns_per_second']:.0f} vs {theirs['turns_per_second']:.0f}, serve CPU "
            f"{ours['serve_cpu_ms_per_turn']:.2f} vs {theirs['serve_cpu_ms_per_turn']:.2f} ms "
            f"a turn); visible p99 **{s['median']['p99']:.2f}x** (rounds: "
            f"{', '.join(f'{r:.2f}' for r in s['p99_ratios'])}; "
            f"{ours['visible']['all']['p99_ms']:.0f} ms vs "
            f"{theirs['visible']['all']['p99_ms']:.0f} ms)",
            "turns/s ≥ 0.6x, p99 ≤ 1.5x",
            verdict(s["met"]),
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
                    f"6.3 Sender headroom ({platform}, mock limits lifted)",
                    db,
                    f"**{f['rate']:.0f} messages/s** (steady {f['steady_rate']:.0f}/s); "
                    f"{common}; serve CPU {f['serve_cpu_ms_per_message']:.1f} ms/message",
                    "≥ 500/s",
                    verdict(f["rate"] >= 500),
                ]
            else:
                yield [
                    f"6.2 Fan-out at the limit ({platform}, {f['allowed_rate']:g}/s)",
                    db,
                    f"**{f['share_of_allowed']:.1%} of the allowed rate** ({f['rate']:.1f}/s; "
                    f"steady {f['steady_share_of_allowed']:.1%}); {common}; "
                    f"finished in {f['finish_s']:.0f} s",
                    "≥ 90%, 0 duplicates, 0 missed",
                    verdict(
                        f["share_of_allowed"] >= 0.9 and not f["duplicates"] and not f["missed"]
                    ),
                ]


def peers_rows() -> Iterator[list[str]]:
    for platform in ("slack", "teams"):
        result = load(f"peers-fanout-{platform}-sqlite")
        if result is None:
            continue
        f = result["figures"]
        loop, ours, outcome = f.get("loop"), f.get("valuesbot"), f["verdict"]
        if loop is None or ours is None:
            continue
        yield [
            f"5. Time to reach {ours['recipients']:,} at the limit ({platform}): a sequential "
            "loop as the samples write it vs valuesbot",
            "sqlite",
            f"**valuesbot {outcome['ratio']:.2f}x faster** ({ours['time_to_reach_all_s']:.0f} s "
            f"vs {loop['time_to_reach_all_s']:.0f} s; the sending alone "
            f"{outcome['sending_ratio'] or '-'}x); 429s {ours['rate_limited_429']} vs "
            f"{loop['rate_limited_429']}; {ours['rate']:.1f} vs {loop['rate']:.1f} messages/s; "
            f"missed {ours['missed']} vs {loop['missed']}, duplicates {ours['duplicates']} vs "
            f"{loop['duplicates']}",
            "≥ 1.5x, 0 429s",
            verdict(bool(outcome["met"])),
        ]


def memory_rows() -> Iterator[list[str]]:
    for platform in ("slack", "teams"):
        for db in ("sqlite", "postgresql"):
            result = load(f"fanout-{platform}-{db}")
            if result is None:
                continue
            f = result["figures"]
            yield [
                f"6.6 Memory of `valuesbot serve` ({platform} fan-out of {f['recipients']:,})",
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
            f"6.4 Answer burst, {people:,} answers, {result['options']['clients']} clients",
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
        thanks = f.get("thanks_visible")
        if thanks and thanks.get("count"):
            yield [
                f"0. Visible answer in the answer burst: the thanks on each of the {people:,} "
                "cards",
                db,
                f"**p99 {thanks['p99_ms']:.0f} ms** (p50 {thanks['p50_ms']:.0f} ms, max "
                f"{thanks['max_ms']:.0f} ms) from the click to the card's change at Slack; "
                f"{thanks['count']:,} cards",
                "p99 < 250 ms",
                verdict(thanks["p99_ms"] < 250),
            ]


def _thanks(figures: dict[str, Any]) -> str:
    thanks = figures["thanks_visible"]
    return f"p99 {thanks['p99_ms']:,.0f} ms (p50 {thanks['p50_ms']:,.0f})"


def bolt_burst_rows() -> Iterator[list[str]]:
    """The answer burst's thanks beside the minimal Bolt app's, on the same clicks: the burst
    of 6.4 (each client's next click after the last one's answer), then people answering at
    steady rates whatever the answers (``--rate``)."""
    bolt = load("answers-bolt-sqlite")
    if bolt is not None:
        b = bolt["figures"]
        ours = {db: load(f"answers-{db}") for db in ("sqlite", "postgresql")}
        figures = "; ".join(
            f"valuesbot {db}: **{_thanks(r['figures'])}**, acknowledged at "
            f"{r['figures']['answers_per_second']:,.0f} answers/s"
            for db, r in ours.items()
            if r is not None
        )
        yield [
            f"0. The same burst ({bolt['options']['people']:,} answers, "
            f"{bolt['options']['clients']} clients) taken by a minimal Bolt app that updates "
            "each card as it acknowledges the click",
            "sqlite (valuesbot's)",
            f"Bolt: **{_thanks(b)}**, acknowledged at {b['answers_per_second']:,.0f} answers/s "
            f"(acknowledgement p99 {b['latency']['all']['p99_ms']:.0f} ms); {figures}",
            "(no target: what the burst's 250 ms asks of any app)",
            "",
        ]
    rates = sorted(
        {
            float(path.stem.split("-rate")[1].rsplit("-", 1)[0])
            for path in RESULTS.glob("answers*-rate*.json")
        }
    )
    for rate in rates:
        found = {
            "valuesbot sqlite": load(f"answers-rate{rate:g}-sqlite"),
            "valuesbot postgresql": load(f"answers-rate{rate:g}-postgresql"),
            "Bolt": load(f"answers-bolt-rate{rate:g}-sqlite"),
        }
        people = next(r["options"]["people"] for r in found.values() if r is not None)
        yield [
            f"0. The thanks when {people:,} people answer at {rate:g} a second (each at their "
            "own time), beside the minimal Bolt app",
            "both",
            "; ".join(
                f"{who}: **{_thanks(r['figures'])}**" for who, r in found.items() if r is not None
            ),
            "(no target)",
            "",
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
        f"6.5 Results at national scale, {result['responses']:,} responses",
        "postgresql",
        f"**{published['median']:.3f} s** warm median (cold {published['cold']:.3f} s, max "
        f"{published['max']:.3f} s); pages {pages}; closing the round "
        f"{timings['close_round']:.0f} s once; {result['checks']}",
        "< 2 s",
        verdict(published["median"] < 2),
    ]


def national_close_rows() -> Iterator[list[str]]:
    result = load("national")
    if result is None or "close" not in result:
        return
    close = result["close"]
    yield [
        f"2. Closing a national round (count and seal), {result['responses']:,} responses",
        "postgresql",
        f"**{close['seconds']:.1f} s** (counting {close['count_seconds']:.1f} s, sealing "
        f"{close['seal_seconds']:.1f} s; PostgreSQL CPU {close['server_cpu_seconds']:.1f} s)",
        f"< {close['target_seconds']:g} s",
        verdict(close["target_met"]),
    ]


def national_plan_rows() -> Iterator[list[str]]:
    plan = load("national_plan")
    if plan is None:
        return
    run = plan["run"]
    ratios = [s["eta_ratio"] for s in run["snapshots"] if s.get("eta_ratio") is not None]
    days = "; ".join(f"{d['day']} {d['starts']}-{d['ends']}: {d['people']:,}" for d in plan["plan"])
    yield [
        f"2. A national round at Teams' limit: {plan['people']:,} people, "
        f"{plan['limit_per_second']:g}/s (simulated time)",
        "sqlite",
        f"plan: {plan['sending_hours']:g} hours of sending over {plan['working_days']} working "
        f"days ({days}); the compressed run (1/{plan['scale']}) finished {run['finished']}, "
        f"{run['duplicates']} duplicates, {run['throttled_429']} 429s; the ETA shown was "
        f"{min(ratios):.2f}-{max(ratios):.2f} of the time actually left",
        "ETA within 10% of the run",
        verdict(bool(ratios) and min(ratios) >= 0.9 and max(ratios) <= 1.1),
    ]


def cost_curve_rows() -> Iterator[list[str]]:
    result = load("cost-curve-postgresql")
    if result is None:
        return
    sizes = result["figures"]["sizes"]
    verdicts = result["figures"]["verdict"]
    steps = "; ".join(
        f"{int(n):,} queued: {f['steady_rate']:.0f}/s, serve CPU "
        f"{f['serve_cpu_ms_per_message']:.2f} ms, database CPU {f['db_cpu_ms_per_message']:.2f} "
        f"ms a message, claim {f['claim_ms_median']:.1f} ms, peak RSS {f['rss_peak_mb']:.0f} MB"
        + (f" ({f['sent']:,} sent)" if f["sent"] < f["queued"] else "")
        for n, f in sizes.items()
    )
    yield [
        "1. Cost curve of the unlimited Slack fan-out",
        "postgresql",
        f"**{verdicts['rate_ratio']:.0%} of the rate, {verdicts['rss_ratio']:.0%} of the peak "
        f"RSS** at {verdicts['largest']:,} against {verdicts['smallest']:,}: {steps}",
        "rate ≥ 85%, RSS ≤ 120%",
        verdict(verdicts["met"]),
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
            f"3. Mixed load: {o['clients']} interactive clients while {o['fanout_people']:,} "
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
            f"4. {f['instances']} instances on one {platform} budget ({f['allowed_rate']:g}/s)",
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
        *visible_rows(),
        *answer_rows(),
        *bolt_burst_rows(),
        *cost_curve_rows(),
        *national_close_rows(),
        *national_plan_rows(),
        *mixed_rows(),
        *instances_rows(),
        *bolt_rows(),
        *peers_rows(),
        *ack_rows(),
        *fanout_rows(unlimited=False),
        *fanout_rows(unlimited=True),
        *national_rows(),
        *memory_rows(),
    ]
    # By the item they answer (0-6); each item's rows in the order above.
    rows.sort(key=lambda row: row[0].split(" ", 1)[0])
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
