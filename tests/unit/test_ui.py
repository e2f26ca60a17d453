"""The neutral UI model: validation, what a click submits, JSON round trip."""

from __future__ import annotations

import pytest

from bot.ui import (
    BarRow,
    Card,
    Choice,
    ChoiceInput,
    Field,
    LastDrawn,
    Option,
    TextInput,
    card_from_json,
    card_to_json,
    submission,
)

CARD = Card(
    title="Team values lens",
    text="Rate it",
    fields=(Field(label="Work", value="Letter"),),
    bars=(BarRow(label="Open", value=1.5, maximum=2, caption="1 strongly, 1 partly"),),
    inputs=(
        ChoiceInput(
            name="b_open", label="Open", options=(Option(label="Strongly", value="strongly"),)
        ),
        TextInput(name="note", label="Note"),
    ),
    choices=(
        Choice(label="Add", action="lens.team.rate"),
        Choice(label="Close", action="lens.team.close", collects_inputs=False),
    ),
    hidden={"team": "t1"},
)


def test_a_card_needs_something_to_say() -> None:
    with pytest.raises(ValueError, match="needs a title"):
        Card()


def test_input_names_are_unique_and_not_reserved() -> None:
    with pytest.raises(ValueError, match="unique"):
        Card(title="x", inputs=(TextInput(name="a", label="A"), TextInput(name="a", label="B")))
    with pytest.raises(ValueError, match="choice"):
        Card(title="x", inputs=(TextInput(name="choice", label="A"),))


def test_submission_carries_hidden_values_choice_and_filled_inputs() -> None:
    add = CARD.choices[0]
    values = submission(CARD, add, {"b_open": "strongly", "note": "  ", "stranger": "x"})
    assert values == {"team": "t1", "choice": "", "b_open": "strongly"}
    close = submission(CARD, CARD.choices[1], {"b_open": "strongly"})
    assert close == {"team": "t1", "choice": ""}


def test_cards_round_trip_through_json() -> None:
    assert card_from_json(card_to_json(CARD)) == CARD


def test_bar_share_is_clamped() -> None:
    assert BarRow(label="a", value=3, maximum=2).share == 1.0
    assert BarRow(label="a", value=1, maximum=0).share == 0.0
    assert BarRow(label="a", value=1, maximum=4).share == 0.25


def test_a_multiple_choice_reads_back_what_was_picked_in_option_order() -> None:
    behaviours = ChoiceInput(
        name="behaviours",
        label="Behaviours",
        options=(
            Option(label="Listen and learn", value="listen"),
            Option(label="Open", value="open"),
            Option(label="Inclusive", value="inclusive"),
        ),
        multiple=True,
    )
    assert behaviours.selected("inclusive, listen,forged") == ("listen", "inclusive")
    assert behaviours.selected("") == ()
    single = ChoiceInput(name="x", label="X", options=behaviours.options)
    assert single.selected("listen,open") == ()
    assert single.selected("open") == ("open",)
    with pytest.raises(ValueError, match="may not contain"):
        ChoiceInput(name="x", label="X", options=(Option(label="a", value="a,b"),), multiple=True)
    card = Card(title="x", inputs=(behaviours,))
    assert card_from_json(card_to_json(card)) == card


def test_an_equal_card_is_drawn_once_and_a_different_one_again() -> None:
    drawings: list[Card] = []

    def draw(card: Card) -> str:
        drawings.append(card)
        return f"drawn {card.title}"

    drawn = LastDrawn(draw, keep=2)
    help_card = Card(title="Help", choices=(Choice(label="Start", action="start"),))
    assert drawn(help_card) == "drawn Help"
    # A new card object with the same content (the next person's /values): not drawn again.
    again = Card(title="Help", choices=(Choice(label="Start", action="start"),))
    assert drawn(again) == "drawn Help"
    # Anything different is drawn, however small the difference.
    other = Card(title="Help", choices=(Choice(label="Start", action="start", value="1"),))
    assert drawn(other) == "drawn Help"
    assert drawings == [help_card, other]


def test_the_least_recently_drawn_card_is_forgotten_first() -> None:
    drawings: list[str] = []

    def draw(card: Card) -> str:
        drawings.append(card.title)
        return card.title

    drawn = LastDrawn(draw, keep=2)
    for title in ("a", "b", "a", "c", "a", "b"):
        drawn(Card(title=title))
    # "b" went when "c" came ("a" had been used since); "a" stayed.
    assert drawings == ["a", "b", "c", "b"]
