"""The neutral UI model: what dialogs say, before any platform has drawn it.

A ``Card`` has a title, plain text, label/value fields, bar rows, inputs and choice buttons. All
text is plain: adapters escape it for their platform (Slack mrkdwn, Adaptive Card markdown, the
terminal) and check it against the platform's limits. Cards serialise to JSON (``card_to_json``)
so they can wait in the database for a proactive send.

When a person clicks a choice, the adapter sends an ``ActionSubmitted`` whose values are the
card's hidden values, the choice's value under ``"choice"``, and the inputs the person filled in
(``submission`` builds exactly that, so every adapter agrees).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import Field as PydanticField
from pydantic import TypeAdapter

CHOICE = "choice"
SEPARATOR = ","


class ChoiceStyle(StrEnum):
    """How prominent a button is."""

    DEFAULT = "default"
    PRIMARY = "primary"
    DANGER = "danger"


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    """A label and a value shown side by side ("Work": "Drafting the guidance")."""

    label: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BarRow:
    """One row of a bar chart: ``value`` out of ``maximum``, with a caption ("partly")."""

    label: str
    value: float
    maximum: float
    caption: str = ""

    @property
    def share(self) -> float:
        """The filled share of the bar, between 0 and 1."""
        if self.maximum <= 0:
            return 0.0
        return min(max(self.value / self.maximum, 0.0), 1.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    """One answer offered by a ``ChoiceInput``."""

    label: str
    value: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TextInput:
    """A box a person types into."""

    kind: Literal["text"] = "text"
    name: str
    label: str
    placeholder: str = ""
    multiline: bool = False
    optional: bool = True
    max_length: int = 500
    initial: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChoiceInput:
    """A question answered by picking one option (radio buttons, a drop-down), or several when
    ``multiple`` (check boxes, a multi-select).

    A multiple choice is submitted as the picked option values joined by commas, in the order of
    ``options`` (``"listen,open"``); ``initial`` takes the same form. Option values therefore
    never contain a comma. ``selected`` reads such a value back.
    """

    kind: Literal["choice"] = "choice"
    name: str
    label: str
    options: tuple[Option, ...]
    optional: bool = False
    initial: str | None = None
    multiple: bool = False

    def __post_init__(self) -> None:
        if self.multiple and any(SEPARATOR in o.value for o in self.options):
            raise ValueError(f"options of a multiple choice may not contain {SEPARATOR!r}")

    def selected(self, submitted: str) -> tuple[str, ...]:
        """The option values in a submitted (or initial) value, in option order; values the
        input does not offer are dropped."""
        given = (
            {part.strip() for part in submitted.split(SEPARATOR)}
            if self.multiple
            else {submitted.strip()}
        )
        return tuple(o.value for o in self.options if o.value in given)


Input = Annotated[TextInput | ChoiceInput, PydanticField(discriminator="kind")]


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """A button. Clicking it submits the card's inputs with ``value`` under ``"choice"``."""

    label: str
    action: str
    value: str = ""
    style: ChoiceStyle = ChoiceStyle.DEFAULT
    collects_inputs: bool = True
    """False for choices like "Cancel" or "Close" that must work with the inputs left empty."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Card:
    """A message from the bot: what dialogs return and adapters draw."""

    title: str = ""
    text: str = ""
    fields: tuple[Field, ...] = ()
    bars: tuple[BarRow, ...] = ()
    inputs: tuple[Input, ...] = ()
    choices: tuple[Choice, ...] = ()
    footer: str = ""
    hidden: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (self.title or self.text or self.fields or self.bars):
            raise ValueError("a card needs a title, text, fields or bars")
        names = [i.name for i in self.inputs]
        if len(names) != len(set(names)) or CHOICE in names:
            raise ValueError(f"card input names must be unique and not {CHOICE!r}: {names}")

    def choice(self, action: str, value: str = "") -> Choice | None:
        """The choice with this action (and value, when given)."""
        for choice in self.choices:
            if choice.action == action and (not value or choice.value == value):
                return choice
        return None

    def plain_text(self) -> str:
        """Everything a person reads on the card, as one string (for logs of tests, search)."""
        parts = [self.title, self.text]
        parts += [f"{f.label}: {f.value}" for f in self.fields]
        parts += [f"{b.label} {b.caption}".strip() for b in self.bars]
        parts += [i.label for i in self.inputs]
        parts += [c.label for c in self.choices]
        parts.append(self.footer)
        return "\n".join(p for p in parts if p)


def submission(card: Card, choice: Choice, inputs: Mapping[str, str]) -> dict[str, str]:
    """The values an adapter puts on ``ActionSubmitted`` when ``choice`` is clicked on ``card``.

    Inputs left empty are omitted; names the card does not have are ignored.
    """
    values = dict(card.hidden)
    values[CHOICE] = choice.value
    if not choice.collects_inputs:
        return values
    known = {i.name for i in card.inputs}
    for name, value in inputs.items():
        if name in known and value.strip():
            values[name] = value.strip()
    return values


_CARD = TypeAdapter(Card)


def commands_typed_with(card: Card, prefix: str) -> Card:
    """A help card whose field labels are commands ("/valueslens history"), with each written
    after ``prefix`` instead of a slash (``Turn.command_prefix``: "" in Teams)."""
    if prefix == "/":
        return card
    fields = tuple(
        replace(f, label=prefix + f.label[1:]) if f.label.startswith("/") else f
        for f in card.fields
    )
    return replace(card, fields=fields)


def card_to_json(card: Card) -> bytes:
    """The card as JSON, to store it until it is sent."""
    return _CARD.dump_json(card)


def card_from_json(data: bytes | str) -> Card:
    """A card stored with ``card_to_json``."""
    return _CARD.validate_json(data)


Drawing = TypeVar("Drawing")


class LastDrawn(Generic[Drawing]):
    """A platform's drawing of cards that keeps the ones drawn lately. A fan-out sends one card
    object to thousands of people (the delivery worker reads each distinct card once), and
    drawing it again for each of them was a large share of every send; the answers of the
    bot's turns repeat too (the help, the same question of a dialog), and drawing them was a
    fifth of a turn's time. The same card object is found at once; an equal card, by its
    ``repr`` (every field of every part of a card is in it, and it costs a hundredth of a
    drawing). ``keep``: how many drawings are kept (the least recently used goes).

    A dialog's cards differ from one person to the next only in their hidden values (the
    dialog's run, version and owner), which only the buttons carry: with ``restamp``, a card
    equal to one drawn lately but for those values (the same names, in the same order) is
    drawn by ``restamp(that drawing, card)``, which puts the card's own values in the buttons
    and must give exactly what ``draw(card)`` would; when it cannot (None: the values make the
    card too large for the platform, say), the card is drawn whole."""

    def __init__(
        self,
        draw: Callable[[Card], Drawing],
        keep: int = 256,
        *,
        restamp: Callable[[Drawing, Card], Drawing | None] | None = None,
    ) -> None:
        self._draw = draw
        self._keep = keep
        self._restamp = restamp
        self._last: tuple[Card, Drawing] | None = None
        self._drawn: OrderedDict[str, Drawing] = OrderedDict()
        # A drawing of each card form lately drawn whole, by the form's repr (its hidden names).
        self._forms: OrderedDict[str, Drawing] = OrderedDict()

    def __call__(self, card: Card) -> Drawing:
        last = self._last
        if last is not None and last[0] is card:
            return last[1]
        key = repr(card)
        drawn = self._drawn.get(key)
        if drawn is None:
            drawn = self._anew(card, key)
            self._keep_in(self._drawn, key, drawn)
        else:
            self._drawn.move_to_end(key)
        self._last = (card, drawn)  # holding the card keeps its identity unique
        return drawn

    def _anew(self, card: Card, key: str) -> Drawing:
        if self._restamp is None or not card.hidden:
            return self._draw(card)
        # The card's repr ends with its hidden values (the last field) and a parenthesis: the
        # form is the rest, with the values' names.
        form = key[: -len(repr(card.hidden)) - 1] + repr(tuple(card.hidden))
        like = self._forms.get(form)
        if like is None:
            drawn = self._draw(card)
            self._keep_in(self._forms, form, drawn)
            return drawn
        self._forms.move_to_end(form)
        restamped = self._restamp(like, card)
        return self._draw(card) if restamped is None else restamped

    def _keep_in(self, kept: OrderedDict[str, Drawing], key: str, drawn: Drawing) -> None:
        kept[key] = drawn
        if len(kept) > self._keep:
            kept.popitem(last=False)
