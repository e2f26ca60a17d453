"""Recorded Slack payloads as core events (pure: no server, no network)."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from slack_bolt.request.internals import parse_body

from adapters.slack.translate import (
    display_name,
    home_visit,
    read_body,
    reply_route,
    translate,
)
from bot.events import (
    ActionSubmitted,
    CommandReceived,
    ConversationKind,
    ConversationRef,
    MemberJoined,
    MessageReceived,
    MessageRef,
    Platform,
)
from tests.adapters.slack.workspace import fixture

ALICE = "U2147483697"


def place(conversation: str, kind: ConversationKind, thread: str | None = None) -> ConversationRef:
    return ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation=conversation, kind=kind, thread=thread
    )


def test_a_slash_command() -> None:
    body = fixture("slash_command.json")
    event = translate(body)
    assert isinstance(event, CommandReceived)
    assert (event.command, event.text) == ("valueslens", "Winter planning letter")
    assert event.conversation == place("C2147483705", ConversationKind.CHANNEL)
    assert (event.actor.id, event.actor.name) == (ALICE, "alice")
    assert event.event_id == "command:13345224609.738474920.8088930838d88f008e0"
    route = reply_route(body)
    assert route.response_url == body["response_url"]
    assert route.trigger_id == body["trigger_id"]


def test_a_slash_command_in_a_direct_conversation_with_escaped_text() -> None:
    body = fixture("slash_command.json")
    body.update(channel_id="D0ALICE", channel_name="directmessage", text="a &amp; b &lt;c&gt;")
    event = translate(body)
    assert isinstance(event, CommandReceived)
    assert event.conversation.kind is ConversationKind.DIRECT
    assert event.text == "a & b <c>"


def test_a_button_click_with_a_note() -> None:
    body = fixture("block_actions.json")
    event = translate(body)
    assert isinstance(event, ActionSubmitted)
    assert event.action == "lens.rate"
    assert dict(event.values) == {
        "dlg_run": "a1b2c3d4e5f6",
        "dlg_v": "1",
        "choice": "partly",
        "note": "we asked two patient reps",
    }
    assert event.conversation == place("D0ALICE", ConversationKind.DIRECT)
    assert event.source == MessageRef(id="1764495000.000101", extra={"channel": "D0ALICE"})
    route = reply_route(body)
    assert (route.channel, route.message_ts, route.ephemeral) == (
        "D0ALICE",
        "1764495000.000101",
        False,
    )
    assert route.response_url == body["response_url"]


def test_click_ids_are_stable_for_a_retry_and_distinct_for_another_click() -> None:
    first = translate(fixture("block_actions.json"))
    again = translate(fixture("block_actions.json"))
    other = fixture("block_actions.json")
    other["actions"][0]["action_ts"] = "1764495099.000001"
    assert first is not None
    assert again is not None
    assert first.event_id == again.event_id
    assert first.event_id != (translate(other) or first).event_id


def test_a_modal_submission() -> None:
    event = translate(fixture("view_submission.json"))
    assert isinstance(event, ActionSubmitted)
    assert event.action == "lens.team.start"
    assert dict(event.values) == {"choice": "", "work": "Winter <!channel> plan & budget"}
    assert event.conversation == place("C2147483705", ConversationKind.CHANNEL)
    assert event.event_id.startswith("view:")


def test_a_direct_message() -> None:
    event = translate(fixture("event_message_im.json"))
    assert isinstance(event, MessageReceived)
    assert event.text == "2 we asked <patients> & carers"
    assert event.conversation == place("D0ALICE", ConversationKind.DIRECT)
    assert event.event_id == "Ev0MESSAGEIM1"


def test_a_mention_loses_the_leading_mention() -> None:
    event = translate(fixture("event_app_mention.json"))
    assert isinstance(event, MessageReceived)
    assert event.text == "help"
    assert event.conversation == place("C2147483705", ConversationKind.CHANNEL)


def test_a_mention_in_a_thread_answers_in_the_thread() -> None:
    body = fixture("event_app_mention.json")
    body["event"]["thread_ts"] = "1764495000.000001"
    event = translate(body)
    assert event is not None
    assert event.conversation.thread == "1764495000.000001"


def test_someone_joins_a_channel() -> None:
    event = translate(fixture("event_member_joined_channel.json"))
    assert isinstance(event, MemberJoined)
    assert event.actor.id == "U0BOB"


def test_the_home_tab() -> None:
    body = fixture("event_app_home_opened.json")
    assert translate(body) is None
    visit = home_visit(body)
    assert visit is not None
    assert (visit.tenant, visit.user) == ("T1", ALICE)
    assert visit.direct == place("D0ALICE", ConversationKind.DIRECT)


@pytest.mark.parametrize(
    ("name", "change"),
    [
        ("event_message_changed.json", {}),
        ("event_message_im.json", {"bot_id": "BVALUES"}),
        ("event_message_im.json", {"subtype": "bot_message"}),
        ("event_message_im.json", {"channel_type": "channel"}),
        ("event_app_home_opened.json", {"tab": "messages"}),
        ("url_verification.json", None),
    ],
)
def test_ignored_on_purpose(name: str, change: dict[str, str] | None) -> None:
    body = fixture(name)
    if change is not None:
        body["event"].update(change)
    assert translate(body) is None
    assert home_visit(body) is None


def test_a_click_on_something_we_did_not_render_is_ignored() -> None:
    body = fixture("block_actions.json")
    body["actions"][0]["value"] = "not ours"
    assert translate(body) is None
    body = fixture("block_actions.json")
    body["actions"][0] = {"type": "static_select", "action_id": "b_x", "selected_option": None}
    assert translate(body) is None


@pytest.mark.parametrize(
    "name", ["block_actions.json", "view_submission.json", "slash_command.json",
             "event_message_im.json", "url_verification.json"],
)  # fmt: skip
def test_bodies_read_at_the_acknowledgement_are_what_bolt_reads(name: str) -> None:
    """Each kind of body Slack sends, as it arrives (interactivity as a form field of JSON,
    slash commands as a form, events as JSON), with text that needs escaping in every field."""
    found = fixture(name)
    if "command" in found:
        found["text"] = 'Winter & "planning" 100% +1 é <b>=?'
        text, content_type = urlencode(found), "application/x-www-form-urlencoded"
    elif "payload" in name or found.get("type") in ("block_actions", "view_submission"):
        found["user"]["name"] = 'Ann & "Bo" 100% +1 é <b>=?'
        text = urlencode({"payload": json.dumps(found)})
        content_type = "application/x-www-form-urlencoded"
    else:
        text, content_type = json.dumps(found), "application/json"
    assert read_body(text, content_type) == parse_body(text, content_type)
    assert read_body(text, content_type) == (
        found if "command" not in found else {k: str(v) for k, v in found.items()}
    )


@pytest.mark.parametrize(
    ("text", "content_type", "why"),
    [
        ("payload=%7Bnot+json", "application/x-www-form-urlencoded", "Expecting property"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded", "not a JSON object"),
        ("{not json", "application/json", "Expecting property"),
        ("[1, 2]", "application/json; charset=utf-8", "not a JSON object"),
    ],
)
def test_unreadable_bodies_are_refused(text: str, content_type: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read_body(text, content_type)


@pytest.mark.parametrize(
    ("user", "name"),
    [
        (
            {
                "name": "akhan",
                "real_name": "Alison Khan",
                "profile": {"display_name": "Ali K", "real_name": "Alison Khan"},
            },
            "Ali K",
        ),
        (
            {"name": "akhan", "real_name": "Alison Khan", "profile": {"display_name": ""}},
            "Alison Khan",
        ),
        ({"name": "akhan", "profile": {"display_name": " ", "real_name": "Alison"}}, "Alison"),
        ({"name": "akhan", "real_name": "Alison Khan"}, "Alison Khan"),
        ({"name": "akhan", "profile": {}}, ""),  # the handle is the caller's last resort
        ({"profile": {"display_name": "x" * 120}}, "x" * 79 + "…"),
    ],
)
def test_the_name_slack_shows_from_users_info(user: dict[str, object], name: str) -> None:
    assert display_name(user) == name
