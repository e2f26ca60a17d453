"""Teams activities (Bot Framework activity protocol, as JSON) as core events.

Pure functions over the activity dict Teams posts to ``/api/messages``.

Handled:

- ``message`` with text: in a personal chat the text as written; in a channel or group chat the
  text with the bot's @mention taken out. A first word that is one of the bot commands of the
  app manifest (``valueslens``, ``barometer``, ``commitment``, ``casestudy``, ``digest``,
  ``values``), or any word after a ``/``, makes a ``CommandReceived`` (like Slack's slash
  commands: ``valueslens history`` is command "valueslens", text "history"); anything else is a
  ``MessageReceived``.
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

Ignored on purpose (``None``):

- messages with neither text nor card data (an image, a file, a bare @mention of the bot), and
  the bot's own messages;
- ``messageReaction``, ``messageUpdate``, ``messageDelete``, ``typing``, ``event`` and
  ``endOfConversation`` activities: valuesbot has nothing to say to them;
- every other ``invoke`` (message extensions, sign-in, task modules: the app declares none);
- ``conversationUpdate`` removing the bot or people, renaming a team or a channel;
  ``installationUpdate`` removing the app (a later send there fails as unreachable);
- activities from channels other than Teams (``channelId`` not ``msteams``): the Agents
  Playground is run with ``--channel-id msteams`` to play Teams.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from typing import Any

from bot.events import (
    ActionSubmitted,
    Actor,
    CommandReceived,
    ConversationKind,
    ConversationOpened,
    ConversationRef,
    Event,
    MemberJoined,
    MessageReceived,
    MessageRef,
    Platform,
)
from bot.ui import CHOICE, SEPARATOR

# The bot commands of manifest/teams/manifest.json: Teams sends them as plain message text.
COMMANDS = ("valueslens", "barometer", "commitment", "casestudy", "digest", "values")
# "values" starts ordinary sentences ("Values training for managers" as the work being looked
# at): as a bare word it is a command only alone or with one of these.
VALUES_WORDS = frozenset({"help", "behaviours", "behaviors", "values", "?"})

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


class NotAnActivity(ValueError):
    """The payload is not a usable activity (a 400 for the sender)."""


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def tenant_of(activity: Mapping[str, Any]) -> str:
    """The Microsoft 365 tenant the activity came from."""
    conversation = _dict(activity.get("conversation"))
    return (
        _text(conversation.get("tenantId"))
        or _text(_dict(_dict(activity.get("channelData")).get("tenant")).get("id"))
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
    conversation = _dict(activity.get("conversation"))
    conversation_id = _text(conversation.get("id"))
    if not conversation_id:
        raise NotAnActivity("the activity has no conversation id")
    kind = _CONVERSATION_KINDS.get(_text(conversation.get("conversationType")))
    if kind is None:
        kind = ConversationKind.GROUP if conversation.get("isGroup") else ConversationKind.DIRECT
    base, thread = split_thread(conversation_id)
    if kind is ConversationKind.DIRECT:
        base, thread = conversation_id, None
    extra: dict[str, str] = {}
    bot = _dict(activity.get("recipient"))
    if _text(bot.get("id")):
        extra["bot_id"] = _text(bot.get("id"))
        if _text(bot.get("name")):
            extra["bot_name"] = _text(bot.get("name"))[:100]
    if kind is not ConversationKind.DIRECT:
        extra.update(names(activity, base))
        label = conversation_name(extra)
        if label:
            extra[NAME] = label
    return ConversationRef(
        platform=Platform.TEAMS,
        tenant=tenant_of(activity),
        conversation=base,
        kind=kind,
        thread=thread,
        service_url=_text(activity.get("serviceUrl")) or None,
        extra=extra,
    )


def names(activity: Mapping[str, Any], conversation: str) -> dict[str, str]:
    """What the activity says a channel or group chat is called: the team's id and name and
    the channel's name from ``channelData`` (Teams sends the names with some activities only,
    such as the app being added to a team), a named group chat's ``conversation.name``. A
    team's General channel has the team's own id and, in Teams' APIs, no name of its own."""
    data = _dict(activity.get("channelData"))
    team = _dict(data.get("team"))
    found: dict[str, str] = {}
    team_id = _text(team.get("id")) or _text(data.get("teamsTeamId"))
    if team_id:
        found["team_id"] = team_id[:255]
    if _text(team.get("name")):
        found["team_name"] = _text(team.get("name"))[:NAME_LIMIT]
    channel_name = _text(_dict(data.get("channel")).get("name"))
    if channel_name:
        found["channel_name"] = channel_name[:NAME_LIMIT]
    elif team_id and team_id == conversation:
        found["channel_name"] = GENERAL
    chat_name = _text(_dict(activity.get("conversation")).get("name"))
    if chat_name and not team_id:
        found["chat_name"] = chat_name[:NAME_LIMIT]
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
    for entity in activity.get("entities") or ():
        entity = _dict(entity)
        if entity.get("type") == "clientInfo" and _text(entity.get("timezone")):
            return _text(entity.get("timezone"))[:64]
    return _text(activity.get("localTimezone"))[:64] or None


def actor(activity: Mapping[str, Any], account: Mapping[str, Any] | None = None) -> Actor:
    """The person behind the activity (or ``account``, a member added)."""
    person = _dict(account if account is not None else activity.get("from"))
    person_id = _text(person.get("id"))
    if not person_id:
        raise NotAnActivity("the activity has no sender")
    return Actor(
        id=person_id,
        name=_text(person.get("name"))[:255],
        timezone=_timezone(activity) if account is None else None,
    )


def event_id(activity: Mapping[str, Any]) -> str:
    """The activity id (Teams gives each delivery one); a digest of the activity otherwise."""
    given = _text(activity.get("id"))
    if given:
        return f"{_text(activity.get('type'))}:{given}"[:255]
    digest = hashlib.sha256(json.dumps(activity, sort_keys=True, default=str).encode())
    return f"sha256:{digest.hexdigest()}"


def strip_mentions(activity: Mapping[str, Any], text: str) -> str:
    """The message text without the @mention of the bot (Teams writes ``<at>Bot</at>``)."""
    bot_id = _text(_dict(activity.get("recipient")).get("id"))
    for entity in activity.get("entities") or ():
        entity = _dict(entity)
        if entity.get("type") != "mention":
            continue
        mentioned = _dict(entity.get("mentioned"))
        if bot_id and mentioned.get("id") not in (bot_id, bot_id.removeprefix("28:")):
            continue
        written = _text(entity.get("text"))
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
    person filled in merged beside them, by input id.
    """
    if not isinstance(data, Mapping):
        return None
    facts = data.get(CARD_KEY)
    if not isinstance(facts, Mapping) or not _text(facts.get("action")):
        return None
    hidden = _dict(facts.get("hidden"))
    values = {str(k): str(v) for k, v in hidden.items() if isinstance(v, str | int | float)}
    values[CHOICE] = _text(facts.get("choice"))
    names = facts.get("inputs")
    for name in names if isinstance(names, list) else ():
        if not isinstance(name, str):
            continue
        text = _input_value(data.get(name))
        if text:
            values[name] = text
    return _text(facts.get("action")), values


def _input_value(given: object) -> str:
    """One input's value as the core takes it. A multi-select ``Input.ChoiceSet`` comes from
    Teams as the picked values joined by commas (``"listen,open"``: the Adaptive Card host's
    ``choiceSetInputValueSeparator``, which is the core's ``SEPARATOR`` too), kept as it is
    (``ChoiceInput.selected`` reads it); a client that sends a list instead is joined the same
    way."""
    if isinstance(given, list):
        parts = [str(v).strip() for v in given if isinstance(v, str | int | float)]
        return SEPARATOR.join(p for p in parts if p)
    if isinstance(given, str | int | float):
        return str(given).strip()
    return ""


def _added_bot(activity: Mapping[str, Any]) -> bool:
    bot_id = _text(_dict(activity.get("recipient")).get("id"))
    return any(
        _text(_dict(member).get("id")) == bot_id for member in activity.get("membersAdded") or ()
    )


def translate(activity: Mapping[str, Any]) -> Event | None:
    """The core event for an activity, or None when valuesbot has nothing to do with it.

    Raises ``NotAnActivity`` for a payload missing what every activity has.
    """
    kind = _text(activity.get("type"))
    if not kind:
        raise NotAnActivity("the activity has no type")
    where = place(activity)
    channel = _text(activity.get("channelId"))
    if channel != TEAMS_CHANNEL:
        return None
    base: dict[str, Any] = {"conversation": where, "event_id": event_id(activity)}
    sender = _dict(activity.get("from"))
    if sender.get("id") and sender.get("id") == _dict(activity.get("recipient")).get("id"):
        return None  # the bot's own message, echoed back

    if kind == "message":
        source = _text(activity.get("replyToId"))
        clicked = card_submission(activity.get("value"))
        if clicked is not None:
            return ActionSubmitted(
                actor=actor(activity),
                action=clicked[0],
                values=clicked[1],
                source=MessageRef(id=source) if source else None,
                **base,
            )
        text = _text(activity.get("text"))
        if not where.is_direct:
            text = strip_mentions(activity, text)
        text = clean_text(text)
        if not text:
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
        action = _dict(_dict(activity.get("value")).get("action"))
        clicked = card_submission(action.get("data"))
        if clicked is None:
            return None
        source = _text(activity.get("replyToId"))
        return ActionSubmitted(
            actor=actor(activity),
            action=clicked[0],
            values=clicked[1],
            source=MessageRef(id=source) if source else None,
            **base,
        )

    if kind == "conversationUpdate":
        if _added_bot(activity):
            if where.is_direct:
                return ConversationOpened(actor=actor(activity), **base)
            return MemberJoined(actor=actor(activity), **base)
        bot_id = _text(_dict(activity.get("recipient")).get("id"))
        people = [
            _dict(m) for m in activity.get("membersAdded") or () if _dict(m).get("id") != bot_id
        ]
        if people and _text(people[0].get("id")):
            return MemberJoined(actor=actor(activity, people[0]), **base)
        return None

    if kind == "installationUpdate":
        if _text(activity.get("action")).startswith("add"):
            return MemberJoined(actor=actor(activity), **base)
        return None

    return None
