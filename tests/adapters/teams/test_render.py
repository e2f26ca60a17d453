"""Core cards drawn as Adaptive Cards 1.5 that Teams accepts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapters.teams.render import (
    ADAPTIVE_CARD,
    MAX_MESSAGE_BYTES,
    SHORTENED,
    CardTooLarge,
    adaptive_card,
    attachment,
    escape,
    size_of,
)
from adapters.teams.translate import card_submission
from bot.ui import (
    BarRow,
    Card,
    Choice,
    ChoiceInput,
    ChoiceStyle,
    Field,
    Option,
    TextInput,
    submission,
)
from tests.mocks.bot_connector import card_texts

RATINGS = (Option(label="Strongly", value="strongly"), Option(label="Partly", value="partly"))
CARD = Card(
    title="Team values lens: Winter letter",
    text="Rate the work.\n\nYour answers are private.",
    fields=(Field(label="Work", value="Winter letter"),),
    bars=(BarRow(label="Evidence-based", value=1.5, maximum=3, caption="1 strongly, 1 not yet"),),
    inputs=(
        ChoiceInput(name="b_patients", label="We prioritise patients", options=RATINGS),
        TextInput(name="note", label="A note", placeholder="optional", max_length=300),
    ),
    choices=(
        Choice(label="Add my ratings", action="lens.team.rate", style=ChoiceStyle.PRIMARY),
        Choice(
            label="Close",
            action="lens.team.close",
            style=ChoiceStyle.DANGER,
            collects_inputs=False,
        ),
    ),
    footer="Counts only, never names.",
    hidden={"team": "abc123"},
)


def elements(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == kind:
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return found


def test_the_card_is_an_adaptive_card_1_5() -> None:
    rendered = adaptive_card(CARD)
    assert rendered["type"] == "AdaptiveCard"
    assert rendered["version"] == "1.5"
    assert rendered["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    title = rendered["body"][0]
    assert title == {
        "type": "TextBlock",
        "text": "Team values lens: Winter letter",
        "wrap": True,
        "size": "Medium",
        "weight": "Bolder",
        "style": "heading",
    }
    assert card_texts(rendered)[:3] == [
        "Team values lens: Winter letter",
        "Rate the work.",
        "Your answers are private.",
    ]
    assert elements(rendered, "FactSet")[0]["facts"] == [
        {"title": "Work", "value": "Winter letter"}
    ]
    bar_row = elements(rendered, "ColumnSet")[0]
    texts = [t["text"] for t in elements(bar_row, "TextBlock")]
    assert texts == ["Evidence-based", "█████░░░░░", "1 strongly, 1 not yet"]
    assert rendered["body"][-1]["text"] == "Counts only, never names."
    json.dumps(rendered)  # plain JSON all the way down


def test_inputs() -> None:
    rendered = adaptive_card(CARD)
    choice_set = elements(rendered, "Input.ChoiceSet")[0]
    assert choice_set["id"] == "b_patients"
    assert choice_set["label"] == "We prioritise patients"
    assert choice_set["isRequired"] is True
    assert choice_set["style"] == "expanded"
    assert choice_set["choices"] == [
        {"title": "Strongly", "value": "strongly"},
        {"title": "Partly", "value": "partly"},
    ]
    text = elements(rendered, "Input.Text")[0]
    assert text == {
        "type": "Input.Text",
        "id": "note",
        "label": "A note",
        "isMultiline": False,
        "maxLength": 300,
        "isRequired": False,
        "placeholder": "optional",
    }


def test_buttons_carry_what_rebuilds_the_click() -> None:
    rendered = adaptive_card(CARD)
    add, close = rendered["actions"]
    assert add["type"] == close["type"] == "Action.Submit"
    assert add["style"] == "positive"
    assert close["style"] == "destructive"
    assert "associatedInputs" not in add
    assert close["associatedInputs"] == "none"
    # Teams merges the inputs into the data: the translator rebuilds exactly the core's click.
    filled = {"b_patients": "partly", "note": "we asked"}
    clicked = card_submission({**add["data"], **filled})
    assert clicked == ("lens.team.rate", submission(CARD, CARD.choices[0], filled))
    closed = card_submission(close["data"])
    assert closed == ("lens.team.close", submission(CARD, CARD.choices[1], filled))


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("**bold** and _it_", r"\*\*bold\*\* and \_it\_"),
        ("[click](https://evil.example)", r"\[click\](https://evil.example)"),
        ("1. first\n- second\n# third", "1\\. first\n\\- second\n\\# third"),
        (
            "<at>Everyone</at> {{DATE(2026-01-01T00:00:00Z)}}",
            r"\<at\>Everyone\</at\> \{\{DATE(2026-01-01T00:00:00Z)\}\}",
        ),
        ("back\\slash `code` ~strike~ a|b", r"back\\slash \`code\` \~strike\~ a\|b"),
        (
            "Plain words, with commas. And 3.5 stars - fine!",
            "Plain words, with commas. And 3.5 stars - fine!",
        ),
    ],
)
def test_user_text_is_escaped(written: str, shown: str) -> None:
    assert escape(written) == shown


def test_what_people_write_cannot_break_the_card() -> None:
    hostile = 'Work **"quoted"** [x](y) <at>all</at>\n\n1. list'
    card = Card(
        title=hostile,
        text=hostile,
        fields=(Field(label=hostile, value=hostile),),
        choices=(Choice(label="Save", action="a", value=hostile),),
        hidden={"note": hostile},
    )
    rendered = adaptive_card(card)
    assert json.loads(json.dumps(rendered)) == rendered
    assert card_texts(rendered)[0] == hostile
    assert rendered["actions"][0]["data"]["valuesbot"]["choice"] == hostile


def test_a_card_too_large_for_teams_is_shortened_with_a_note() -> None:
    long = "word " * 4000
    card = Card(
        title="History", text=long, fields=tuple(Field(label="x", value=long) for _ in range(3))
    )
    rendered = attachment(card)
    assert rendered["contentType"] == ADAPTIVE_CARD
    assert size_of(rendered) <= MAX_MESSAGE_BYTES - 2_000
    assert SHORTENED in card_texts(rendered["content"])[-1]
    small = attachment(CARD)
    assert SHORTENED not in json.dumps(small)


def test_a_card_that_cannot_fit_is_refused_clearly() -> None:
    inputs = tuple(
        TextInput(name=f"i{n}", label="x" * 20, placeholder="p" * 200) for n in range(200)
    )
    with pytest.raises(CardTooLarge, match="Teams allows"):
        attachment(Card(title="Too many", inputs=inputs))


BEHAVIOURS = ChoiceInput(
    name="behaviours",
    label="Which of our behaviours does it show?",
    options=tuple(
        Option(label=label, value=value)
        for label, value in (
            ("Patients first", "patients"),
            ("Listen and learn", "listen"),
            ("Evidence-based", "evidence"),
            ("Open and transparent", "open"),
            ("Inclusive", "inclusive"),
            ("Strive to improve", "improve"),
        )
    ),
    multiple=True,
    initial="open,listen",
)


def test_a_multiple_choice_is_a_set_of_check_boxes() -> None:
    card = Card(
        title="Your commitment",
        inputs=(BEHAVIOURS,),
        choices=(Choice(label="Next", action="commitment.tag"),),
    )
    (choice_set,) = elements(adaptive_card(card), "Input.ChoiceSet")
    assert choice_set["isMultiSelect"] is True
    assert choice_set["style"] == "expanded"  # check boxes for six behaviours
    assert choice_set["value"] == "listen,open"  # the initial picks, in option order
    assert choice_set["errorMessage"] == "Please choose at least one."
    single = elements(adaptive_card(CARD), "Input.ChoiceSet")[0]
    assert "isMultiSelect" not in single


def test_what_teams_submits_for_check_boxes_is_what_the_core_reads() -> None:
    card = Card(
        title="Your commitment",
        inputs=(BEHAVIOURS,),
        choices=(Choice(label="Next", action="commitment.tag"),),
    )
    data = adaptive_card(card)["actions"][0]["data"]
    # Teams joins the values picked with commas (its choiceSetInputValueSeparator).
    action, values = card_submission({**data, "behaviours": "inclusive,listen"}) or ("", {})
    assert action == "commitment.tag"
    assert BEHAVIOURS.selected(values["behaviours"]) == ("listen", "inclusive")
    # A client that sends a list is read the same way.
    _, listed = card_submission({**data, "behaviours": ["open", " patients "]}) or ("", {})
    assert listed["behaviours"] == "open,patients"
    assert BEHAVIOURS.selected(listed["behaviours"]) == ("patients", "open")
    # Nothing picked: the input is left out, as the core's submission() does.
    _, empty = card_submission({**data, "behaviours": ""}) or ("", {})
    assert "behaviours" not in empty


def test_more_than_five_buttons_go_in_rows() -> None:
    choices = tuple(Choice(label=f"Choice {n}", action="pick", value=str(n)) for n in range(7))
    card = Card(title="Pick one", choices=choices, footer="The small print.")
    rendered = adaptive_card(card)
    (row,) = elements(rendered, "ActionSet")
    assert [a["title"] for a in row["actions"]] == [f"Choice {n}" for n in range(5)]
    assert [a["title"] for a in rendered["actions"]] == ["Choice 5", "Choice 6"]
    assert rendered["body"][-1]["text"] == "The small print."  # the rows come before it
    clicked = card_submission(row["actions"][2]["data"])
    assert clicked == ("pick", submission(card, choices[2], {}))
    few = adaptive_card(Card(title="Pick one", choices=choices[:5]))
    assert elements(few, "ActionSet") == []
    assert len(few["actions"]) == 5
