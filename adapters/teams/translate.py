"""Teams activities (Bot Framework activity protocol, as JSON) as core events.

Pure functions over the activity dict Teams posts to ``/api/messages``.

Handled:

- ``message`` with text: in a personal chat the text as written; in a channel or group chat the
  text with the bot's @mention taken out. A first word that is one of the bot commands of the
  app manifest (``valueslens``, ``barometer``, ``commitment``, ``casestudy``, ``digest``,
  ``values``), or any word after a ``/``, makes a ``CommandReceived`` (like Slack's slash
  commands: ``valueslens history`` is command "valueslens", text "history"); anything else is a
  ``MessageReceived``.
- ``message`` with nothing to read: a bare @mention of the bot (the usual first try in a
  channel), an empty or whitespace-only text, a card submitted without valuesbot's card facts
  (not a card of ours, or one the bot cannot read any more): a ``MessageReceived`` with empty
  text, which the core answers with the short help.
- ``message`` with a ``value`` and the card facts valuesbot put on its buttons: an Adaptive Card
  ``Action.Submit`` click, as ``ActionSubmitted`` (the source is the card's activity id,
  ``replyToId``, so the card can be replaced). A multi-select choice arrives as its values
  joined by commas, the core's own form.
- ``invoke`` named ``adaptiveCard/action``: an ``Action.Execute`` click, the same way.
- ``conversationUpdate`` adding the bot: in a personal chat ``ConversationOpened`` (the greeting);
  in a team or group chat ``MemberJoined`` (remembered, no unsolicited post). Adding people:
  ``MemberJoined`` for the first person added.
- ``installationUpdate`` with action ``add`` (or ``add-upgrade``): ``MemberJoined``, so the
  conversation is remembered for proactive messages even if no one has written yet.
- In the bot's personal scope, a ``conversationUpdate`` with ``membersRemoved`` (the person, or
  the bot as the app is removed) and an ``installationUpdate`` with action ``remove``:
  ``PersonLeft`` for that person (reason "removed"): their queued messages are cancelled and
  their data erased after the grace period unless they come back.

Ignored on purpose (``None``):

- messages that carry only an attachment (an image, a file, someone else's card: anything
  but the ``text/html`` copy of the text Teams adds), and the bot's own messages;
- ``messageReaction``, ``messageUpdate``, ``messageDelete``, ``typing``, ``event`` and
  ``endOfConversation`` activities: valuesbot has nothing to say to them;
- every other ``invoke`` (message extensions, sign-in, task modules: the app declares none);
- ``conversationUpdate`` removing the bot or people from a team or group chat, renaming a team
  or a channel; ``installationUpdate`` removing the app from a team (a later send there fails
  as unreachable; its members keep their personal chats);
- activities from channels other than Teams (``channelId`` not ``msteams``): the Agents
  Playground is run with ``--channel-id msteams`` to play Teams.

Refused (``NotAnActivity``, a ``bot.inbound.BadPayload``: a 400): an activity without a type, a
conversation or a sender, and any field read here that Teams would not send that way: an id
that is not a printable string of sane length (``bot.inbound``; ``channelId`` must not be
empty), a service URL that is not an http(s) URL, an object or a list of the wrong type. Text
people typed, names and card inputs are normalised instead (control characters dropped); a
client time zone that is not a plausible zone name is left out.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot import inbound
from bot.events import (
    ActionSubmitted,
    Actor,
    CommandReceived,
    ConversationKind,
    ConversationOpened,
    ConversationRef,
    Directory,
    Event,
    MemberJoined,
    MessageReceived,
    MessageRef,
    PersonLeft,
    Platform,
)
from bot.inbound import TENANT_LIMIT, BadPayload
from bot.ui import CHOICE, SEPARATOR

# The bot commands of manifest/teams/manifest.json: Teams sends them as plain message text.
COMMANDS = (
    "valueslens",
    "barometer",
    "commitment",
    "casestudy",
    "identifier",
    "digest",
    "scorecard",
    "values",
)
# "values" starts ordinary sentences ("Values training for managers" as the work being looked
# at): as a bare word it is a command only alone or with one of these.
VALUES_WORDS = frozenset({"help", "behaviours", "behaviors", "values", "?", "mydata", "forget-me"})

# Card facts valuesbot puts in every Action.Submit's data, under one key so that Teams can merge
# the card's inputs (by input id) next to it without clashing.
CARD_KEY = "valuesbot"
ACTION_INVOKE = "adaptiveCard/action"
TEAMS_CHANNEL = "msteams"
THREAD_MARK = ";messageid="
# Teams allows 50 characters for a channel name and 256 for a team name; a label is kept short.
NAME_LIMIT = 100
# What Teams calls the channel every team has (its id is the team's).
GENERAL = "General"
# Where a channel's or group chat's display name goes in ``ConversationRef.extra`` (what the
# core shows people, e.g. ``/digest schedule here``).
NAME = "name"

_CONVERSATION_KINDS = {
    "personal": ConversationKind.DIRECT,
    "channel": ConversationKind.CHANNEL,
    "groupChat": ConversationKind.GROUP,
}
_TAG = re.compile(r"<[^>]{0,200}>")
_SPACES = re.compile(r"[ \t\u00a0\u200b]+")
_ZONE = re.compile(r"[A-Za-z0-9_+\-]+(?:/[A-Za-z0-9_+\-]+)*")


class NotAnActivity(BadPayload):
    """The payload is not a usable activity (a 400 for the sender)."""


def _id(parent: Mapping[str, Any], key: str, where: str = "", *, limit: int = 0) -> str:
    """The id at ``parent[key]`` ("" when absent); ``where`` is the path of ``parent``."""
    return inbound.identifier(parent.get(key), where + key, limit=limit or inbound.ID_LIMIT)


def _text(parent: Mapping[str, Any], key: str, where: str = "") -> str:
    return inbound.text(parent.get(key), where + key)


def _obj(parent: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    return inbound.mapping(parent.get(key), where + key)


def _list(parent: Mapping[str, Any], key: str, where: str = "") -> Sequence[Any]:
    return inbound.items(parent.get(key), where + key)


def _objects(parent: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The list at ``parent[key]``, each of whose items must be an object."""
    return [inbound.mapping(item, f"{key} (an item)") for item in _list(parent, key)]


def tenant_of(activity: Mapping[str, Any]) -> str:
    """The Microsoft 365 tenant the activity came from."""
    conversation = _obj(activity, "conversation")
    tenant = _obj(_obj(activity, "channelData"), "tenant", "channelData.")
    return (
        _id(conversation, "tenantId", "conversation.", limit=TENANT_LIMIT)
        or _id(tenant, "id", "channelData.tenant.", limit=TENANT_LIMIT)
        or "unknown"
    )


def split_thread(conversation_id: str) -> tuple[str, str | None]:
    """``19:abc@thread.tacv2;messageid=123`` is channel ``19:abc@thread.tacv2``, thread ``123``."""
    base, mark, thread = conversation_id.partition(THREAD_MARK)
    return base, (thread or None) if mark else None


def join_thread(conversation: str, thread: str | None) -> str:
    """The Bot Connector conversation id of a channel thread (the channel itself without one)."""
    return f"{conversation}{THREAD_MARK}{thread}" if thread else conversation


def place(activity: Mapping[str, Any]) -> ConversationRef:
    """Where the activity happened, with what is needed to post there again later (the bot's
    account) and, for a channel or group chat, what it is called as far as the activity says
    (``names``; the display name under ``extra["name"]``)."""
    conversation = _obj(activity, "conversation")
    conversation_id = _id(conversation, "id", "conversation.")
    if not conversation_id:
        raise NotAnActivity("the activity has no conversation id")
    kind = _CONVERSATION_KINDS.get(_id(conversation, "conversationType", "conversation."))
    if kind is None:
        kind = ConversationKind.GROUP if conversation.get("isGroup") else ConversationKind.DIRECT
    base, thread = split_thread(conversation_id)
    if kind is ConversationKind.DIRECT:
        base, thread = conversation_id, None
    extra: dict[str, str] = {}
    bot = _obj(activity, "recipient")
    bot_id = _id(bot, "id", "recipient.")
    if bot_id:
        extra["bot_id"] = bot_id
        bot_name = _text(bot, "name", "recipient.")[:100]
        if bot_name:
            extra["bot_name"] = bot_name
    if kind is not ConversationKind.DIRECT:
        extra.update(names(activity, base))
        label = conversation_name(extra)
        if label:
            extra[NAME] = label
    service_url = inbound.url(activity.get("serviceUrl"), "serviceUrl")
    if not service_url:
        # Teams sends it with every activity; without it no answer could be sent.
        raise NotAnActivity("the activity has no serviceUrl")
    return ConversationRef(
        platform=Platform.TEAMS,
        tenant=tenant_of(activity),
        conversation=base,
        kind=kind,
        thread=thread,
        service_url=service_url,
        extra=extra,
    )


def names(activity: Mapping[str, Any], conversation: str) -> dict[str, str]:
    """What the activity says a channel or group chat is called: the team's id and name and
    the channel's name from ``channelData`` (Teams sends the names with some activities only,
    such as the app being added to a team), a named group chat's ``conversation.name``. A
    team's General channel has the team's own id and, in Teams' APIs, no name of its own."""
    data = _obj(activity, "channelData")
    team = _obj(data, "team", "channelData.")
    found: dict[str, str] = {}
    team_id = _id(team, "id", "channelData.team.") or _id(data, "teamsTeamId", "channelData.")
    if team_id:
        found["team_id"] = team_id
    team_name = _text(team, "name", "channelData.team.")[:NAME_LIMIT]
    if team_name:
        found["team_name"] = team_name
    channel = _obj(data, "channel", "channelData.")
    channel_name = _text(channel, "name", "channelData.channel.")[:NAME_LIMIT]
    if channel_name:
        found["channel_name"] = channel_name
    elif team_id and team_id == conversation:
        found["channel_name"] = GENERAL
    chat_name = _text(_obj(activity, "conversation"), "name", "conversation.")[:NAME_LIMIT]
    if chat_name and not team_id:
        found["chat_name"] = chat_name
    return found


def conversation_name(extra: Mapping[str, str]) -> str | None:
    """How people call a channel or group chat ("Planning in Winter planning"), from what
    ``names`` (or the connector) told; None when nothing is known."""
    channel, team = extra.get("channel_name"), extra.get("team_name")
    if channel and team:
        return f"{channel} in {team}"
    if channel:
        return channel
    if team:
        return f"a channel of {team}"
    return extra.get("chat_name") or None


def _timezone(activity: Mapping[str, Any]) -> str | None:
    """The client's time zone, when it gives a plausible name ("Europe/London")."""
    for entity in _objects(activity, "entities"):
        if entity.get("type") == "clientInfo" and _zone(entity.get("timezone")):
            return _zone(entity.get("timezone"))
    return _zone(activity.get("localTimezone")) or None


def _zone(value: object) -> str:
    # The database keeps 64 characters of a zone; a name that is not one is no zone at all.
    if isinstance(value, str) and len(value) <= 64 and _ZONE.fullmatch(value):
        return value
    return ""


def actor(activity: Mapping[str, Any], account: Mapping[str, Any] | None = None) -> Actor:
    """The person behind the activity (or ``account``, a member added)."""
    person = account if account is not None else _obj(activity, "from")
    where = "membersAdded." if account is not None else "from."
    person_id = _id(person, "id", where)
    if not person_id:
        raise NotAnActivity("the activity has no sender")
    return Actor(
        id=person_id,
        # The database keeps 255 characters of a name.
        name=_text(person, "name", where)[:255],
        timezone=_timezone(activity) if account is None else None,
    )


def member(account: Mapping[str, Any]) -> tuple[str, Directory]:
    """A person's name and directory entry from the connector's answer about a member
    (``GET /v3/conversations/{id}/members/{userId}``: ``name``, ``aadObjectId``,
    ``userPrincipalName``, ``email``...). A value that is not a plausible one (not a string,
    too long for the database, with control characters) is left out."""

    def given(key: str, limit: int) -> str:
        value = account.get(key)
        if not isinstance(value, str) or len(value) > limit or not value.isprintable():
            return ""
        return value.strip()

    return given("name", 255), Directory.of(
        object_id=given("aadObjectId", 64),
        principal_name=given("userPrincipalName", 255),
        email=given("email", 255),
    )


def event_id(activity: Mapping[str, Any]) -> str:
    """The activity id (Teams gives each delivery one); a digest of the activity otherwise."""
    given = _id(activity, "id")
    if given:
        return f"{_id(activity, 'type')}:{given}"[:255]
    digest = hashlib.sha256(json.dumps(activity, sort_keys=True, default=str).encode())
    return f"sha256:{digest.hexdigest()}"


def strip_mentions(activity: Mapping[str, Any], text: str) -> str:
    """The message text without the @mention of the bot (Teams writes ``<at>Bot</at>``)."""
    bot_id = _id(_obj(activity, "recipient"), "id", "recipient.")
    for entity in _objects(activity, "entities"):
        if entity.get("type") != "mention":
            continue
        mentioned = _obj(entity, "mentioned", "entities.")
        if bot_id and mentioned.get("id") not in (bot_id, bot_id.removeprefix("28:")):
            continue
        written = _text(entity, "text", "entities.")
        if written:
            text = text.replace(written, " ")
    return text


def clean_text(text: str) -> str:
    """Teams message text as a person typed it: tags and entities gone, spaces tidied."""
    text = html.unescape(_TAG.sub(" ", text))
    lines = [_SPACES.sub(" ", line).strip() for line in text.replace("\r", "").split("\n")]
    return "\n".join(line for line in lines if line).strip()


def read_command(text: str) -> tuple[str, str] | None:
    """``("valueslens", "history")`` for a bot command, None for an ordinary message."""
    first, _, rest = text.partition(" ")
    word = first.lower()
    rest = rest.strip()
    if word.startswith("/") and len(word) > 1:
        return word[1:], rest
    if word not in COMMANDS:
        return None
    if word == "values" and rest and rest.lower() not in VALUES_WORDS:
        return None
    return word, rest


def card_submission(data: object) -> tuple[str, dict[str, str]] | None:
    """The action and values of a click on a valuesbot card (None for other data).

    ``data`` is what Teams sends: the card facts the renderer put under ``CARD_KEY`` (action,
    choice value, hidden values, the input names the choice collects) with the inputs the
    person filled in merged beside them, by input id. ``NotAnActivity`` when the facts are
    there but not shaped as valuesbot makes them.
    """
    if not isinstance(data, Mapping):
        return None
    facts = data.get(CARD_KEY)
    if not isinstance(facts, Mapping) or not facts.get("action"):
        return None
    where = f"value.{CARD_KEY}."
    action = _id(facts, "action", where)
    values = {
        inbound.identifier(name, f"{where}hidden (a name)"): _input_value(
            value, f"{where}hidden (a value)"
        )
        for name, value in _obj(facts, "hidden", where).items()
    }
    values[CHOICE] = _text(facts, "choice", where)
    for name in _list(facts, "inputs", where):
        name = inbound.identifier(name, f"{where}inputs (a name)")
        text = _input_value(data.get(name), "value (an input)")
        if text:
            values[name] = text
    return action, values


def _input_value(given: object, field: str) -> str:
    """One input's value as the core takes it. A multi-select ``Input.ChoiceSet`` comes from
    Teams as the picked values joined by commas (``"listen,open"``: the Adaptive Card host's
    ``choiceSetInputValueSeparator``, which is the core's ``SEPARATOR`` too), kept as it is
    (``ChoiceInput.selected`` reads it); a client that sends a list instead is joined the same
    way, and a number or a toggle's boolean is taken as its text."""
    if isinstance(given, list):
        parts = [_input_value(v, field) for v in given]
        return SEPARATOR.join(p for p in parts if p)
    if isinstance(given, bool):
        return str(given).lower()
    if isinstance(given, int | float):
        return str(given)
    return inbound.text(given, field).strip()


def _attached(activity: Mapping[str, Any]) -> bool:
    """True when a message carries an attachment of its own (an image, a file, a card), not
    just the ``text/html`` copy of its text that Teams adds to formatted messages."""
    return any(
        _id(attachment, "contentType", "attachments.") not in {"", "text/html"}
        for attachment in _objects(activity, "attachments")
    )


def _added_bot(activity: Mapping[str, Any]) -> bool:
    bot_id = _id(_obj(activity, "recipient"), "id", "recipient.")
    return any(
        _id(member, "id", "membersAdded.") == bot_id
        for member in _objects(activity, "membersAdded")
    )


def _left(activity: Mapping[str, Any], base: Mapping[str, Any]) -> PersonLeft:
    """Someone left the bot's personal scope: the person removed, or the bot removed by them
    (then the sender is the person)."""
    bot_id = _id(_obj(activity, "recipient"), "id", "recipient.")
    people = [m for m in _objects(activity, "membersRemoved") if m.get("id") != bot_id]
    if people and _id(people[0], "id", "membersRemoved."):
        gone = people[0]
        return PersonLeft(
            actor=Actor(id=_id(gone, "id", "membersRemoved."), name=""), reason="removed", **base
        )
    return PersonLeft(actor=actor(activity), reason="removed", **base)


def translate(activity: Mapping[str, Any]) -> Event | None:
    """The core event for an activity, or None when valuesbot has nothing to do with it.

    Raises ``NotAnActivity`` for a payload missing what every activity has, or with a field
    read here that Teams would not send that way.
    """
    kind = _id(activity, "type")
    if not kind:
        raise NotAnActivity("the activity has no type")
    where = place(activity)
    channel = _id(activity, "channelId")
    if "channelId" in activity and not channel:
        raise NotAnActivity("channelId is empty")
    if channel != TEAMS_CHANNEL:
        return None
    base: dict[str, Any] = {"conversation": where, "event_id": event_id(activity)}
    sender = _obj(activity, "from")
    if sender.get("id") and sender.get("id") == where.extra.get("bot_id"):
        return None  # the bot's own message, echoed back

    if kind == "message":
        source = _id(activity, "replyToId")
        clicked = card_submission(activity.get("value"))
        if clicked is not None:
            return ActionSubmitted(
                actor=actor(activity),
                action=clicked[0],
                values=clicked[1],
                source=MessageRef(id=source) if source else None,
                **base,
            )
        text = _text(activity, "text")
        if not where.is_direct:
            text = strip_mentions(activity, text)
        text = clean_text(text)
        if not text and activity.get("value") is None and _attached(activity):
            return None
        command = read_command(text)
        if command is not None:
            return CommandReceived(
                actor=actor(activity), command=command[0], text=command[1], **base
            )
        return MessageReceived(actor=actor(activity), text=text, **base)

    if kind == "invoke":
        if activity.get("name") != ACTION_INVOKE:
            return None
        action = _obj(_obj(activity, "value"), "action", "value.")
        clicked = card_submission(action.get("data"))
        if clicked is None:
            return None
        source = _id(activity, "replyToId")
        return ActionSubmitted(
            actor=actor(activity),
            action=clicked[0],
            values=clicked[1],
            source=MessageRef(id=source) if source else None,
            **base,
        )

    if kind == "conversationUpdate":
        if where.is_direct and activity.get("membersRemoved"):
            return _left(activity, base)
        if _added_bot(activity):
            if where.is_direct:
                return ConversationOpened(actor=actor(activity), **base)
            return MemberJoined(actor=actor(activity), **base)
        bot_id = where.extra.get("bot_id")
        people = [m for m in _objects(activity, "membersAdded") if m.get("id") != bot_id]
        if people and _id(people[0], "id", "membersAdded."):
            return MemberJoined(actor=actor(activity, people[0]), **base)
        return None

    if kind == "installationUpdate":
        if _id(activity, "action").startswith("add"):
            return MemberJoined(actor=actor(activity), **base)
        if where.is_direct and _id(activity, "action").startswith("remove"):
            return PersonLeft(actor=actor(activity), reason="removed", **base)
        return None

    return None
