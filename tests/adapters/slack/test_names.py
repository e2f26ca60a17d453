"""People named in channel posts, in Slack: by the name Slack shows (the display name they chose,
else their full name, from ``users.info``), never by the deprecated handle the payloads carry,
unless Slack gives nothing else."""

from __future__ import annotations

import pytest

from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows

ALICE, BOB, CAROL, COMMS = "U0ALICE", "U0BOB", "U0CAROL", "U0COMMS"
TEAM, VALUES = "C0TEAM", "C0VALUES"
WORK = "Winter planning letter"


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {"VALUESBOT_VALUES_CHANNEL": f"slack:{VALUES}", "VALUESBOT_COMMS": f"slack:{COMMS}"}


async def test_a_team_check_in_names_its_starter_by_display_name(slack: SlackWorkspace) -> None:
    api = slack.api
    api.profiles[ALICE] = {"display_name": "Ali <K> & co", "real_name": "Alison Khan"}
    await slack.command(WORK, user=ALICE, channel=TEAM, name="akhan42")

    card = api.last(TEAM)
    assert "Started by Ali &lt;K&gt; &amp; co. Closes " in card.text_all()
    assert "akhan42" not in str(card.blocks)
    assert await rows(slack.app, "SELECT user_id, display_name FROM people") == [
        (ALICE, "Ali <K> & co")
    ]


async def test_without_a_display_name_the_full_name_is_used(slack: SlackWorkspace) -> None:
    api = slack.api
    api.profiles[BOB] = {"display_name": "", "real_name": "Robert Jones"}
    await slack.command(WORK, user=BOB, channel=TEAM, name="rjones")
    assert "Started by Robert Jones. Closes " in api.last(TEAM).text_all()


async def test_the_handle_is_the_last_resort(slack: SlackWorkspace) -> None:
    slack.api.fail("users.info", "user_not_found", user=CAROL)
    await slack.command(WORK, user=CAROL, channel=TEAM, name="carol.w")
    assert "Started by carol.w. Closes " in slack.api.last(TEAM).text_all()


async def test_shared_commitments_name_their_owner_by_display_name(
    slack: SlackWorkspace,
) -> None:
    api, dm = slack.api, direct(BOB)
    api.profiles[BOB] = {"display_name": "Bob J", "real_name": "Robert Jones"}
    await slack.command(
        "Answer every patient letter within a week", user=BOB, channel=dm, command="/commitment"
    )
    await slack.click("Share with the values channel", user=BOB, message=api.last(dm))
    await slack.click("Share it", user=BOB, message=api.last(dm))
    await slack.deliver()
    [post] = [c for c in api.calls_to("chat.postMessage") if c.params["channel"] == VALUES]
    assert post.params["text"] == "A commitment from Bob J"

    # The week's digest names the owner the same way.
    await slack.joins(VALUES, "UBOT")
    await slack.command(
        "schedule <#C0VALUES|values> weekly monday 09:00",
        user=COMMS,
        channel=direct(COMMS),
        command="/digest",
    )
    await slack.command("send-now", user=COMMS, channel=direct(COMMS), command="/digest")
    await slack.deliver()
    digest = "\n".join(m.text_all() for m in api.channel(VALUES)[1:])
    assert "Values digest" in digest
    assert "A commitment from Bob J" in digest
