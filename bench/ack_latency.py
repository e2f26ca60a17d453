"""What a person waits for: the time to the HTTP answer of signed Slack slash commands and button
clicks, and of Teams message activities and Adaptive Card submits (the acknowledgement), and the
time from sending each request to the bot's answer (its reply, or the card it changed) reaching
the mock platform (the visible answer), from many concurrent people each waiting for their answer
before their next step. Every acknowledged request must lead to an answer at the platform.

Two scenarios: ``checkin`` (the default: whole values lens check-ins by clicks, plus ``/values``
and ``/barometer``) and ``help`` (``/values`` again and again, the lightest command). ``--app
bolt`` runs the ``help`` scenario (Slack only) against a minimal Bolt for Python app instead
(``bench/peers/bolt_help.py``: acknowledge, post one message); ``bench.side_by_side`` runs the
two in alternation for item 5's ratios.

    .venv/bin/python -m bench.ack_latency --db sqlite|postgresql --clients 50 --duration 30
    .venv/bin/python -m bench.ack_latency --scenario help --teams-share 0 --clients 50
    .venv/bin/python -m bench.ack_latency --app bolt --scenario help --teams-share 0
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from bench.clients import SLACK_SECRET, SLACK_TOKEN, Recorder, Slack, Teams, Watch, wait_until
from bench.common import (
    ROOT,
    MemorySampler,
    count_rows,
    cpu_seconds,
    fresh_database,
    latency_figures,
    parser,
    print_latency_result,
    print_table,
    profiling,
    serving,
    steady_generator,
    write_result,
)
from tests.adapters.teams.conftest import buttons
from tests.mocks.bot_connector import MockBotConnector
from tests.mocks.slack_api import MockSlackApi

WORK = "Winter planning letter"
RATINGS = ["Strongly", "Partly", "Partly", "Not yet", "Strongly", "Not relevant"]
ACTION = "Test the draft with two patient reps"
FOLLOW_UP = 30.0  # seconds the bot has to answer a request at the platform before it counts lost
TARGET_P99_MS = 100.0
# What a person waits for: the visible answer at 50 people, and turns a second.
TARGET_VISIBLE_P99_MS = 250.0
TARGET_TURNS = 250.0


class Run:
    """The shared state of one run: the clock, the recorder, and how many answers arrived."""

    def __init__(self, recorder: Recorder, until: float, watch: Watch | None = None) -> None:
        self.recorder = recorder
        self.watch = watch
        self.until = until
        self.followed = 0
        self.checkins = 0

    def rounds(self) -> Iterator[int]:
        """One round at least, and more until the time is up (a round under way then is
        finished: a check-in is not left half done)."""
        yield 0
        n = 1
        while time.monotonic() < self.until:
            yield n
            n += 1

    async def step(self, kind: str, request: Awaitable[bool], answered: Callable[[], bool]) -> bool:
        """Send one request; then wait until the bot's answer reached the platform."""
        started = time.perf_counter()
        if not await request:
            return False
        if self.watch is None:  # no watch on the mocks: looked at every 20 ms
            arrived = time.perf_counter() if await wait_until(answered, FOLLOW_UP) else None
        else:
            arrived = await self.watch.until(answered, FOLLOW_UP)
        if arrived is None:
            self.recorder.error(kind, "acknowledged, but no answer reached the platform")
            return False
        if self.recorder.recording:
            self.recorder.visible[kind].append(arrived - started)
        self.followed += 1
        return True


SAVE = "Save the action as a commitment"


class SlackPerson:
    """A Slack user in their direct chat with the bot: slash commands, and clicks on the cards."""

    command, click_kind = "slack command", "slack click"
    lens_steps: ClassVar[list[tuple[str, dict[str, str]]]] = [(r, {}) for r in RATINGS]
    lens_steps.append(("Finish", {"action": ACTION}))

    def __init__(self, slack: Slack, user: str) -> None:
        self.slack = slack
        self.user = user

    def ask(self, what: str) -> Awaitable[bool]:
        command, _, text = what.partition(" ")
        return self.slack.send(self.command, self.slack.command_body(self.user, command, text))

    async def click(self, label: str, inputs: Mapping[str, str]) -> bool:
        card = self.slack.newest(self.user)
        if card is None or label not in card.buttons():
            # A late answer to an earlier request came instead of the card this click is for.
            self.slack.recorder.error(self.click_kind, "the newest card has no such button")
            return False
        return await self.slack.send(
            self.click_kind, self.slack.click_body(self.user, card, label, inputs)
        )

    def answered(self) -> Callable[[], bool]:
        """Whether the bot has shown the person anything more since now."""
        before = self.slack.seen(self.user)
        return lambda: self.slack.seen(self.user) > before

    def new_card(self) -> Callable[[], bool]:
        """Whether a new card with buttons has come since now."""
        old = self.slack.newest(self.user)

        def arrived() -> bool:
            card = self.slack.newest(self.user)
            return card is not old and card is not None and bool(card.buttons())

        return arrived


class TeamsPerson:
    """A Teams user in their personal chat with the bot: typed commands, and card submits."""

    command, click_kind = "teams message", "teams card submit"
    lens_steps: ClassVar[list[tuple[str, dict[str, str]]]] = [
        ("Next", {"work": WORK}),
        *SlackPerson.lens_steps,
    ]

    def __init__(self, teams: Teams, person: dict[str, str]) -> None:
        self.teams = teams
        self.person = person

    def ask(self, what: str) -> Awaitable[bool]:
        text = what.removeprefix("/").split(" ")[0]  # Teams: the command word, no slash
        return self.teams.says(self.person, text)

    async def click(self, label: str, inputs: Mapping[str, str]) -> bool:
        card = self.teams.newest(self.person)
        if card is None or label not in [b.get("title") for b in buttons(card.card or {})]:
            # A late answer to an earlier request came instead of the card this click is for.
            self.teams.recorder.error(self.click_kind, "the newest card has no such button")
            return False
        return await self.teams.clicks(self.person, card, label, inputs)

    def answered(self) -> Callable[[], bool]:
        before = self.teams.seen(self.person)
        return lambda: self.teams.seen(self.person) > before

    def new_card(self) -> Callable[[], bool]:
        old = self.teams.newest(self.person)
        return lambda: self.teams.newest(self.person) is not old


async def ask_for_help(run: Run, who: SlackPerson | TeamsPerson) -> None:
    """``/values`` (the help: the lightest command) again and again until the time is up."""
    for _ in run.rounds():
        await run.step(who.command, who.ask("/values"), who.answered())


SCENARIOS = {"checkin": "use_the_bot", "help": "ask_for_help"}


async def use_the_bot(run: Run, who: SlackPerson | TeamsPerson) -> None:
    """Ask for help, do a whole values lens check-in by clicks, save its action, ask about the
    barometer; again until the time is up. (Each argument list takes its snapshot of what the
    person has seen before the request is sent.)"""
    for _ in run.rounds():
        if not await run.step(who.command, who.ask("/values"), who.answered()):
            continue
        if not await run.step(who.command, who.ask(f"/valueslens {WORK}"), who.new_card()):
            continue
        for label, inputs in who.lens_steps:
            if not await run.step(who.click_kind, who.click(label, inputs), who.new_card()):
                break
        else:
            if await run.step(who.click_kind, who.click(SAVE, {}), who.answered()):
                run.checkins += 1
            await run.step(who.command, who.ask("/barometer"), who.answered())


@dataclass(frozen=True)
class Options:
    """What one run does."""

    db: str = "sqlite"
    clients: int = 50
    duration: float = 30.0
    teams_share: float = 0.5
    scenario: str = "checkin"
    app: str = "valuesbot"
    profile: bool = False

    @property
    def name(self) -> str:
        """The result's name: ``ack_latency[-help][-bolt]-<clients>``."""
        parts = ["ack_latency"]
        if self.scenario != "checkin":
            parts.append(self.scenario)
        if self.app != "valuesbot":
            parts.append(self.app)
        if self.clients != 50:
            parts.append(str(self.clients))
        return "-".join(parts)


KINDS = ["slack command", "slack click", "teams message", "teams card submit"]


def slack_and_teams(url: str, api: MockSlackApi, connector: MockBotConnector) -> dict[str, str]:
    """The environment of a ``valuesbot serve`` on ``url`` that answers Slack through ``api``
    and Teams through ``connector`` (anonymous, as the mock connector asks).

    The month's barometer round does not open by itself: on a fresh database the timetable
    finds it due, and the schedule's next tick (every five minutes by the clock) would post a
    poll card to everyone the run has met, in the middle of their check-ins. Each person's
    newest card was then the poll, their next click found no such button, and from then on
    every ``/valueslens`` resumed the check-in they had left at a step their script was not
    at: thousands of errors in a run that crossed a multiple of five minutes."""
    return {
        "DATABASE_URL": url,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_URL": api.api_url,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
        "VALUESBOT_BAROMETER_AUTO": "false",
    }


async def warm_up(
    recorder: Recorder,
    slack: Slack,
    teams: Teams | None,
    watch: Watch | None = None,
    journey: Callable[[Run, SlackPerson | TeamsPerson], Awaitable[None]] | None = None,
) -> None:
    """One person on each platform (``teams`` None: Slack only) through one journey (a
    check-in), not recorded (nor its errors)."""
    recorder.recording = False
    warm = Run(recorder, time.monotonic() + 0.1, watch)
    warming: list[SlackPerson | TeamsPerson] = [SlackPerson(slack, "U0WARM")]
    if teams is not None:
        warming.append(TeamsPerson(teams, Teams.person(0)))
    await asyncio.gather(*((journey or use_the_bot)(warm, who) for who in warming))
    recorder.recording = True
    recorder.errors.clear()


def everyone(
    slack: Slack, teams: Teams, clients: int, teams_share: float
) -> list[SlackPerson | TeamsPerson]:
    """``clients`` people, ``teams_share`` of them on Teams and the rest on Slack."""
    n_teams = round(clients * teams_share)
    people: list[SlackPerson | TeamsPerson] = [
        TeamsPerson(teams, Teams.person(n + 1)) for n in range(n_teams)
    ]
    people += [SlackPerson(slack, f"U0B{n + 1:05d}") for n in range(clients - n_teams)]
    return people


def ack_figures(recorder: Recorder) -> dict[str, dict[str, Any]]:
    """The acknowledgement times by kind of request, and of them all, with their errors."""
    by_kind = {k: latency_figures(recorder.seconds[k]) for k in KINDS if recorder.seconds[k]}
    by_kind["all"] = latency_figures(s for k in KINDS for s in recorder.seconds[k])
    for kind in KINDS:
        if kind in by_kind:
            by_kind[kind]["errors"] = sum(recorder.errors[kind].values())
    by_kind["all"]["errors"] = sum(sum(recorder.errors[k].values()) for k in KINDS)
    return by_kind


def log_errors(log: Path) -> int:
    """Errors and tracebacks in a serve log."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return len(re.findall(r"\b(ERROR|CRITICAL|Traceback)\b", text))


async def measure(options: Options) -> dict[str, Any]:
    if options.app == "bolt" and (options.scenario != "help" or options.teams_share):
        raise SystemExit(
            "--app bolt answers /values on Slack only: --scenario help --teams-share 0"
        )
    journey = ask_for_help if options.scenario == "help" else use_the_bot
    async with (
        fresh_database(options.db, "ack") as url,
        MockSlackApi() as api,
        MockBotConnector() as connector,
    ):
        env = slack_and_teams(url, api, connector)
        program = None
        if options.app == "bolt":
            program = (sys.executable, "-m", "bench.peers.bolt_help")
            env["PYTHONPATH"] = str(ROOT)
        async with serving(
            env, name=f"{options.name}-{options.db}", **({"program": program} if program else {})
        ) as serve:
            await asyncio.sleep(1.0)
            idle_mib = serve.rss_mib()
            connector_limit = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector_limit) as http:
                recorder = Recorder()
                watch = Watch(api, connector)
                slack = Slack(http, serve.url, api, recorder)
                teams = Teams(http, serve.url, connector, recorder)

                # Warm-up (not measured): one person on each platform through one journey.
                await warm_up(
                    recorder, slack, teams if options.teams_share else None, watch, journey
                )
                people = everyone(slack, teams, options.clients, options.teams_share)
                sampler = MemorySampler(serve.pid)
                cpu_before = cpu_seconds(serve.pid)
                async with profiling(
                    serve.pid, f"{options.name}-{options.db}", enabled=options.profile
                ):
                    sampler.start()
                    with steady_generator() as generator:
                        run = Run(recorder, time.monotonic() + options.duration, watch)
                        started = time.monotonic()
                        await asyncio.gather(*(journey(run, who) for who in people))
                        elapsed = time.monotonic() - started
                    await sampler.stop()
                serve_cpu = cpu_seconds(serve.pid) - cpu_before
        errors_in_log = log_errors(serve.log)
        if options.app == "valuesbot":
            checkins = await count_rows(url, "SELECT count(*) FROM checkins")
            commitments = await count_rows(url, "SELECT count(*) FROM commitments")
        else:
            checkins = commitments = 0

    by_kind = ack_figures(recorder)
    every = [s for k in KINDS for s in recorder.seconds[k]]
    visible = {k: latency_figures(recorder.visible[k]) for k in KINDS if recorder.visible[k]}
    answered = [s for k in KINDS for s in recorder.visible[k]]
    visible["all"] = latency_figures(answered)
    turns = len(answered) / elapsed
    return {
        "latency": by_kind,
        "visible": visible,
        "errors": {k: dict(c) for k, c in recorder.errors.items() if c},
        "requests_per_second": round(len(every) / elapsed, 1),
        "turns_per_second": round(turns, 1),
        "serve_cpu_ms_per_turn": round(serve_cpu / max(len(answered), 1) * 1000, 2),
        "serve_cpu_share": round(serve_cpu / elapsed, 2),
        "answers_verified": run.followed,
        "checkins_completed_by_clients": run.checkins,
        # Warm-up check-ins (one a platform) are in the database too.
        "checkins_stored": checkins,
        "commitments_stored": commitments,
        "serve_log_errors": errors_in_log,
        "generator_full_collections": generator.full_collections,
        "rss_idle_mib": idle_mib,
        "rss_under_load_mib": sampler.figures(),
        "target_p99_ms": TARGET_P99_MS,
        "target_met": bool(
            by_kind["all"].get("p99_ms", 1e9) < TARGET_P99_MS
            and by_kind["all"]["errors"] == 0
            and errors_in_log == 0
        ),
        "target_visible_p99_ms": TARGET_VISIBLE_P99_MS,
        "target_turns_per_second": TARGET_TURNS,
        "visible_target_met": bool(
            visible["all"].get("p99_ms", 1e9) < TARGET_VISIBLE_P99_MS
            and turns >= TARGET_TURNS
            and by_kind["all"]["errors"] == 0
        ),
    }


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--clients", type=int, default=50, help="concurrent people")
    options.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    options.add_argument(
        "--teams-share", type=float, default=0.5, help="share of the people who use Teams"
    )
    options.add_argument(
        "--scenario",
        choices=["checkin", "help"],
        default="checkin",
        help="whole check-ins by clicks (and /values, /barometer), or /values again and again",
    )
    options.add_argument(
        "--app",
        choices=["valuesbot", "bolt"],
        default="valuesbot",
        help="valuesbot serve, or the minimal Bolt app of bench/peers/bolt_help.py",
    )
    args = options.parse_args()
    run = Options(
        db=args.db,
        clients=args.clients,
        duration=args.duration,
        teams_share=args.teams_share,
        scenario=args.scenario,
        app=args.app,
        profile=args.profile,
    )
    figures = asyncio.run(measure(run))
    path = write_result(run.name, args.db, vars(args), figures)
    print_table("visible answer (request sent -> reply at the platform)", figures["visible"])
    print_latency_result(
        f"{run.app} {run.scenario}, {run.clients} clients, {run.duration:g} s, {run.db}",
        {k: v for k, v in figures.items() if k != "visible"},
        path,
    )


if __name__ == "__main__":
    main()
