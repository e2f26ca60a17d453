"""You said, we did in Slack: a round of twelve with comments, closed; comms respond to two
comments and one theme with Slack's payloads; the author reads the response on their own card,
someone else's replay of that click shows them nothing; an action goes from planned to done and
is in the next digest; the results page, its JSON and CSV and ``/you-said-we-did`` show it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from tests.adapters.slack.test_barometer import STAFF, answers, card_of
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import Message

COMMS = "U0COMMS"
NEWS = "C0NEWS"
PEOPLE = [f"U0S{n:03d}" for n in range(1, 13)]
SEE = "See the response to my comment"
AUTHOR_SAID = "Please read this <!channel> *now* & fix the rota"


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {
        "VALUESBOT_COMMS": f"slack:{COMMS}",
        "VALUESBOT_BAROMETER_AUTO": "false",
        "VALUESBOT_BAROMETER_CHANNELS": f"slack:T1:{STAFF}",
        "VALUESBOT_PUBLIC_URL": "https://values.example.org",
    }


def comment_of(n: int) -> str:
    return AUTHOR_SAID if n == 0 else f"Comment {n} about workload"


def mrkdwn(node: Any) -> list[str]:
    """Every mrkdwn text in some blocks: what Slack reads for mentions and links."""
    if isinstance(node, list):
        return [t for item in node for t in mrkdwn(item)]
    if isinstance(node, dict):
        found = [str(node["text"])] if node.get("type") == "mrkdwn" else []
        return found + [t for value in node.values() for t in mrkdwn(value)]
    return []


def cards_with(slack: SlackWorkspace, channel: str, button: str) -> list[Message]:
    return [m for m in slack.api.channel(channel) if button in m.buttons()]


async def test_you_said_we_did_in_slack(slack: SlackWorkspace) -> None:
    api = slack.api
    api.members[STAFF] = PEOPLE
    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.deliver()
    for n, person in enumerate(PEOPLE):
        given = {**answers("agree", "agree"), "comment": comment_of(n)}
        await slack.click(
            "Send my answers", user=person, message=card_of(slack, person), inputs=given
        )
    author = card_of(slack, PEOPLE[0])
    assert author.buttons() == ["Change my answer", SEE]
    slack.clock.advance(timedelta(days=1))
    await slack.command("close", user=COMMS, channel=direct(COMMS), command="/barometer")
    # Comms approve every comment (ten cards at a time).
    for _ in range(2):
        await slack.command("comments", user=COMMS, channel=direct(COMMS), command="/barometer")
        for message in cards_with(slack, direct(COMMS), "Approve"):
            await slack.click("Approve", user=COMMS, message=message)
    assert await rows(slack.app, "SELECT DISTINCT status FROM barometer_comments") == [
        ("approved",)
    ]
    ids = {
        str(t): str(i) for i, t in await rows(slack.app, "SELECT id, text FROM barometer_comments")
    }

    # The author's card says there is nothing yet; someone else's replay of that click shows
    # them nothing and changes no card.
    await slack.click(SEE, user=PEOPLE[0], message=author)
    assert "There is no response to your comment on the November 2026 barometer yet." in (
        author.text_all()
    )

    # Comms respond to the author's comment from its card, escaped for Slack.
    await slack.command("respond", user=COMMS, channel=direct(COMMS), command="/barometer")
    assert len(cards_with(slack, direct(COMMS), "Publish response")) == 10
    assert "2 more: /barometer respond 2" in api.last(direct(COMMS)).text_all()
    await slack.command("respond 2", user=COMMS, channel=direct(COMMS), command="/barometer")
    forms = cards_with(slack, direct(COMMS), "Publish response")
    assert len(forms) == 12
    escaped = "Please read this &lt;!channel&gt; *now* &amp; fix the rota"
    form = next(m for m in forms if escaped in m.text_all())
    assert "<!channel>" not in json.dumps(form.blocks)
    assert escaped in " ".join(mrkdwn(form.blocks))
    reply = "We read it <!here>: the rota changes in January & stays fair."
    await slack.click(
        "Publish response", user=COMMS, message=form, inputs={"response": reply, "theme": ""}
    )
    assert form.updates == 1
    assert "✓ Published" in form.text_all()
    assert "&lt;!here&gt;" in form.text_all()
    # Only the response box (plain text, which Slack never reads as a mention) holds it raw.
    assert "<!here>" not in " ".join(mrkdwn(form.blocks))
    # Another comment typed, then two under a theme.
    await slack.command(
        f"respond {ids[comment_of(1)][:6]} Thank you, noted.",
        user=COMMS,
        channel=direct(COMMS),
        command="/barometer",
    )
    assert "Response published" in api.last(direct(COMMS)).text_all()
    await slack.command(
        f"respond {ids[comment_of(2)][:6]} {ids[comment_of(3)][:6]} --theme “Workload” "
        "Fewer meetings from January.",
        user=COMMS,
        channel=direct(COMMS),
        command="/barometer",
    )
    assert "the theme “Workload” (2 comments)" in api.last(direct(COMMS)).text_all()
    # Someone not in comms is refused.
    await slack.command(
        f"respond {ids[comment_of(4)][:6]} Hi",
        user=PEOPLE[4],
        channel=direct(PEOPLE[4]),
        command="/barometer",
    )
    assert "Only the comms team can do this" in api.last(direct(PEOPLE[4])).text_all()

    # The author's own card now shows the response, in their direct conversation only.
    before = len(api.calls)
    await slack.click(SEE, user=PEOPLE[0], message=author)
    [update] = api.calls[before:]
    assert (update.method, update.params["channel"]) == ("chat.update", direct(PEOPLE[0]))
    assert "We read it &lt;!here&gt;: the rota changes in January &amp; stays fair." in (
        author.text_all()
    )
    assert AUTHOR_SAID not in author.text_all()
    assert escaped not in author.text_all()
    # Someone else's replay of the author's click (their own user id, the author's card and
    # token): nothing is shown to them, and no card changes.
    updates = author.updates
    before = len(api.calls)
    await slack.click(SEE, user=PEOPLE[5], message=author)
    assert author.updates == updates
    sent = api.calls[before:]
    assert [c.method for c in sent] == ["chat.postMessage"]
    assert "Nothing to show" in sent[0].text()
    assert "rota changes" not in sent[0].text()

    # An action for the theme: planned, then done from its card; then the digest says so.
    await slack.command(
        'actions add "Meeting-free <!channel> afternoons" --theme Workload --owner "Ops team"',
        user=COMMS,
        channel=direct(COMMS),
        command="/barometer",
    )
    action = api.last(direct(COMMS))
    assert "Action 1: Meeting-free &lt;!channel&gt; afternoons" in action.text_all()
    slack.clock.advance(timedelta(days=2))
    await slack.click("Done", user=COMMS, message=action)
    assert "✓ Done (" in action.text_all()
    await slack.joins(NEWS, "UBOT")  # the bot is added to the news channel
    await slack.command(
        f"schedule <#{NEWS}|news> weekly monday 09:00",
        user=COMMS,
        channel=direct(COMMS),
        command="/digest",
    )
    await slack.command(
        f"send-now <#{NEWS}|news>", user=COMMS, channel=direct(COMMS), command="/digest"
    )
    before = len(api.calls)
    await slack.deliver()
    digest = [c for c in api.calls[before:] if c.params.get("channel") == NEWS]
    assert digest
    assert (
        "You said “Workload” (November 2026), we did “Meeting-free &lt;!channel&gt; afternoons”."
        in digest[0].text()
    )
    assert "<!channel>" not in json.dumps(digest[0].params["blocks"])
    assert "&lt;!channel&gt;" in " ".join(mrkdwn(digest[0].params["blocks"]))

    # The results page, its JSON and CSV, and You said, we did.
    page = await (await slack.client.get("/barometer")).text()
    assert "We read it &lt;!here&gt;: the rota changes in January &amp; stays fair." in page
    assert "Response (theme: Workload):" in page
    data = await (await slack.client.get("/barometer.json")).json()
    (latest,) = data["rounds"]
    assert latest["comments_answered"] == 4
    assert {r["theme"] for r in latest["responses"]} == {None, "Workload"}
    table = await (await slack.client.get("/barometer.csv")).text()
    commented = {
        line["comment"]: line
        for line in csv.DictReader(io.StringIO(table))
        if line["question_id"] == "comment"
    }
    assert commented[AUTHOR_SAID]["response"] == reply
    said_did = await (await slack.client.get("/you-said-we-did")).text()
    assert "Meeting-free &lt;!channel&gt; afternoons" in said_did
    assert "Done (3 Dec 2026)" in said_did
    said_did_data = await (await slack.client.get("/you-said-we-did.json")).json()
    [done] = said_did_data["rounds"][0]["actions"]
    assert (done["status"], done["themes"]) == ("done", ["Workload"])
