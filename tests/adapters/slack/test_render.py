"""Cards as Block Kit: every card the dialogs produce passes slack-sdk's validation and Slack's
limits; user text is escaped; long content is split; clicks read back what ``submission`` says."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from adapters.slack import render
from adapters.slack.translate import inputs_of, translate
from bot.app import App
from bot.clock import ManualClock
from bot.dispatch import SORRY
from bot.events import Actor, ConversationKind, ConversationRef, Platform
from bot.ui import Card, Choice, ChoiceInput, Field, Option, TextInput, submission
from tests.adapters.slack.workspace import SlackWorkspace
from tests.harness import Harness
from tests.mocks.slack_api import Message

IDS = ["patients", "listen", "evidence", "open", "inclusive", "improve"]
LONG = "A long piece of work & more <b> " * 400  # over 12,000 characters


def check_limits(blocks: list[dict[str, Any]], *, limit: int = 50) -> None:
    """Slack's limits, checked independently of the code that drew the blocks."""
    assert 0 < len(blocks) <= limit
    for block in blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
        kind = block["type"]
        if kind == "header":
            assert len(block["text"]["text"]) <= 150
        if kind == "section":
            assert len(block["text"]["text"]) <= 3000
        if kind == "context":
            assert len(block["elements"]) <= 10
            assert all(len(e["text"]) <= 2000 for e in block["elements"])
        if kind == "actions":
            assert len(block["elements"]) <= 25
            for button in block["elements"]:
                assert len(button["text"]["text"]) <= 75
                assert len(button["value"]) <= 2000
                assert len(button["action_id"]) <= 255
        if kind == "input":
            assert len(block["label"]["text"]) <= 2000
            for option in block["element"].get("options", []):
                assert len(option["text"]["text"]) <= 75
                assert len(option["value"]) <= 150


async def every_card(harness: Harness, app: App, clock: ManualClock) -> list[Card]:
    """Drive the values lens, the team lens and the help through every path they have."""
    say, click = harness.user_says, harness.click
    await harness.opens()
    await say("/values")
    await say("/values behaviours")
    await say("/nonsense")
    await say("hello")
    await say("what?")
    await say("cancel")
    await say("/valueslens help")
    await say("/valueslens history")
    await say("/valueslens cancel")
    # A personal check-in with every kind of answer, mistakes included.
    await say("/valueslens")
    await say("x" * 300)
    await say("Drafting the <!channel> allocation guidance & plan")
    await say("7")
    await click("Strongly")
    await click("Partly", inputs={"note": "we asked <@U123> & two patient reps"})
    await say("not yet - no data yet")
    await say("4")
    await say("1")
    await say("2")
    await say("")
    await say("Test the draft with two patient representatives")
    await click("Save the action as a commitment")
    await say("/valueslens history")
    await harness.opens()
    await say("/valueslens Another piece of work")
    await harness.opens()
    await say("/valueslens")
    # The team lens: asked privately, started, rated, refused, closed, too few.
    channel = "team-x"
    await say("/valueslens", channel=channel)
    await click("Start", channel=channel, inputs={"work": ""})
    await click("Start", channel=channel, inputs={"work": "Winter <!here> letter"})
    await say("/valueslens Winter letter", channel=channel, user="bob")
    await click("Add my ratings", channel=channel, user="bob", inputs={"b_patients": "partly"})
    await click(
        "Add my ratings",
        channel=channel,
        user="bob",
        inputs={f"b_{b}": "strongly" for b in IDS},
    )
    await click("Add my ratings", channel=channel, inputs={f"b_{b}": "not_yet" for b in IDS})
    await click("Close and show results", channel=channel, user="bob")
    await click("Close and show results", channel=channel)
    await say("/valueslens close", channel=channel)
    await say("/valueslens Lonely review", channel="team-y")
    clock.advance(timedelta(days=2))
    await app.housekeeping()
    cards = [s.card for s in harness.outbound.seen]
    cards.append(SORRY)
    direct = ConversationRef(platform=Platform.CONSOLE, tenant="test", conversation="dm-alice")
    cards += await app.home_cards(direct, Actor(id="alice", name="Alice"))
    return cards


async def test_every_card_the_dialogs_produce_renders_within_slacks_limits(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    cards = await every_card(harness, app, clock)
    assert len(cards) > 40
    titles = {c.title for c in cards}
    for expected in (
        "Values lens",
        "One action",
        "Team values lens",
        "Your values lens check-ins",
        "Your commitments",
        "Under way",
        "Our behaviours",
        "Only the starter can close it",
    ):
        assert any(expected in t for t in titles), expected
    modals = 0
    for card in cards:
        drawn = render.message(card)
        check_limits(drawn.blocks)
        assert drawn.text
        if render.modal_choice(card) is not None:
            view = render.modal(card, conversation="C1", kind="channel")
            View(**view).validate_json()
            check_limits(view["blocks"], limit=100)
            modals += 1
    assert modals >= 2  # the team start card and the team card
    home = render.home(cards[-4:], direct="D1")
    View(**home).validate_json()


def test_user_text_is_escaped_so_nobody_is_mentioned() -> None:
    card = Card(
        title="Work: <!channel> & <@U123>",
        text="Tell <!here> about <https://evil.example|this> & <@U123>",
        fields=(Field(label="<!everyone>", value="<#C123> & <!subteam^S1>"),),
        footer="<!channel>",
    )
    drawn = render.message(card)
    mrkdwn = [b["text"]["text"] for b in drawn.blocks if b["type"] == "section"] + [
        e["text"] for b in drawn.blocks if b["type"] == "context" for e in b["elements"]
    ]
    assert mrkdwn
    for text in mrkdwn:
        assert "<" not in text
        assert ">" not in text
    assert "Tell &lt;!here&gt; about &lt;https://evil.example|this&gt; &amp; &lt;@U123&gt;" in (
        mrkdwn
    )
    assert "<" not in drawn.text
    header = drawn.blocks[0]
    assert header == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Work: <!channel> & <@U123>", "emoji": True},
    }


def test_long_content_is_split_and_kept_under_fifty_blocks() -> None:
    card = Card(
        title="T" * 400,
        text=LONG,
        fields=tuple(Field(label=f"Field {n}", value=LONG) for n in range(30)),
        choices=(Choice(label="OK " * 40, action="x"),),
        footer=LONG,
    )
    drawn = render.message(card)
    check_limits(drawn.blocks)
    assert len(drawn.blocks) == 50
    assert drawn.blocks[0]["text"]["text"].endswith("…")
    assert drawn.blocks[-1]["type"] == "actions"  # the buttons are never cut
    assert render.SHORTENED in str(drawn.blocks[-2])
    text_blocks = list(render.message(Card(text=LONG)).blocks)
    assert len(text_blocks) == 6  # 17,600 escaped characters
    joined = "".join(b["text"]["text"] for b in text_blocks)
    assert joined.replace(" ", "") == render.escape(LONG).replace(" ", "")


def test_split_never_cuts_an_entity() -> None:
    text = "&" * 5000
    pieces = render.chunks(text, 3000, lambda s: len(render.escape(s)))
    assert "".join(pieces) == text
    assert all(len(render.escape(p)) <= 3000 for p in pieces)


def test_oversized_hidden_values_are_refused_before_sending() -> None:
    card = Card(title="x", choices=(Choice(label="Go", action="a"),), hidden={"h": "x" * 3000})
    with pytest.raises(render.RenderError):
        render.message(card)


@pytest.mark.parametrize("label", ["Start", "Cancel"])
async def test_a_click_reads_back_what_submission_says(slack: SlackWorkspace, label: str) -> None:
    card = Card(
        title="Team values lens",
        inputs=(
            TextInput(name="work", label="What?", optional=False),
            ChoiceInput(
                name="b_x",
                label="Rate",
                options=(Option(label="Strongly", value="strongly"), Option(label="No", value="n")),
            ),
            TextInput(name="note", label="Note"),
        ),
        choices=(
            Choice(label="Start", action="lens.team.start", value="v1"),
            Choice(label="Cancel", action="dialog.cancel", collects_inputs=False),
        ),
        hidden={"team": "t1", "dlg_run": "r", "dlg_v": "3"},
    )
    drawn = render.message(card)
    message = Message(channel="C1", ts="1.000001", text=drawn.text, blocks=drawn.blocks)
    inputs = {"work": " The work ", "b_x": "strongly"}
    payload = slack.click_payload(label, user="U0ALICE", message=message, inputs=inputs)
    event = translate(payload)
    choice = next(c for c in card.choices if c.label == label)
    assert event is not None
    assert dict(event.values) == submission(card, choice, inputs)  # type: ignore[attr-defined]
    assert event.conversation == ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C1", kind=ConversationKind.CHANNEL
    )


BEHAVIOURS = ChoiceInput(
    name="behaviours",
    label="Which of our behaviours does it show?",
    options=tuple(Option(label=b.title(), value=b) for b in IDS),
    multiple=True,
    initial="open,listen",
)


def test_a_multiple_choice_is_a_multi_select_in_a_message_and_check_boxes_in_a_modal() -> None:
    card = Card(
        title="Your commitment",
        inputs=(BEHAVIOURS,),
        choices=(Choice(label="Next", action="commitment.tag"),),
    )
    [element] = [b["element"] for b in render.message(card).blocks if b["type"] == "input"]
    assert element["type"] == "multi_static_select"
    assert element["action_id"] == "behaviours"
    assert [o["value"] for o in element["options"]] == IDS
    # Picked already: in the order of the options, whatever order ``initial`` had.
    assert [o["value"] for o in element["initial_options"]] == ["listen", "open"]

    view = render.modal(card, conversation="C1", kind="channel")
    [boxes] = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert boxes["type"] == "checkboxes"
    assert [o["value"] for o in boxes["initial_options"]] == ["listen", "open"]
    View(**view).validate_json()

    many = ChoiceInput(
        name="teams",
        label="Teams",
        options=tuple(Option(label=f"Team {n}", value=f"t{n}") for n in range(12)),
        multiple=True,
    )
    crowded = Card(title="x", inputs=(many,), choices=(Choice(label="Go", action="a"),))
    view = render.modal(crowded, conversation="C1", kind="channel")
    [select] = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert select["type"] == "multi_static_select"  # check boxes hold ten at most
    assert "initial_options" not in select


@pytest.mark.parametrize("where", ["message", "modal"])
async def test_picked_options_come_back_joined_as_submission_says(
    slack: SlackWorkspace, where: str
) -> None:
    card = Card(
        title="Share a case study",
        inputs=(TextInput(name="title", label="Title"), BEHAVIOURS),
        choices=(Choice(label="Send to comms", action="casestudy.submit"),),
        hidden={"draft": "d1"},
    )
    inputs = {"title": "Discharge letters", "behaviours": "Inclusive,listen"}
    if where == "message":
        drawn = render.message(card)
        message = Message(channel="D0ALICE", ts="1.000001", text=drawn.text, blocks=drawn.blocks)
        payload = slack.click_payload(
            "Send to comms", user="U0ALICE", message=message, inputs=inputs
        )
    else:
        view = render.modal(card, conversation="D0ALICE", kind="direct")
        payload = {
            "type": "view_submission",
            "team": {"id": "T1"},
            "user": {"id": "U0ALICE", "name": "alice", "team_id": "T1"},
            "view": {
                "id": "V1",
                "hash": "h1",
                "private_metadata": view["private_metadata"],
                "state": {"values": slack.state(view["blocks"], inputs)},
            },
        }
    event = translate(payload)
    assert event is not None
    expected = submission(card, card.choices[0], {**inputs, "behaviours": "listen,inclusive"})
    assert BEHAVIOURS.selected(event.values["behaviours"]) == ("listen", "inclusive")  # type: ignore[attr-defined]
    assert dict(event.values) == expected  # type: ignore[attr-defined]


def test_nothing_picked_submits_nothing() -> None:
    state = {
        "values": {"in.behaviours": {"behaviours": {"type": "checkboxes", "selected_options": []}}}
    }
    assert inputs_of(state) == {"behaviours": ""}
