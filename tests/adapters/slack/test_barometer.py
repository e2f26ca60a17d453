"""The staff barometer in Slack: a whole round driven by Slack's payloads through
POST /slack/events, the outbox sent by the delivery worker through the Slack outbound, and the
mock Slack Web API recording what Slack received."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from typing import Any

import pytest

from adapters.slack.app import SlackChannelMembers
from bot.events import ConversationKind, ConversationRef, Platform
from dialogs.barometer.service import AudienceError
from tests.adapters.slack.conftest import BOT_TOKEN, FAST_DELIVERY
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.conftest import make_settings
from tests.contract.test_barometer import answers_now
from tests.dialogs.test_values_lens import rows
from tests.mocks.slack_api import Message, MockSlackApi

COMMS = "U0COMMS"
STAFF = "C0STAFF"
RESULTS = "C0RESULTS"
PEOPLE = [f"U0S{n:03d}" for n in range(1, 51)]


@pytest.fixture
def slack_env() -> dict[str, str]:
    return {
        "VALUESBOT_COMMS": f"slack:{COMMS}",
        "VALUESBOT_BAROMETER_AUTO": "false",
        "VALUESBOT_BAROMETER_CHANNELS": f"slack:T1:{STAFF}",
        "VALUESBOT_BAROMETER_RESULTS": f"slack:T1:{RESULTS}",
        "VALUESBOT_PUBLIC_URL": "https://values.example.org",
    }


def card_of(slack: SlackWorkspace, user: str) -> Message:
    """The barometer card in the person's direct conversation (the newest)."""
    return slack.api.last(direct(user))


def answers(nhs: str, organisation: str, group: str | None = None) -> dict[str, str]:
    given = {"q_nhs": nhs, "q_organisation": organisation}
    if group:
        given["group"] = group
    return given


async def tally(slack: SlackWorkspace) -> Counter[tuple[str, str]]:
    """Everyone's answers now, waiting ones included (opened with the key: tests only)."""
    found = await answers_now(slack.app.database)
    return Counter((q, v) for answer in found.values() for q, v in answer.values.items())


async def test_a_whole_round_in_slack(slack: SlackWorkspace) -> None:
    api = slack.api
    api.members[STAFF] = ["UBOT", *PEOPLE]  # the bot is a member too: it asks nobody that

    # Comms open the round in their direct conversation with the bot.
    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    opened = api.last(direct(COMMS)).text_all()
    assert "Opened: Staff barometer: November 2026" in opened
    assert "queued for 50 people" in opened
    [members] = api.calls_to("conversations.members")
    assert members.params == {"channel": STAFF, "limit": 200}
    assert api.calls_to("chat.postMessage")[-1].params["channel"] == direct(COMMS)

    # The delivery worker sends the card to each of the 50, in their direct conversation.
    before = len(api.calls)
    await slack.deliver()
    sent = api.calls[before:]
    assert Counter(c.method for c in sent) == {"conversations.open": 50, "chat.postMessage": 50}
    posts = [c for c in sent if c.method == "chat.postMessage"]
    assert sorted(c.params["channel"] for c in posts) == sorted(direct(p) for p in PEOPLE)
    round_id = str((await rows(slack.app, "SELECT id FROM barometer_rounds"))[0][0])
    for post in posts:
        user = "U" + post.params["channel"].removeprefix("D")
        assert post.params["metadata"] == {
            "event_type": "valuesbot_outbox",
            "event_payload": {"key": f"barometer:2026-11:slack:T1:{user}"},
        }
        blocks = post.params["blocks"]
        inputs = [b["element"]["action_id"] for b in blocks if b["type"] == "input"]
        assert inputs == ["q_nhs", "q_organisation", "group", "comment"]
        [button] = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
        assert button["text"]["text"] == "Send my answers"
        assert json.loads(button["value"])["h"] == {"round": round_id}  # no token yet
        assert "groups of 5 or more" in post.text()

    # Twelve answer on the card in their direct conversation.
    given = {
        person: answers(
            "agree" if n % 3 else "disagree",
            "strongly_agree" if n % 2 else "neutral",
            "area" if n < 6 else "regional",
        )
        for n, person in enumerate(PEOPLE[:12])
    }
    given[PEOPLE[0]]["comment"] = "More time for <!channel> & learning"
    for person, inputs in given.items():
        before = len(api.calls)
        response = await slack.click(
            "Send my answers", user=person, message=card_of(slack, person), inputs=inputs
        )
        assert response.status == 200
        # The person's time zone is asked once (for their working hours), then the card
        # becomes the thanks.
        assert [c.method for c in api.calls[before:]] == ["users.info", "chat.update"]
        thanks = card_of(slack, person)
        assert thanks.updates == 1
        assert "Thank you: Staff barometer: November 2026" in thanks.text_all()
        assert "Your answer is recorded." in thanks.text_all()
        commented = "comment" in inputs
        assert thanks.buttons() == ["Change my answer"] + (
            ["See the response to my comment"] if commented else []
        )
    assert await rows(slack.app, "SELECT COUNT(*) FROM barometer_participation WHERE answered") == [
        (12,)
    ]
    assert sum((await tally(slack)).values()) == 24

    # Slack retries a click (no answer within 3 seconds): the same payload, counted once.
    retried = slack.click_payload(
        "Send my answers",
        user=PEOPLE[12],
        message=card_of(slack, PEOPLE[12]),
        inputs=answers("agree", "agree"),
    )
    await slack.interact(retried)
    before = len(api.calls)
    again = await slack.interact(retried, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "x"})
    assert again.status == 200
    assert api.calls[before:] == []  # nothing sent twice either
    assert await rows(slack.app, "SELECT COUNT(*) FROM barometer_participation WHERE answered") == [
        (13,)
    ]
    assert sum((await tally(slack)).values()) == 26

    # A changed mind, through the answered card: the new answer replaces the old one.
    changer = PEOPLE[1]  # answered agree / strongly agree
    before_change = await tally(slack)
    await slack.click("Change my answer", user=changer, message=card_of(slack, changer))
    form = card_of(slack, changer)
    assert "Answer again" in form.text_all()
    assert form.buttons() == ["Send my new answer", "Keep my answer"]
    token = json.loads(next(_buttons(form)).get("value"))["h"]["token"]
    assert len(token) >= 32
    await slack.click(
        "Send my new answer", user=changer, message=form, inputs=answers("disagree", "disagree")
    )
    assert "Your new answer replaced your earlier one." in card_of(slack, changer).text_all()
    after_change = await tally(slack)
    assert sum(after_change.values()) == 26
    assert after_change - before_change == Counter(
        {("nhs", "disagree"): 1, ("organisation", "disagree"): 1}
    )
    assert before_change - after_change == Counter(
        {("nhs", "agree"): 1, ("organisation", "strongly_agree"): 1}
    )
    # The token is only in the person's own message: the database keeps its hash.
    for table in ("barometer_responses", "barometer_pending"):
        assert token not in str(await rows(slack.app, f"SELECT * FROM {table}"))

    # A reminder goes to the 37 who have not answered, and to nobody else.
    await slack.command("remind", user=COMMS, channel=direct(COMMS), command="/barometer")
    assert "Reminder 1 of 2 queued" in api.last(direct(COMMS)).text_all()
    before = len(api.calls)
    await slack.deliver()
    reminded = [c for c in api.calls[before:] if c.method == "chat.postMessage"]
    assert sorted(c.params["channel"] for c in reminded) == sorted(direct(p) for p in PEOPLE[13:])
    assert all("You have not answered the November 2026" in c.text() for c in reminded)

    # Someone reminded answers on the reminder itself.
    late = PEOPLE[20]
    await slack.click(
        "Send my answers", user=late, message=card_of(slack, late), inputs=answers("agree", "agree")
    )
    assert "Thank you" in card_of(slack, late).text_all()

    # Comms close the round: the results card goes to the results channel.
    await slack.command("close", user=COMMS, channel=direct(COMMS), command="/barometer")
    before = len(api.calls)
    await slack.deliver()
    [published] = [c for c in api.calls[before:] if c.method == "chat.postMessage"]
    assert published.params["channel"] == RESULTS
    assert published.params["metadata"]["event_payload"]["key"] == (
        f"barometer:2026-11:results:slack:T1:{RESULTS}"
    )
    text = published.text()
    assert "Staff barometer results: November 2026" in text
    assert "14 of 50 people answered (28%)" in text
    assert "https://values.example.org/barometer" in text
    results = api.last(RESULTS)
    assert results.blocks == published.params["blocks"]

    # Answers after the close change nothing.
    await slack.click(
        "Send my answers",
        user=PEOPLE[30],
        message=card_of(slack, PEOPLE[30]),
        inputs=answers("agree", "agree"),
    )
    assert "this round has closed" in api.last(direct(PEOPLE[30])).text_all()
    # Participation is gone with the close; the answers stay, without any person.
    assert await rows(slack.app, "SELECT COUNT(*) FROM barometer_participation") == [(0,)]
    assert await rows(slack.app, "SELECT invited, answered FROM barometer_rounds") == [(50, 14)]

    # Closed with ten or more answers, comms read the comments, in their own conversation.
    await slack.command("comments", user=COMMS, channel=direct(COMMS), command="/barometer")
    comment = api.last(direct(COMMS))
    assert "More time for &lt;!channel&gt; &amp; learning" in comment.text_all()
    assert "<!channel>" not in json.dumps(comment.blocks)
    await slack.click("Approve", user=COMMS, message=comment)
    assert "✓ Approved" in comment.text_all()
    assert comment.buttons() == []
    # Approved, it is published with the results, escaped.
    await slack.command(
        "results", user=PEOPLE[30], channel=direct(PEOPLE[30]), command="/barometer"
    )
    results = api.last(direct(PEOPLE[30])).text_all()
    assert "Staff barometer results: November 2026" in results
    assert "More time for &lt;!channel&gt; &amp; learning" in results


def _buttons(message: Message) -> Any:
    return (
        element
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    )


async def test_the_slack_directory_lists_a_channel_page_by_page(slack_api: MockSlackApi) -> None:
    slack_api.members["C0BIG"] = ["UBOT", *(f"U{n:05d}" for n in range(450))]
    settings = make_settings(
        "sqlite+aiosqlite:///unused.db",
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET="x" * 32,
        SLACK_API_URL=slack_api.api_url,
        **FAST_DELIVERY,
    )
    place = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C0BIG", kind=ConversationKind.CHANNEL
    )
    members = await SlackChannelMembers(settings).members(place, None)  # type: ignore[arg-type]
    assert members == [f"U{n:05d}" for n in range(450)]
    pages = slack_api.calls_to("conversations.members")
    assert [p.params.get("cursor") for p in pages] == [None, "page:200", "page:400"]
    assert {p.token for p in pages} == {BOT_TOKEN}

    slack_api.fail("conversations.members", "channel_not_found")
    with pytest.raises(AudienceError, match=r"C0BIG.*channel_not_found"):
        await SlackChannelMembers(settings).members(place, None)  # type: ignore[arg-type]


async def test_a_round_for_a_channel_the_bot_cannot_see_is_not_opened(
    slack: SlackWorkspace,
) -> None:
    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    answer = slack.api.last(direct(COMMS)).text_all()
    assert "The round was not opened" in answer
    assert f"I could not list the members of Slack channel {STAFF}" in answer
    assert await rows(slack.app, "SELECT COUNT(*) FROM barometer_rounds") == [(0,)]


async def test_the_home_tab_shows_the_round_to_answer_then_answered_then_results(
    slack: SlackWorkspace,
) -> None:
    api = slack.api
    alice = PEOPLE[0]
    api.members[STAFF] = PEOPLE[:5]
    await slack.opens_home(alice)
    assert "Staff barometer" not in api.homes[alice].text_all()  # no round has run yet

    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.opens_home(alice)
    home = api.homes[alice].text_all()
    assert "Staff barometer: November 2026" in home
    assert "Open until" in home
    # "Answer now" on the Home tab brings the questions to her direct conversation.
    await slack.click_home("Answer now", user=alice)
    asked = api.last(direct(alice))
    assert asked.buttons() == ["Send my answers"]
    assert api.methods()[-1] == "chat.postMessage"
    await slack.deliver()  # the others' cards (and Alice's, which she will not need)
    for person in PEOPLE[:5]:
        await slack.click(
            "Send my answers",
            user=person,
            message=asked if person == alice else api.last(direct(person)),
            inputs=answers("agree", "agree"),
        )
    assert "Thank you" in asked.text_all()
    await slack.opens_home(alice)
    assert "You have answered: thank you." in api.homes[alice].text_all()

    await slack.command("close", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.opens_home(alice)
    home = api.homes[alice].text_all()
    assert "Staff barometer: latest results" in home
    assert "November 2026: The NHS 100% agree · Our organisation 100% agree (5 of 5 answered)." in (
        home
    )
    assert "https://values.example.org/barometer" in home


async def test_answering_from_a_channel_stays_private(slack: SlackWorkspace) -> None:
    api = slack.api
    api.members[STAFF] = PEOPLE[:5]
    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    alice = PEOPLE[0]
    # /barometer typed in a channel: the questions open in a modal only she sees.
    await slack.command(user=alice, channel="C0TEAM", command="/barometer")
    form = api.modal(alice)
    assert form.view["submit"]["text"] == "Send my answers"
    await slack.submit(form, user=alice, inputs=answers("agree", "disagree", "national"))
    assert api.channel("C0TEAM") == []
    [thanks] = api.ephemeral("C0TEAM", alice)
    assert "Thank you: Staff barometer: November 2026" in thanks.text_all()
    assert sum((await tally(slack)).values()) == 2
    # Changing her mind from that message works, and stays hers alone.
    await slack.click("Change my answer", user=alice, message=thanks)
    assert "Answer again" in thanks.text_all()
    await slack.click(
        "Send my new answer", user=alice, message=thanks, inputs=answers("agree", "agree")
    )
    assert "Your new answer replaced your earlier one." in thanks.text_all()
    assert await tally(slack) == Counter({("nhs", "agree"): 1, ("organisation", "agree"): 1})
    assert api.channel("C0TEAM") == []


async def test_someone_the_round_did_not_ask_is_told_whom_it_is_for(
    slack: SlackWorkspace,
) -> None:
    api = slack.api
    api.members[STAFF] = PEOPLE[:7]
    outsider = "U0OUTSIDE"
    await slack.command("open", user=COMMS, channel=direct(COMMS), command="/barometer")
    await slack.deliver()
    for person in PEOPLE[:3]:
        await slack.click(
            "Send my answers",
            user=person,
            message=card_of(slack, person),
            inputs=answers("agree", "agree"),
        )

    # /barometer typed in a channel by someone not in the staff channel: told, privately.
    await slack.command(user=outsider, channel="C0TEAM", command="/barometer")
    assert api.modals == []
    [told] = api.ephemeral("C0TEAM", outsider)
    said = told.text_all()
    assert "Staff barometer: November 2026: for the people it asked" in said
    assert f"sent to the members of {STAFF} when it opened" in said
    assert api.channel("C0TEAM") == []

    # The card forwarded to their own conversation with the bot: "Send my answers" there
    # records nothing.
    forwarded = replace(card_of(slack, PEOPLE[5]), channel=direct(outsider), ts="9.000001")
    api.messages[direct(outsider)].append(forwarded)
    await slack.click(
        "Send my answers", user=outsider, message=forwarded, inputs=answers("agree", "agree")
    )
    assert "for the people it asked" in api.last(direct(outsider)).text_all()
    assert forwarded.updates == 0

    # The response rate stays true: 3 of the 7 asked.
    assert await rows(slack.app, "SELECT COUNT(*), SUM(answered) FROM barometer_participation") == [
        (7, 3)
    ]
    await slack.command("status", user=COMMS, channel=direct(COMMS), command="/barometer")
    assert "3 of 7 (43%)" in api.last(direct(COMMS)).text_all()
