"""Your own record in the terminal: ``/values mydata`` and ``/values forget-me``, confirmed by
typing the choice."""

from __future__ import annotations

from bot.app import App
from tests.adapters.console.test_chat import chat
from tests.dialogs.test_values_lens import rows


async def test_forget_me_is_confirmed_by_typing_it(app: App) -> None:
    await chat(app, ["/commitment My contribution is to ask two patients #listen"], user="Alice")
    await chat(app, ["/commitment My contribution is to publish the minutes"], user="Bob")
    out = await chat(app, ["/values mydata", "/values forget-me", "No, keep it all"], user="Alice")
    assert "│ Commitments: 1" in out
    assert "Erase what I hold about you?" in out
    assert "Nothing was erased" in out
    assert await rows(app, "SELECT owner FROM commitments ORDER BY owner") == [("alice",), ("bob",)]

    out = await chat(app, ["/values forget-me", "Erase everything"], user="Alice")
    assert "Erased" in out
    assert "1 commitment" in out
    assert await rows(app, "SELECT owner FROM commitments") == [("bob",)]
    assert await rows(app, "SELECT user_id FROM people ORDER BY user_id") == [("bob",)]
