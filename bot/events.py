"""What happens to the bot, as small immutable data.

Adapters translate each platform payload into one of these events; the core and the dialogs see
nothing else. Every event carries the conversation it happened in (a ``ConversationRef``, enough
to answer there later) and the person who did it (an ``Actor``). The platform's payload is not
kept: under a burst thousands of events wait for their turn, and their payloads made most of
the process's memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    """Where a conversation lives."""

    CONSOLE = "console"
    SLACK = "slack"
    TEAMS = "teams"


class ConversationKind(StrEnum):
    """A one-to-one chat with the bot, or a place where a team talks."""

    DIRECT = "direct"
    CHANNEL = "channel"
    GROUP = "group"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationRef:
    """Enough to find a conversation again, including for proactive messages.

    ``tenant`` is the Slack workspace (team id) or the Teams tenant id; ``service_url`` is the Bot
    Connector endpoint Teams gave with the conversation (None elsewhere). ``extra`` holds what else
    a platform needs to reach the conversation again (Teams: the bot's account id); it is stored
    with the conversation and takes no part in equality.
    """

    platform: Platform
    tenant: str
    conversation: str
    kind: ConversationKind = ConversationKind.DIRECT
    thread: str | None = None
    service_url: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def is_direct(self) -> bool:
        """True for a one-to-one chat with the bot."""
        return self.kind is ConversationKind.DIRECT


@dataclass(frozen=True, slots=True, kw_only=True)
class Directory:
    """Who a person is in their organisation's directory, as far as the platform told (Teams:
    Microsoft Entra ID, through the Bot Connector): the names an administrator can look people
    up by, so settings may name people by them. Kept in lower case, as they are compared."""

    object_id: str = ""
    principal_name: str = ""
    email: str = ""

    @classmethod
    def of(cls, object_id: str = "", principal_name: str = "", email: str = "") -> Directory:
        """The entry as a platform gives it, trimmed and in lower case."""
        return cls(
            object_id=object_id.strip().lower(),
            principal_name=principal_name.strip().lower(),
            email=email.strip().lower(),
        )

    def names(self) -> tuple[str, ...]:
        """The names given (object id, principal name, email), without blanks."""
        return tuple(
            dict.fromkeys(n for n in (self.object_id, self.principal_name, self.email) if n)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Actor:
    """The person behind an event, as the platform names them.

    ``directory`` is what the organisation's directory says of them, when the adapter knows it
    (Teams); None elsewhere.
    """

    id: str
    name: str = ""
    timezone: str | None = None
    directory: Directory | None = None

    @property
    def aliases(self) -> tuple[str, ...]:
        """The other names settings may know the person by (``Directory.names``)."""
        return self.directory.names() if self.directory is not None else ()

    @property
    def display(self) -> str:
        """A name to show, falling back to the platform id."""
        return self.name or self.id


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageRef:
    """A message the bot posted, so it can be replaced (a card updated after a click).

    ``extra`` holds what a platform needs besides the id (Slack's ``response_url``, say).
    """

    id: str
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something a person (or the clock) did.

    ``event_id`` identifies the delivery, so a platform's retry of the same event is recognised
    and handled once. ``sent_once``: the platform never sends this delivery again (Slack does
    not retry a slash command: one not acknowledged in time fails in front of the person, who
    types it again and makes a new one). Its turn is recorded only if it changes something,
    since a turn that changes nothing leaves nothing to repeat (``bot.dispatch``).
    """

    conversation: ConversationRef
    actor: Actor
    event_id: str
    sent_once: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandReceived(Event):
    """A slash command or bot command: ``/valueslens history`` is command "valueslens", text
    "history"."""

    command: str
    text: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageReceived(Event):
    """A plain message to the bot (in a direct chat, or mentioning it in a channel)."""

    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionSubmitted(Event):
    """A button clicked or a form submitted on a card the bot posted.

    ``values`` holds the card's hidden values, the clicked choice's value under ``"choice"`` and
    every input the person filled in, by input name.
    """

    action: str
    values: Mapping[str, str] = field(default_factory=dict)
    source: MessageRef | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationOpened(Event):
    """The person opened (or came back to) the conversation with the bot: App Home, a new
    console session, the bot installed in a chat."""


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberJoined(Event):
    """Someone joined a conversation the bot is in."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonLeft(Event):
    """A platform said the actor is gone: their account was deactivated (Slack ``user_change``
    with ``deleted``), or they removed the bot from their personal scope (Teams). Their
    queued messages are cancelled and their data erased after a grace period unless they come
    back. ``reason`` is a short code for the log and the mark ("deactivated", "removed")."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AppRemoved(Event):
    """The app was uninstalled from a whole workspace or tenant (``conversation.tenant``):
    everyone the bot met there is treated as gone (the actor is whoever the platform names,
    often nobody)."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleFired(Event):
    """A scheduled job's slot came round (the actor is the bot itself).

    ``job`` is the kind of job (what the router dispatches on), ``schedule`` the schedule row
    that fired, ``period`` the slot's name and ``scheduled_for`` its instant; ``params`` are the
    schedule's own settings (which channels, which round...).
    """

    job: str
    period: str
    schedule: str = ""
    scheduled_for: datetime | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


class Failure(StrEnum):
    """Why the outbox gave up on a message for good."""

    UNREACHABLE = "unreachable"
    """The platform refused it for this recipient: the bot is not in the channel, the channel
    was archived or deleted, the person left or never met the bot."""
    GAVE_UP = "gave_up"
    """The platform kept failing (5xx, no answer) until the attempts ran out."""
    BAD_CARD = "bad_card"
    """The stored card could not be read back (a fault of ours)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryFailed(Event):
    """A proactive message the outbox gave up on for good (the actor is the bot itself).

    Dispatched once per failure, after the failure is committed, to the handler the feature
    registered for the message's job (``router.undelivered(prefix, handler)``). ``conversation``
    is where the message was going: the channel (with its ``thread``), or, when ``to_person``,
    the person's direct chat, whose ``conversation`` is then the person's id. ``key`` and
    ``job`` are the outbox message's; ``reason`` is the platform's short code or the worker's
    note ("not_in_channel", "gave up after 8 attempts: ..."), never anything people wrote.
    """

    key: str
    job: str
    to_person: bool
    failure: Failure
    reason: str
    update: bool = False
    """The message was a change to a card posted before (``OutboxMessage.replaces``), not a
    new one: the card keeps the face it had, and nothing anyone waits for was lost."""

    @property
    def recipient(self) -> str:
        """The channel's id, or the person's id (``to_person``)."""
        return self.conversation.conversation


@dataclass(frozen=True, slots=True, kw_only=True)
class CardPosted(Event):
    """A card a handler asked to remember (``Turn.reply(card, remember=key)``, ``Turn.post``)
    has landed: ``conversation`` is where, ``message`` the platform's reference to it, so the
    feature can change it later through the outbox (``bot.delivery.to_channel(...,
    replaces=message.id)``). The actor is the person whose turn posted it.

    Dispatched once the card is sent, in a unit of work of its own, to the handler the feature
    registered for the key (``router.posted(key_prefix, handler)``). A card the platform gave
    no reference for (Slack: one posted through a response URL, where the bot is not a member)
    is not announced: it cannot be changed.
    """

    key: str
    message: MessageRef
