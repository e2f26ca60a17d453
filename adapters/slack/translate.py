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
- ``user_change`` whose ``user.deleted`` is true (the account was deactivated) ->
  ``PersonLeft`` (reason "deactivated"), in the person's own place (their id as the
  conversation);
- ``app_uninstalled``, and ``tokens_revoked`` naming bot tokens -> ``AppRemoved`` for the
  workspace (everyone there is treated as gone until they come back);
- ``app_home_opened`` on the Home tab -> not a core event: ``home_visit`` names the person, and
  the adapter publishes their Home tab.

Ignored on purpose (``translate`` returns None, the adapter logs it):

- message subtypes (edits, deletions, joins, channel topics...) and messages from bots, the bot's
  own included: only what a person typed is an answer;
- ``app_home_opened`` on the Messages tab: Slack sends it on every visit, and a greeting each
  time would be noise (a person's first message or command gets the help);
- ``block_actions`` on elements that carry no envelope of ours (a select changed inside a form:
  inputs travel with the button that submits them), ``view_closed``, shortcuts, other events;
- ``user_change`` of anyone still active (profile edits: a reactivated person is back when they
  next do anything), ``tokens_revoked`` of user tokens only (the bot uses none).

People's names: payloads carry only the handle (``user_name``, ``user.name``), which Slack
deprecates and people rarely show; it is the actor's name only until the adapter has their
``users.info`` (``display_name`` gives the name Slack itself shows).

Every event gets a stable ``event_id`` so a retried delivery is handled once: the Events API
``event_id``; for a slash command its ``trigger_id``; for a click a hash of who clicked what,
where and when (``action_ts``); for a modal a hash of the view and its version. Slack never
sends a slash command twice, so a command is ``sent_once``: recorded only when its turn
changes something (a signed request replayed within the signature's five minutes then changes
nothing more).

Refused (``BadPayload``, a 400 before the request is acknowledged; ``check`` runs the same reading
``translate`` does): a field read here, or one bolt reads to route the payload, that Slack would
not send that way: an id that is not a printable string of sane length (``bot.inbound``), an
object or a list of the wrong type, JSON nested too deeply. Text people typed is normalised
instead (control characters dropped).
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

from bot import inbound
from bot.events import (
    ActionSubmitted,
    Actor,
    AppRemoved,
    CommandReceived,
    ConversationKind,
    ConversationRef,
    Event,
    MemberJoined,
    MessageReceived,
    MessageRef,
    PersonLeft,
    Platform,
)
from bot.inbound import TENANT_LIMIT, BadPayload, clean
from bot.text import shorten
from bot.ui import CHOICE, SEPARATOR

# A button's action_id is "<action>#<n>": Slack wants action ids unique within a block, and one
# card may offer the same action several times (the four ratings).
ACTION_SEPARATOR = "#"

# Slack's trigger ids are about 50 characters; "command:" and one stay within the 255 characters
# the database keeps of an event id.
TRIGGER_LIMIT = 200
# Slack caps a display name at 80 characters (profile editor); a full name kept to the same length
# fits every card and the people table.
NAME_LIMIT = 80

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
    def load(cls, text: str | None, field: str = "envelope") -> Envelope | None:
        """The envelope in ``text``; None when it is not one of ours. ``BadPayload`` when it has
        the shape of ours but not the content (``field`` names where it came from)."""
        if not text or not text.startswith("{"):
            return None
        try:
            data = inbound.read_json(text)
        except BadPayload:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("h"), dict):
            return None
        hidden = {
            inbound.identifier(k, f"{field} (a hidden name)"): _value(
                v, f"{field} (a hidden value)"
            )
            for k, v in data["h"].items()
        }
        return cls(
            value=_value(data.get("v"), f"{field} (its value)"),
            collects=data.get("x", 1) != 0,
            hidden=hidden,
            action=inbound.identifier(data.get("a"), f"{field} (its action)"),
            conversation=inbound.identifier(data.get("c"), f"{field} (its conversation)"),
            kind=inbound.identifier(data.get("k"), f"{field} (its kind)"),
            thread=inbound.identifier(data.get("t"), f"{field} (its thread)"),
        )


def _value(value: object, field: str) -> str:
    """A value of ours as it comes back (a number is taken as its text)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return inbound.text(value, field)


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
    ``payload`` field is JSON (interactivity), or a plain form (slash commands); ``BadPayload``
    (a ``ValueError``) when it is not readable or its JSON is nested too deeply. The form is
    decoded by yarl's compiled decoder: a block action carries the whole message it came from
    (8 kB for a poll card), and the standard library's decoder took 0.3 ms on it, most of an
    acknowledgement's time under a burst; yarl's, 25 µs."""
    if not text:
        return {}
    if content_type.split(";")[0].strip() == "application/json" or text.startswith("{"):
        found = inbound.read_json(text)
        if not isinstance(found, dict):
            raise BadPayload("the body is not a JSON object")
        return found
    form = yarl.URL.build(query_string=text, encoded=True).query
    if "payload" in text:
        payload = form.get("payload")
        if payload is None:
            return {}
        found = inbound.read_json(payload)
        if not isinstance(found, dict):
            raise BadPayload("payload is not a JSON object")
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


def _id(parent: Mapping[str, Any], key: str, where: str = "", *, limit: int = 0) -> str:
    """The id at ``parent[key]`` ("" when absent); ``where`` is the path of ``parent``."""
    return inbound.identifier(parent.get(key), where + key, limit=limit or inbound.ID_LIMIT)


def _text(parent: Mapping[str, Any], key: str, where: str = "") -> str:
    return inbound.text(parent.get(key), where + key)


def _name(parent: Mapping[str, Any], key: str, where: str = "") -> str:
    # The database keeps 255 characters of a name.
    return _text(parent, key, where)[:255]


def _obj(parent: Mapping[str, Any], key: str, where: str = "") -> Mapping[str, Any]:
    return inbound.mapping(parent.get(key), where + key)


def _team(body: Mapping[str, Any]) -> str:
    team = body.get("team")
    if isinstance(team, str):  # bolt reads a plain id here too
        return inbound.identifier(team, "team", limit=TENANT_LIMIT)
    user = body.get("user")
    return (
        _id(_obj(body, "team"), "id", "team.", limit=TENANT_LIMIT)
        or _id(body, "team_id", limit=TENANT_LIMIT)
        or (_id(user, "team_id", "user.", limit=TENANT_LIMIT) if isinstance(user, Mapping) else "")
    )


def _actor(body: Mapping[str, Any]) -> Actor | None:
    user = _obj(body, "user")
    user_id = _id(user, "id", "user.")
    if not user_id:
        return None
    return Actor(id=user_id, name=_name(user, "name", "user.") or _name(user, "username", "user."))


def display_name(user: Mapping[str, Any]) -> str:
    """The name Slack shows for a ``users.info`` user: the display name they chose, else their
    full name; "" when the profile has neither."""
    profile = user.get("profile")
    if not isinstance(profile, Mapping):
        profile = {}
    for name in (profile.get("display_name"), profile.get("real_name"), user.get("real_name")):
        text = clean(name).strip() if isinstance(name, str) else ""
        if text:
            return shorten(text, NAME_LIMIT)
    return ""


def is_command(body: Mapping[str, Any]) -> bool:
    """True for a slash command's form fields."""
    return isinstance(body.get("command"), str) and "type" not in body


def check(body: Mapping[str, Any]) -> None:
    """``BadPayload`` naming the first field of ``body`` that Slack would not send that way:
    one that bolt reads to route the payload (``routing_fields``), or one that ``translate``,
    ``home_visit`` and ``reply_route`` read (this runs them)."""
    routing_fields(body)
    if home_visit(body) is None:
        translate(body)
    reply_route(body)


# Where bolt (1.30: request/internals.py builds its context, listener_matcher/builtins.py and
# the self-events middleware route) looks for who and where, at any of these places: it takes a
# string or an object with an "id", and fails on anything else.
_BOLT_PLACES = ("", "event.", "event.message.", "event.previous_message.", "event.item.")
_BOLT_OBJECTS = ("event", "message", "previous_message", "view", "container", "state", "item")


def routing_fields(body: Mapping[str, Any]) -> None:
    """``BadPayload`` for the fields bolt reads before any listener of ours sees the payload,
    when they are not of the type bolt assumes (it would fail with a TypeError)."""
    for key in _BOLT_OBJECTS:
        inbound.mapping(body.get(key), key)
    # Bolt reads these as ``body.get(key, default)``: present, they must not be null either.
    for key, kind in (("event", dict), ("response_urls", list), ("authorizations", list)):
        if key in body and not isinstance(body[key], kind):
            raise BadPayload(f"{key} is not {'an object' if kind is dict else 'a list'}")
    event = _obj(body, "event")
    for key in ("message", "previous_message", "item", "assistant_thread"):
        inbound.mapping(event.get(key), f"event.{key}")
    for where in _BOLT_PLACES:
        parent: Mapping[str, Any] = body
        for part in where.split(".")[:-1]:
            parent = _obj(parent, part)
        for key in ("user", "channel", "team", "enterprise"):
            value = parent.get(key)
            if not isinstance(value, Mapping):
                _id(parent, key, where)
    authorizations = inbound.items(body.get("authorizations"), "authorizations")
    if authorizations and not isinstance(authorizations[0], Mapping):
        raise BadPayload("authorizations.0 is not an object")
    for n, hook in enumerate(inbound.items(body.get("response_urls"), "response_urls")):
        _obj_url(inbound.mapping(hook, f"response_urls.{n}"), f"response_urls.{n}.")
    for key in ("command", "callback_id", "action_id", "type"):
        _id(body, key)
    if "command" in body and not body.get("command"):
        raise BadPayload("command is empty")
    for key in ("type", "subtype", "text", "channel_type", "bot_id", "thread_ts"):
        (_text if key == "text" else _id)(event, key, "event.")
    if body.get("type") in {"view_submission", "view_closed"}:
        view = _obj(body, "view")
        if not _id(view, "callback_id", "view.") or "type" not in view:
            raise BadPayload("view has no callback_id or type")
    if body.get("type") == "block_actions":
        actions = inbound.items(body.get("actions"), "actions")
        if not actions:
            raise BadPayload("actions is empty")
        first = inbound.mapping(actions[0], "actions.0")
        if not _id(first, "action_id", "actions.0.") or not isinstance(
            first.get("block_id", ""), str
        ):
            raise BadPayload("actions.0 has no action_id")


def _obj_url(parent: Mapping[str, Any], where: str) -> str:
    return inbound.url(parent.get("response_url"), where + "response_url")


def translate(body: Mapping[str, Any]) -> Event | None:
    """The core event for a Slack payload; None for payloads ignored on purpose.
    ``BadPayload`` for a field it reads that Slack would not send that way."""
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
    tenant = _id(body, "team_id", limit=TENANT_LIMIT)
    channel, user = _id(body, "channel_id"), _id(body, "user_id")
    command = _id(body, "command", limit=64)
    trigger = _id(body, "trigger_id", limit=TRIGGER_LIMIT)
    text = _text(body, "text")
    hint = _id(body, "channel_name")
    if not (tenant and channel and user):
        return None
    event_id = f"command:{trigger}" if trigger else f"command:{_digest(sorted(body.items()))}"
    return CommandReceived(
        conversation=_place(tenant, channel, hint, named=True),
        actor=Actor(id=user, name=_name(body, "user_name")),
        event_id=event_id,
        sent_once=True,
        command=command.lstrip("/").lower(),
        text=unescape(text).strip(),
    )


def inputs_of(state: Mapping[str, Any], where: str = "state.") -> dict[str, str]:
    """The inputs in a ``state`` (of a message, a Home tab or a modal), by input name (our
    rendered inputs use the input name as the element's action_id); several picked options
    joined with ``bot.ui.SEPARATOR``. ``BadPayload`` when they are not shaped as Slack sends
    them (``where`` is the path of ``state``, for the message)."""
    field = where + "values"
    found: dict[str, str] = {}
    for elements in inbound.mapping(state.get("values"), field).values():
        for name, element in inbound.mapping(elements, field).items():
            name = inbound.identifier(name, f"{field} (an input's name)")
            element = inbound.mapping(element, f"{field} (an input)")
            option = inbound.mapping(element.get("selected_option"), f"{field} (an option)")
            several = inbound.items(element.get("selected_options"), f"{field} (its options)")
            if option:
                found[name] = inbound.text(option.get("value"), f"{field} (an option's value)")
            elif element.get("selected_options") is not None:
                # Check boxes and multi-selects: the picked values, as bot.ui joins them.
                picked = (
                    inbound.text(
                        inbound.mapping(o, f"{field} (an option)").get("value"),
                        f"{field} (an option's value)",
                    )
                    for o in several
                )
                found[name] = SEPARATOR.join(p for p in picked if p)
            elif element.get("value") is not None:
                found[name] = inbound.text(element.get("value"), f"{field} (an input's value)")
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


def clicked(body: Mapping[str, Any]) -> str | None:
    """The action name of a button click (``block_actions``) as the core knows it, read
    without translating the payload (a checked one: ``check``); None for anything else."""
    if body.get("type") != "block_actions":
        return None
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
        return None
    action_id = actions[0].get("action_id")
    if not isinstance(action_id, str):
        return None
    return action_id.partition(ACTION_SEPARATOR)[0]


def _block_actions(body: Mapping[str, Any]) -> ActionSubmitted | None:
    actions = inbound.items(body.get("actions"), "actions")
    if not actions:
        return None
    clicked = inbound.mapping(actions[0], "actions.0")
    envelope = Envelope.load(_text(clicked, "value", "actions.0."), "actions.0.value")
    action_id = _id(clicked, "action_id", "actions.0.")
    action_ts = _id(clicked, "action_ts", "actions.0.")
    action = action_id.partition(ACTION_SEPARATOR)[0]
    actor, tenant = _actor(body), _team(body)
    container = _obj(body, "container")
    view = _obj(body, "view")
    message = _obj(body, "message")
    if envelope is None or not action or actor is None or not tenant:
        return None
    if container.get("type") == "view" or view:
        where = Envelope.load(_text(view, "private_metadata", "view."), "view.private_metadata")
        if where is None or not where.conversation:
            return None
        place = _place(tenant, where.conversation, where.kind, where.thread)
        source = None
        spot = _id(view, "id", "view.")
    else:
        channel = _id(_obj(body, "channel"), "id", "channel.") or _id(
            container, "channel_id", "container."
        )
        if not channel:
            return None
        ts = _id(container, "message_ts", "container.") or _id(message, "ts", "message.")
        thread = _id(container, "thread_ts", "container.") or _id(message, "thread_ts", "message.")
        place = _place(tenant, channel, thread=thread if thread and thread != ts else None)
        source = MessageRef(id=ts, extra={"channel": channel}) if ts else None
        spot = f"{channel}/{ts}"
    state = _obj(body, "state")
    inputs = inputs_of(state) if state else inputs_of(_obj(view, "state", "view."), "view.state.")
    return ActionSubmitted(
        conversation=place,
        actor=actor,
        event_id="action:" + _digest(tenant, actor.id, spot, action_id, action_ts),
        action=action,
        values=values_of(envelope, inputs),
        source=source,
    )


def _view_submission(body: Mapping[str, Any]) -> ActionSubmitted | None:
    view = _obj(body, "view")
    envelope = Envelope.load(_text(view, "private_metadata", "view."), "view.private_metadata")
    actor, tenant = _actor(body), _team(body)
    view_id, version = _id(view, "id", "view."), _id(view, "hash", "view.")
    if envelope is None or not envelope.action or not envelope.conversation:
        return None
    if actor is None or not tenant:
        return None
    return ActionSubmitted(
        conversation=_place(tenant, envelope.conversation, envelope.kind, envelope.thread),
        actor=actor,
        event_id="view:" + _digest(tenant, actor.id, view_id, version),
        action=envelope.action,
        values=values_of(envelope, inputs_of(_obj(view, "state", "view."), "view.state.")),
    )


def _event(body: Mapping[str, Any]) -> Event | None:
    event = _obj(body, "event")
    kind = event.get("type")
    if kind in {"user_change", "app_uninstalled", "tokens_revoked"}:
        return _gone(body, event)
    if kind not in {"message", "app_mention", "member_joined_channel"}:
        return None
    tenant = _id(body, "team_id", limit=TENANT_LIMIT) or _id(
        event, "team", "event.", limit=TENANT_LIMIT
    )
    event_id = _id(body, "event_id")
    user, channel = _id(event, "user", "event."), _id(event, "channel", "event.")
    text = _text(event, "text", "event.")
    thread = _id(event, "thread_ts", "event.")
    hint = _id(event, "channel_type", "event.")
    if not (tenant and event_id and user and channel):
        return None
    match kind:
        case "message":
            if event.get("subtype") or event.get("bot_id") or hint != "im":
                return None
            return MessageReceived(
                conversation=_place(tenant, channel, "im"),
                actor=Actor(id=user),
                event_id=event_id,
                text=unescape(text).strip(),
            )
        case "app_mention":
            if event.get("bot_id"):
                return None
            text = _LEADING_MENTION.sub("", text, count=1)
            return MessageReceived(
                conversation=_place(tenant, channel, thread=thread),
                actor=Actor(id=user),
                event_id=event_id,
                text=unescape(text).strip(),
            )
    return MemberJoined(
        conversation=_place(tenant, channel, hint),
        actor=Actor(id=user),
        event_id=event_id,
    )


def _gone(body: Mapping[str, Any], event: Mapping[str, Any]) -> Event | None:
    """Someone left the workspace, or the app left it."""
    event_id = _id(body, "event_id")
    tenant = _id(body, "team_id", limit=TENANT_LIMIT)
    if event.get("type") == "user_change":
        user = _obj(event, "user", "event.")
        person = _id(user, "id", "event.user.")
        tenant = tenant or _id(user, "team_id", "event.user.", limit=TENANT_LIMIT)
        if user.get("deleted") is not True or not (person and tenant and event_id):
            return None
        return PersonLeft(
            conversation=_place(tenant, person, "im"),
            actor=Actor(id=person),
            event_id=event_id,
            reason="deactivated",
        )
    if not (tenant and event_id):
        return None
    if event.get("type") == "tokens_revoked":
        tokens = _obj(event, "tokens", "event.")
        if not inbound.items(tokens.get("bot"), "event.tokens.bot"):
            return None
    return AppRemoved(
        conversation=_place(tenant, tenant, "im"),
        actor=Actor(id=""),
        event_id=event_id,
        reason="uninstalled" if event.get("type") == "app_uninstalled" else "tokens_revoked",
    )


def reply_route(body: Mapping[str, Any]) -> ReplyRoute:
    """How to answer the event of ``body`` (see ``ReplyRoute``); ``BadPayload`` for a URL or
    id that Slack would not send that way."""
    if is_command(body):
        return ReplyRoute(
            response_url=_obj_url(body, "") or None,
            trigger_id=_id(body, "trigger_id", limit=TRIGGER_LIMIT) or None,
        )
    if body.get("type") in {"block_actions", "view_submission"}:
        container = _obj(body, "container")
        urls = inbound.items(body.get("response_urls"), "response_urls")
        response_url = _obj_url(body, "")
        if not response_url and urls:
            response_url = _obj_url(inbound.mapping(urls[0], "response_urls.0"), "response_urls.0.")
        is_message = container.get("type") == "message"
        channel = _id(container, "channel_id", "container.")
        message_ts = _id(container, "message_ts", "container.")
        return ReplyRoute(
            response_url=response_url or None,
            trigger_id=_id(body, "trigger_id", limit=TRIGGER_LIMIT) or None,
            channel=channel or None if is_message else None,
            message_ts=message_ts or None if is_message else None,
            ephemeral=container.get("is_ephemeral") is True,
        )
    return ReplyRoute()


def home_visit(body: Mapping[str, Any]) -> HomeVisit | None:
    """Who opened the Home tab (None for any other payload, or the Messages tab);
    ``BadPayload`` for an id that Slack would not send that way."""
    if body.get("type") != "event_callback":
        return None
    event = _obj(body, "event")
    if event.get("type") != "app_home_opened" or event.get("tab") != "home":
        return None
    tenant = _id(body, "team_id", limit=TENANT_LIMIT)
    user, channel = _id(event, "user", "event."), _id(event, "channel", "event.")
    if not (tenant and user and channel):
        return None
    return HomeVisit(tenant=tenant, user=user, direct=_place(tenant, channel, "im"))


_KIND = re.compile(r"[a-z_]{1,40}")


def describe(body: Mapping[str, Any]) -> str:
    """A short name for a payload's kind, for logs ("command", "event:message/im"): only
    names made of lower-case letters, so nothing a sender wrote gets into a log line."""
    if is_command(body):
        return "command"
    kind = _word(body.get("type"))
    if kind == "event_callback":
        event = body.get("event")
        event = event if isinstance(event, Mapping) else {}
        detail = _word(event.get("subtype"), "") or _word(event.get("channel_type"), "")
        return f"event:{_word(event.get('type'))}" + (f"/{detail}" if detail else "")
    return kind


def _word(value: object, otherwise: str = "unknown") -> str:
    return value if isinstance(value, str) and _KIND.fullmatch(value) else otherwise
