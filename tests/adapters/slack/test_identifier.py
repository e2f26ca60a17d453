"""A values identifier in Slack, with real payloads: made in the direct conversation from the
slash command through the dialog's cards (text inputs filled, buttons clicked), reviewed by
comms from the card in their direct conversation, the author told with the three links; the
Word page those links serve holds every statement; hostile text stays inert in every card."""

from __future__ import annotations

import io
import json

import pytest
from docx import Document

from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows

ALICE, BOB, COMMS = "U0ALICE", "U0BOB", "U0COMMS"
PUBLIC = "https://values.example.org"
TITLE = "Winter plan <!channel> <@U0BOB> *bold*"
STATEMENT = 'Patients wrote it <!here> "><img src=x onerror=alert(1)> <script>x</script>'


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {"VALUESBOT_COMMS": f"slack:{COMMS}", "VALUESBOT_PUBLIC_URL": PUBLIC}


def mrkdwn(blocks: object) -> list[str]:
    """Every mrkdwn text in Slack blocks."""
    found = []
    if isinstance(blocks, dict):
        if blocks.get("type") == "mrkdwn":
            found.append(str(blocks.get("text", "")))
        for value in blocks.values():
            found += mrkdwn(value)
    elif isinstance(blocks, list):
        for item in blocks:
            found += mrkdwn(item)
    return found


async def test_an_identifier_made_reviewed_and_delivered_in_slack(slack: SlackWorkspace) -> None:
    api, dm = slack.api, direct(ALICE)
    await slack.command(TITLE, user=ALICE, channel=dm, command="/identifier")
    question = api.last(dm)
    assert "We prioritise patients in every decision we take" in question.text_all()
    assert question.buttons() == ["Next", "Not relevant", "Cancel"]
    # Five statements typed into the card, one not relevant.
    for n in range(6):
        card = api.last(dm)
        if n == 3:
            await slack.click("Not relevant", user=ALICE, message=card)
        else:
            await slack.click(
                "Next", user=ALICE, message=card, inputs={"statement": f"{n}: {STATEMENT}"}
            )
    await slack.click(
        "Next", user=ALICE, message=api.last(dm), inputs={"vision": "It helps <!everyone>."}
    )
    await slack.click("Next", user=ALICE, message=api.last(dm), inputs={"owner": "Policy <team>"})
    await slack.click("Next", user=ALICE, message=api.last(dm), inputs={"date": "2027-03-31"})
    confirm = api.last(dm)
    assert confirm.buttons() == ["Send to comms", "Cancel"]
    await slack.click("Send to comms", user=ALICE, message=confirm)
    assert "Thank you: it is with comms" in api.last(dm).text_all()
    [(identifier_id, title, status)] = await rows(
        slack.app, "SELECT id, title, status FROM identifiers"
    )
    assert (title, status) == (TITLE, "pending")

    # Bob is not comms: the queue and a replayed click on the review card are refused.
    await slack.deliver()
    review = api.last(direct(COMMS))
    assert review.buttons() == ["Approve", "Ask for changes", "Reject"]
    await slack.command("queue", user=BOB, channel=direct(BOB), command="/identifier")
    assert "Only comms can do this" in api.last(direct(BOB)).text_all()
    await slack.interact(slack.click_payload("Approve", user=BOB, message=review))
    assert "Only comms can do this" in api.last(direct(BOB)).text_all()
    await slack.click("Approve", user=COMMS, message=review)
    assert "Approved: it is published" in review.text_all()
    assert review.buttons() == []
    assert await rows(slack.app, "SELECT status, moderator FROM identifiers") == [
        ("approved", COMMS)
    ]
    await slack.deliver()
    told = api.last(dm)
    everything = told.text_all()
    assert "Your values identifier is approved" in everything
    for link in (
        f"{PUBLIC}/identifier/{identifier_id}.docx",
        f"{PUBLIC}/identifier/{identifier_id}",
        f"{PUBLIC}/identifier/{identifier_id}.svg",
    ):
        assert link in everything

    # Nothing anyone wrote became a mention or markup in any message the bot posted: every
    # text Slack parses (mrkdwn, the notification text) has it escaped; headers and buttons
    # are plain_text, which Slack never parses.
    parsed = [m.text for ms in api.messages.values() for m in ms]
    parsed += [t for ms in api.messages.values() for m in ms for t in mrkdwn(m.blocks)]
    posted = json.dumps(parsed)
    for raw in ("<!channel>", "<!here>", "<!everyone>", "<@U0BOB>", "<img", "<script"):
        assert raw not in posted
    assert "&lt;!channel&gt;" in posted
    assert "&lt;!here&gt;" in posted

    # The Word page its link serves holds every statement, as typed.
    response = await slack.client.get(f"/identifier/{identifier_id}.docx")
    assert response.status == 200
    texts = [p.text for p in Document(io.BytesIO(await response.read())).paragraphs]
    assert TITLE in texts
    for n in (0, 1, 2, 4, 5):
        assert f"{n}: {STATEMENT}" in texts
    assert "Not relevant to this publication." in texts
