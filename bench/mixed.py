"""Mixed load: people using the bot while a fan-out runs at full speed and a poll is answered in a
burst, all against one ``valuesbot serve`` process.

At once, for as long as the fan-out and the burst last:

- 50 interactive clients (half Slack, half Teams) go through values lens check-ins by clicks,
  as in ``bench.ack_latency``; their acknowledgement times are the figure that counts;
- a barometer round's poll goes to 6,500 people on Teams through a mock Bot Connector in a
  process of its own with its limits lifted, the bot's rates at the settings' maximum, as in
  ``bench.fanout --platform teams --unlimited``;
- 6,500 people on Slack who have the same round's poll answer it from 200 concurrent clients in
  processes of their own (retries and double clicks included), as in ``bench.answers``.

One round serves both: comms open it (``valuesbot barometer open``) for everyone the bot knows
(the 6,500 Slack people who answer, the 6,500 Teams people of the fan-out). Its Teams messages
are held back in the outbox (their ``next_attempt_at`` a day ahead) until the Slack people have
their cards, then all made due at the moment the mix begins: to the delivery worker, the same
6,500 due messages a round's opening queues. The fan-out goes through Teams because one serve
process has one Slack API URL, and the Slack mock that records the answers' cards and the
interactive clients' answers runs in this process.

The fan-out's rate is compared with the same fan-out alone (run first, with ``bench.fanout``,
unless ``--no-alone``). Afterwards the database must hold each answer exactly once.

    .venv/bin/python -m bench.mixed --db sqlite|postgresql
    .venv/bin/python -m bench.mixed --db sqlite --people 1000 --fanout-people 1000 --no-alone

Results: ``bench/results/mixed-DB.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from sqlalchemy import update

from bench import fanout
from bench.ack_latency import (
    TARGET_P99_MS,
    Run,
    ack_figures,
    everyone,
    log_errors,
    slack_and_teams,
    use_the_bot,
    warm_up,
)
from bench.answers import (
    DELIVERY,
    all_thanked,
    answer_latency,
    answer_requests,
    burst,
    card_of,
    client_processes,
    stored_answers,
)
from bench.clients import TEAM, Recorder, Slack, Teams, wait_until
from bench.common import (
    ROOT,
    MemorySampler,
    cpu_seconds,
    fresh_database,
    parser,
    print_table,
    profiling,
    serving,
    steady_generator,
    write_result,
)
from storage.delivery.tables import OutboxRow
from storage.engine import make_engine
from tests.adapters.slack.workspace import direct
from tests.mocks.bot_connector import MockBotConnector
from tests.mocks.slack_api import MockSlackApi

DONE = ("sent", "failed", "uncertain")


async def set_due(url: str, platform: str, when: datetime) -> int:
    """Make the platform's queued outbox messages due at ``when``; how many there were."""
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            changed = await connection.execute(
                update(OutboxRow)
                .where(OutboxRow.platform == platform, OutboxRow.status == "queued")  # type: ignore[arg-type]
                .values(next_attempt_at=when)
            )
            return int(changed.rowcount)
    finally:
        await engine.dispose()


async def seed_answerers(url: str, users: list[str]) -> None:
    """The Slack people who answer, known to the bot with their direct chats (as the Slack
    adapter records people at first contact)."""
    from bot.events import Actor, ConversationKind, ConversationRef, Platform

    await fanout.seed_people(
        url,
        [
            (
                ConversationRef(
                    platform=Platform.SLACK,
                    tenant=TEAM,
                    conversation=direct(user),
                    kind=ConversationKind.DIRECT,
                ),
                Actor(id=user, name=f"Person {user}", timezone="Europe/London"),
            )
            for user in users
        ],
    )


def fanout_args(args: argparse.Namespace) -> argparse.Namespace:
    """The ``bench.fanout`` options of the mix's fan-out (Teams, limits lifted)."""
    return argparse.Namespace(
        platform="teams",
        db=args.db,
        people=args.fanout_people,
        rate=50.0,
        unlimited=True,
        concurrency=0,
        timeout=args.timeout,
        profile=False,
    )


async def alone(args: argparse.Namespace) -> dict[str, Any] | None:
    """The same fan-out with nothing else going on (``bench.fanout``)."""
    if not args.alone:
        return None
    figures = await fanout.fanout(fanout_args(args))
    return {k: figures[k] for k in ("rate", "steady_rate", "sent", "duplicates", "missed")}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    by_itself = await alone(args)
    fan = fanout_args(args)
    users = [f"U0P{n:05d}" for n in range(1, args.people + 1)]
    async with (
        fresh_database(args.db, "mixed") as url,
        MockSlackApi() as api,
        MockBotConnector() as connector,
        fanout.mock_platform(fan) as (_mock, where),
    ):
        env = {
            **DELIVERY,
            **fanout.serve_env(fan, url, where["url"]),
            **slack_and_teams(url, api, connector),
            "VALUESBOT_BAROMETER_AUTO": "false",
        }
        await fanout.seed(url, "teams", args.fanout_people, where["url"])
        await seed_answerers(url, users)
        # The round, for everyone known; its Teams messages wait until the mix begins.
        await fanout.run_cli(env, "barometer", "open")
        held = await set_due(url, "teams", datetime.now(UTC) + timedelta(days=1))
        async with (
            serving(env, name=f"mixed-{args.db}") as serve,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            recorder = Recorder()
            slack = Slack(http, serve.url, api, recorder)
            teams = Teams(http, serve.url, connector, recorder)
            if not await wait_until(
                lambda: all(card_of(api, u) for u in users), limit=1800, every=0.5
            ):
                raise RuntimeError("the poll card did not reach everyone; see " + str(serve.log))
            cards = {u: card_of(api, u) for u in users}  # updated in place by chat.update
            await warm_up(recorder, slack, teams)
            answers = answer_requests(slack, cards, args.retry_every, args.double_every)
            people = everyone(slack, teams, args.clients, 0.5)
            await asyncio.sleep(1.0)  # the delivery worker and the warm-up's turns go quiet

            async with client_processes(args.answer_clients) as (pool, processes):
                sampler = MemorySampler(serve.pid)
                async with profiling(serve.pid, f"mixed-{args.db}", enabled=args.profile):
                    sampler.start()
                    with steady_generator() as generator:
                        cpu = cpu_seconds(serve.pid), cpu_seconds()
                        run = Run(recorder, math.inf)
                        interactive = asyncio.gather(*(use_the_bot(run, who) for who in people))
                        started = time.monotonic()
                        released = await set_due(url, "teams", datetime.now(UTC))
                        sending = asyncio.create_task(
                            wait_for_outbox(url, "teams", args.fanout_people, args.timeout)
                        )
                        answered, burst_s, _ = await burst(
                            pool,
                            f"{serve.url}/slack/events",
                            answers,
                            args.answer_clients,
                            processes,
                        )
                        fanned_out = await sending
                        mix_s = time.monotonic() - started
                        # Only acknowledgements that came while the mix lasted are timed; the
                        # clients finish the check-in they are in (its errors still count).
                        recorder.recording = False
                        run.until = 0.0
                        await interactive
                        serve_cpu = cpu_seconds(serve.pid) - cpu[0]
                        # This process: the interactive clients and the Slack and Teams mocks
                        # that answer the bot's replies (the answers' clients have their own).
                        bench_cpu = cpu_seconds() - cpu[1]
                thanked = await all_thanked(cards)
                settled_s = time.monotonic() - started
                await sampler.stop()
            await asyncio.sleep(1.0)  # anything still in flight lands in the mock's record
            summary = await fanout.mock_summary(where)
            teams_outbox = await fanout.outbox_status(url, "teams")
        errors_in_log = log_errors(serve.log)
        stored = await stored_answers(url, args.people)

    ack = ack_figures(recorder)
    answer = answer_latency(answered)
    reached = fanout.reach(summary, args.fanout_people)
    rates = fanout.rate_figures(summary["times"])
    rate = rates["rate"]
    alone_rate = by_itself["rate"] if by_itself else None
    errors = ack["all"]["errors"] + answer["all"]["errors"]
    return {
        "latency": ack,
        "answer_latency": answer,
        "errors": {k: dict(c) for k, c in recorder.errors.items() if c},
        "answer_errors": {k: dict(c) for k, c in answered.errors.items() if c},
        "mix_seconds": round(mix_s, 2),
        "answer_burst_seconds": round(burst_s, 2),
        "answers_per_second": round(args.people / burst_s, 1),
        "interactive_requests_per_second": round(ack["all"]["count"] / mix_s, 1),
        "answers_verified": run.followed,
        "fanout_held_then_released": [held, released],
        "fanout_finished": fanned_out,
        "fanout": {
            **reached,
            "rate": round(rate, 1) if rate else None,
            "steady_rate": round(rates["steady_rate"], 1) if rates["steady_rate"] else None,
            "span_s": round(rates["span_s"], 1) if rates["span_s"] else None,
            "outbox": teams_outbox,
        },
        "fanout_alone": by_itself,
        "fanout_rate_share_of_alone": round(rate / alone_rate, 2) if rate and alone_rate else None,
        "all_thanked_after_seconds": round(settled_s, 2) if thanked else None,
        "cards_turned_to_thanks": sum(1 for c in cards.values() if c is not None and c.updates),
        **stored,
        "serve_cpu_share_during_mix": round(serve_cpu / mix_s, 2),
        "bench_cpu_share_during_mix": round(bench_cpu / mix_s, 2),
        "rss_mib": sampler.figures(),
        "serve_log_errors": errors_in_log,
        "generator_full_collections": generator.full_collections,
        "target": f"interactive p99 < {TARGET_P99_MS:g} ms, 0 errors",
        "target_met": bool(
            ack["all"].get("p99_ms", 1e9) < TARGET_P99_MS
            and errors == 0
            and errors_in_log == 0
            and reached["duplicates"] == 0
            and reached["missed"] == 0
            and stored["stored_exactly_once"]
        ),
    }


async def wait_for_outbox(url: str, platform: str, count: int, limit: float) -> bool:
    """Wait until ``count`` of the platform's messages are done with (sent, failed, uncertain)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = await fanout.outbox_status(url, platform)
        if sum(status.get(s, 0) for s in DONE) >= count:
            return True
        await asyncio.sleep(0.25)
    return False


def print_result(args: argparse.Namespace, figures: Mapping[str, Any]) -> None:
    print_table(
        f"Mixed load, {args.db}: {args.clients} interactive clients (acknowledgements)",
        figures["latency"],
    )
    print_table(
        f"  ... while {args.people:,} answers come from {args.answer_clients} clients",
        figures["answer_latency"],
    )
    f = figures["fanout"]
    alone = figures["fanout_alone"] or {}
    print(
        f"  ... and {args.fanout_people:,} Teams messages go out: {f['rate']}/s in the mix "
        f"(steady {f['steady_rate']}/s), alone {alone.get('rate', '-')}/s; sent {f['sent']}, "
        f"{f['duplicates']} duplicates, {f['missed']} missed"
    )
    for key in (
        "mix_seconds",
        "answer_burst_seconds",
        "answers_per_second",
        "errors",
        "answer_errors",
        "stored_exactly_once",
        "all_thanked_after_seconds",
        "serve_cpu_share_during_mix",
        "bench_cpu_share_during_mix",
        "rss_mib",
        "serve_log_errors",
        "generator_full_collections",
    ):
        print(f"  {key}: {figures[key]}")
    verdict = "met" if figures["target_met"] else "MISSED"
    print(f"  target ({figures['target']}; every answer once, every poll once): {verdict}")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--clients", type=int, default=50, help="interactive clients")
    options.add_argument("--people", type=int, default=6500, help="people who answer the poll")
    options.add_argument("--answer-clients", type=int, default=200, help="clients answering")
    options.add_argument("--fanout-people", type=int, default=6500, help="fan-out recipients")
    options.add_argument(
        "--retry-every", type=int, default=20, help="Slack retries every Nth click (0: none)"
    )
    options.add_argument(
        "--double-every", type=int, default=20, help="every Nth person clicks twice (0: none)"
    )
    options.add_argument(
        "--alone",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="first measure the fan-out alone",
    )
    options.add_argument("--timeout", type=float, default=900.0, help="give up after (s)")
    args = options.parse_args()
    figures = asyncio.run(measure(args))
    chosen = {k: v for k, v in vars(args).items() if k not in ("db", "profile")}
    path = write_result("mixed", args.db, chosen, figures)
    print_result(args, figures)
    print(f"  -> {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
