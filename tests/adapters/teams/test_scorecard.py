"""The scorecard in Teams: real activity JSON posted to the running server, the answers read
from the exact calls the mock Bot Connector received (Adaptive Cards, validated)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.app import build_app
from bot.clock import ManualClock
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import ALICE, ANONYMOUS, CAROL, TeamsWorld, start_world
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector
from tests.scorecard_seed import seed_scorecard


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    settings = make_settings(
        sqlite_url,
        **ANONYMOUS,
        VALUESBOT_COMMS=f"teams:{CAROL.id}",
        VALUESBOT_PUBLIC_URL="https://values.example.org",
    )
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()


async def test_the_scorecard_in_teams(teams: TeamsWorld, clock: ManualClock) -> None:
    await seed_scorecard(teams.app, clock)
    await teams.installs(ALICE)
    await teams.says("scorecard")
    summary = teams.last(ALICE.direct)
    assert "Vision and purpose scorecard" in summary
    assert "1. Improving patient satisfaction" in summary
    assert "✓ On track (1 on track, 1 no data)" in summary
    assert "! Needs attention (2 on track, 2 needs attention)" in summary
    # In Teams the commands are typed without a slash.
    assert "Type scorecard <number> for an objective's measures." in summary
    await teams.says("scorecard 2")
    staff = teams.last(ALICE.direct)
    assert staff.startswith("2. Improving staff satisfaction")
    assert (
        "83% (November 2026) · previous 75% (October 2026) · up 8 points · target 75% or more."
    ) in staff
    await teams.says("scorecard help")
    assert "scorecard <objective>" in teams.last(ALICE.direct)
    assert_valid(teams.every_card())


async def test_comms_set_a_figure_in_teams(teams: TeamsWorld) -> None:
    await teams.installs(CAROL)
    await teams.says("scorecard set years_of_life_lost 2025 1890.5", person=CAROL)
    assert "Figure kept" in teams.last(CAROL.direct)
    assert await rows(teams.app, "SELECT key, period, value FROM scorecard_figures") == [
        ("years_of_life_lost", "2025", 1890.5)
    ]
    [(actor,)] = await rows(teams.app, "SELECT actor FROM audit_log")
    assert actor.startswith("teams:")
    await teams.installs(ALICE)
    await teams.says("scorecard set years_of_life_lost 2025 1", person=ALICE)
    assert "Only the comms team can do this" in teams.last(ALICE.direct)
    await teams.says("scorecard 3", person=ALICE)
    assert "1,890.5 (2025)" in teams.last(ALICE.direct)
