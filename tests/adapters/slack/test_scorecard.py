"""The scorecard in Slack, through Slack's payloads and the mock Web API: ``/scorecard`` and
``/scorecard <objective>`` after two closed barometer rounds, an imported staff survey and a
stakeholder round; a figure set by comms; and the comments of a stakeholder round moderated with
the card's buttons."""

from __future__ import annotations

import pytest

from bot.clock import ManualClock
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows
from tests.scorecard_seed import seed_scorecard

COMMS = "U0COMMS"
ALICE = "U0ALICE"


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {
        "VALUESBOT_COMMS": f"slack:{COMMS}",
        "VALUESBOT_PUBLIC_URL": "https://values.example.org",
    }


async def test_the_scorecard_in_slack(slack: SlackWorkspace, clock: ManualClock) -> None:
    await seed_scorecard(slack.app, clock)
    dm = direct(ALICE)
    response = await slack.command("", user=ALICE, channel=dm, command="/scorecard")
    assert response.status == 200
    summary = slack.api.last(dm).text_all()
    assert "Vision and purpose scorecard" in summary
    assert "*1. Improving patient satisfaction*\n✓ On track (1 on track, 1 no data)" in summary
    assert (
        "*2. Improving staff satisfaction*\n! Needs attention (2 on track, 2 needs attention)"
        in (summary)
    )
    assert "https://values.example.org/scorecard" in summary

    await slack.command("2", user=ALICE, channel=dm, command="/scorecard")
    staff = slack.api.last(dm).text_all()
    assert (
        "*Staff who agree their work makes a positive difference to the NHS*\n83% (November "
        "2026) · previous 75% (October 2026) · up 8 points · target 75% or more. ✓ On track: "
        "meets its target of 75%. Trend: 75% → 83%."
    ) in staff
    assert "7.1 (2026) · previous 6.8 (2025) · up 0.3" in staff

    await slack.command("equality", user=ALICE, channel=dm, command="/scorecard")
    assert "not enough answers (2026)" in slack.api.last(dm).text_all()

    # In a channel the answer is for the person alone.
    await slack.command("1", user=ALICE, channel="C0GENERAL", command="/scorecard")
    [shown] = slack.api.ephemeral("C0GENERAL", ALICE)
    assert "83% (2026 Q4) · target 70% or more. ✓ On track" in shown.text_all()
    assert slack.api.channel("C0GENERAL") == []


async def test_comms_set_a_figure_in_slack(slack: SlackWorkspace) -> None:
    dm = direct(COMMS)
    await slack.command(
        "set gp_experience 2026-11 <!channel>", user=COMMS, channel=dm, command="/scorecard"
    )
    refused = slack.api.last(dm).text_all()
    assert "Value '&lt;!channel&gt;' is not a percent from 0 to 100." in refused
    assert "<!channel>" not in refused
    await slack.command(
        "set gp_experience 2026-11 71.5", user=COMMS, channel=dm, command="/scorecard"
    )
    assert "Figure kept" in slack.api.last(dm).text_all()
    assert await rows(slack.app, "SELECT key, period, value FROM scorecard_figures") == [
        ("gp_experience", "2026-11", 71.5)
    ]
    assert await rows(slack.app, "SELECT actor, action FROM audit_log") == [
        ("slack:T1:U0COMMS", "scorecard.set")
    ]
    await slack.command(
        "set gp_experience 2026-11 1", user=ALICE, channel=direct(ALICE), command="/scorecard"
    )
    assert "Only the comms team can do this" in slack.api.last(direct(ALICE)).text_all()
