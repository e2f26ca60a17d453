"""Only Slack gets in: signed, fresh, well-formed requests; a retried click counts once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlencode

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters import web_mounts
from adapters.slack.app import SLACK_KEY, SlackAdapter
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import CommandReceived, ConversationRef, Event, MessageRef, Platform
from bot.outbound import Reply
from bot.ui import Card
from bot.web import build_web_app
from storage.people import PersonKey
from tests.adapters.slack.workspace import FIXTURES, FORM, SlackWorkspace, direct, fixture, sign
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import MockSlackApi

ALICE = "U0ALICE"
# Slack's worked example (api.slack.com/authentication/verifying-requests-from-slack).
EXAMPLE_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
EXAMPLE_TIMESTAMP = "1531420618"
EXAMPLE_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
EXAMPLE_BODY = (FIXTURES / "signing_example.txt").read_bytes()


async def table_counts(app: App) -> dict[str, object]:
    tables = ["processed_events", "people", "conversations", "dialog_states", "team_checkins"]
    return {t: (await rows(app, f"SELECT count(*) FROM {t}"))[0][0] for t in tables}


def test_our_signing_matches_slacks_worked_example() -> None:
    assert sign(EXAMPLE_SECRET, EXAMPLE_TIMESTAMP, EXAMPLE_BODY) == EXAMPLE_SIGNATURE


class Recorder:
    """An outbound that keeps what it was asked to send."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def deliver(self, event: Event, replies: list[Reply]) -> list[MessageRef | None]:
        self.events.append(event)
        return [None] * len(replies)

    async def post(self, place: ConversationRef, card: Card) -> MessageRef | None:
        return None

    async def post_direct(self, person: PersonKey, card: Card) -> MessageRef | None:
        return None


async def test_slacks_worked_example_is_accepted_by_the_endpoint(
    sqlite_url: str, slack_api: MockSlackApi
) -> None:
    """The documented request, at the documented time, gets in; one changed byte does not."""
    clock = ManualClock(datetime.fromtimestamp(int(EXAMPLE_TIMESTAMP) + 10, UTC))
    settings = make_settings(
        sqlite_url,
        SLACK_BOT_TOKEN="xoxb-example",
        SLACK_SIGNING_SECRET=EXAMPLE_SECRET,
        SLACK_API_URL=slack_api.api_url,
    )
    app = await build_app(settings, clock=clock, prepare=False)
    web_app = build_web_app(app, web_mounts(settings))
    adapter: SlackAdapter = web_app[SLACK_KEY]
    # The example's response URL is Slack's own: record the reply instead of sending it.
    recorder = Recorder()
    app.dispatcher.connect(Platform.SLACK, recorder)
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": EXAMPLE_TIMESTAMP,
            "X-Slack-Signature": EXAMPLE_SIGNATURE,
        }
        accepted = await client.post("/slack/events", data=EXAMPLE_BODY, headers=headers)
        await adapter.drain()
        changed = await client.post(
            "/slack/events", data=EXAMPLE_BODY.replace(b"foobar", b"foobaz"), headers=headers
        )
        assert (accepted.status, changed.status) == (200, 401)
        [event] = recorder.events
        assert isinstance(event, CommandReceived)
        assert (event.command, event.actor.id, event.conversation.tenant) == (
            "webhook-collect",
            "U2CERLKJA",
            "T1DC2JH3J",
        )
    finally:
        await client.close()
        await app.close()


@pytest.mark.parametrize(
    ("case", "timestamp", "signature"),
    [
        ("forged", None, "v0=" + "0" * 64),
        ("signed with another secret", None, "other"),
        ("stale", "stale", None),
        ("from the future", "future", None),
        ("timestamp not a number", "1531420618abc", None),
    ],
)
async def test_bad_signatures_get_401_and_change_nothing(
    slack: SlackWorkspace, case: str, timestamp: str | None, signature: str | None
) -> None:
    form = fixture("slash_command.json")
    form.update(channel_id=direct(ALICE), channel_name="directmessage", user_id=ALICE)
    body = urlencode(form)
    now = int(slack.clock.now().timestamp())
    stamp = {"stale": str(now - 301), "future": str(now + 301), None: str(now)}.get(
        timestamp, timestamp
    )
    assert stamp is not None
    if signature == "other":
        signature = sign("another-secret-altogether", stamp, body)
    before = await table_counts(slack.app)
    response = await slack.send(body, timestamp=stamp, signature=signature)
    assert response.status == 401, case
    assert await table_counts(slack.app) == before
    assert slack.api.calls == []


async def test_a_missing_signature_gets_401(slack: SlackWorkspace) -> None:
    before = await table_counts(slack.app)
    body = urlencode(fixture("slash_command.json"))
    assert (await slack.send(body, signed=False)).status == 401
    only_timestamp = {"X-Slack-Request-Timestamp": str(int(slack.clock.now().timestamp()))}
    assert (await slack.send(body, signed=False, headers=only_timestamp)).status == 401
    assert await table_counts(slack.app) == before
    assert slack.api.calls == []


async def test_a_request_just_inside_five_minutes_is_accepted(slack: SlackWorkspace) -> None:
    form = fixture("slash_command.json")
    form.update(channel_id=direct(ALICE), channel_name="directmessage", user_id=ALICE, text="")
    stamp = str(int(slack.clock.now().timestamp()) - 299)
    assert (await slack.send(urlencode(form), timestamp=stamp)).status == 200


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        ("{not json", "application/json"),
        ("", "application/x-www-form-urlencoded"),
        (b"\xff\xfe", "application/x-www-form-urlencoded"),
    ],
)
async def test_malformed_bodies_get_400(
    slack: SlackWorkspace, body: str | bytes, content_type: str
) -> None:
    response = await slack.send(body, content_type=content_type)
    assert response.status == 400
    assert await rows(slack.app, "SELECT count(*) FROM processed_events") == [(0,)]


@pytest.mark.parametrize(
    ("body", "content_type", "detail"),
    [
        ("[" * 1000 + "]" * 1000, "application/json", "the JSON is nested too deeply"),
        (
            '{"type": "event_callback", "event": ' + "[" * 300 + "]" * 300 + "}",
            "application/json",
            "the JSON is nested too deeply",
        ),
        ("payload=" + "%5B" * 1000 + "%5D" * 1000, FORM, "the JSON is nested too deeply"),
        (
            urlencode({"payload": json.dumps({**fixture("block_actions.json"), "user": 7})}),
            FORM,
            "user is not a string",
        ),
        (
            json.dumps({**fixture("event_message_im.json"), "event_id": "Ev1\ud800"}),
            "application/json",
            "event_id holds control, invisible or unpaired characters",
        ),
        (
            urlencode({**fixture("slash_command.json"), "user_id": "U" * 5000}),
            FORM,
            "user_id is longer than 255 characters",
        ),
    ],
)
async def test_hostile_bodies_get_400_saying_what_is_wrong(
    slack: SlackWorkspace, body: str, content_type: str, detail: str
) -> None:
    response = await slack.send(body, content_type=content_type)
    assert response.status == 400
    assert await response.json() == {"error": "malformed request", "detail": detail}
    assert await rows(slack.app, "SELECT count(*) FROM processed_events") == [(0,)]
    assert slack.api.calls == []


async def test_url_verification_is_answered(slack: SlackWorkspace) -> None:
    challenge = fixture("url_verification.json")
    response = await slack.send(json.dumps(challenge), content_type="application/json")
    assert response.status == 200
    assert (await response.json())["challenge"] == challenge["challenge"]


async def test_a_retried_click_leaves_exactly_one_answer(slack: SlackWorkspace) -> None:
    await slack.command("Winter planning letter", user=ALICE, channel=direct(ALICE))
    question = slack.api.last(direct(ALICE))
    click = slack.click_payload("Partly", user=ALICE, message=question, inputs={"note": "n"})
    first = await slack.interact(click)
    retried = await slack.interact(
        click, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert (first.status, retried.status) == (200, 200)
    state = await rows(slack.app, "SELECT step, data FROM dialog_states")
    assert len(state) == 1
    data = json.loads(str(state[0][1]))
    assert data["ratings"] == {"patients": "partly"}  # one answer, for the first behaviour
    assert data["index"] == 1
    assert slack.api.methods().count("chat.update") == 1
    assert slack.api.methods().count("chat.postMessage") == 2  # first question, second question


async def test_a_retried_event_is_handled_once(slack: SlackWorkspace) -> None:
    envelope = fixture("event_app_mention.json")
    envelope["event"].update(user=ALICE, channel="C0TEAM")
    body = json.dumps(envelope)
    await slack.send(body, content_type="application/json")
    await slack.send(body, content_type="application/json", headers={"X-Slack-Retry-Num": "1"})
    assert len(slack.api.ephemeral("C0TEAM", ALICE)) == 1
    assert await rows(slack.app, "SELECT event_id FROM processed_events") == [("Ev0APPMENTION1",)]


async def test_a_command_that_changes_nothing_writes_nothing(slack: SlackWorkspace) -> None:
    # Slack never sends a command twice. Alice's first command changes something (the bot
    # meets her), so it is recorded; the help after it changes nothing and is answered without
    # a record, and its signed request sent again within the five minutes is answered again,
    # changing nothing.
    met = slack.command_body(user=ALICE, channel=direct(ALICE), command="/values")
    assert (await slack.send(met)).status == 200
    body = slack.command_body(user=ALICE, channel=direct(ALICE), command="/values")
    first = await slack.send(body)
    again = await slack.send(body)
    assert (first.status, again.status) == (200, 200)
    answers = slack.api.channel(direct(ALICE))
    assert len(answers) == 3
    assert all("I help us live our values in everyday work." in m.text_all() for m in answers)
    assert await rows(slack.app, "SELECT display_name FROM people") == [("Alice",)]
    trigger = dict(parse_qsl(met))["trigger_id"]
    assert await rows(slack.app, "SELECT event_id FROM processed_events") == [
        (f"command:{trigger}",)
    ]


async def test_a_command_that_changes_something_counts_once(slack: SlackWorkspace) -> None:
    # A commitment in one line: recorded with the command's trigger_id in the same
    # transaction; the same signed request again is recognised, undone and not answered.
    body = slack.command_body(
        "My contribution is to publish our minutes #open",
        user=ALICE,
        channel="C0TEAM",
        command="/commitment",
    )
    first = await slack.send(body)
    again = await slack.send(body)
    assert (first.status, again.status) == (200, 200)
    assert await rows(slack.app, "SELECT text, behaviours FROM commitments") == [
        ("publish our minutes", '["open"]')
    ]
    [saved] = slack.api.ephemeral("C0TEAM", ALICE)
    assert "My contribution is to publish our minutes" in saved.text_all()
    trigger = dict(parse_qsl(body))["trigger_id"]
    assert await rows(slack.app, "SELECT event_id FROM processed_events") == [
        (f"command:{trigger}",)
    ]


async def test_the_clock_that_judges_staleness_is_the_bots(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    form = fixture("slash_command.json")
    form.update(channel_id=direct(ALICE), channel_name="directmessage", user_id=ALICE, text="")
    body = urlencode(form)
    stamp = str(int(clock.now().timestamp()))
    clock.advance(timedelta(minutes=6))
    assert (await slack.send(body, timestamp=stamp)).status == 401
