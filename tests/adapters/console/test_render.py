"""Cards as terminal text."""

from __future__ import annotations

from adapters.console.render import bar, clean, render, render_question, render_update
from bot.ui import BarRow, Card, Choice, ChoiceInput, Field, Option, TextInput


def test_a_card_with_everything() -> None:
    card = Card(
        title="Your values lens",
        text="How the work shows our six behaviours today.",
        bars=(
            BarRow(label="Prioritise patients", value=2, maximum=2, caption="strongly"),
            BarRow(label="Open", value=1, maximum=2, caption="partly · minutes late"),
        ),
        fields=(Field(label="Your action", value="Publish the minutes"),),
        choices=(Choice(label="Save", action="a"), Choice(label="Cancel", action="b")),
        footer="Question 2 of 8",
    )
    assert render(card).splitlines() == [
        "┌─ Your values lens",
        "│ How the work shows our six behaviours today.",
        "│",
        "│ Prioritise patients  ██████████  strongly",
        "│ Open                 █████░░░░░  partly · minutes late",
        "│",
        "│ Your action: Publish the minutes",
        "│",
        "│   1) Save   2) Cancel",
        "└─ Question 2 of 8 · Type a number to choose.",
    ]


def test_control_characters_never_reach_the_terminal() -> None:
    hostile = "fine\x1b[2J\x1b]0;pwned\x07 text\x9b"
    assert clean(hostile) == "fine[2J]0;pwned text"
    card = Card(title="t\x1b[31m", text=hostile)
    assert "\x1b" not in render(card)
    assert "\x1b" not in render_update(card)


def test_hints_say_how_to_answer() -> None:
    note = Card(
        title="Q",
        inputs=(TextInput(name="note", label="A short note (optional)"),),
        choices=(Choice(label="Partly", action="r"),),
    )
    assert 'Type a number, optionally followed by a note (e.g. "2 we asked patients").' in " ".join(
        render(note).split()
    )
    form = Card(
        title="Team",
        inputs=(ChoiceInput(name="b", label="Open", options=(Option(label="Yes", value="y"),)),),
        choices=(Choice(label="Add", action="a"),),
    )
    assert "I will then ask each question on the card" in render(form)
    assert render_question(form.inputs[0]) == "  Open\n    1) Yes"


def test_updates_are_one_line() -> None:
    assert render_update(Card(title="We listen and learn", text="✓ Partly")) == (
        "  We listen and learn: ✓ Partly"
    )
    big = Card(title="Summary", fields=(Field(label="a", value="b"),), footer="✓ Saved")
    assert render_update(big) == "  Summary: ✓ Saved"


def test_bars() -> None:
    assert (
        bar(BarRow(label="x", value=0.5, maximum=2)) == "██░░░░░░░░"
        or bar(BarRow(label="x", value=0.5, maximum=2)) == "███░░░░░░░"
    )
