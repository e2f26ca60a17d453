"""Multi-step conversations as explicit state machines, with their state in the database.

A ``Dialog`` names its steps; ``begin`` asks the first question and every ``step`` handles the
answer to the current one and returns the next step (or ``END``) with the cards to show. Steps
never touch the database themselves: the ``DialogRunner`` loads the state at the start of a turn
and saves it in the same transaction as everything else the turn did, so a conversation survives
a restart and two bot instances can share it.

Cards a dialog shows carry two hidden values, the run and the state version they were made for.
A click on a card from an earlier step (a double click, a retry, an old message) is therefore
recognised as stale and answered with the current question instead of being applied twice. A
stale card changes nothing, its Cancel button included: a Cancel left on the card of a finished
conversation must not stop the one under way. Typing "cancel" always stops the current one.
Cards also name the dialog and its owner (a hash of the run and the person), so a click by
someone else on a card they can see (a channel) is told whose it is (``not_theirs``).
"""

from __future__ import annotations

import hashlib
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Final

from bot.events import ActionSubmitted, Event, MessageReceived
from bot.turn import Turn
from bot.ui import CHOICE, Card, Choice, ChoiceStyle
from storage.dialog_states import DialogKey, DialogState
from storage.people import PersonKey
from storage.stores import Stores

END: Final = "__end__"

RUN = "dlg_run"
VERSION = "dlg_v"
OWNER = "dlg_owner"
DIALOG = "dlg"
CANCEL_ACTION = "dialog.cancel"
CANCEL_WORDS = frozenset({"cancel", "stop", "quit", "/cancel"})


def finished_card() -> Card:
    """What a click on a dialog's card says when that dialog is no longer under way."""
    return Card(
        title="That has finished",
        text="The conversation this card belonged to is over or was cancelled.",
    )


def cancel_choice() -> Choice:
    """The "Cancel" button every dialog card offers."""
    return Choice(
        label="Cancel", action=CANCEL_ACTION, style=ChoiceStyle.DANGER, collects_inputs=False
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """What a step decided: the next step (or ``END``), cards to show, and optionally a new
    face for the card the person just answered."""

    next: str
    cards: tuple[Card, ...] = ()
    update: Card | None = None


@dataclass(slots=True, kw_only=True)
class StepContext:
    """What a step sees: the event, the dialog's data (mutable), the stores and the time."""

    event: Event
    data: dict[str, Any]
    step: str
    stores: Stores
    now: datetime
    person: PersonKey = field(init=False)

    def __post_init__(self) -> None:
        self.person = PersonKey.of(self.event)

    def text(self, name: str) -> str:
        """What the person typed, as a message or into the input called ``name``."""
        match self.event:
            case MessageReceived(text=text):
                return text.strip()
            case ActionSubmitted(values=values):
                return values.get(name, "").strip()
            case _:
                return ""

    def choice(self) -> str:
        """The value of the choice clicked ("" when the person typed instead)."""
        if isinstance(self.event, ActionSubmitted):
            return self.event.values.get(CHOICE, "")
        return ""

    def value(self, name: str) -> str:
        """An input's value from a submitted card ("" when absent)."""
        if isinstance(self.event, ActionSubmitted):
            return self.event.values.get(name, "").strip()
        return ""


def owner_key(run: str, person: PersonKey) -> str:
    """Who a dialog run's cards belong to, without naming them: a hash of the run (random)
    and the person."""
    named = "\x1f".join((run, person.platform, person.tenant, person.user))
    return hashlib.sha256(named.encode()).hexdigest()[:16]


class Dialog(ABC):
    """A conversation of several steps. Subclasses name their steps with a ``StrEnum``."""

    name: ClassVar[str]
    command: ClassVar[str] = ""
    """The command that starts it ("valueslens"), to tell others how to start their own."""

    @abstractmethod
    async def begin(self, ctx: StepContext, start: Mapping[str, str]) -> StepResult:
        """Set up ``ctx.data`` and ask the first question."""

    @abstractmethod
    async def step(self, ctx: StepContext) -> StepResult:
        """Handle the answer to ``ctx.step``."""

    @abstractmethod
    def prompt(self, step: str, data: Mapping[str, Any]) -> Card:
        """The card asking the question of ``step`` (shown again when a person comes back)."""

    @abstractmethod
    def describe(self, data: Mapping[str, Any]) -> str:
        """A short phrase for "you are in the middle of ..."."""

    def cancelled(self, data: Mapping[str, Any]) -> Card:
        """What a person sees after cancelling."""
        return Card(title="Cancelled", text=f"Stopped {self.describe(data)}. Nothing was saved.")


class DialogRunner:
    """Loads, advances and saves dialog states for turns."""

    def __init__(self, dialogs: Mapping[str, Dialog]) -> None:
        self.dialogs = dict(dialogs)

    async def active(self, turn: Turn[Any]) -> DialogState | None:
        """The dialog under way for the turn's person in the turn's conversation."""
        state = await turn.stores.dialogs.load(DialogKey.of(turn.event))
        if state is not None and state.dialog not in self.dialogs:
            return None  # a dialog this version no longer has: treat as nothing under way
        return state

    async def start(
        self, turn: Turn[Any], dialog: str, start: Mapping[str, str] | None = None
    ) -> None:
        """Start ``dialog`` for the turn's person, replacing anything under way."""
        key = DialogKey.of(turn.event)
        previous = await turn.stores.dialogs.load(key)
        if previous is not None:
            await turn.stores.dialogs.delete(key, previous)
        state = DialogState(dialog=dialog, step="", started_at=turn.now)
        state.data[RUN] = secrets.token_hex(6)
        state.data[OWNER] = owner_key(state.data[RUN], turn.person)
        ctx = self._context(turn, state)
        result = await self.dialogs[dialog].begin(ctx, start or {})
        await self._apply(turn, key, replace(state, version=0), ctx, result)

    async def resume(self, turn: Turn[Any], state: DialogState, note: str = "") -> None:
        """Show the current question again, after an optional note."""
        card = self._stamp(self.dialogs[state.dialog].prompt(state.step, state.data), state)
        if note:
            card = replace(card, text=f"{note}\n\n{card.text}".strip())
        turn.reply(card)

    async def cancel(self, turn: Turn[Any], state: DialogState) -> None:
        """End the dialog under way, saying so (``/valueslens cancel`` and the like)."""
        await turn.stores.dialogs.delete(DialogKey.of(turn.event), state)
        turn.reply(self.dialogs[state.dialog].cancelled(state.data))

    async def handle(self, turn: Turn[Any], state: DialogState) -> None:
        """Feed the turn's event to the dialog under way."""
        key = DialogKey.of(turn.event)
        dialog = self.dialogs[state.dialog]
        event = turn.event
        # Staleness first: a stale card's Cancel must not stop the dialog under way.
        if isinstance(event, ActionSubmitted) and not self._is_current(event, state):
            await self.resume(turn, state, self._stale_note(event, state, dialog))
            return
        if self._is_cancel(event):
            await self.cancel(turn, state)
            return
        ctx = self._context(turn, state)
        result = await dialog.step(ctx)
        await self._apply(turn, key, state, ctx, result)

    def owns(self, event: ActionSubmitted) -> bool:
        """True when the action came from a dialog's card."""
        return RUN in event.values or event.action == CANCEL_ACTION

    def not_theirs(self, turn: Turn[Any]) -> Card | None:
        """The answer to a click on a card of someone else's dialog (one the clicker can see
        in a channel): whose it is and how to start one's own; None when the card is the
        clicker's (or too old to say)."""
        if not isinstance(turn.event, ActionSubmitted):
            return None
        values = turn.event.values
        owner = values.get(OWNER, "")
        if not owner or owner == owner_key(values.get(RUN, ""), turn.person):
            return None
        dialog = self.dialogs.get(values.get(DIALOG, ""))
        text = "This card is part of someone else's conversation with me: only they can answer it."
        if dialog is not None and dialog.command:
            text += f" To start your own, type {turn.command(dialog.command)}."
        return Card(title="That one is someone else's", text=text)

    @staticmethod
    def _is_cancel(event: Event) -> bool:
        if isinstance(event, MessageReceived):
            return event.text.strip().lower() in CANCEL_WORDS
        return isinstance(event, ActionSubmitted) and event.action == CANCEL_ACTION

    @staticmethod
    def _stale_note(event: ActionSubmitted, state: DialogState, dialog: Dialog) -> str:
        """What a click on an out-of-date card says before the current question."""
        here = "Here is where you are now:"
        if event.values.get(RUN) != state.data.get(RUN):
            return (
                "That card is from a conversation that is over or was cancelled, so it changes "
                f"nothing. You are in the middle of {dialog.describe(state.data)}. {here}"
            )
        if event.action == CANCEL_ACTION:
            return (
                "That card is out of date, so nothing was cancelled. Cancel on this one stops "
                f"{dialog.describe(state.data)}. {here}"
            )
        return f"That question was already answered. {here}"

    @staticmethod
    def _is_current(event: ActionSubmitted, state: DialogState) -> bool:
        return event.values.get(RUN) == state.data.get(RUN) and event.values.get(VERSION) == str(
            state.version
        )

    @staticmethod
    def _context(turn: Turn[Any], state: DialogState) -> StepContext:
        return StepContext(
            event=turn.event,
            data=state.data,
            step=state.step,
            stores=turn.stores,
            now=turn.now,
        )

    async def _apply(
        self,
        turn: Turn[Any],
        key: DialogKey,
        state: DialogState,
        ctx: StepContext,
        result: StepResult,
    ) -> None:
        if result.update is not None:
            turn.update(result.update)
        if result.next == END:
            await turn.stores.dialogs.delete(key, state)
            for card in result.cards:
                turn.reply(card)
            return
        saved = await turn.stores.dialogs.save(
            key,
            DialogState(
                dialog=state.dialog,
                step=result.next,
                data=ctx.data,
                version=state.version,
                started_at=state.started_at,
            ),
            turn.now,
        )
        for card in result.cards:
            turn.reply(self._stamp(card, saved))

    @staticmethod
    def _stamp(card: Card, state: DialogState) -> Card:
        if not card.choices and not card.inputs:
            return card
        hidden = {**card.hidden, RUN: str(state.data.get(RUN, "")), VERSION: str(state.version)}
        if state.data.get(OWNER):
            hidden.update({OWNER: str(state.data[OWNER]), DIALOG: state.dialog})
        return replace(card, hidden=hidden)
