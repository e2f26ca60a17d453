"""Cards as terminal text: a framed block with numbered choices.

Pure functions. Everything people wrote is cleaned of control characters first, so nobody can
move the cursor or recolour another person's terminal through the bot.
"""

from __future__ import annotations

import re
import textwrap

from bot.ui import BarRow, Card, ChoiceInput, TextInput

WIDTH = 78
BAR_CELLS = 10
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def clean(text: str) -> str:
    """Text safe to print: no escape sequences or other control characters."""
    return _CONTROL.sub("", text)


def _wrap(text: str, width: int, prefix: str = "│ ") -> list[str]:
    lines: list[str] = []
    for paragraph in clean(text).split("\n"):
        if not paragraph.strip():
            lines.append(prefix.rstrip())
            continue
        lines += [
            prefix + line
            for line in textwrap.wrap(paragraph, width - len(prefix), break_on_hyphens=False)
        ]
    return lines


def bar(row: BarRow) -> str:
    """``██████░░░░`` for a row of a bar chart."""
    filled = round(row.share * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def hint(card: Card) -> str:
    """How to answer the card, or "" when there is nothing to answer."""
    if not card.choices:
        return ""
    texts = [i for i in card.inputs if isinstance(i, TextInput)]
    choices = [i for i in card.inputs if isinstance(i, ChoiceInput)]
    if choices:
        return "Type a number to choose; I will then ask each question on the card."
    if len(texts) == 1 and texts[0].optional:
        return 'Type a number, optionally followed by a note (e.g. "2 we asked patients").'
    if len(texts) == 1:
        return "Type your answer, or a number to choose."
    return "Type a number to choose."


def render(card: Card, width: int = WIDTH) -> str:
    """The whole card as text."""
    lines = ["┌─ " + clean(card.title) if card.title else "┌─"]
    if card.text:
        lines += _wrap(card.text, width)
    if card.bars:
        lines.append("│")
        label_width = min(max(len(b.label) for b in card.bars), 28)
        for row in card.bars:
            label = clean(row.label)[:label_width].ljust(label_width)
            caption = clean(row.caption)
            lines += _wrap(f"{label}  {bar(row)}  {caption}".rstrip(), width)
    if card.fields:
        lines.append("│")
        for item in card.fields:
            lines += _wrap(f"{item.label}: {item.value}", width)
    if card.choices:
        lines.append("│")
        numbered = [f"{n}) {clean(c.label)}" for n, c in enumerate(card.choices, start=1)]
        lines += _wrap("   ".join(numbered), width, prefix="│   ")
    footer = " · ".join(part for part in (clean(card.footer), hint(card)) if part)
    wrapped = textwrap.wrap(footer, width - 3) or [""]
    lines.append(("└─ " + wrapped[0]).rstrip())
    lines += ["   " + rest for rest in wrapped[1:]]
    return "\n".join(lines)


def render_update(card: Card) -> str:
    """A card that was answered or changed, as one short line: its text for a small card, its
    footer (what changed) for a large one."""
    large = bool(card.fields or card.bars)
    summary = " ".join(clean((card.footer if large else card.text) or card.title).split())
    title = clean(card.title)
    return f"  {title}: {summary}" if title and summary != title else f"  {summary}"


def render_question(question: ChoiceInput | TextInput) -> str:
    """One input of a card, asked on its own."""
    if isinstance(question, ChoiceInput):
        options = "   ".join(f"{n}) {clean(o.label)}" for n, o in enumerate(question.options, 1))
        several = " (one or more numbers, e.g. 1 3)" if question.multiple else ""
        return f"  {clean(question.label)}{several}{_skip(question)}\n    {options}"
    return f"  {clean(question.label)}{_skip(question)}"


def _skip(question: ChoiceInput | TextInput) -> str:
    if not question.optional:
        return ""
    return (
        " (Enter to skip)" if "optional" in question.label.lower() else " (optional, Enter to skip)"
    )
