"""Recorded Slack payloads as core events (pure: no server, no network)."""

from __future__ import annotations

import copy
import json
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt.request.internals import parse_body

from adapters.slack.translate import (
    check,
    clicked,
    describe,
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
from bot.inbound import BadPayload
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
        ("payload=%7Bnot+json", "application/x-www-form-urlencoded", "not JSON"),
        ("payload=%5B1%5D", "application/x-www-form-urlencoded", "not a JSON object"),
        ("{not json", "application/json", "not JSON"),
        ("[1, 2]", "application/json; charset=utf-8", "not a JSON object"),
        ('{"a":' * 1000 + "1" + "}" * 1000, "application/json", "nested too deeply"),
        ("[" * 1000 + "]" * 1000, "application/json", "nested too deeply"),
        ('{"a":' + "[" * 300 + "]" * 300 + "}", "application/json", "nested too deeply"),
        ("payload=" + "%5B" * 1000 + "%5D" * 1000, "application/x-www-form-urlencoded", "deeply"),
    ],
)
def test_unreadable_bodies_are_refused(text: str, content_type: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        read_body(text, content_type)


def changed(name: str, path: str, value: Any) -> dict[str, Any]:
    """A recorded payload with the field at the dotted ``path`` set to ``value``."""
    body = copy.deepcopy(fixture(name))
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return body


@pytest.mark.parametrize(
    ("name", "path", "value", "why"),
    [
        # ids: the wrong type, over-long, NUL and control characters, a lone surrogate
        ("slash_command.json", "user_id", "U" * 300, "user_id is longer than 255"),
        ("slash_command.json", "team_id", "T" * 65, "team_id is longer than 64"),
        ("slash_command.json", "channel_id", "C1\x00", "channel_id holds control"),
        ("slash_command.json", "trigger_id", "1" * 201, "trigger_id is longer than 200"),
        ("slash_command.json", "response_url", "javascript:alert(1)", "response_url is not"),
        ("event_message_im.json", "event.user", 12345, "event.user is not a string"),
        ("event_message_im.json", "event.channel", "D0ALICE\ud800", "event.channel holds"),
        ("event_message_im.json", "event_id", ["Ev1"], "event_id is not a string"),
        ("event_message_im.json", "team_id", {"id": "T1"}, "team_id is not a string"),
        ("event_app_home_opened.json", "event.user", "U\x1b[2J", "event.user holds"),
        ("block_actions.json", "user.id", 12345, "user.id is not a string"),
        ("block_actions.json", "team.id", "T1\ud800", "team.id holds"),
        ("block_actions.json", "container.message_ts", 1764495000.1, "message_ts is not"),
        ("block_actions.json", "actions.0.action_id", "lens.rate#1\x00", "action_id holds"),
        ("block_actions.json", "actions.0.action_ts", "1" * 300, "action_ts is longer"),
        ("view_submission.json", "view.hash", {"v": 1}, "view.hash is not a string"),
        ("view_submission.json", "view.id", "V" * 300, "view.id is longer"),
        # objects and lists of the wrong type, including where bolt reads them first
        ("block_actions.json", "user", 12345, "user is not a string"),
        ("block_actions.json", "channel", ["D0ALICE"], "channel is not a string"),
        ("block_actions.json", "actions", "lens.rate", "actions is not a list"),
        ("block_actions.json", "actions", [], "actions is empty"),
        ("block_actions.json", "actions.0", "lens.rate", "actions.0 is not an object"),
        ("block_actions.json", "state", ["in.note"], "state is not an object"),
        ("block_actions.json", "state.values", "note", "state.values is not an object"),
        ("event_message_im.json", "event", None, "event is not an object"),
        ("event_message_im.json", "authorizations", {"team_id": "T1"}, "not a list"),
        ("event_message_im.json", "authorizations.0", "T1", "authorizations.0 is not an object"),
        ("view_submission.json", "view.callback_id", 7, "view.callback_id is not a string"),
        ("view_submission.json", "response_urls", None, "response_urls is not a list"),
        ("view_submission.json", "view.state.values", ["x"], "view.state.values is not an"),
        # our own envelope, in the right shape with the wrong content
        ("view_submission.json", "view.private_metadata", '{"h":{},"c":"C1\\u0000"}', "holds"),
        ("block_actions.json", "actions.0.value", '{"h":{"a":{"b":1}}}', "hidden value"),
    ],
)
def test_fields_slack_would_not_send_so_are_refused(
    name: str, path: str, value: object, why: str
) -> None:
    body = changed(name, path, value)
    with pytest.raises(BadPayload, match=why):
        check(body)


def test_typed_text_and_names_are_normalised_not_refused() -> None:
    body = changed("event_message_im.json", "event.text", "Winter\x00 plan\x07 \ud800 é")
    event = translate(body)
    assert isinstance(event, MessageReceived)
    assert event.text == "Winter plan \ufffd é"
    click = changed("block_actions.json", "user.name", "A\x00" + "n" * 400)
    click["state"]["values"]["in.note"]["note"]["value"] = "two\nlines\x00"
    check(click)
    clicked = translate(click)
    assert isinstance(clicked, ActionSubmitted)
    assert clicked.actor.name == "A" + "n" * 254
    assert clicked.values["note"] == "two\nlines"


def test_a_form_field_given_twice_or_a_payload_with_no_user_is_not_an_error() -> None:
    command = read_body(urlencode([("text", "a"), ("text", "b")]), "")
    assert command == {"text": "b"}
    body = fixture("block_actions.json")
    del body["user"]
    check(body)
    assert translate(body) is None


def test_kinds_in_logs_are_only_known_words() -> None:
    assert describe(fixture("event_message_im.json")) == "event:message/im"
    assert describe({"type": "x" * 5000}) == "unknown"
    assert describe({"type": "event_callback", "event": {"type": "a\ud800"}}) == "event:unknown"
    assert describe({"type": "event_callback", "event": "x"}) == "event:unknown"


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


def test_the_clicked_action_is_read_without_translating_the_payload() -> None:
    body = fixture("block_actions.json")
    translated = translate(body)
    assert isinstance(translated, ActionSubmitted)
    assert clicked(body) == translated.action == "lens.rate"
    assert clicked(fixture("slash_command.json")) is None
    assert clicked(fixture("view_submission.json")) is None
    assert clicked({"type": "block_actions", "actions": []}) is None
    assert clicked({"type": "block_actions", "actions": [{"action_id": 7}]}) is None
