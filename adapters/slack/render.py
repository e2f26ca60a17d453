"""Cards as Slack Block Kit: messages, modals and the Home tab.

Pure functions. Blocks are built with ``slack_sdk.models.blocks`` and turned into JSON with
``to_dict()``, which runs the SDK's validators, so a block that breaks one of Slack's limits fails
here, in our process, instead of as ``invalid_blocks`` from Slack. Limits the SDK does not check
(blocks per message, text in fields and context elements) are kept below.

Everything people wrote reaches Slack escaped: ``&``, ``<`` and ``>`` become entities in mrkdwn
text, so "<!channel>" or "<@U123>" in a piece of work is shown as written and never mentions
anyone. ``plain_text`` objects (headers, labels, buttons, options) are never parsed for mentions or
links by Slack, so they carry the text as it is.

A card's choices become buttons whose value carries the card's hidden values and the choice
(``translate.Envelope``), because Slack sends back only what the button holds; its inputs become
input blocks whose element ``action_id`` is the input name, read back from ``state.values``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    InputInteractiveElement,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticMultiSelectElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from adapters.slack.translate import ACTION_SEPARATOR, Envelope
from bot.ui import BarRow, Card, Choice, ChoiceStyle, Input, TextInput

# Slack's limits (Block Kit reference, checked 2026-11): blocks per message and per view, text
# in a section, a section field, a context element, a header, a label, a button, an option.
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
SECTION_TEXT = 3000
FIELD_TEXT = 2000
CONTEXT_TEXT = 2000
CONTEXT_ELEMENTS = 10
HEADER_TEXT = 150
LABEL_TEXT = 2000
PLACEHOLDER_TEXT = 150
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
BUTTONS_PER_BLOCK = 25
OPTION_TEXT = 75
OPTION_VALUE = 150
OPTIONS = 100
RADIO_OPTIONS = 5
CHECKBOX_OPTIONS = 10
INPUT_MAX_LENGTH = 3000
VIEW_TITLE = 24
PRIVATE_METADATA = 3000
# The notification text of chat.postMessage can be 40,000 characters; a short one reads better.
FALLBACK_TEXT = 300

BAR_CELLS = 10
SHORTENED = "Shortened to fit in Slack."


class RenderError(ValueError):
    """A card cannot be drawn within Slack's limits (a bug in the card, not in the input)."""


def escape(text: str) -> str:
    """Text for mrkdwn: Slack's three control characters as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when cut."""
    text = " ".join(text.split()) if "\n" not in text else text
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def chunks(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """``text`` in pieces of at most ``limit`` (as ``measure`` counts), split between
    paragraphs, else lines, else words, else anywhere."""
    if measure(text) <= limit:
        return [text] if text else []
    for separator in ("\n\n", "\n", " "):
        parts = text.split(separator)
        if len(parts) == 1:
            continue
        pieces: list[str] = []
        current = ""
        for part in parts:
            candidate = f"{current}{separator}{part}" if current else part
            if measure(candidate) <= limit:
                current = candidate
                continue
            if current:
                pieces.append(current)
            if measure(part) <= limit:
                current = part
            else:
                pieces += chunks(part, limit, measure)
                current = ""
        if current:
            pieces.append(current)
        return [p for p in pieces if p.strip()]
    # One long word: cut by characters, never inside an entity (measure counts escaped text).
    pieces, current = [], ""
    for character in text:
        if measure(current + character) > limit:
            pieces.append(current)
            current = ""
        current += character
    return [*pieces, current] if current else pieces


def _mrkdwn_sections(text: str) -> list[Block]:
    return [
        SectionBlock(text=MarkdownTextObject(text=escape(piece)))
        for piece in chunks(text, SECTION_TEXT, lambda s: len(escape(s)))
    ]


def bar(row: BarRow) -> str:
    """``██████░░░░`` for a row of a bar chart."""
    filled = round(row.share * BAR_CELLS)
    return "█" * filled + "░" * (BAR_CELLS - filled)


def _bar_lines(bars: Sequence[BarRow]) -> list[str]:
    lines = []
    for row in bars:
        caption = f"  {escape(row.caption)}" if row.caption else ""
        lines.append(f"*{escape(shorten(row.label, 60))}*  `{bar(row)}`{caption}")
    return lines


def _join_lines(lines: Sequence[str], limit: int) -> list[str]:
    """Already escaped lines joined into pieces of at most ``limit`` characters."""
    pieces: list[str] = []
    current = ""
    for line in lines:
        line = line if len(line) <= limit else line[: limit - 1] + "…"
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) <= limit:
            current = candidate
        else:
            pieces.append(current)
            current = line
    return [*pieces, current] if current else pieces


def _field_sections(card: Card) -> list[Block]:
    blocks: list[Block] = []
    for item in card.fields:
        label = escape(shorten(item.label, 200))
        values = chunks(item.value, SECTION_TEXT - len(label) - 8, lambda s: len(escape(s)))
        for n, value in enumerate(values or [""]):
            heading = f"*{label}*" if n == 0 else ""
            text = "\n".join(part for part in (heading, escape(value)) if part)
            blocks.append(SectionBlock(text=MarkdownTextObject(text=text)))
    return blocks


def _context(text: str) -> list[Block]:
    pieces = chunks(text, CONTEXT_TEXT, lambda s: len(escape(s)))
    blocks: list[Block] = []
    for start in range(0, len(pieces), CONTEXT_ELEMENTS):
        elements = [
            MarkdownTextObject(text=escape(piece))
            for piece in pieces[start : start + CONTEXT_ELEMENTS]
        ]
        blocks.append(ContextBlock(elements=elements))
    return blocks


def _plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=shorten(text, limit) or " ", emoji=True)


def _option(label: str, value: str) -> Option:
    if len(value) > OPTION_VALUE:
        raise RenderError(f"option value longer than {OPTION_VALUE} characters: {value[:40]!r}")
    return Option(text=_plain(label, OPTION_TEXT), value=value)


def _input_block(item: Input, *, in_modal: bool) -> Block:
    label = _plain(item.label, LABEL_TEXT)
    if isinstance(item, TextInput):
        text = PlainTextInputElement(
            action_id=item.name,
            placeholder=_plain(item.placeholder, PLACEHOLDER_TEXT) if item.placeholder else None,
            initial_value=item.initial or None,
            multiline=item.multiline or None,
            max_length=min(item.max_length, INPUT_MAX_LENGTH),
        )
        return InputBlock(
            block_id=f"in.{item.name}", label=label, element=text, optional=item.optional
        )
    options = [_option(o.label, o.value) for o in item.options[:OPTIONS]]
    element: InputInteractiveElement
    if item.multiple:
        # Several answers: check boxes show them all at once in a modal (Slack allows ten); a
        # message keeps a multi-select, short like the single drop-down. Slack sends back the
        # picked options, which translate joins with bot.ui.SEPARATOR.
        chosen = set(item.selected(item.initial or ""))
        picked = [o for o in options if o.value in chosen] or None
        if in_modal and len(options) <= CHECKBOX_OPTIONS:
            element = CheckboxesElement(
                action_id=item.name, options=options, initial_options=picked
            )
        else:
            element = StaticMultiSelectElement(
                action_id=item.name,
                placeholder=_plain("Choose one or more", PLACEHOLDER_TEXT),
                options=options,
                initial_options=picked,
            )
    else:
        initial = next((o for o in options if o.value == item.initial), None)
        # Radio buttons show every answer at once (one tap), fine in a modal; in a message a
        # drop-down keeps a card with several questions short.
        if in_modal and len(options) <= RADIO_OPTIONS:
            element = RadioButtonsElement(
                action_id=item.name, options=options, initial_option=initial
            )
        else:
            element = StaticSelectElement(
                action_id=item.name,
                placeholder=_plain("Choose", PLACEHOLDER_TEXT),
                options=options,
                initial_option=initial,
            )
    return InputBlock(
        block_id=f"in.{item.name}",
        label=label,
        element=element,
        optional=item.optional,
        dispatch_action=False,
    )


def button_value(card: Card, choice: Choice) -> str:
    """What a choice's button carries back: its value, whether it collects the inputs, and the
    card's hidden values."""
    value = Envelope(value=choice.value, collects=choice.collects_inputs, hidden=card.hidden).dump()
    if len(value) > BUTTON_VALUE:
        raise RenderError(f"hidden values too long for a Slack button ({len(value)} characters)")
    return value


def _buttons(card: Card) -> list[Block]:
    buttons = []
    for n, choice in enumerate(card.choices):
        style = None if choice.style is ChoiceStyle.DEFAULT else str(choice.style)
        buttons.append(
            ButtonElement(
                text=_plain(choice.label, BUTTON_TEXT),
                action_id=f"{choice.action}{ACTION_SEPARATOR}{n}",
                value=button_value(card, choice),
                style=style,
            )
        )
    return [
        ActionsBlock(elements=buttons[start : start + BUTTONS_PER_BLOCK])
        for start in range(0, len(buttons), BUTTONS_PER_BLOCK)
    ]


def _content(card: Card) -> list[Block]:
    blocks: list[Block] = []
    if card.title:
        blocks.append(HeaderBlock(text=_plain(card.title, HEADER_TEXT)))
        if len(" ".join(card.title.split())) > HEADER_TEXT:
            blocks += _mrkdwn_sections(card.title)  # the whole title, once
    if card.text:
        blocks += _mrkdwn_sections(card.text)
    if card.bars:
        for piece in _join_lines(_bar_lines(card.bars), SECTION_TEXT):
            blocks.append(SectionBlock(text=MarkdownTextObject(text=piece)))
    blocks += _field_sections(card)
    return blocks


def blocks(
    card: Card,
    *,
    interactive: bool = True,
    inputs: bool = True,
    limit: int = MESSAGE_BLOCKS,
    in_modal: bool = False,
) -> list[dict[str, Any]]:
    """The card as Block Kit JSON (validated by the SDK), in at most ``limit`` blocks.

    ``interactive=False`` leaves out inputs and buttons (a read-only Home tab); ``inputs=False``
    leaves out only the inputs (a modal holds them).
    """
    content = _content(card)
    tail: list[Block] = []
    if interactive and inputs:
        tail += [_input_block(item, in_modal=in_modal) for item in card.inputs]
    if interactive and not in_modal:
        tail += _buttons(card)
    footer = _context(card.footer) if card.footer else []
    if len(tail) > limit:
        raise RenderError(f"a card with {len(tail)} inputs and button rows cannot fit in Slack")
    room = limit - len(tail)
    if len(content) + len(footer) > room:
        # Content first: what the card says matters more than its footer.
        notice = _context(SHORTENED)
        footer = footer[: max(0, room - len(content) - len(notice))]
        keep = room - len(footer) - len(notice)
        content = [*content[:keep], *notice]
    return [block.to_dict() for block in [*content, *tail, *footer]]


def fallback_text(card: Card) -> str:
    """The message's plain ``text``: what notifications and screen readers show."""
    words = card.title or card.text or card.plain_text()
    return escape(shorten(" ".join(words.split()), FALLBACK_TEXT))


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """What chat.postMessage, chat.postEphemeral, chat.update and response URLs take."""

    blocks: list[dict[str, Any]]
    text: str


def message(card: Card, *, interactive: bool = True) -> Message:
    """A card as a Slack message."""
    return Message(blocks=blocks(card, interactive=interactive), text=fallback_text(card))


def restamped(drawn: Message, card: Card) -> Message | None:
    """``message(card)`` from ``drawn``, the message of a card that differs from ``card`` only
    in its hidden values (``bot.ui.LastDrawn``): the buttons, which alone carry them, get
    ``card``'s; the other blocks are the same objects. None if ``drawn`` has not one button
    for each of the card's choices."""
    buttons = iter(card.choices)
    stamped: list[dict[str, Any]] = []
    for block in drawn.blocks:
        if block.get("type") == "actions":
            elements = []
            for element in block["elements"]:
                choice = next(buttons, None)
                if element.get("type") != "button" or choice is None:
                    return None
                elements.append({**element, "value": button_value(card, choice)})
            block = {**block, "elements": elements}
        stamped.append(block)
    if next(buttons, None) is not None:
        return None
    return Message(blocks=stamped, text=drawn.text)


def modal_choice(card: Card) -> Choice | None:
    """The one choice that submits the card's inputs, when the card can be a modal: it has
    inputs and exactly one choice that collects them (Cancel and Close buttons do not)."""
    collecting = [c for c in card.choices if c.collects_inputs]
    if not card.inputs or len(collecting) != 1:
        return None
    return collecting[0]


def modal(
    card: Card,
    *,
    conversation: str,
    kind: str,
    thread: str | None = None,
) -> dict[str, Any]:
    """A card as a modal: its inputs in a form whose submit button is the card's one
    collecting choice. The submission comes back as that choice's action, in ``conversation``.
    """
    choice = modal_choice(card)
    if choice is None:
        raise RenderError("only a card with inputs and one collecting choice can be a modal")
    metadata = Envelope(
        value=choice.value,
        hidden=card.hidden,
        action=choice.action,
        conversation=conversation,
        kind=kind,
        thread=thread or "",
    ).dump()
    if len(metadata) > PRIVATE_METADATA:
        raise RenderError("hidden values too long for a Slack modal")
    view = View(
        type="modal",
        callback_id=choice.action[:255],
        title=_plain(shorten(card.title or "valuesbot", VIEW_TITLE), VIEW_TITLE),
        submit=_plain(choice.label, VIEW_TITLE),
        close=_plain("Cancel", VIEW_TITLE),
        private_metadata=metadata,
        blocks=blocks(card, limit=VIEW_BLOCKS, in_modal=True),
    )
    return view.to_dict()


def home(cards: Sequence[Card], *, direct: str) -> dict[str, Any]:
    """Cards, one under the other, as the Home tab. Buttons on them answer in ``direct`` (the
    person's direct conversation with the bot)."""
    metadata = Envelope(hidden={}, conversation=direct, kind="direct").dump()
    drawn: list[dict[str, Any]] = []
    for card in cards:
        part = blocks(card, inputs=False, limit=VIEW_BLOCKS)
        if len(drawn) + len(part) + 1 > VIEW_BLOCKS:
            break
        if drawn:
            drawn.append(DividerBlock().to_dict())
        drawn += part
    if not drawn:
        drawn = [SectionBlock(text=MarkdownTextObject(text=" ")).to_dict()]
    return View(type="home", private_metadata=metadata, blocks=drawn).to_dict()
