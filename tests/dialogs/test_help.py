"""``/values`` and the words after a command that the bot does not know, through the harness."""

from __future__ import annotations

from bot.app import App
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness

VISION = '"High quality care for all, now and for future generations."'


async def test_values_help_says_a_word_was_not_understood(harness: Harness) -> None:
    [card] = await harness.user_says("/values frobnicate")
    assert card.title == "NHS England values bot"
    assert card.text == (
        f"I don't know “frobnicate”.\n\n{VISION}\n\nI help us live our values in everyday work."
    )
    assert "/valueslens history" in [f.label for f in card.fields]

    [plain] = await harness.user_says("/values")
    assert plain.text == f"{VISION}\n\nI help us live our values in everyday work."
    [asked] = await harness.user_says("/values help")
    assert asked.text == plain.text


async def test_a_long_unknown_word_is_echoed_short(harness: Harness) -> None:
    [card] = await harness.user_says("/values " + "<!channel> " + "x" * 5000)
    first = card.text.split("\n")[0]
    assert first == "I don't know “<!channel> " + "x" * 28 + "…”."
    [command] = await harness.user_says("/" + "y" * 500)
    assert command.text == f"I don't know /{'y' * 39}…. Type /values to see what I can do."


async def test_digest_help_says_a_word_was_not_understood(harness: Harness) -> None:
    [card] = await harness.user_says("/digest frobnicate", user="carol")
    assert card.title == "Values digest (comms team)"
    assert card.text.startswith("I don't know “frobnicate”.\n\nA weekly digest for a channel")
    assert "/digest send-now [#channel]" in [f.label for f in card.fields]


async def test_commitment_verbs_alone_ask_which_one(harness: Harness, app: App) -> None:
    await harness.user_says("/commitment Answer every letter within a week")
    [card] = await harness.user_says("/commitment edit")
    assert card.title == "Your commitments"
    assert card.text.startswith(
        "Which one? Pick it here, or type /commitment edit 2 (its number).\n\n1 commitment"
    )
    assert await rows(app, "SELECT text FROM commitments") == [
        ("Answer every letter within a week",)
    ]


async def test_team_words_in_a_direct_chat_start_nothing(harness: Harness, app: App) -> None:
    [card] = await harness.user_says("/valueslens close")
    assert card.text == (
        "/valueslens close is for a team check-in: type it in the team's channel. "
        "Here, /valueslens <work> starts a check-in of your own."
    )
    assert await rows(app, "SELECT * FROM dialog_states") == []
