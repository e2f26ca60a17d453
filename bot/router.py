"""Routing events to handlers: commands by name, actions by name, the rest by kind.

Every handler has one shape, ``async def handler(turn) -> None``. Feature modules build their own
``Router`` and ``bot.app`` composes them with ``include``; a name registered twice is an error at
start-up, not a surprise later.

A proactive message the outbox gave up on (``DeliveryFailed``) goes to the handler registered
for the longest prefix of its job (``router.undelivered("team-lens:", handler)``), else to
``on_undelivered`` (the core's fallback, set in ``bot.app``). A card a handler asked to remember
(``CardPosted``) goes to the handler registered for the longest prefix of its key
(``router.posted("team-lens:", handler)``); nobody else hears of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.events import (
    ActionSubmitted,
    AppRemoved,
    CardPosted,
    CommandReceived,
    ConversationOpened,
    DeliveryFailed,
    MemberJoined,
    MessageReceived,
    PersonLeft,
    ScheduleFired,
)
from bot.turn import Turn

CommandHandler = Callable[[Turn[CommandReceived]], Awaitable[None]]
ActionHandler = Callable[[Turn[ActionSubmitted]], Awaitable[None]]
MessageHandler = Callable[[Turn[MessageReceived]], Awaitable[None]]
OpenedHandler = Callable[[Turn[ConversationOpened]], Awaitable[None]]
JoinedHandler = Callable[[Turn[MemberJoined]], Awaitable[None]]
ScheduleHandler = Callable[[Turn[ScheduleFired]], Awaitable[None]]
UndeliveredHandler = Callable[[Turn[DeliveryFailed]], Awaitable[None]]
LeftHandler = Callable[[Turn[PersonLeft]], Awaitable[None]]
RemovedHandler = Callable[[Turn[AppRemoved]], Awaitable[None]]
PostedHandler = Callable[[Turn[CardPosted]], Awaitable[None]]


def normalise_command(name: str) -> str:
    """``/ValuesLens`` and ``valueslens`` are the same command."""
    return name.strip().lstrip("/").lower()


class Router:
    """Handlers by event kind and name."""

    def __init__(self) -> None:
        self.commands: dict[str, CommandHandler] = {}
        self.actions: dict[str, ActionHandler] = {}
        self.patient_actions: set[str] = set()
        self.schedules: dict[str, ScheduleHandler] = {}
        self.undelivered_jobs: dict[str, UndeliveredHandler] = {}
        self.posted_keys: dict[str, PostedHandler] = {}
        self.on_message: MessageHandler | None = None
        self.on_opened: OpenedHandler | None = None
        self.on_joined: JoinedHandler | None = None
        self.on_unknown_command: CommandHandler | None = None
        self.on_undelivered: UndeliveredHandler | None = None
        self.on_left: LeftHandler | None = None
        self.on_removed: RemovedHandler | None = None

    def command(self, name: str, handler: CommandHandler) -> None:
        """Handle ``/name``."""
        _add(self.commands, normalise_command(name), handler, "command")

    def action(self, name: str, handler: ActionHandler, *, patient: bool = False) -> None:
        """Handle clicks on choices with this action name. A ``patient`` click is one that
        comes by the thousand at once and whose answer can wait (a poll's answer): its turn
        goes after any other waiting turn (``bot.dispatch.TurnGate``)."""
        _add(self.actions, name, handler, "action")
        if patient:
            self.patient_actions.add(name)

    def patient(self, event: object) -> bool:
        """Whether the event is a patient click (``action``)."""
        return isinstance(event, ActionSubmitted) and event.action in self.patient_actions

    def schedule(self, job: str, handler: ScheduleHandler) -> None:
        """Handle a scheduled job's firing."""
        _add(self.schedules, job, handler, "schedule")

    def undelivered(self, job_prefix: str, handler: UndeliveredHandler) -> None:
        """React to the outbox giving up for good on a message whose job starts with
        ``job_prefix`` (the longest registered prefix wins): tell someone, undo what the
        message announced. Runs after the failure is committed, in a unit of work of its own;
        send through the outbox (``bot.delivery.notice``), not ``turn.reply``."""
        _add(self.undelivered_jobs, job_prefix, handler, "undelivered job prefix")

    def posted(self, key_prefix: str, handler: PostedHandler) -> None:
        """Hear where a card landed whose reply or post was given a ``remember`` key starting
        with ``key_prefix`` (the longest registered prefix wins): keep its reference, to change
        the card later. Runs after the card was sent, in a unit of work of its own; replies
        are dropped (send through the outbox)."""
        _add(self.posted_keys, key_prefix, handler, "posted key prefix")

    def include(self, other: Router) -> None:
        """Take every handler of ``other``."""
        for name, command in other.commands.items():
            self.command(name, command)
        for name, action in other.actions.items():
            self.action(name, action, patient=name in other.patient_actions)
        for name, job in other.schedules.items():
            self.schedule(name, job)
        for prefix, reaction in other.undelivered_jobs.items():
            self.undelivered(prefix, reaction)
        for prefix, keeper in other.posted_keys.items():
            self.posted(prefix, keeper)
        for attribute in (
            "on_message",
            "on_opened",
            "on_joined",
            "on_unknown_command",
            "on_undelivered",
            "on_left",
            "on_removed",
        ):
            theirs = getattr(other, attribute)
            if theirs is not None:
                if getattr(self, attribute) is not None:
                    raise ValueError(f"two routers both set {attribute}")
                setattr(self, attribute, theirs)

    async def dispatch(self, turn: Turn[Any]) -> str | None:
        """Run the handler for the turn's event; its name for the log, None if none."""
        event = turn.event
        handler: Callable[[Turn[Any]], Awaitable[None]] | None
        name: str
        match event:
            case CommandReceived():
                name = normalise_command(event.command)
                handler = self.commands.get(name) or self.on_unknown_command
            case ActionSubmitted():
                name = event.action
                handler = self.actions.get(name)
            case ScheduleFired():
                name = event.job
                handler = self.schedules.get(name)
            case DeliveryFailed():
                prefix = self._undelivered_prefix(event.job)
                if prefix is None:
                    name, handler = "undelivered", self.on_undelivered
                else:
                    name, handler = f"undelivered:{prefix}", self.undelivered_jobs[prefix]
            case CardPosted():
                prefix = _longest(self.posted_keys, event.key)
                if prefix is None:
                    return None
                name, handler = f"posted:{prefix}", self.posted_keys[prefix]
            case MessageReceived():
                name, handler = "message", self.on_message
            case ConversationOpened():
                name, handler = "opened", self.on_opened
            case MemberJoined():
                name, handler = "joined", self.on_joined
            case PersonLeft():
                name, handler = "left", self.on_left
            case AppRemoved():
                name, handler = "removed", self.on_removed
            case _:
                return None
        if handler is None:
            return None
        await handler(turn)
        return name

    def _undelivered_prefix(self, job: str) -> str | None:
        return _longest(self.undelivered_jobs, job)


def _longest(table: dict[str, Any], name: str) -> str | None:
    """The longest key of ``table`` that ``name`` starts with, if any."""
    found = [prefix for prefix in table if name.startswith(prefix)]
    return max(found, key=len) if found else None


def _add(table: dict[str, Any], name: str, handler: Any, kind: str) -> None:
    if not name:
        raise ValueError(f"a {kind} needs a name")
    if name in table:
        raise ValueError(f"{kind} {name!r} is registered twice")
    table[name] = handler
