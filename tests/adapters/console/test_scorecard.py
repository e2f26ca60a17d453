"""The scorecard in the terminal: ``/scorecard`` and ``/scorecard <objective>`` typed in the
console chat, after two closed barometer rounds, an imported staff survey and a stakeholder
round."""

from __future__ import annotations

from bot.app import App
from bot.clock import ManualClock
from tests.adapters.console.test_chat import chat
from tests.dialogs.test_scorecard import app as app  # with a public address, for the links
from tests.scorecard_seed import seed_scorecard


async def test_the_scorecard_in_the_terminal(app: App, clock: ManualClock) -> None:
    await seed_scorecard(app, clock)
    out = await chat(app, ["/scorecard", "/scorecard staff_satisfaction"], user="Alice")
    flat = " ".join(w for w in out.split() if w not in ("│", "┌─", "└─"))
    assert "Vision and purpose scorecard" in flat
    assert "1. Improving patient satisfaction: ✓ On track (1 on track, 1 no data)" in flat
    assert "2. Improving staff satisfaction: ! Needs attention" in flat
    assert (
        "Staff who agree their work makes a positive difference to the NHS: 83% (November "
        "2026) · previous 75% (October 2026) · up 8 points · target 75% or more."
    ) in flat
    assert "Staff engagement score (annual staff survey, out of 10): 7.1 (2026)" in flat
