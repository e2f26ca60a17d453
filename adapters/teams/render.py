"""Core cards as Adaptive Cards 1.5, the way Teams shows them.

Pure functions. Every piece of text on a core card is plain: here it is escaped so that Teams'
Markdown subset (bold, italics, lists, links) and the Adaptive Card date functions cannot turn
what a person wrote into formatting, links or a broken card. Fields become a ``FactSet``, bar
rows become ``ColumnSet`` rows (label, a bar of block characters, the caption), inputs become
``Input.Text`` / ``Input.ChoiceSet`` (check boxes, ``isMultiSelect``, for a multiple choice)
and choices become ``Action.Submit`` buttons whose data
carries what ``translate.card_submission`` needs to rebuild the click: the action, the choice's
value, the card's hidden values and the names of the inputs it collects. Choices that must work
with the inputs left empty (Cancel, Close) send no inputs (``associatedInputs: none``). A row
holds five buttons; more go in further rows (``ActionSet``s).

Teams refuses a message larger than about 28 KB (the whole activity, as JSON). A card that would
not fit is shortened (its longest texts first), with a note saying so, rather than lost.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from adapters.teams.translate import CARD_KEY
from bot.ui import (
    SEPARATOR,
    BarRow,
    Card,
    Choice,
    ChoiceInput,
    ChoiceStyle,
    Field,
    TextInput,
)

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
VERSION = "1.5"
# Teams' limit on one message (the activity JSON) is about 28 KB: keep clear of it.
# https://learn.microsoft.com/microsoftteams/platform/bots/how-to/format-your-bot-messages
MAX_MESSAGE_BYTES = 28_000
# Room left in the budget for the activity around the card (ids, service URL, conversation).
ENVELOPE_BYTES = 2_000
BAR_CELLS = 10
# The Adaptive Cards renderer shows at most five buttons in one set of actions (its host
# config's ``maxActions``; the rest would be dropped): more go in further rows.
MAX_ACTIONS = 5
# Choices shown as radio buttons (one answer) or check boxes (several) up to this many options;
# a longer list is a drop-down.
_EXPANDED = {False: 5, True: 8}
SHORTENED = "(Shortened to fit in a Teams message.)"

_STYLES = {
    ChoiceStyle.PRIMARY: "positive",
    ChoiceStyle.DANGER: "destructive",
    ChoiceStyle.DEFAULT: "default",
}
# Input labels, choice titles and button titles are plain text in Adaptive Cards; TextBlocks and
# FactSet facts are Markdown. Characters Teams' Markdown reads anywhere in a line are
# backslash-escaped there.
_INLINE = re.compile(r"([\\`*_\[\]~<>{}|])")
# Characters that start a list, heading or quote at the beginning of a line.
_LINE_START = re.compile(r"^(\s*)(\d+)([.)])(\s)|^(\s*)([-+#])(\s)", re.MULTILINE)


def escape(text: str) -> str:
    """Plain text that Teams shows exactly as written (no formatting, links or lists)."""
    escaped = _INLINE.sub(r"\\\1", text)

    def line_start(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            return f"{match.group(1)}{match.group(2)}\\{match.group(3)}{match.group(4)}"
        return f"{match.group(5)}\\{match.group(6)}{match.group(7)}"

    return _LINE_START.sub(line_start, escaped)


def paragraphs(text: str) -> list[str]:
    """Plain text as paragraphs; a single line break inside one is kept (Markdown needs two)."""
    parts = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r", "")) if p.strip()]
    return ["\n\n".join(line.strip() for line in p.split("\n") if line.strip()) for p in parts]


def _text_block(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": escape(text), "wrap": True, **style}


def bar(row: BarRow) -> str:
    """``██████░░░░`` for a row of a bar chart."""
    filled = round(row.share * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def _bar_row(row: BarRow) -> dict[str, Any]:
    return {
        "type": "ColumnSet",
        "spacing": "Small",
        "columns": [
            {"type": "Column", "width": 3, "items": [_text_block(row.label)]},
            {
                "type": "Column",
                "width": "auto",
                "items": [
                    {
                        "type": "TextBlock",
                        "text": bar(row),
                        "fontType": "Monospace",
                        "color": "Accent",
                        "wrap": False,
                    }
                ],
            },
            {
                "type": "Column",
                "width": 4,
                "items": [_text_block(row.caption, isSubtle=True)] if row.caption else [],
            },
        ],
    }


def _input(item: TextInput | ChoiceInput) -> dict[str, Any]:
    if isinstance(item, TextInput):
        rendered: dict[str, Any] = {
            "type": "Input.Text",
            "id": item.name,
            "label": item.label,
            "isMultiline": item.multiline,
            "maxLength": item.max_length,
            "isRequired": not item.optional,
        }
        if item.placeholder:
            rendered["placeholder"] = item.placeholder
        if item.initial:
            rendered["value"] = item.initial
        if not item.optional:
            rendered["errorMessage"] = "Please fill this in."
        return rendered
    rendered = {
        "type": "Input.ChoiceSet",
        "id": item.name,
        "label": item.label,
        "style": "expanded" if len(item.options) <= _EXPANDED[item.multiple] else "compact",
        "isRequired": not item.optional,
        "choices": [{"title": o.label, "value": o.value} for o in item.options],
    }
    if item.multiple:
        # Check boxes; Teams submits the values picked joined by commas, which is the core's
        # own form (bot.ui.SEPARATOR), and takes an initial value in the same form.
        rendered["isMultiSelect"] = True
    if item.initial:
        rendered["value"] = SEPARATOR.join(item.selected(item.initial)) or item.initial
    if not item.optional:
        rendered["errorMessage"] = (
            "Please choose at least one." if item.multiple else ("Please choose one.")
        )
    return rendered


def card_data(card: Card, choice: Choice) -> dict[str, Any]:
    """What the button sends back (Teams adds the inputs next to it, by input id)."""
    return {
        CARD_KEY: {
            "action": choice.action,
            "choice": choice.value,
            "hidden": dict(card.hidden),
            "inputs": [i.name for i in card.inputs] if choice.collects_inputs else [],
        }
    }


def _action(card: Card, choice: Choice) -> dict[str, Any]:
    action: dict[str, Any] = {
        "type": "Action.Submit",
        "title": choice.label,
        "style": _STYLES[choice.style],
        "data": card_data(card, choice),
    }
    if not choice.collects_inputs:
        action["associatedInputs"] = "none"
    return action


def adaptive_card(card: Card) -> dict[str, Any]:
    """The Adaptive Card for a core card."""
    body: list[dict[str, Any]] = []
    if card.title:
        body.append(_text_block(card.title, size="Medium", weight="Bolder", style="heading"))
    body += [_text_block(p, spacing="Small") for p in paragraphs(card.text)]
    if card.bars:
        body.append({"type": "Container", "spacing": "Medium", "items": []})
        body[-1]["items"] = [_bar_row(row) for row in card.bars]
    if card.fields:
        body.append(
            {
                "type": "FactSet",
                "spacing": "Medium",
                "facts": [
                    {"title": escape(f.label), "value": escape(f.value)} for f in card.fields
                ],
            }
        )
    body += [_input(i) for i in card.inputs]
    actions = [_action(card, c) for c in card.choices]
    # More buttons than one row may hold: the first rows go in the body, the last row stays
    # the card's own actions (under the footer).
    while len(actions) > MAX_ACTIONS:
        row, actions = actions[:MAX_ACTIONS], actions[MAX_ACTIONS:]
        body.append({"type": "ActionSet", "actions": row})
    if card.footer:
        body.append(_text_block(card.footer, size="Small", isSubtle=True, spacing="Medium"))
    rendered: dict[str, Any] = {
        "type": "AdaptiveCard",
        "$schema": SCHEMA,
        "version": VERSION,
        "body": body,
        "msteams": {"width": "Full"},
    }
    if actions:
        rendered["actions"] = actions
    return rendered


def size_of(value: object) -> int:
    """Bytes of ``value`` as the JSON sent to Teams."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _shorten(card: Card, keep: int) -> Card:
    def cut(text: str) -> str:
        return text if len(text) <= keep else text[: max(keep - 1, 0)].rstrip() + "…"

    fields = tuple(Field(label=cut(f.label), value=cut(f.value)) for f in card.fields)
    bars = tuple(replace(b, label=cut(b.label), caption=cut(b.caption)) for b in card.bars)
    footer = f"{cut(card.footer)} {SHORTENED}".strip()
    return replace(
        card, title=cut(card.title), text=cut(card.text), fields=fields, bars=bars, footer=footer
    )


def attachment(card: Card, *, limit: int = MAX_MESSAGE_BYTES - ENVELOPE_BYTES) -> dict[str, Any]:
    """The card as a Teams message attachment, shortened if it would not fit in ``limit``."""
    return fitted(card, limit=limit)[0]


def fitted(
    card: Card, *, limit: int = MAX_MESSAGE_BYTES - ENVELOPE_BYTES
) -> tuple[dict[str, Any], bool]:
    """``attachment(card)``, and whether the card went whole (it was not shortened)."""
    rendered = {"contentType": ADAPTIVE_CARD, "content": adaptive_card(card)}
    if size_of(rendered) <= limit:
        return rendered, True
    longest = max(
        [len(card.title), len(card.text), len(card.footer)]
        + [len(f.value) for f in card.fields]
        + [len(f.label) for f in card.fields]
        + [len(b.caption) for b in card.bars]
    )
    keep = longest
    while keep > 20:
        keep = keep * 2 // 3
        rendered = {"contentType": ADAPTIVE_CARD, "content": adaptive_card(_shorten(card, keep))}
        if size_of(rendered) <= limit:
            return rendered, False
    raise CardTooLarge(size_of(rendered), limit)


def restamped(
    content: dict[str, Any], card: Card, *, limit: int = MAX_MESSAGE_BYTES - ENVELOPE_BYTES
) -> dict[str, Any] | None:
    """``adaptive_card(card)`` from ``content``, the Adaptive Card of a card that went whole
    and differs from ``card`` only in its hidden values (``bot.ui.LastDrawn``): the buttons
    (the card's actions and the rows of them in its body), which alone carry those values, get
    ``card``'s; everything else is the same objects. None when it would not fit in ``limit``
    (``attachment`` would shorten it) or ``content`` has not one button for each choice."""
    choices = iter(card.choices)

    def stamp(actions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        stamped = []
        for action in actions:
            choice = next(choices, None)
            if choice is None or action.get("type") != "Action.Submit":
                return None
            stamped.append({**action, "data": card_data(card, choice)})
        return stamped

    body = []
    for item in content["body"]:
        if item.get("type") == "ActionSet":
            row = stamp(item["actions"])
            if row is None:
                return None
            item = {**item, "actions": row}
        body.append(item)
    stamped = {**content, "body": body}
    if "actions" in content:
        last_row = stamp(content["actions"])
        if last_row is None:
            return None
        stamped["actions"] = last_row
    if next(choices, None) is not None:
        return None
    if size_of({"contentType": ADAPTIVE_CARD, "content": stamped}) > limit:
        return None
    return stamped


class CardTooLarge(ValueError):
    """A card that does not fit in a Teams message even shortened (too many fields or inputs)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"card is {size} bytes, Teams allows {limit}")
        self.size = size
        self.limit = limit


def summary(card: Card) -> str:
    """One line for notifications and the chat list (plain text, no Markdown)."""
    text = card.title or card.text or card.plain_text()
    line = " ".join(text.split())
    return line if len(line) <= 120 else line[:119] + "…"
