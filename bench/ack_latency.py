"""Acknowledgement latency of `valuesbot serve`: time to the HTTP response of signed Slack slash
commands and button clicks, and of Teams message activities and Adaptive Card submits, from many
concurrent people each going through whole values lens check-ins (plus /values and /barometer).
Every acknowledged request must also lead to the bot's answer at the mock platform (else an error).

    .venv/bin/python -m bench.ack_latency --db sqlite|postgresql --clients 50 --duration 30
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import aiohttp

from bench.clients import SLACK_SECRET, SLACK_TOKEN, Recorder, Slack, Teams, wait_until
from bench.common import (
    MemorySampler,
    count_rows,
    fresh_database,
    latency_figures,
    parser,
    print_latency_result,
    profiling,
    serving,
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


class Run:
    """The shared state of one run: the clock, the recorder, and how many answers arrived."""

    def __init__(self, recorder: Recorder, until: float) -> None:
        self.recorder = recorder
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
        if not await request:
            return False
        if not await wait_until(answered, FOLLOW_UP):
            self.recorder.error(kind, "acknowledged, but no answer reached the platform")
            return False
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


KINDS = ["slack command", "slack click", "teams message", "teams card submit"]


def slack_and_teams(url: str, api: MockSlackApi, connector: MockBotConnector) -> dict[str, str]:
    """The environment of a ``valuesbot serve`` on ``url`` that answers Slack through ``api``
    and Teams through ``connector`` (anonymous, as the mock connector asks)."""
    return {
        "DATABASE_URL": url,
        "SLACK_SIGNING_SECRET": SLACK_SECRET,
        "SLACK_BOT_TOKEN": SLACK_TOKEN,
        "SLACK_API_URL": api.api_url,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
    }


async def warm_up(recorder: Recorder, slack: Slack, teams: Teams) -> None:
    """One person on each platform through one check-in, not recorded (nor its errors)."""
    recorder.recording = False
    warm = Run(recorder, time.monotonic() + 0.1)
    await asyncio.gather(
        use_the_bot(warm, SlackPerson(slack, "U0WARM")),
        use_the_bot(warm, TeamsPerson(teams, Teams.person(0))),
    )
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
    by_kind = {k: latency_figures(recorder.seconds[k]) for k in KINDS}
    by_kind["all"] = latency_figures(s for k in KINDS for s in recorder.seconds[k])
    for kind in KINDS:
        by_kind[kind]["errors"] = sum(recorder.errors[kind].values())
    by_kind["all"]["errors"] = sum(sum(recorder.errors[k].values()) for k in KINDS)
    return by_kind


def log_errors(log: Path) -> int:
    """Errors and tracebacks in a serve log."""
    text = log.read_text(encoding="utf-8", errors="replace")
    return len(re.findall(r"\b(ERROR|CRITICAL|Traceback)\b", text))


async def measure(
    db: str, clients: int, duration: float, teams_share: float, profile: bool
) -> dict[str, Any]:
    async with (
        fresh_database(db, "ack") as url,
        MockSlackApi() as api,
        MockBotConnector() as connector,
    ):
        env = slack_and_teams(url, api, connector)
        async with serving(env, name=f"ack_latency-{db}") as serve:
            await asyncio.sleep(1.0)
            idle_mib = serve.rss_mib()
            connector_limit = aiohttp.TCPConnector(limit=0)
            async with aiohttp.ClientSession(connector=connector_limit) as http:
                recorder = Recorder()
                slack = Slack(http, serve.url, api, recorder)
                teams = Teams(http, serve.url, connector, recorder)
                await warm_up(recorder, slack, teams)
                people = everyone(slack, teams, clients, teams_share)
                sampler = MemorySampler(serve.pid)
                async with profiling(serve.pid, f"ack_latency-{db}", enabled=profile):
                    sampler.start()
                    run = Run(recorder, time.monotonic() + duration)
                    started = time.monotonic()
                    await asyncio.gather(*(use_the_bot(run, who) for who in people))
                    elapsed = time.monotonic() - started
                    await sampler.stop()
        errors_in_log = log_errors(serve.log)
        checkins = await count_rows(url, "SELECT count(*) FROM checkins")
        commitments = await count_rows(url, "SELECT count(*) FROM commitments")

    by_kind = ack_figures(recorder)
    return {
        "latency": by_kind,
        "errors": {k: dict(c) for k, c in recorder.errors.items() if c},
        "requests_per_second": round(by_kind["all"]["count"] / elapsed, 1),
        "answers_verified": run.followed,
        "checkins_completed_by_clients": run.checkins,
        # Warm-up check-ins (one a platform) are in the database too.
        "checkins_stored": checkins,
        "commitments_stored": commitments,
        "serve_log_errors": errors_in_log,
        "rss_idle_mib": idle_mib,
        "rss_under_load_mib": sampler.figures(),
        "target_p99_ms": TARGET_P99_MS,
        "target_met": bool(
            by_kind["all"].get("p99_ms", 1e9) < TARGET_P99_MS
            and by_kind["all"]["errors"] == 0
            and errors_in_log == 0
        ),
    }


def main() -> None:
    options = parser(__doc__)
    options.add_argument("--clients", type=int, default=50, help="concurrent people")
    options.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    options.add_argument(
        "--teams-share", type=float, default=0.5, help="share of the people who use Teams"
    )
    args = options.parse_args()
    figures = asyncio.run(
        measure(args.db, args.clients, args.duration, args.teams_share, args.profile)
    )
    path = write_result("ack_latency", args.db, vars(args), figures)
    print_latency_result(
        f"Acknowledgement latency, {args.clients} clients, {args.duration:g} s, {args.db}",
        figures,
        path,
    )


if __name__ == "__main__":
    main()
