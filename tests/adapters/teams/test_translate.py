"""Teams activities, as recorded from Teams, translated to core events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from adapters.teams.translate import (
    NotAnActivity,
    card_submission,
    clean_text,
    join_thread,
    member,
    read_command,
    split_thread,
    translate,
)
from bot.events import (
    ActionSubmitted,
    CommandReceived,
    ConversationKind,
    ConversationOpened,
    Directory,
    MemberJoined,
    MessageReceived,
    MessageRef,
    PersonLeft,
    Platform,
)
from bot.inbound import BadPayload

FIXTURES = Path(__file__).parents[2] / "fixtures" / "teams"
TENANT = "5d2f1c3b-7a8e-4f6d-9c0b-1a2e3f4d5c6b"
BOT = "28:0d7f3a4e-6c1b-4f8e-9a2d-5b6c7d8e9f01"
CHANNEL = "19:7c1f0e9d8b7a46c5b4a3f2e1d0c9b8a7@thread.tacv2"


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


def test_a_personal_bot_command() -> None:
    event = translate(fixture("personal_message"))
    assert isinstance(event, CommandReceived)
    assert (event.command, event.text) == ("valueslens", "")
    ref = event.conversation
    assert ref.platform is Platform.TEAMS
    assert ref.tenant == TENANT
    assert ref.kind is ConversationKind.DIRECT
    assert ref.conversation.startswith("a:1Qx8")
    assert ref.thread is None
    assert ref.service_url == "https://smba.trafficmanager.net/uk/"
    assert ref.extra == {"bot_id": BOT, "bot_name": "valuesbot"}
    assert event.actor.name == "Alice Smith"
    assert event.actor.id.startswith("29:1aLiCe")
    assert event.actor.timezone == "Europe/London"
    assert event.event_id == "message:1764495002441"


def test_a_channel_mention_is_stripped_and_the_thread_kept() -> None:
    event = translate(fixture("channel_mention_command"))
    assert isinstance(event, CommandReceived)
    assert (event.command, event.text) == ("valueslens", "Winter planning letter")
    assert event.conversation.kind is ConversationKind.CHANNEL
    assert event.conversation.conversation == CHANNEL
    assert event.conversation.thread == "1764495074129"


def test_a_group_chat_command() -> None:
    event = translate(fixture("group_chat_message"))
    assert isinstance(event, CommandReceived)
    assert (event.command, event.text) == ("values", "")
    assert event.conversation.kind is ConversationKind.GROUP
    assert event.conversation.thread is None


def test_plain_messages_and_the_command_words() -> None:
    activity = fixture("personal_message")
    activity["text"] = "Values training for managers"
    event = translate(activity)
    assert isinstance(event, MessageReceived)
    assert event.text == "Values training for managers"
    assert read_command("values behaviours") == ("values", "behaviours")
    assert read_command("/barometer") == ("barometer", "")
    assert read_command("VALUESLENS history") == ("valueslens", "history")
    assert read_command("digest now please") == ("digest", "now please")
    assert read_command("cancel") is None
    assert read_command("lens history") is None


def test_teams_text_is_cleaned() -> None:
    assert clean_text("<p>Hello&nbsp;<b>there</b></p>\n\n") == "Hello there"
    assert clean_text("  a &amp; b  ") == "a & b"
    assert clean_text("<at>someone</at>") == "someone"


def test_a_mention_of_someone_else_stays() -> None:
    activity = fixture("channel_mention_command")
    activity["text"] = "<at>valuesbot</at> <at>Bob Jones</at> hello"
    activity["entities"].append(
        {"mentioned": {"id": "29:bob", "name": "Bob Jones"}, "text": "<at>Bob Jones</at>"}
        | {"type": "mention"}
    )
    event = translate(activity)
    assert isinstance(event, MessageReceived)
    assert event.text == "Bob Jones hello"


def test_a_card_submit_in_a_personal_chat() -> None:
    event = translate(fixture("card_submit_personal"))
    assert isinstance(event, ActionSubmitted)
    assert event.action == "lens.work"
    assert event.values == {
        "dlg_run": "4c2e9a1b7f3d",
        "dlg_v": "1",
        "choice": "",
        "work": "Drafting the allocation guidance",
    }
    assert event.source == MessageRef(id="1764495003557")


def test_a_card_submit_in_a_channel_keeps_only_the_cards_inputs() -> None:
    activity = fixture("card_submit_channel")
    activity["value"]["sneaky"] = "not an input of the card"
    activity["value"]["b_open"] = "   "
    event = translate(activity)
    assert isinstance(event, ActionSubmitted)
    assert event.action == "lens.team.rate"
    assert event.values["team"] == "9f8e7d6c5b4a3f2e"
    assert event.values["b_patients"] == "strongly"
    assert "sneaky" not in event.values
    assert "b_open" not in event.values
    assert event.conversation.conversation == CHANNEL
    assert event.actor.name == "Bob Jones"


def test_an_action_execute_invoke() -> None:
    event = translate(fixture("adaptive_card_action_invoke"))
    assert isinstance(event, ActionSubmitted)
    assert event.action == "lens.save_commitment"
    assert event.values == {"checkin": "b1e2c3d4a5f60718", "choice": "b1e2c3d4a5f60718"}
    assert event.source == MessageRef(id="1764495060218")


def test_installs_and_members() -> None:
    personal = translate(fixture("personal_install"))
    assert isinstance(personal, ConversationOpened)
    assert personal.conversation.is_direct
    channel = translate(fixture("channel_install"))
    assert isinstance(channel, MemberJoined)
    assert channel.conversation.kind is ConversationKind.CHANNEL
    assert channel.conversation.conversation == CHANNEL
    installed = translate(fixture("installation_update_add"))
    assert isinstance(installed, MemberJoined)
    joined = translate(fixture("channel_member_added"))
    assert isinstance(joined, MemberJoined)
    assert joined.actor.id.startswith("29:1cArOl")


def test_leaving_the_personal_scope_is_a_person_gone() -> None:
    for name in ("personal_uninstall", "installation_update_remove"):
        gone = translate(fixture(name))
        assert isinstance(gone, PersonLeft), name
        assert gone.actor.id.startswith("29:1aLiCe")
        assert (gone.reason, gone.conversation.is_direct) == ("removed", True)
    removed = fixture("personal_uninstall")
    removed["membersRemoved"] = [{"id": "29:1bOb"}]
    gone = translate(removed)
    assert isinstance(gone, PersonLeft)
    assert gone.actor.id == "29:1bOb"


IN_CHANNEL = {
    "isGroup": True,
    "conversationType": "channel",
    "tenantId": "5d2f1c3b-7a8e-4f6d-9c0b-1a2e3f4d5c6b",
    "id": "19:7c1f0e9d8b7a46c5b4a3f2e1d0c9b8a7@thread.tacv2",
}


@pytest.mark.parametrize(
    "change",
    [
        {"type": "messageReaction"},
        {"type": "typing"},
        {"type": "event", "name": "application/vnd.microsoft.meetingStart"},
        {"type": "invoke", "name": "composeExtension/query"},
        {"type": "message", "text": "", "attachments": [{"contentType": "image/png"}]},
        {"channelId": "slack"},
        # Removed from a team: its members keep their personal chats with the bot.
        {"type": "installationUpdate", "action": "remove", "conversation": IN_CHANNEL},
        {"type": "conversationUpdate", "membersRemoved": [{"id": BOT}], "conversation": IN_CHANNEL},
        {"from": {"id": BOT, "name": "valuesbot"}},
    ],
)
def test_what_is_ignored(change: dict[str, Any]) -> None:
    activity = fixture("personal_message") | change
    assert translate(activity) is None


def test_the_recorded_reaction_is_ignored() -> None:
    assert translate(fixture("message_reaction")) is None


def test_a_bare_mention_or_an_empty_message_is_an_empty_message() -> None:
    # The core answers it with the short help (it used to be ignored: no answer at all).
    mention = fixture("channel_mention_command") | {"text": "<at>valuesbot</at>&nbsp;\n"}
    blank = fixture("personal_message") | {"text": " \n\t "}
    for activity in (mention, blank, fixture("personal_message") | {"text": None}):
        event = translate(activity)
        assert isinstance(event, MessageReceived)
        assert event.text == ""


def test_an_image_or_a_file_alone_is_ignored() -> None:
    image = fixture("personal_message") | {
        "text": '<p><img src="https://x.example/1.png"></p>',
        "attachments": [{"contentType": "image/*", "contentUrl": "https://x.example/1.png"}],
    }
    assert translate(image) is None
    file = fixture("personal_message") | {"text": ""}
    file["attachments"] = [
        {"contentType": "text/html", "content": "<div></div>"},
        {"contentType": "application/vnd.microsoft.teams.file.download.info", "name": "a.pdf"},
    ]
    assert translate(file) is None


@pytest.mark.parametrize(
    "broken",
    [
        {"type": None},
        {"conversation": None},
        {"conversation": {"id": ""}},
        {"from": None},
    ],
)
def test_activities_missing_essentials_are_refused(broken: dict[str, Any]) -> None:
    activity = fixture("personal_message") | broken
    with pytest.raises(NotAnActivity):
        translate(activity)


def test_card_data_from_elsewhere_is_not_a_valuesbot_click() -> None:
    assert card_submission({"action": "x"}) is None
    assert card_submission("text") is None
    assert card_submission({"valuesbot": {"action": ""}}) is None
    activity = copy.deepcopy(fixture("card_submit_personal"))
    activity["value"] = {"msteams": {"type": "messageBack"}}
    activity["text"] = ""
    # Not a click the bot can act on: an empty message, answered with the short help.
    event = translate(activity)
    assert isinstance(event, MessageReceived)
    assert event.text == ""


def test_threads_split_and_join() -> None:
    assert split_thread(f"{CHANNEL};messageid=42") == (CHANNEL, "42")
    assert split_thread(CHANNEL) == (CHANNEL, None)
    assert join_thread(CHANNEL, "42") == f"{CHANNEL};messageid=42"
    assert join_thread(CHANNEL, None) == CHANNEL


def test_an_activity_without_an_id_gets_a_stable_one() -> None:
    activity = fixture("personal_message")
    del activity["id"]
    first = translate(activity)
    second = translate(copy.deepcopy(activity))
    assert first is not None
    assert second is not None
    assert first.event_id == second.event_id
    assert first.event_id.startswith("sha256:")


def test_what_a_channel_is_called_comes_with_the_activity_when_teams_says() -> None:
    # The app added to a team: its name, and the General channel (whose id is the team's).
    installed = translate(fixture("channel_install"))
    assert installed is not None
    extra = installed.conversation.extra
    assert extra["team_id"] == CHANNEL
    assert extra["team_name"] == "Winter planning"
    assert extra["channel_name"] == "General"
    assert extra["name"] == "General in Winter planning"
    # A message in another channel names neither (the adapter looks the names up).
    other = "19:3b2a1f0e9d8c47b6a5f4e3d2c1b0a9f8@thread.tacv2"
    activity = fixture("channel_mention_command")
    activity["conversation"]["id"] = f"{other};messageid=1"
    activity["channelData"]["channel"] = {"id": other}
    message = translate(activity)
    assert message is not None
    assert message.conversation.extra["team_id"] == CHANNEL
    assert "name" not in message.conversation.extra
    # A channel rename (channelData.channel.name) and a named group chat.
    activity["channelData"]["channel"] = {"id": other, "name": "Planning"}
    renamed = translate(activity)
    assert renamed is not None
    assert renamed.conversation.extra["name"] == "Planning"
    group = fixture("group_chat_message")
    group["conversation"]["name"] = "Discharge letters"
    chat = translate(group)
    assert chat is not None
    assert chat.conversation.extra["name"] == "Discharge letters"
    personal = translate(fixture("personal_message"))
    assert personal is not None
    assert set(personal.conversation.extra) == {"bot_id", "bot_name"}


def changed(name: str, path: str, value: Any) -> dict[str, Any]:
    """A recorded activity with the field at the dotted ``path`` set to ``value``."""
    activity = copy.deepcopy(fixture(name))
    *parents, last = path.split(".")
    node: Any = activity
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return activity


@pytest.mark.parametrize(
    ("name", "path", "value", "why"),
    [
        # the SDK raises TypeError for this one: it must be a 400 before the SDK sees it
        ("personal_message", "channelId", "", "channelId is empty"),
        ("personal_message", "channelId", 7, "channelId is not a string"),
        ("personal_message", "type", ["message"], "type is not a string"),
        ("personal_message", "from.id", "29:" + "x" * 300, "from.id is longer than 255"),
        ("personal_message", "from", "Alice", "from is not an object"),
        ("personal_message", "conversation.id", "a:1\x00", "conversation.id holds control"),
        ("personal_message", "conversation.tenantId", "t" * 65, "tenantId is longer than 64"),
        ("personal_message", "recipient.id", "28:\ud800", "recipient.id holds"),
        ("personal_message", "id", {"id": 1}, "id is not a string"),
        ("personal_message", "serviceUrl", None, "the activity has no serviceUrl"),
        ("personal_message", "serviceUrl", "smba.trafficmanager.net/uk/", "not an http"),
        ("personal_message", "entities", {"type": "clientInfo"}, "entities is not a list"),
        ("personal_message", "entities.0", "clientInfo", "entities \\(an item\\) is not"),
        ("personal_message", "text", 42, "text is not a string"),
        ("channel_mention_command", "channelData.team", "x", "channelData.team is not an"),
        ("channel_mention_command", "entities.0.mentioned", 1, "mentioned is not an object"),
        ("card_submit_personal", "replyToId", "1" * 300, "replyToId is longer"),
        ("card_submit_channel", "value.valuesbot.hidden", ["9f8e"], "hidden is not an object"),
        ("card_submit_channel", "value.valuesbot.hidden.team", {"a": 1}, "hidden"),
        ("card_submit_channel", "value.valuesbot.inputs", "b_patients", "inputs is not a list"),
        ("card_submit_channel", "value.b_patients", {"v": 1}, "an input"),
        ("adaptive_card_action_invoke", "value.action", "save", "value.action is not an"),
        ("personal_install", "membersAdded", {"id": BOT}, "membersAdded is not a list"),
        ("personal_install", "membersAdded.0", BOT, "membersAdded \\(an item\\) is not"),
        ("installation_update_add", "action", 1, "action is not a string"),
    ],
)
def test_fields_teams_would_not_send_so_are_refused(
    name: str, path: str, value: object, why: str
) -> None:
    with pytest.raises(BadPayload, match=why):
        translate(changed(name, path, value))


def test_typed_text_names_and_inputs_are_normalised_not_refused() -> None:
    activity = changed("personal_message", "text", "Budget\x00 paper\x07 \ud800")
    activity["from"]["name"] = "Alice\x1b[2J " + "S" * 400
    activity["entities"][0]["timezone"] = "Europe/London\x00"
    activity["localTimezone"] = "x" * 100
    event = translate(activity)
    assert isinstance(event, MessageReceived)
    assert event.text == "Budget paper \ufffd"
    assert event.actor.name == ("Alice[2J " + "S" * 400)[:255]
    assert event.actor.timezone is None
    click = changed("card_submit_channel", "value.b_listen", "partly\x00")
    click["value"]["valuesbot"]["hidden"]["round"] = 3
    clicked = translate(click)
    assert isinstance(clicked, ActionSubmitted)
    assert (clicked.values["b_listen"], clicked.values["round"]) == ("partly", "3")


def test_what_the_connector_says_of_a_member() -> None:
    # GET /v3/conversations/{id}/members/{userId}, as the Bot Connector answers it.
    name, directory = member(fixture("conversation_member"))
    assert name == "Alice Smith"
    assert directory == Directory(
        object_id="2f4c7a11-8c3e-4f5b-9d21-6a0b3c4d5e6f",
        principal_name="alice.smith@nhsengland.example",
        email="alice.smith@nhsengland.example",
    )
    # A guest may have no principal name; what is not a plausible value is left out.
    odd = {**fixture("conversation_member"), "userPrincipalName": None, "email": "x" * 300}
    odd["aadObjectId"] = "2f4c\u0000"
    assert member(odd) == ("Alice Smith", Directory())
    assert member({}) == ("", Directory())
