"""Log lines never carry what people wrote or answered, at any level, DEBUG included.

Logging is configured exactly as ``valuesbot serve`` and ``valuesbot chat`` configure it with
``VALUESBOT_LOG_LEVEL=DEBUG`` (``bot.logs.configure``), and everything its handler writes is
captured. A whole barometer round then runs on Slack (signed requests, the mock Slack Web API),
on Teams (activities, the mock Bot Connector) and in the terminal (the console adapter): people
answer with comments that hold marker words, one changes their answer through the token in their
own card, a reminder goes out, the round closes, comms read and approve comments and the
results are published. None of the tokens, their hashes, the comments, the markers or the
answers may appear in the output; the bot's own lines (kinds, ids, timings) must.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from adapters.console.app import ConsoleChat
from bot import logs
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import ConversationRef, Event, MessageRef, Platform
from bot.outbound import Reply
from bot.ui import Card
from bot.web import build_web_app
from dialogs.barometer.tokens import token_hash
from storage.engine import Database
from storage.people import Person, PersonKey
from tests.adapters.slack.conftest import slack as slack
from tests.adapters.slack.conftest import slack_api as slack_api
from tests.adapters.slack.conftest import waits as waits
from tests.adapters.slack.test_barometer import COMMS, RESULTS, STAFF, card_of
from tests.adapters.slack.test_barometer import PEOPLE as SLACK_PEOPLE
from tests.adapters.slack.test_barometer import answers as slack_answers
from tests.adapters.slack.test_barometer import slack_env as slack_env
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.adapters.teams.conftest import BOT_ID, CAROL, CHANNEL, TeamsWorld, staff
from tests.adapters.teams.conftest import connector as connector
from tests.adapters.teams.test_barometer import RESULTS as TEAMS_RESULTS
from tests.adapters.teams.test_barometer import answers as teams_answers
from tests.adapters.teams.test_barometer import chat, deliver, member
from tests.adapters.teams.test_barometer import teams as teams
from tests.conftest import make_settings
from tests.harness import Harness

# Every word a person types in these rounds holds this one; no log line may.
MARKER = "quokka"
# The answers (values and labels) and the teams people chose; none may be in a log line.
ANSWERED = re.compile(
    r"(?i)(?<![a-z])(agree|disagree|neutral|neither|strongly|area|regional|national)(?![a-z])"
)
SCALE = ["strongly_disagree", "disagree", "neutral", "agree", "strongly_agree"]


@contextlib.contextmanager
def captured(style: str) -> Iterator[io.StringIO]:
    """Logging as ``valuesbot serve`` sets it up at DEBUG in ``style`` (``VALUESBOT_LOG_FORMAT``);
    what its handler writes."""
    root = logging.getLogger()
    own = logging.getLogger("valuesbot")
    handlers, level, own_level = list(root.handlers), root.level, own.level
    logs.configure("DEBUG", style)
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    try:
        yield written
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        own.setLevel(own_level)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Logging as ``valuesbot serve`` sets it up at DEBUG; what its handler writes."""
    with captured("text") as written:
        yield written


JSON_KEYS = {"time", "level", "logger", "request_id", "message"}


def json_records(output: str) -> list[dict[str, Any]]:
    """Each line of JSON output as its object; each must be one, with the keys every line has."""
    records = []
    for line in output.splitlines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert record.keys() >= JSON_KEYS, line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), line
        records.append(record)
    return records


class RoundLog:
    """What a whole round logged, in text or in JSON (``VALUESBOT_LOG_FORMAT``)."""

    def __init__(self, style: str, written: io.StringIO) -> None:
        self.style = style
        self.written = written

    def raw(self) -> str:
        """Everything written, as written."""
        return self.written.getvalue()

    def getvalue(self) -> str:
        """The lines as text: JSON objects (each checked) as the text format writes them."""
        if self.style == "text":
            return self.raw()
        lines = []
        for record in json_records(self.raw()):
            lines.append(
                f"{record['level']} {record['logger']} [{record['request_id'] or '-'}] "
                f"{record['message']}"
            )
            if "exception" in record:
                lines.append(record["exception"])
        return "\n".join(lines) + "\n"


@pytest.fixture(params=["text", "json"])
def round_log(request: pytest.FixtureRequest) -> Iterator[RoundLog]:
    """Logging at DEBUG in each format."""
    with captured(request.param) as written:
        yield RoundLog(request.param, written)


def tokens_in(found: set[str], value: Any) -> set[str]:
    """Every barometer token in ``value`` (requests as recorded: dicts, lists, and JSON held in
    strings such as a Slack button's value)."""
    if isinstance(value, dict):
        token = value.get("token")
        if isinstance(token, str) and len(token) >= 32:
            found.add(token)
        for inner in value.values():
            tokens_in(found, inner)
    elif isinstance(value, list):
        for inner in value:
            tokens_in(found, inner)
    elif isinstance(value, str) and value.startswith("{"):
        with contextlib.suppress(ValueError):
            tokens_in(found, json.loads(value))
    return found


def assert_private(output: str, tokens: Iterable[str], written: Iterable[str]) -> None:
    """Nothing anyone answered or wrote is in ``output``."""
    forbidden = {MARKER, *written}
    for token in tokens:
        forbidden |= {token, token_hash(token)}
    for secret in sorted(forbidden):
        leaked = [line[:300] for line in output.splitlines() if secret in line]
        assert not leaked, f"{secret!r} is in the log: {leaked[:3]}"
    answered = [line[:300] for line in output.splitlines() if ANSWERED.search(line)]
    assert not answered, f"an answer is in the log: {answered[:3]}"


def answer_of(n: int) -> tuple[str, str, str]:
    """Person n's answers: a spread of the scale, and a team."""
    return SCALE[n % 5], SCALE[(n + 2) % 5], ("area", "regional", "national")[n % 3]


# Slack


async def test_a_slack_round_at_debug_logs_nothing_anyone_answered(
    slack: SlackWorkspace, round_log: RoundLog
) -> None:
    api = slack.api
    people = SLACK_PEOPLE[:12]
    api.members[STAFF] = ["UBOT", *people]
    written: list[str] = []

    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.deliver()
    for n, person in enumerate(people[:11]):
        nhs, organisation, group = answer_of(n)
        comment = f"Slack comment {n}: {MARKER}{n:02d}slack & <!channel>"
        written.append(comment)
        given = {**slack_answers(nhs, organisation, group), "comment": comment}
        await slack.click(
            "Send my answers", user=person, message=card_of(slack, person), inputs=given
        )
        assert "Your answer is recorded." in card_of(slack, person).text_all()

    # One changes their mind through the token in their own card.
    changer = people[1]
    await slack.click("Change my answer", user=changer, message=card_of(slack, changer))
    changed = f"Changed on Slack: {MARKER}changedslack"
    written.append(changed)
    await slack.click(
        "Send my new answer",
        user=changer,
        message=card_of(slack, changer),
        inputs={**slack_answers("strongly_disagree", "neutral", "area"), "comment": changed},
    )
    assert "Your new answer replaced your earlier one." in card_of(slack, changer).text_all()

    # A reminder, answered on the reminder itself.
    await slack.command("remind", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.deliver()
    late = people[11]
    late_comment = f"Late on Slack: {MARKER}lateslack"
    written.append(late_comment)
    await slack.click(
        "Send my answers",
        user=late,
        message=card_of(slack, late),
        inputs={**slack_answers("agree", "disagree", "national"), "comment": late_comment},
    )
    assert "Thank you" in card_of(slack, late).text_all()

    # The round closes and the results go out; comms read the comments and approve one.
    await slack.command("close", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.deliver()
    results = api.last(RESULTS).text_all()
    assert "12 of 12 people answered (100%)" in results
    await slack.command("comments", user=COMMS, channel=direct(COMMS), command="/barometer")
    comment_card = next(m for m in api.messages[direct(COMMS)] if "Approve" in m.buttons())
    await slack.click("Approve", user=COMMS, message=comment_card)
    page = await (await slack.client.get("/barometer")).text()
    assert MARKER in page  # the approved comment: published, and never logged

    tokens = tokens_in(set(), [c.params for c in api.calls])
    assert len(tokens) == 12  # each person's own, in the message only they hold
    output = round_log.getvalue()
    assert_private(round_log.raw(), tokens, written)
    # DEBUG still says what happened: the requests, the events, their kinds and timings.
    assert "DEBUG valuesbot.slack [" in output
    assert "slack request kind=block_actions accepted_ms=" in output
    assert "platform=slack kind=ActionSubmitted outcome=ok handler=barometer.answer" in output


# Teams


async def test_a_teams_round_at_debug_logs_nothing_anyone_answered(
    teams: TeamsWorld, clock: ManualClock, round_log: RoundLog
) -> None:
    connector = teams.connector
    people = staff(12)
    written: list[str] = []
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    await teams.send(teams.activity("channel_install", channel=TEAMS_RESULTS))
    await teams.installs(CAROL)
    connector.members(CHANNEL, [*map(member, people), {"id": BOT_ID, "name": "valuesbot"}])

    await teams.says("barometer open", person=CAROL)
    await deliver(teams.app)
    for n, person in enumerate(people[:11]):
        nhs, organisation, group = answer_of(n)
        comment = f"Teams comment {n}: {MARKER}{n:02d}teams <at>Everyone</at>"
        written.append(comment)
        given = teams_answers(nhs, organisation, group, comment)
        clicked = await teams.clicks(
            "Send my answers", person=person, inputs=given, where=chat(person)
        )
        assert clicked == 202
        assert "Your answer is recorded." in teams.last(chat(person))

    changer = people[1]
    await teams.clicks("Change my answer", person=changer, where=chat(changer))
    changed = f"Changed on Teams: {MARKER}changedteams"
    written.append(changed)
    await teams.clicks(
        "Send my new answer",
        person=changer,
        inputs=teams_answers("strongly_disagree", "neutral", "area", changed),
        where=chat(changer),
    )
    assert "Your new answer replaced your earlier one." in teams.last(chat(changer))

    await teams.says("barometer remind", person=CAROL)
    await deliver(teams.app)
    late = people[11]
    late_comment = f"Late on Teams: {MARKER}lateteams"
    written.append(late_comment)
    await teams.clicks(
        "Send my answers",
        person=late,
        inputs=teams_answers("agree", "disagree", "national", late_comment),
        where=chat(late),
    )
    assert "Thank you" in teams.last(chat(late))

    clock.advance(timedelta(days=1))
    await teams.says("barometer close", person=CAROL)
    await deliver(teams.app)
    assert any("12 of 12 people answered (100%)" in t for t in teams.texts(TEAMS_RESULTS))
    await teams.says("barometer comments", person=CAROL)
    await teams.clicks("Approve", person=CAROL)
    page = await (await teams.client.get("/barometer")).text()
    assert MARKER in page

    tokens = tokens_in(set(), [c.body for c in connector.calls])
    assert len(tokens) == 12
    output = round_log.getvalue()
    assert_private(round_log.raw(), tokens, written)
    assert "DEBUG valuesbot.teams [" in output
    assert "teams request type=message accepted_ms=" in output
    assert "platform=teams kind=ActionSubmitted outcome=ok handler=barometer.answer" in output


# Console


@pytest.fixture
async def console_app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    """valuesbot in the terminal: Carol of comms, results to a channel, a public page."""
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS="console:carol",
            VALUESBOT_BAROMETER_RESULTS="console:local:announcements",
            VALUESBOT_PUBLIC_URL="https://values.example.org",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


class Typist:
    """Lines typed at one terminal; notes the barometer token of every card the terminal could
    answer (only that person's own card holds it)."""

    def __init__(self, lines: Sequence[str], tokens: set[str]) -> None:
        self.lines = list(lines)
        self.tokens = tokens
        self.chat: ConsoleChat | None = None

    async def read(self, prompt: str) -> str | None:
        if self.chat is not None and self.chat.last is not None:
            tokens_in(self.tokens, dict(self.chat.last.hidden))
        return self.lines.pop(0) if self.lines else None


async def terminal(app: App, user: str, lines: Sequence[str], tokens: set[str]) -> str:
    """``user`` types ``lines`` in their direct chat with the bot; what the terminal shows."""
    shown: list[str] = []
    typist = Typist(lines, tokens)
    console = ConsoleChat(app, user=user, channel=None, source=typist, write=shown.append)
    typist.chat = console
    await console.run()
    return "\n".join(shown)


def typed_answer(nhs: str, organisation: str, group: str, comment: str) -> list[str]:
    """The lines that answer the poll in the terminal: its button, then each question."""
    groups = ["area", "regional", "national"]
    return [
        "1",
        str(SCALE.index(nhs) + 1),
        str(SCALE.index(organisation) + 1),
        str(groups.index(group) + 1),
        comment,
    ]


async def test_a_console_round_at_debug_logs_nothing_anyone_answered(
    console_app: App, round_log: RoundLog
) -> None:
    app = console_app
    people = [f"Person{n:02d}" for n in range(12)]
    tokens: set[str] = set()
    written: list[str] = []
    for person in [*people, "Carol"]:
        await terminal(app, person, ["/values"], tokens)

    # A values lens check-in and a commitment, typed with markers too.
    work = f"Drafting the {MARKER}lens guidance"
    note = f"we asked {MARKER}note reps"
    promise = f"test every draft with {MARKER}promise patients"
    written += [work, note, promise]
    lens_out = await terminal(
        app,
        people[0],
        ["/valueslens", work, "1", f"2 {note}", "3", "3", "4", "1", "Test it", "1"],
        tokens,
    )
    commit_out = await terminal(
        app, people[0], ["/commitment", promise, "1", "2 4", "In a month"], tokens
    )
    assert f"we asked {MARKER}note reps" in lens_out
    assert "✓ Saved as a commitment" in lens_out
    assert "Saved. Only you can see it" in commit_out

    shown = await terminal(app, "Carol", ["/barometer open"], tokens)
    assert "The questions are queued for 13 people" in shown
    await app.delivery.drain()
    for n, person in enumerate(people[:11]):
        comment = f"Console comment {n}: {MARKER}{n:02d}console"
        written.append(comment)
        lines = typed_answer(*answer_of(n), comment)
        if n == 1:  # changes their mind at once, through the token in their own card
            changed = f"Changed in the terminal: {MARKER}changedconsole"
            written.append(changed)
            lines += ["1", *typed_answer("strongly_disagree", "neutral", "area", changed)]
        shown = await terminal(app, person, lines, tokens)
        assert "┌─ Thank you: Staff barometer:" in shown
        if n == 1:
            assert "Your new answer replaced your earlier one." in shown

    await terminal(app, "Carol", ["/barometer remind"], tokens)
    await app.delivery.drain()
    late_comment = f"Late in the terminal: {MARKER}lateconsole"
    written.append(late_comment)
    shown = await terminal(
        app, people[11], typed_answer("agree", "disagree", "national", late_comment), tokens
    )
    assert "┌─ Thank you: Staff barometer:" in shown

    await terminal(app, "Carol", ["/barometer close"], tokens)
    await app.delivery.drain()
    shown = await terminal(app, "Carol", ["/barometer comments", "1"], tokens)
    assert MARKER in shown
    async with TestClient(TestServer(build_web_app(app))) as client:
        page = await (await client.get("/barometer")).text()
    assert "12 of 13 people answered" in page
    assert MARKER in page  # the approved comment

    assert len(tokens) == 12
    output = round_log.getvalue()
    assert_private(round_log.raw(), tokens, written)
    assert "platform=console kind=ActionSubmitted outcome=ok handler=barometer.answer" in output
    assert "INFO valuesbot.barometer [" in output


# The policy itself, line by line


class _Form(BaseModel):
    score: int


def test_library_lines_below_warning_are_dropped_and_above_shown_without_text(
    debug_log: io.StringIO,
) -> None:
    secret = f"{MARKER}library"
    logging.getLogger("slack_sdk.web.async_base_client").debug("Sending a request: %s", secret)
    logging.getLogger("aiohttp.access").info('"GET /barometer?token=%s HTTP/1.1" 200', secret)
    # A library that sets its own logger's level below WARNING is still held there.
    chatty = logging.getLogger("sqlalchemy.engine.Engine")
    chatty.setLevel(logging.INFO)
    try:
        chatty.info("INSERT INTO barometer_comments VALUES (%s)", secret)
    finally:
        chatty.setLevel(logging.NOTSET)
    try:
        _Form.model_validate({"score": secret})
    except ValidationError as error:
        # (Not the SDK's "Validation error for Activity" line: the Teams adapter drops that
        # one whole, since a refused activity is answered 400 and is no error of the bot's.)
        logging.getLogger("microsoft_agents.activity.activity").error(
            "Could not read the activity: %s", error, exc_info=True
        )
    logging.getLogger("slack_bolt.valuesbot").warning(f"skipped the request ({secret})")
    logging.getLogger("valuesbot.events").debug("event kind=%s duration_ms=%.1f", "message", 1.5)

    output = debug_log.getvalue()
    assert secret not in output
    lines = output.splitlines()
    assert not any(
        "slack_sdk" in line or "aiohttp" in line or "sqlalchemy" in line for line in lines
    )
    error_line = next(line for line in lines if "ERROR microsoft_agents.activity.activity" in line)
    assert re.search(r"\[-\] \(library text withheld: test_logs\.py line \d+\)$", error_line)
    assert "pydantic_core._pydantic_core.ValidationError (message withheld)" in output
    assert "in test_library_lines_below_warning_are_dropped_and_above_shown_without_text" in output
    assert "WARNING slack_bolt.valuesbot [-] (library text withheld: test_logs.py line" in output
    assert "DEBUG valuesbot.events [-] event kind=message duration_ms=1.5" in output


def test_the_bots_own_exceptions_are_shown_without_their_messages(
    debug_log: io.StringIO,
) -> None:
    secret = f"{MARKER}exception"
    try:
        try:
            raise KeyError(secret)
        except KeyError as error:
            raise RuntimeError(f"could not use {secret}") from error
    except RuntimeError:
        logging.getLogger("valuesbot.events").exception("event failed platform=%s", "slack")
    output = debug_log.getvalue()
    assert secret not in output
    assert "ERROR valuesbot.events [-] event failed platform=slack" in output
    assert "KeyError (message withheld)" in output
    assert "The above exception was the direct cause of the following exception:" in output
    assert output.rstrip().endswith("RuntimeError (message withheld)")


async def test_a_database_error_does_not_repeat_the_values_it_failed_on(sqlite_url: str) -> None:
    secret = f"{MARKER}statement"
    database = Database(sqlite_url)
    insert = text("INSERT INTO meta (key, value) VALUES ('same', :value)")
    try:
        async with database.engine.begin() as connection:
            await connection.execute(insert, {"value": secret})
            with pytest.raises(IntegrityError) as raised:
                await connection.execute(insert, {"value": secret})
    finally:
        await database.dispose()
    assert "INSERT INTO meta" in str(raised.value)
    assert secret not in str(raised.value)


class Exploding:
    """An adapter failing in a way nobody planned for, its error repeating what it was sent."""

    def __init__(self, secret: str) -> None:
        self.secret = secret

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> None:
        raise ValueError(self.secret)

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        raise ValueError(self.secret)

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        raise ValueError(f"could not send {card.title}: {self.secret}")

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        raise ValueError(self.secret)


async def test_an_adapters_unexpected_error_is_logged_by_its_type_only(
    app: App, harness: Harness, clock: ManualClock, debug_log: io.StringIO
) -> None:
    secret = f"{MARKER}adapter"
    await harness.user_says("/values", user="dan")
    await harness.user_says("/barometer open", user="carol")
    app.dispatcher.connect(Platform.CONSOLE, Exploding(secret))
    await app.delivery.run_once()
    # The sends may have arrived: once their lease runs out the worker asks the adapter.
    clock.advance(timedelta(hours=1))
    await app.delivery.recover(["console"])
    output = debug_log.getvalue()
    assert re.search(r"outbox id=\d+: unexpected ValueError from the adapter\n", output)
    assert re.search(r"could not ask whether outbox id=\d+ arrived: ValueError\n", output)
    assert secret not in output


# VALUESBOT_LOG_FORMAT=json


async def test_a_json_line_carries_the_events_kind_outcome_and_duration(
    harness: Harness,
) -> None:
    secret = f"{MARKER}json"
    with captured("json") as written:
        await harness.user_says(f"/commitment My contribution is to {secret} #open", user="dan")
    output = written.getvalue()
    assert secret not in output
    records = json_records(output)
    [event] = [r for r in records if r["logger"] == "valuesbot.events" and "kind" in r]
    assert event["level"] == "INFO"
    assert re.fullmatch(r"[0-9a-f]{12}", event["request_id"])
    assert (event["platform"], event["kind"], event["outcome"]) == (
        "console",
        "CommandReceived",
        "ok",
    )
    assert event["handler"] == "commitment"
    assert isinstance(event["duration_ms"], float)
    assert event["duration_ms"] >= 0
    assert event["replies"] == 1
    assert event["message"].startswith(f"event request_id={event['request_id']} platform=console")


def test_json_lines_withhold_library_text_and_exception_messages() -> None:
    secret = f"{MARKER}jsonlibrary"
    with captured("json") as written:
        logging.getLogger("slack_bolt.valuesbot").warning(
            "skipped (%s)", secret, extra=logs.fields(kind=secret)
        )
        try:
            raise RuntimeError(f"could not use {secret}")
        except RuntimeError:
            logging.getLogger("valuesbot.events").exception(
                "event failed platform=%s", "slack", extra=logs.fields(kind="CommandReceived")
            )
    output = written.getvalue()
    assert secret not in output
    library, own = json_records(output)
    assert library["logger"] == "slack_bolt.valuesbot"
    assert library["level"] == "WARNING"
    assert re.fullmatch(r"\(library text withheld: test_logs\.py line \d+\)", library["message"])
    assert "kind" not in library  # only the bot's own lines carry fields
    assert library["request_id"] is None
    assert (own["level"], own["message"], own["kind"]) == (
        "ERROR",
        "event failed platform=slack",
        "CommandReceived",
    )
    assert own["exception"].endswith("RuntimeError (message withheld)")
    assert "Traceback (most recent call last):" in own["exception"]
