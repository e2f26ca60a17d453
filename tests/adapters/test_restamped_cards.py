"""A card that differs from one drawn lately only in its hidden values (the next person's
question in a check-in) is drawn by putting its values in the earlier drawing's buttons
(``bot.ui.LastDrawn``): on Slack and on Teams, exactly what drawing it whole gives, limits
included."""

from __future__ import annotations

from dataclasses import replace

import pytest

from adapters.slack import render as slack
from adapters.teams.app import Drawn
from adapters.teams.render import MAX_MESSAGE_BYTES, SHORTENED, card_data, size_of
from adapters.teams.translate import card_submission
from bot.app import App
from bot.clock import ManualClock
from bot.ui import Card, Choice, Field, LastDrawn, TextInput, submission
from tests.adapters.slack.test_render import every_card
from tests.harness import Harness
from tests.mocks.bot_connector import card_texts


def as_another_gets_it(card: Card, n: int) -> Card:
    """The same card as another person gets it: every hidden value different, and longer."""
    return replace(card, hidden={k: f"{v}-{n}{'x' * n}" for k, v in card.hidden.items()})


async def test_every_dialog_card_restamped_is_the_card_drawn_whole(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    cards = [c for c in await every_card(harness, app, clock) if c.hidden and c.choices]
    assert len({c.title for c in cards}) >= 5
    for card in cards:
        for n in (1, 60):
            other = as_another_gets_it(card, n)
            assert slack.restamped(slack.message(card), other) == slack.message(other)
            assert Drawn.of(card).restamped(other) == Drawn.of(other)


MANY = tuple(Choice(label=f"Choice {n}", action="pick", value=str(n)) for n in range(30))
BUSY = Card(
    title="Pick one",
    text="A long piece of work & more <b> " * 4000,  # Slack shortens the content to fit
    fields=tuple(Field(label=f"f{n}", value="v") for n in range(30)),
    inputs=(TextInput(name="note", label="A note"),),
    choices=MANY,
    footer="The small print.",
    hidden={"dlg_run": "r1", "dlg_v": "1"},
)


def test_slack_buttons_in_several_rows_of_a_shortened_card_get_the_new_values() -> None:
    other = as_another_gets_it(BUSY, 7)
    drawn = slack.message(BUSY)
    assert sum(b["type"] == "actions" for b in drawn.blocks) == 2  # 25 buttons a row
    assert slack.SHORTENED in str(drawn.blocks)
    assert slack.restamped(drawn, other) == slack.message(other)


def test_slack_refuses_values_too_long_for_a_button_as_drawing_would() -> None:
    other = replace(BUSY, hidden={"dlg_run": "x" * 3000})
    with pytest.raises(slack.RenderError):
        slack.message(other)
    with pytest.raises(slack.RenderError):
        slack.restamped(slack.message(replace(BUSY, hidden={"dlg_run": "r"})), other)


def test_a_drawing_with_other_buttons_is_not_restamped() -> None:
    fewer = replace(BUSY, choices=MANY[:3])
    assert slack.restamped(slack.message(fewer), BUSY) is None
    assert slack.restamped(slack.message(BUSY), fewer) is None
    assert Drawn.of(fewer).restamped(BUSY) is None
    assert Drawn.of(BUSY).restamped(fewer) is None


def test_teams_buttons_in_rows_and_the_last_row_carry_the_new_values() -> None:
    card = replace(BUSY, text="Rate the work.", fields=())
    other = as_another_gets_it(card, 3)
    restamped = Drawn.of(card).restamped(other)
    assert restamped == Drawn.of(other)
    assert restamped is not None
    content = restamped.attachment.content
    assert isinstance(content, dict)
    row = content["body"][-2]  # the fifth row of five (choices 20-24), before the footer
    assert row["type"] == "ActionSet"
    assert card_submission(row["actions"][2]["data"]) == ("pick", submission(other, MANY[22], {}))
    assert content["actions"][0]["data"] == card_data(other, MANY[-5])


def test_teams_draws_whole_a_card_its_values_would_push_over_the_size_limit() -> None:
    # Just under the limit with short values; longer values would need shortening.
    text = "word " * 100
    card = Card(title="Near the limit", text=text, choices=MANY[:1], hidden={"dlg_run": "r"})
    while size_of(Drawn.of(card).attachment.model_dump(by_alias=True)) < MAX_MESSAGE_BYTES - 2_300:
        text += "word " * 50
        card = replace(card, text=text)
    assert Drawn.of(card).whole
    longer = replace(card, hidden={"dlg_run": "r" * 600})
    assert not Drawn.of(longer).whole
    assert Drawn.of(card).restamped(longer) is None
    # And a shortened card's drawing is never restamped: its values decided how short.
    assert Drawn.of(longer).restamped(replace(card, hidden={"dlg_run": "s" * 600})) is None
    assert any(SHORTENED in t for t in card_texts(Drawn.of(longer).attachment.content))


async def test_the_adapters_draw_the_next_persons_card_by_restamping(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    cards = [c for c in await every_card(harness, app, clock) if c.hidden and c.choices]
    drawings: list[Card] = []

    def draw_slack(card: Card) -> slack.Message:
        drawings.append(card)
        return slack.message(card)

    def draw_teams(card: Card) -> Drawn:
        drawings.append(card)
        return Drawn.of(card)

    slack_drawn = LastDrawn(draw_slack, restamp=slack.restamped)
    teams_drawn = LastDrawn(draw_teams, restamp=Drawn.restamped)
    for card in cards:
        for n in (1, 2, 3):
            other = as_another_gets_it(card, n)
            assert slack_drawn(other) == slack.message(other)
            assert teams_drawn(other) == Drawn.of(other)
    # Each form drawn once on each platform; the other people's cards were restamped.
    forms = {repr(replace(c, hidden=dict.fromkeys(c.hidden, ""))) for c in cards}
    assert len(drawings) == 2 * len(forms)
