"""Slack payloads as core events.

Pure functions over the parsed request body (what bolt hands a listener as ``body``: the form
fields of a slash command, the JSON inside ``payload=`` of an interaction, the envelope of an
Events API callback). ``translate`` gives the core event, ``reply_route`` what the outbound needs
to answer it (response URL, trigger id, the message clicked), ``home_visit`` who opened the Home
tab.

Handled:

- slash commands -> ``CommandReceived`` (``/valueslens history``: command "valueslens", text
  "history"), with the channel's name (``channel_name``) kept as ``extra["name"]``
  ("#winter-planning"), for the messages that name it;
- ``block_actions`` on a button we rendered (its value carries our envelope) -> ``ActionSubmitted``
  with the card's hidden values, the choice and the inputs read from ``state.values``;
- ``view_submission`` of a modal we opened (its ``private_metadata`` carries the envelope and the
  conversation the modal belongs to) -> ``ActionSubmitted``;
- ``message`` in a direct conversation with the bot (``message.im``), no subtype ->
  ``MessageReceived``;
- ``app_mention`` -> ``MessageReceived`` in the channel, the leading mention removed;
- ``member_joined_channel`` -> ``MemberJoined``;
- ``app_home_opened`` on the Home tab -> not a core event: ``home_visit`` names the person, and
  the adapter publishes their Home tab.

Ignored on purpose (``translate`` returns None, the adapter logs it):

- message subtypes (edits, deletions, joins, channel topics...) and messages from bots, the bot's
  own included: only what a person typed is an answer;
- ``app_home_opened`` on the Messages tab: Slack sends it on every visit, and a greeting each
  time would be noise (a person's first message or command gets the help);
- ``block_actions`` on elements that carry no envelope of ours (a select changed inside a form:
  inputs travel with the button that submits them), ``view_closed``, shortcuts, other events.

Every event gets a stable ``event_id`` so a retried delivery is handled once: the Events API
``event_id``; for a slash command its ``trigger_id``; for a click a hash of who clicked what,
where and when (``action_ts``); for a modal a hash of the view and its version.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yarl

from bot.events import (
    ActionSubmitted,
    Actor,
    CommandReceived,
    ConversationKind,
    ConversationRef,
    Event,
    MemberJoined,
    MessageReceived,
    MessageRef,
    Platform,
)
from bot.ui import CHOICE, SEPARATOR

# A button's action_id is "<action>#<n>": Slack wants action ids unique within a block, and one
# card may offer the same action several times (the four ratings).
ACTION_SEPARATOR = "#"

_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s,:]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    """What a button or a modal carries back to us: the choice's value, whether it submits the
    card's inputs, the card's hidden values; for a modal also the action and the conversation
    it belongs to."""

    value: str = ""
    collects: bool = True
    hidden: Mapping[str, str]
    action: str = ""
    conversation: str = ""
    kind: str = ""
    thread: str = ""

    def dump(self) -> str:
        """Compact JSON, for a button value or a view's private_metadata."""
        data: dict[str, Any] = {"v": self.value, "h": dict(self.hidden)}
        if not self.collects:
            data["x"] = 0
        for key, value in (
            ("a", self.action),
            ("c", self.conversation),
            ("k", self.kind),
            ("t", self.thread),
        ):
            if value:
                data[key] = value
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def load(cls, text: str | None) -> Envelope | None:
        """The envelope in ``text``; None when it is not one of ours."""
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("h"), dict):
            return None
        hidden = {str(k): str(v) for k, v in data["h"].items()}
        return cls(
            value=str(data.get("v", "")),
            collects=data.get("x", 1) != 0,
            hidden=hidden,
            action=str(data.get("a", "")),
            conversation=str(data.get("c", "")),
            kind=str(data.get("k", "")),
            thread=str(data.get("t", "")),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyRoute:
    """How to answer an event besides its conversation: the ``response_url`` Slack gave (works
    where the bot is not a member), the ``trigger_id`` (opens a modal for 3 seconds), and the
    message that was clicked (to replace it)."""

    response_url: str | None = None
    trigger_id: str | None = None
    channel: str | None = None
    message_ts: str | None = None
    ephemeral: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeVisit:
    """Someone opened the bot's Home tab; ``direct`` is their direct conversation with it."""

    tenant: str
    user: str
    direct: ConversationRef


def read_body(text: str, content_type: str) -> dict[str, Any]:
    """A Slack request's body as bolt reads it: JSON (the Events API), a form whose
    ``payload`` field is JSON (interactivity), or a plain form (slash commands); ``ValueError``
    when it is not readable. The form is decoded by yarl's compiled decoder: a block action
    carries the whole message it came from (8 kB for a poll card), and the standard library's
    decoder took 0.3 ms on it, most of an acknowledgement's time under a burst; yarl's, 25 µs."""
    if not text:
        return {}
    if content_type.split(";")[0].strip() == "application/json" or text.startswith("{"):
        found = json.loads(text)
        if not isinstance(found, dict):
            raise ValueError("not a JSON object")
        return found
    form = yarl.URL.build(query_string=text, encoded=True).query
    if "payload" in text:
        payload = form.get("payload")
        if payload is None:
            return {}
        found = json.loads(payload)
        if not isinstance(found, dict):
            raise ValueError("payload is not a JSON object")
        return found
    return dict(form.items())


def unescape(text: str) -> str:
    """Slack sends typed text with ``&``, ``<`` and ``>`` escaped; the core wants it plain."""
    return html.unescape(text) if "&" in text else text


def kind_of(channel: str, hint: str = "") -> ConversationKind:
    """The kind of a conversation from its id and, when given, Slack's ``channel_type`` or a
    slash command's ``channel_name``."""
    if hint in {"im", "directmessage"} or channel.startswith("D"):
        return ConversationKind.DIRECT
    if hint in {"mpim", "group", "privategroup"} or channel.startswith("G"):
        return ConversationKind.GROUP
    return ConversationKind.CHANNEL


# What a slash command's ``channel_name`` says for conversations that have no name of their own.
_UNNAMED = frozenset({"directmessage", "privategroup", "im", "mpim", "group"})
# Slack channel names are at most 80 characters.
_NAME_LIMIT = 80


def _place(
    tenant: str, channel: str, hint: str = "", thread: str | None = None, *, named: bool = False
) -> ConversationRef:
    kind = kind_of(channel, hint)
    extra: dict[str, str] = {}
    if named and kind is ConversationKind.CHANNEL and hint and hint not in _UNNAMED:
        extra["name"] = f"#{hint[:_NAME_LIMIT]}"
    return ConversationRef(
        platform=Platform.SLACK,
        tenant=tenant,
        conversation=channel,
        kind=kind,
        thread=thread or None,
        extra=extra,
    )


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:40]


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _team(body: Mapping[str, Any]) -> str:
    team = body.get("team")
    if isinstance(team, Mapping) and team.get("id"):
        return str(team["id"])
    user = _dict(body.get("user"))
    return _str(body.get("team_id")) or _str(user.get("team_id"))


def _actor(body: Mapping[str, Any]) -> Actor | None:
    user = _dict(body.get("user"))
    user_id = _str(user.get("id"))
    if not user_id:
        return None
    return Actor(id=user_id, name=_str(user.get("name")) or _str(user.get("username")))


def is_command(body: Mapping[str, Any]) -> bool:
    """True for a slash command's form fields."""
    return isinstance(body.get("command"), str) and "type" not in body


def translate(body: Mapping[str, Any]) -> Event | None:
    """The core event for a Slack payload; None for payloads ignored on purpose."""
    if is_command(body):
        return _command(body)
    match body.get("type"):
        case "block_actions":
            return _block_actions(body)
        case "view_submission":
            return _view_submission(body)
        case "event_callback":
            return _event(body)
    return None


def _command(body: Mapping[str, Any]) -> CommandReceived | None:
    tenant, channel = _str(body.get("team_id")), _str(body.get("channel_id"))
    user = _str(body.get("user_id"))
    if not (tenant and channel and user):
        return None
    trigger = _str(body.get("trigger_id"))
    event_id = f"command:{trigger}" if trigger else f"command:{_digest(sorted(body.items()))}"
    return CommandReceived(
        conversation=_place(tenant, channel, _str(body.get("channel_name")), named=True),
        actor=Actor(id=user, name=_str(body.get("user_name"))),
        event_id=event_id,
        command=_str(body.get("command")).lstrip("/").lower(),
        text=unescape(_str(body.get("text"))).strip(),
    )


def inputs_of(state: Mapping[str, Any]) -> dict[str, str]:
    """The inputs in a ``state`` (of a message, a Home tab or a modal), by input name (our
    rendered inputs use the input name as the element's action_id); several picked options
    joined with ``bot.ui.SEPARATOR``."""
    found: dict[str, str] = {}
    for elements in _dict(state.get("values")).values():
        for name, element in _dict(elements).items():
            element = _dict(element)
            option = _dict(element.get("selected_option"))
            several = element.get("selected_options")
            if option:
                found[str(name)] = _str(option.get("value"))
            elif isinstance(several, list):
                # Check boxes and multi-selects: the picked values, as bot.ui joins them.
                found[str(name)] = SEPARATOR.join(
                    _str(_dict(o).get("value")) for o in several if _dict(o).get("value")
                )
            elif isinstance(element.get("value"), str):
                found[str(name)] = element["value"]
    return found


def values_of(envelope: Envelope, inputs: Mapping[str, str]) -> dict[str, str]:
    """The values of ``ActionSubmitted``, as ``bot.ui.submission`` makes them: the card's hidden
    values, the choice, and the inputs filled in (unless the choice does not collect them)."""
    values = dict(envelope.hidden)
    values[CHOICE] = envelope.value
    if envelope.collects:
        for name, value in inputs.items():
            if name != CHOICE and name not in envelope.hidden and value.strip():
                values[name] = value.strip()
    return values


def _block_actions(body: Mapping[str, Any]) -> ActionSubmitted | None:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return None
    clicked = _dict(actions[0])
    envelope = Envelope.load(_str(clicked.get("value")))
    action_id = _str(clicked.get("action_id"))
    action = action_id.partition(ACTION_SEPARATOR)[0]
    actor, tenant = _actor(body), _team(body)
    if envelope is None or not action or actor is None or not tenant:
        return None
    container = _dict(body.get("container"))
    view = _dict(body.get("view"))
    if container.get("type") == "view" or view:
        where = Envelope.load(_str(view.get("private_metadata")))
        if where is None or not where.conversation:
            return None
        place = _place(tenant, where.conversation, where.kind, where.thread)
        source = None
        spot = _str(view.get("id"))
    else:
        channel = _str(_dict(body.get("channel")).get("id")) or _str(container.get("channel_id"))
        if not channel:
            return None
        message = _dict(body.get("message"))
        ts = _str(container.get("message_ts")) or _str(message.get("ts"))
        thread = _str(container.get("thread_ts")) or _str(message.get("thread_ts"))
        place = _place(tenant, channel, thread=thread if thread and thread != ts else None)
        source = MessageRef(id=ts, extra={"channel": channel}) if ts else None
        spot = f"{channel}/{ts}"
    state = _dict(body.get("state")) or _dict(view.get("state"))
    return ActionSubmitted(
        conversation=place,
        actor=actor,
        event_id="action:"
        + _digest(tenant, actor.id, spot, action_id, _str(clicked.get("action_ts"))),
        action=action,
        values=values_of(envelope, inputs_of(state)),
        source=source,
    )


def _view_submission(body: Mapping[str, Any]) -> ActionSubmitted | None:
    view = _dict(body.get("view"))
    envelope = Envelope.load(_str(view.get("private_metadata")))
    actor, tenant = _actor(body), _team(body)
    if envelope is None or not envelope.action or not envelope.conversation:
        return None
    if actor is None or not tenant:
        return None
    return ActionSubmitted(
        conversation=_place(tenant, envelope.conversation, envelope.kind, envelope.thread),
        actor=actor,
        event_id="view:" + _digest(tenant, actor.id, _str(view.get("id")), _str(view.get("hash"))),
        action=envelope.action,
        values=values_of(envelope, inputs_of(_dict(view.get("state")))),
    )


def _event(body: Mapping[str, Any]) -> Event | None:
    event = _dict(body.get("event"))
    tenant = _str(body.get("team_id")) or _str(event.get("team"))
    event_id = _str(body.get("event_id"))
    user, channel = _str(event.get("user")), _str(event.get("channel"))
    if not (tenant and event_id and user and channel):
        return None
    match event.get("type"):
        case "message":
            if event.get("subtype") or event.get("bot_id") or event.get("channel_type") != "im":
                return None
            return MessageReceived(
                conversation=_place(tenant, channel, "im"),
                actor=Actor(id=user),
                event_id=event_id,
                text=unescape(_str(event.get("text"))).strip(),
            )
        case "app_mention":
            if event.get("bot_id"):
                return None
            text = _LEADING_MENTION.sub("", _str(event.get("text")), count=1)
            return MessageReceived(
                conversation=_place(tenant, channel, thread=_str(event.get("thread_ts"))),
                actor=Actor(id=user),
                event_id=event_id,
                text=unescape(text).strip(),
            )
        case "member_joined_channel":
            return MemberJoined(
                conversation=_place(tenant, channel, _str(event.get("channel_type"))),
                actor=Actor(id=user),
                event_id=event_id,
            )
    return None


def reply_route(body: Mapping[str, Any]) -> ReplyRoute:
    """How to answer the event of ``body`` (see ``ReplyRoute``)."""
    if is_command(body):
        return ReplyRoute(
            response_url=_str(body.get("response_url")) or None,
            trigger_id=_str(body.get("trigger_id")) or None,
        )
    if body.get("type") in {"block_actions", "view_submission"}:
        container = _dict(body.get("container"))
        urls = body.get("response_urls")
        response_url = _str(body.get("response_url"))
        if not response_url and isinstance(urls, list) and urls:
            response_url = _str(_dict(urls[0]).get("response_url"))
        is_message = container.get("type") == "message"
        return ReplyRoute(
            response_url=response_url or None,
            trigger_id=_str(body.get("trigger_id")) or None,
            channel=_str(container.get("channel_id")) or None if is_message else None,
            message_ts=_str(container.get("message_ts")) or None if is_message else None,
            ephemeral=bool(container.get("is_ephemeral")),
        )
    return ReplyRoute()


def home_visit(body: Mapping[str, Any]) -> HomeVisit | None:
    """Who opened the Home tab (None for any other payload, or the Messages tab)."""
    if body.get("type") != "event_callback":
        return None
    event = _dict(body.get("event"))
    if event.get("type") != "app_home_opened" or event.get("tab") != "home":
        return None
    tenant = _str(body.get("team_id"))
    user, channel = _str(event.get("user")), _str(event.get("channel"))
    if not (tenant and user and channel):
        return None
    return HomeVisit(tenant=tenant, user=user, direct=_place(tenant, channel, "im"))


def describe(body: Mapping[str, Any]) -> str:
    """A short name for a payload's kind, for logs ("command", "event:message/im")."""
    if is_command(body):
        return "command"
    kind = _str(body.get("type")) or "unknown"
    if kind == "event_callback":
        event = _dict(body.get("event"))
        detail = _str(event.get("subtype")) or _str(event.get("channel_type"))
        return f"event:{_str(event.get('type'))}" + (f"/{detail}" if detail else "")
    return kind
