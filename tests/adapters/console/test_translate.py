"""Typed lines read against the last card, the way clicks are read against buttons."""

from __future__ import annotations

from adapters.console.translate import Picked, action, actor, place, slug, translate
from bot.events import CommandReceived, ConversationKind, MessageReceived
from bot.ui import Card, Choice, ChoiceStyle, TextInput

WHO = actor("Alice Smith")
WHERE = place("Alice Smith", None)

RATING = Card(
    title="We listen and learn",
    inputs=(TextInput(name="note", label="A short note (optional)"),),
    choices=(
        Choice(label="Strongly", action="lens.rate", value="strongly"),
        Choice(label="Partly", action="lens.rate", value="partly"),
        Choice(label="Cancel", action="dialog.cancel", collects_inputs=False),
    ),
    hidden={"dlg_run": "r1", "dlg_v": "3"},
)
WORK = Card(
    title="Values lens",
    inputs=(TextInput(name="work", label="What piece of work?", optional=False),),
    choices=(
        Choice(label="Next", action="lens.work", style=ChoiceStyle.PRIMARY),
        Choice(label="Cancel", action="dialog.cancel", collects_inputs=False),
    ),
)


def read(line: str, last: Card | None = RATING) -> object:
    return translate(line, last=last, last_id="console-1", who=WHO, where=WHERE)


def test_people_and_places() -> None:
    assert slug("Alice Smith") == "alice-smith"
    assert WHO.id == "alice-smith"
    assert WHO.name == "Alice Smith"
    assert WHERE.conversation == "dm-alice-smith"
    assert WHERE.kind is ConversationKind.DIRECT
    team = place("Alice", "#Team X")
    assert (team.conversation, team.kind) == ("team-x", ConversationKind.CHANNEL)


def test_commands() -> None:
    event = read("/ValuesLens  history ")
    assert isinstance(event, CommandReceived)
    assert (event.command, event.text) == ("valueslens", "history")


def test_numbers_pick_choices_and_the_rest_is_the_note() -> None:
    picked = read("2 we asked two reps")
    assert isinstance(picked, Picked)
    assert (picked.choice.label, picked.text) == ("Partly", "we asked two reps")
    submitted = action(picked, {"note": picked.text}, who=WHO, where=WHERE)
    assert submitted.action == "lens.rate"
    assert submitted.values == {
        "dlg_run": "r1",
        "dlg_v": "3",
        "choice": "partly",
        "note": "we asked two reps",
    }
    assert submitted.source is not None
    assert submitted.source.id == "console-1"


def test_labels_pick_choices() -> None:
    picked = read("strongly")
    assert isinstance(picked, Picked)
    assert picked.choice.value == "strongly"


def test_out_of_range_numbers_and_free_text_are_messages() -> None:
    assert isinstance(read("7"), MessageReceived)
    assert isinstance(read("partly - some evidence"), MessageReceived)
    assert isinstance(read("hello", last=None), MessageReceived)


def test_cancel_is_a_message_the_dialog_understands() -> None:
    event = read("cancel")
    assert isinstance(event, MessageReceived)
    assert event.text == "cancel"


def test_text_answers_fill_the_box_and_press_the_main_button() -> None:
    picked = read("1 page summary for the board", last=WORK)
    assert isinstance(picked, Picked)
    assert (picked.choice.label, picked.text) == ("Next", "1 page summary for the board")
    bare = read("1", last=WORK)
    assert isinstance(bare, Picked)
    assert bare.choice.label == "Next"


def test_empty_lines_are_ignored() -> None:
    assert read("   ") is None
