"""The neutral UI model: validation, what a click submits, JSON round trip."""

from __future__ import annotations

from dataclasses import fields, replace

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


def test_a_card_differing_only_in_hidden_values_is_restamped_instead_of_drawn() -> None:
    drawings: list[Card] = []
    stamps: list[tuple[str, Card]] = []

    def draw(card: Card) -> str:
        drawings.append(card)
        return f"drawn for {card.hidden['dlg_run']}"

    def restamp(drawn: str, card: Card) -> str | None:
        stamps.append((drawn, card))
        return (
            None
            if card.hidden["dlg_run"] == "too long"
            else f"stamped for {card.hidden['dlg_run']}"
        )

    drawn = LastDrawn(draw, restamp=restamp)
    question = Card(title="We listen and learn", choices=(Choice(label="Strongly", action="rate"),))
    alice = replace(question, hidden={"dlg_run": "a", "dlg_v": "2"})
    bob = replace(question, hidden={"dlg_run": "b", "dlg_v": "3"})
    assert drawn(alice) == "drawn for a"
    # The next person's card of the same form: Alice's drawing, restamped with Bob's values.
    assert drawn(bob) == "stamped for b"
    assert stamps == [("drawn for a", bob)]
    # The same values again are found as they were drawn: nothing restamped.
    assert drawn(replace(question, hidden={"dlg_run": "b", "dlg_v": "3"})) == "stamped for b"
    assert len(stamps) == 1
    # Other names, the same names in another order, or any other difference: drawn whole.
    carol = replace(question, hidden={"dlg_v": "1", "dlg_run": "c"})
    dave = replace(question, hidden={"dlg_run": "d"})
    footer = replace(question, footer="Question 2 of 8", hidden={"dlg_run": "e", "dlg_v": "1"})
    assert [drawn(c) for c in (carol, dave, footer)] == [
        "drawn for c",
        "drawn for d",
        "drawn for e",
    ]
    assert len(stamps) == 1
    # When the values cannot be put in (too long for the platform, say), the card is drawn
    # whole; the form's drawing that is restamped stays Alice's.
    long = replace(question, hidden={"dlg_run": "too long", "dlg_v": "4"})
    assert drawn(long) == "drawn for too long"
    frank = replace(question, hidden={"dlg_run": "f", "dlg_v": "5"})
    assert drawn(frank) == "stamped for f"
    assert stamps[-1] == ("drawn for a", frank)
    assert drawings == [alice, carol, dave, footer, long]


def test_a_card_without_hidden_values_is_never_restamped() -> None:
    def restamp(drawn: str, card: Card) -> str | None:
        raise AssertionError("restamped")

    drawn = LastDrawn(lambda card: card.title, restamp=restamp)
    assert drawn(Card(title="Help")) == "Help"
    assert drawn(Card(title="Help", footer="again")) == "Help"


def test_a_cards_repr_ends_with_its_hidden_values() -> None:
    # LastDrawn finds a card's form by cutting them off its repr.
    assert [f.name for f in fields(Card)][-1] == "hidden"
    card = Card(title="x", hidden={"a": "b)", "c": ""})
    assert repr(card).endswith(f"hidden={card.hidden!r})")
