"""What a person types in the terminal, as core events.

Pure functions. A line is read against the last card the person was shown, the way a click is
read against the buttons on screen:

- ``/name rest``: a command (``CommandReceived``);
- ``cancel`` / ``stop`` / ``quit``: a message, which ends any conversation under way;
- ``N`` or ``N some text``: choice N of the last card (``Picked``; the text fills the card's one
  text box, e.g. a note);
- a choice's label ("Partly"): that choice;
- any other text, on a card with one text box and a main button: that box filled in, the main
  button pressed (``Picked``);
- anything else: a plain message (``MessageReceived``), which dialogs read as typed answers.

Ignored on purpose: empty lines.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from bot.dialogs import CANCEL_WORDS
from bot.events import (
    ActionSubmitted,
    Actor,
    CommandReceived,
    ConversationKind,
    ConversationRef,
    MessageReceived,
    MessageRef,
    Platform,
)
from bot.ui import Card, Choice, ChoiceStyle, TextInput, submission

TENANT = "local"
_NUMBERED = re.compile(r"^(\d+)(?:[.)]?\s+(.*)|[.)]?)$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Picked:
    """The person chose ``choice`` on ``card``; ``text`` is what they typed after it."""

    card: Card
    choice: Choice
    text: str = ""
    card_id: str = ""


def slug(name: str) -> str:
    """A stable id from a name: ``Alice Smith`` is ``alice-smith``."""
    return "-".join(re.findall(r"[a-z0-9]+", name.lower())) or "someone"


def place(user: str, channel: str | None) -> ConversationRef:
    """The console conversation: a channel by name, or the person's direct chat with the bot."""
    if channel:
        return ConversationRef(
            platform=Platform.CONSOLE,
            tenant=TENANT,
            conversation=slug(channel.lstrip("#")),
            kind=ConversationKind.CHANNEL,
        )
    return ConversationRef(
        platform=Platform.CONSOLE,
        tenant=TENANT,
        conversation=f"dm-{slug(user)}",
        kind=ConversationKind.DIRECT,
    )


def actor(user: str) -> Actor:
    """The person at this terminal."""
    return Actor(id=slug(user), name=user.strip() or "someone")


def new_event_id() -> str:
    """A fresh id: every line typed is a new event."""
    return uuid.uuid4().hex


def _main_choice(card: Card) -> Choice | None:
    collecting = [c for c in card.choices if c.collects_inputs]
    for choice in collecting:
        if choice.style is ChoiceStyle.PRIMARY:
            return choice
    return None


def translate(
    line: str,
    *,
    last: Card | None,
    last_id: str,
    who: Actor,
    where: ConversationRef,
) -> CommandReceived | MessageReceived | Picked | None:
    """What the typed ``line`` means, given the ``last`` card shown (None: ignore the line)."""
    text = line.strip()
    if not text:
        return None
    if text.startswith("/") and len(text) > 1 and text.lower() not in CANCEL_WORDS:
        command, _, rest = text[1:].partition(" ")
        return CommandReceived(
            conversation=where,
            actor=who,
            event_id=new_event_id(),
            command=command.lower(),
            text=rest.strip(),
        )
    if text.lower() in CANCEL_WORDS or last is None or not last.choices:
        return MessageReceived(conversation=where, actor=who, event_id=new_event_id(), text=text)
    texts = [i for i in last.inputs if isinstance(i, TextInput)]
    # On a card that asks for text ("What piece of work?"), "1 page summary" is an answer.
    asks_text = len(texts) == 1 and not texts[0].optional
    numbered = _NUMBERED.match(text)
    if (
        numbered
        and 1 <= int(numbered.group(1)) <= len(last.choices)
        and not (asks_text and numbered.group(2))
    ):
        choice = last.choices[int(numbered.group(1)) - 1]
        return Picked(last, choice, (numbered.group(2) or "").strip(), last_id)
    for choice in last.choices:
        if text.lower() == choice.label.lower():
            return Picked(last, choice, "", last_id)
    main = _main_choice(last)
    if main is not None and len(texts) == 1 and len(last.inputs) == 1:
        return Picked(last, main, text, last_id)
    return MessageReceived(conversation=where, actor=who, event_id=new_event_id(), text=text)


def action(
    picked: Picked, inputs: Mapping[str, str], *, who: Actor, where: ConversationRef
) -> ActionSubmitted:
    """The click, with the inputs the person filled in."""
    return ActionSubmitted(
        conversation=where,
        actor=who,
        event_id=new_event_id(),
        action=picked.choice.action,
        values=submission(picked.card, picked.choice, inputs),
        source=MessageRef(id=picked.card_id) if picked.card_id else None,
    )
