"""Answer burst: a barometer round opened by comms (``/barometer open``) reaches every member of
the staff channel (6,500 by default, through the mock Slack Web API), then all of them answer the
poll card at once from 200 concurrent clients (signed ``block_actions``; a share also retried by
Slack and double-clicked). Measures the acknowledgement latency and checks in the database that
every answer is stored exactly once.

    .venv/bin/python -m bench.answers --db sqlite|postgresql --people 6500 --clients 200
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
import time
from collections.abc import AsyncIterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.ack_latency import log_errors
from bench.clients import (
    SLACK_SECRET,
    SLACK_TOKEN,
    TEAM,
    Changes,
    Pace,
    Recorder,
    Requests,
    Slack,
    blast,
    wait_until,
    warm,
)
from bench.common import (
    ROOT,
    MemorySampler,
    Serve,
    count_rows,
    cpu_seconds,
    fresh_database,
    latency_figures,
    parser,
    print_latency_result,
    profiling,
    serving,
    write_result,
)
from tests.adapters.slack.workspace import direct
from tests.mocks.slack_api import Message, MockSlackApi

COMMS = "U0COMMS"
STAFF = "C0STAFF"
ANSWER = "Send my answers"
TARGET_P99_MS = 200.0
# What a person waits for: their card's thanks at the platform, p99.
TARGET_VISIBLE_P99_MS = 250.0
KINDS = ["answer click", "retried click", "double click"]
# Delivery as fast as the bot can go (the fan-out at Slack's limits is bench/fanout's business),
# at any hour of any day, and no weekly cap in the way.
DELIVERY = {
    "VALUESBOT_SLACK_RATE": "1000",
    "VALUESBOT_SLACK_CONVERSATION_RATE": "50",
    "VALUESBOT_DELIVERY_CONCURRENCY": "32",
    "VALUESBOT_DELIVERY_POLL": "0.05",
    "VALUESBOT_WORKING_HOURS": "Mon-Sun 00:00-24:00",
    "VALUESBOT_WEEKLY_CAP": "100",
}


def card_of(api: MockSlackApi, user: str) -> Message | None:
    """The poll card in the person's direct conversation, once it has arrived."""
    for message in api.messages.get(direct(user), ()):
        if ANSWER in message.buttons():
            return message
    return None


def choices(message: Message, person: int) -> dict[str, str]:
    """Answers to every question of the card (varied from person to person)."""
    given: dict[str, str] = {}
    for block in message.blocks:
        element = block.get("element", {})
        name = str(element.get("action_id", ""))
        if block.get("type") == "input" and name.startswith("q_"):
            options = element["options"]
            given[name] = str(options[(person + len(given)) % len(options)]["value"])
    return given


def requests(
    slack: Slack, user: str, n: int, card: Message, retry_every: int, double_every: int
) -> Requests:
    """One person answers; some of the clicks Slack sends again (a retry, the same body), some
    the person clicks twice before the card changes."""
    body = slack.click_body(user, card, ANSWER, choices(card, n))
    sent: Requests = [("answer click", body, {})]
    if retry_every and n % retry_every == 0:
        retry = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        sent.append(("retried click", body, retry))
    if double_every and n % double_every == 1:
        sent.append(("double click", slack.click_body(user, card, ANSWER, choices(card, n)), {}))
    return sent


async def burst(
    pool: ProcessPoolExecutor,
    url: str,
    people: list[Requests],
    clients: int,
    processes: int,
    rate: float = 0.0,
) -> tuple[Recorder, float, float]:
    """Send everyone's requests from ``processes`` worker processes of ``pool``: the times and
    errors, how long the burst took, and the CPU seconds the workers used. ``clients`` people
    at a time, each after the last one's answer; or, with a ``rate``, that many people a second
    whatever the answers."""
    loop = asyncio.get_running_loop()
    shares = [people[i::processes] for i in range(processes)]
    each = [clients // processes + (i < clients % processes) for i in range(processes)]
    start = time.time() + 0.2  # the workers are warm: they all begin at the same moment
    paces = [Pace(rate, start, i, processes) if rate else None for i in range(processes)]
    results = await asyncio.gather(
        *(
            loop.run_in_executor(pool, blast, url, share, n, pace)
            for share, n, pace in zip(shares, each, paces, strict=True)
        )
    )
    recorder = Recorder()
    recorder.first_sent = [0.0] * len(people)
    for i, result in enumerate(results):
        for kind, seconds in result["seconds"].items():
            recorder.seconds[kind].extend(seconds)
        for kind, errors in result["errors"].items():
            recorder.errors[kind].update(errors)
        recorder.first_sent[i::processes] = result["first_sent"]
    elapsed = max(r["ended"] for r in results) - min(r["started"] for r in results)
    return recorder, elapsed, sum(r["cpu"] for r in results)


def answer_requests(
    slack: Slack, cards: Mapping[str, Message | None], retry_every: int, double_every: int
) -> list[Requests]:
    """Everyone's clicks on their poll card (``cards``: each person's, by Slack user id)."""
    return [
        requests(slack, user, n, card, retry_every, double_every)
        for n, (user, card) in enumerate(cards.items())
        if card is not None
    ]


@asynccontextmanager
async def client_processes(clients: int) -> AsyncIterator[tuple[ProcessPoolExecutor, int]]:
    """Worker processes for the clients (one a core, started before the clock runs), so that the
    times measured are the bot's and not the queue of this process's event loop, which plays
    Slack; and how many there are."""
    processes = max(1, min(clients, len(os.sched_getaffinity(0))))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(processes, mp_context=context) as pool:
        await asyncio.gather(
            *(asyncio.get_running_loop().run_in_executor(pool, warm) for _ in range(9))
        )
        yield pool, processes


def answer_latency(recorder: Recorder) -> dict[str, dict[str, Any]]:
    """The acknowledgement times of the answers by kind of click, and of them all, with errors."""
    latency = {k: latency_figures(recorder.seconds[k]) for k in KINDS if recorder.seconds[k]}
    latency["all"] = latency_figures(s for k in KINDS for s in recorder.seconds[k])
    for kind in latency:
        latency[kind]["errors"] = (
            sum(sum(recorder.errors[k].values()) for k in KINDS)
            if kind == "all"
            else sum(recorder.errors[kind].values())
        )
    return latency


async def stored_answers(url: str, people: int) -> dict[str, Any]:
    """What the database holds of the open round's answers, and whether each of ``people``
    answers is there exactly once."""
    round_id = "(SELECT id FROM barometer_rounds)"
    participation = await count_rows(
        url,
        f"SELECT count(*) FROM barometer_participation WHERE answered AND round_id = {round_id}",
    )
    responses = await count_rows(
        url, f"SELECT count(*) FROM barometer_responses WHERE round_id = {round_id}"
    )
    questions = await count_rows(
        url,
        f"SELECT count(DISTINCT question) FROM barometer_responses WHERE round_id = {round_id}",
    )
    most_per_question = await count_rows(
        url,
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM barometer_responses "
        f"WHERE round_id = {round_id} GROUP BY question) AS per_question",
    )
    fewest_per_question = await count_rows(
        url,
        "SELECT coalesce(min(n), 0) FROM (SELECT count(*) AS n FROM barometer_responses "
        f"WHERE round_id = {round_id} GROUP BY question) AS per_question",
    )
    # Answers still waiting for a batch of others, sealed (one row an answer).
    pending = await count_rows(
        url, f"SELECT count(*) FROM barometer_pending WHERE round_id = {round_id}"
    )
    return {
        "participation_rows": participation,
        "response_rows": responses,
        "waiting_answers": pending,
        "questions": questions,
        "responses_per_question_min_max": [fewest_per_question, most_per_question],
        "stored_exactly_once": (
            participation == people
            and most_per_question + pending == people
            and fewest_per_question + pending == people
            and responses + pending * questions == people * questions
        ),
    }


async def all_thanked(cards: Mapping[str, Message | None]) -> bool:
    """Wait (at most 15 minutes) until every card has changed into its thanks; whether all did."""
    return await wait_until(
        lambda: all(c is not None and c.updates for c in cards.values()), limit=900, every=0.25
    )


@dataclass
class Burst:
    """What the burst of answers gave, whichever app took it."""

    recorder: Recorder
    seconds: float
    cpu: dict[str, float]  # CPU seconds during the burst: the app, the clients, the mock
    settled_s: float | None  # from the burst's start until every card had its thanks
    waited: list[float]  # each person's time from their click to their card's thanks
    thanked: int  # cards turned into their thanks
    rss: dict[str, Any]


async def poll_cards(
    slack: Slack, api: MockSlackApi, users: list[str], log: Path
) -> tuple[dict[str, Message | None], float]:
    """Comms open the round; the delivery worker brings everyone the card: each person's card
    (updated in place by ``chat.update``), and how long the fan-out took."""
    slack.recorder.recording = False
    opened = time.monotonic()
    await slack.send("open", slack.command_body(COMMS, "/barometer", "open"))
    reached = await wait_until(lambda: all(card_of(api, u) for u in users), limit=1800, every=0.5)
    if not reached:
        raise RuntimeError("the poll card did not reach everyone; see " + str(log))
    fan_out_s = time.monotonic() - opened
    cards = {u: card_of(api, u) for u in users}
    await asyncio.sleep(1.0)  # let the delivery worker go quiet
    return cards, fan_out_s


async def answer_all(
    app: Serve,
    api: MockSlackApi,
    everyone: list[Requests],
    cards: Mapping[str, Message | None],
    clients: int,
    rate: float,
    profile: str | None,
) -> Burst:
    """Everyone clicks "Send my answers" (``clients`` at a time, or ``rate`` a second); wait
    until every card has turned into its thanks. ``profile``: the name of the profiles of the
    burst and of the drain after it."""
    answering = [u for u, c in cards.items() if c is not None]
    changes = Changes(api)  # when each card turns into its thanks
    async with client_processes(clients) as (pool, processes):
        sampler = MemorySampler(app.pid)
        async with profiling(app.pid, profile or "", enabled=profile is not None):
            sampler.start()
            started = time.monotonic()
            before = (cpu_seconds(app.pid), cpu_seconds())
            recorder, burst_s, clients_cpu = await burst(
                pool, f"{app.url}/slack/events", everyone, clients, processes, rate
            )
            cpu = {
                "app": cpu_seconds(app.pid) - before[0],
                "clients": clients_cpu,
                "mock_slack": cpu_seconds() - before[1],
            }
        # The burst's profile covers the acknowledgements; the drain's, the work that turns
        # the cards into their thanks after them; the memory, both.
        async with profiling(app.pid, f"{profile}-drain", enabled=profile is not None):
            thanked = await all_thanked(cards)
        settled_s = time.monotonic() - started
        await sampler.stop()
    # What a person waits for: from their click to their card's thanks at Slack.
    waited = [
        changes.first[direct(user)] - recorder.first_sent[n]
        for n, user in enumerate(answering)
        if direct(user) in changes.first
    ]
    return Burst(
        recorder,
        burst_s,
        cpu,
        settled_s if thanked else None,
        waited,
        sum(1 for c in cards.values() if c is not None and c.updates),
        sampler.figures(),
    )


def burst_figures(people: int, taken: Burst) -> dict[str, Any]:
    """The figures of a burst that any app can give."""
    latency = answer_latency(taken.recorder)
    return {
        "latency": latency,
        "errors": {k: dict(c) for k, c in taken.recorder.errors.items() if c},
        "burst_seconds": round(taken.seconds, 2),
        "answers_per_second": round(people / taken.seconds, 1),
        # CPU used during the burst, as a share of one core: the bot, the clients, and the
        # mock Slack API (all on the same machine).
        "cpu_share_serve": round(taken.cpu["app"] / taken.seconds, 2),
        "cpu_share_clients": round(taken.cpu["clients"] / taken.seconds, 2),
        "cpu_share_mock_slack": round(taken.cpu["mock_slack"] / taken.seconds, 2),
        "all_thanked_after_seconds": (
            round(taken.settled_s, 2) if taken.settled_s is not None else None
        ),
        "thanks_visible": latency_figures(taken.waited),
        "target_thanks_p99_ms": TARGET_VISIBLE_P99_MS,
        "cards_turned_to_thanks": taken.thanked,
        "rss_during_burst_mib": taken.rss,
    }


async def measure(
    db: str,
    people: int,
    clients: int,
    retry_every: int,
    double_every: int,
    profile: bool,
    app: str = "valuesbot",
    rate: float = 0.0,
) -> dict[str, Any]:
    """The burst against ``valuesbot serve``, or (``app`` "bolt") against the minimal Bolt app
    of ``bench/peers/bolt_help.py``, which answers each click with a ``chat.update`` of its card:
    the poll cards are valuesbot's either way (its fan-out brings them), so both apps take the
    same clicks."""
    users = [f"U0P{n:05d}" for n in range(1, people + 1)]
    name = result_name(app, rate) + (f"-{db}" if app == "valuesbot" else "")
    async with fresh_database(db, "answers") as url, MockSlackApi() as api:
        api.members[STAFF] = ["UBOT", *users]  # the staff channel: everyone, and the bot
        env = {
            "DATABASE_URL": url,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_BOT_TOKEN": SLACK_TOKEN,
            "SLACK_API_URL": api.api_url,
            "VALUESBOT_COMMS": f"slack:{COMMS}",
            "VALUESBOT_BAROMETER_AUTO": "false",
            "VALUESBOT_BAROMETER_CHANNELS": f"slack:{TEAM}:{STAFF}",
            **DELIVERY,
        }
        async with (
            serving(env, name=f"answers-{db}") as serve,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http,
        ):
            slack = Slack(http, serve.url, api, Recorder())
            cards, fan_out_s = await poll_cards(slack, api, users, serve.log)
            everyone = answer_requests(slack, cards, retry_every, double_every)
            if app == "valuesbot":
                taken = await answer_all(
                    serve, api, everyone, cards, clients, rate, name if profile else None
                )
            errors_in_log = log_errors(serve.log)
        if app == "bolt":  # valuesbot has stopped; the Bolt app takes the clicks on its cards
            bolt_env = {
                "SLACK_SIGNING_SECRET": SLACK_SECRET,
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_API_URL": api.api_url,
                "PYTHONPATH": str(ROOT),
            }
            program = (sys.executable, "-m", "bench.peers.bolt_help", "--thanks")
            async with serving(bolt_env, name=name, program=program) as bolt:
                taken = await answer_all(
                    bolt, api, everyone, cards, clients, rate, name if profile else None
                )
            return {
                "app": "bolt",
                "fan_out_seconds": round(fan_out_s, 1),
                **burst_figures(people, taken),
                "bolt_log_errors": log_errors(bolt.log),
            }
        stored = await stored_answers(url, people)

    figures = burst_figures(people, taken)
    latency = figures["latency"]
    return {
        "app": "valuesbot",
        "fan_out_seconds": round(fan_out_s, 1),
        **figures,
        **stored,
        "serve_log_errors": errors_in_log,
        "target_p99_ms": TARGET_P99_MS,
        "target_met": bool(
            latency["all"].get("p99_ms", 1e9) < TARGET_P99_MS
            and latency["all"]["errors"] == 0
            and stored["stored_exactly_once"]
            and errors_in_log == 0
        ),
    }


def result_name(app: str, rate: float) -> str:
    """``answers[-bolt][-rate<R>]``: the result's name, before its database."""
    return "answers" + ("-bolt" if app == "bolt" else "") + (f"-rate{rate:g}" if rate else "")


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--people", type=int, default=6500, help="people who answer")
    options.add_argument("--clients", type=int, default=200, help="concurrent clients")
    options.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="people a second, each clicking at their own time whatever the answers (an open "
        "loop, instead of --clients at a time)",
    )
    options.add_argument(
        "--retry-every", type=int, default=20, help="Slack retries every Nth click (0: none)"
    )
    options.add_argument(
        "--double-every", type=int, default=20, help="every Nth person clicks twice (0: none)"
    )
    options.add_argument(
        "--app",
        choices=["valuesbot", "bolt"],
        default="valuesbot",
        help="who takes the clicks: valuesbot serve, or the minimal Bolt app of "
        "bench/peers/bolt_help.py (--thanks), after valuesbot's fan-out brought the cards",
    )
    args = options.parse_args()
    figures = asyncio.run(
        measure(
            args.db,
            args.people,
            args.clients,
            args.retry_every,
            args.double_every,
            args.profile,
            args.app,
            args.rate,
        )
    )
    path = write_result(result_name(args.app, args.rate), args.db, vars(args), figures)
    arriving = f"{args.rate:g} a second" if args.rate else f"{args.clients} clients"
    print_latency_result(
        f"Answer burst, {args.people} people, {arriving}, {args.app}, {args.db}", figures, path
    )


if __name__ == "__main__":
    main()
