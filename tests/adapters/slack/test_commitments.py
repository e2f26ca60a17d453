"""Personal commitments in Slack: made (a conversation of cards, and one line), shared with the
values channel through the outbox (escaped), edited and marked done; all through Slack's
payloads to POST /slack/events and the mock Slack Web API."""

from __future__ import annotations

import json

import pytest

from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows

ALICE = "U0ALICE"
VALUES = "C0VALUES"
LOUD = "<!channel> *loud* & <@U123>"
LOUD_ESCAPED = "&lt;!channel&gt; *loud* &amp; &lt;@U123&gt;"


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {"VALUESBOT_VALUES_CHANNEL": f"slack:{VALUES}"}


async def test_make_share_edit_and_finish_a_commitment(slack: SlackWorkspace) -> None:
    api, dm = slack.api, direct(ALICE)
    await slack.command(user=ALICE, channel=dm, command="/commitment")
    ask = api.last(dm)
    assert "My contribution is to..." in ask.text_all()
    assert ask.buttons() == ["Next", "Cancel"]

    await slack.click("Next", user=ALICE, message=ask, inputs={"text": LOUD})
    tags = api.last(dm)
    assert "Which of our behaviours does it show?" in tags.text_all()
    [picker] = [b["element"] for b in tags.blocks if b["type"] == "input"]
    assert picker["type"] == "multi_static_select"
    await slack.click("Next", user=ALICE, message=tags, inputs={"behaviours": "listen,open"})
    when = api.last(dm)
    assert "When would you like to look back at it?" in when.text_all()
    await slack.click("In a month", user=ALICE, message=when)

    saved = api.last(dm)
    # Each question became its answer, in place: nothing on it to click twice.
    answers = [
        f"✓ My contribution is to {LOUD_ESCAPED}",
        "✓ Listen and learn, Open and transparent",
        "✓ Review on 30 Dec 2026",
    ]
    for message, answer in zip((ask, tags, when), answers, strict=True):
        assert answer in message.text_all()
        assert "?" not in message.text_all()  # the question is gone
        assert (message.buttons(), message.updates) == ([], 1)
    text = saved.text_all()
    assert "Saved. Only you can see it unless you share it." in text
    assert f"My contribution is to {LOUD_ESCAPED}" in text
    assert "Listen and learn, Open and transparent" in text
    assert "<!channel>" not in json.dumps(saved.blocks)
    assert saved.buttons() == ["Share with the values channel", "Edit", "Mark done", "Delete"]
    assert await rows(slack.app, "SELECT text, behaviours, status FROM commitments") == [
        (LOUD, '["listen", "open"]', "open")
    ]

    # Share: asked first, then queued, and the delivery worker posts it to the values channel.
    await slack.click("Share with the values channel", user=ALICE, message=saved)
    confirm = api.last(dm)
    assert "Share it with the values channel?" in confirm.text_all()
    await slack.click("Share it", user=ALICE, message=confirm)
    assert "Shared: it will appear in the values channel in a moment." in api.last(dm).text_all()
    assert api.channel(VALUES) == []  # not from the click: through the outbox
    before = len(api.calls)
    await slack.deliver()
    [post] = api.calls[before:]
    assert post.method == "chat.postMessage"
    assert post.params["channel"] == VALUES
    assert post.params["metadata"]["event_payload"]["key"].startswith("commitment-share:")
    assert post.params["text"] == "A commitment from Alice"
    shared = post.text()
    assert f"My contribution is to {LOUD_ESCAPED}" in shared
    assert "Listen and learn, Open and transparent" in shared
    assert "<!channel>" not in json.dumps(post.params)
    assert "<@U123>" not in json.dumps(post.params)
    # Sharing again changes nothing.
    await slack.click("Share it", user=ALICE, message=confirm)
    await slack.deliver()
    assert len(api.channel(VALUES)) == 1

    # Edit: the same three questions, keeping what stays.
    await slack.command("list", user=ALICE, channel=dm, command="/commitment")
    listed = api.last(dm)
    assert "1. " + LOUD_ESCAPED in listed.text_all()
    commitment_id = str((await rows(slack.app, "SELECT id FROM commitments"))[0][0])
    await slack.click("Edit", user=ALICE, message=listed, inputs={"commitment": commitment_id})
    await slack.click(
        "Next", user=ALICE, message=api.last(dm), inputs={"text": "ask two patients every week"}
    )
    tags = api.last(dm)
    [picker] = [b["element"] for b in tags.blocks if b["type"] == "input"]
    assert [o["value"] for o in picker["initial_options"]] == ["listen", "open"]
    await slack.click("Next", user=ALICE, message=tags, inputs={"behaviours": "patients,listen"})
    await slack.click("No review date", user=ALICE, message=api.last(dm))
    changed = api.last(dm).text_all()
    assert "Changed. The post in the values channel keeps the words you shared." in changed
    assert await rows(slack.app, "SELECT text, behaviours, review_on FROM commitments") == [
        ("ask two patients every week", '["patients", "listen"]', None)
    ]

    # Done.
    await slack.click("Mark done", user=ALICE, message=api.last(dm))
    assert "Marked done. Well done." in api.last(dm).text_all()
    assert await rows(slack.app, "SELECT status FROM commitments") == [("done",)]
    assert len(api.channel(VALUES)) == 1  # the shared post stays as it was


async def test_one_line_in_a_channel_answers_only_the_person(slack: SlackWorkspace) -> None:
    await slack.command(
        "My contribution is to publish our minutes #open",
        user=ALICE,
        channel="C0TEAM",
        command="/commitment",
    )
    assert slack.api.channel("C0TEAM") == []
    [saved] = slack.api.ephemeral("C0TEAM", ALICE)
    assert "My contribution is to publish our minutes" in saved.text_all()
    assert await rows(slack.app, "SELECT text, behaviours FROM commitments") == [
        ("publish our minutes", '["open"]')
    ]
