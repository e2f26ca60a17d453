"""A values identifier in the terminal: typed answers, comms approve from the review card the
delivery worker put in their terminal, the author sees the links."""

from __future__ import annotations

from bot.app import App
from tests.adapters.console.test_chat import chat
from tests.dialogs.test_values_lens import rows


async def test_an_identifier_in_the_terminal(app: App) -> None:
    await chat(app, ["/values"], user="Carol")  # comms has met the bot
    out = await chat(
        app,
        [
            "/identifier Winter plan <!channel>",
            "Patients chose the three priorities.",
            "We changed it after listening sessions.",
            "Every figure is sourced.",
            "not relevant",
            "Carers co-wrote the actions.",
            "It says what we will measure.",
            "It puts patients' priorities first.",
            "Urgent care team",
            "31 March 2027",
            "Send to comms",
        ],
        user="Alice",
    )
    assert "┌─ We prioritise patients in every decision we take" in out
    assert "│ Open and transparent: Not relevant" in out
    assert "Thank you: it is with comms" in out
    [(identifier_id, status)] = await rows(app, "SELECT id, status FROM identifiers")
    assert status == "pending"

    await app.delivery.drain()
    reviewed = await chat(app, ["", "Approve"], user="Carol")
    assert "┌─ Values identifier to review: Winter plan <!channel>" in reviewed
    assert "Approved: it is published" in reviewed
    assert await rows(app, "SELECT status FROM identifiers") == [("approved",)]

    await app.delivery.drain()
    told = await chat(app, ["/identifier mine"], user="Alice")
    assert "┌─ Your values identifier is approved" in told
    assert f"/identifier/{identifier_id}.docx" in told
    assert "1. Winter plan <!channel>" in told
