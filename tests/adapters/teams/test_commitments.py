"""Personal commitments in Teams: made through card submits (the behaviours are check boxes)
and in one line, shared with the values channel through the outbox worker (the person's words
escaped, so nothing they wrote can format, link or mention), edited and marked done."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from bot.app import App, build_app
from bot.clock import ManualClock
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import (
    ALICE,
    ANONYMOUS,
    TENANT,
    TeamsWorld,
    buttons,
    start_world,
)
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector, card_texts

VALUES = "19:9a8b7c6d5e4f40312f1e0d9c8b7a6f5e@thread.tacv2"
CALL = (
    "We create the culture and conditions for health and care services and staff to deliver "
    "the highest standards of care."
)
HOSTILE = "test drafts with **two** patients <at>Everyone</at> [see](https://x.example) @channel"


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    settings = make_settings(sqlite_url, **ANONYMOUS, VALUESBOT_VALUES_CHANNEL=f"teams:{VALUES}")
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()


async def deliver(app: App) -> None:
    deadline = time.monotonic() + 60
    while await app.delivery.run_once():
        assert time.monotonic() < deadline, "the delivery never finished"


async def test_a_commitment_made_shared_edited_and_done(teams: TeamsWorld) -> None:
    await teams.installs(ALICE)
    await teams.send(teams.activity("channel_install", channel=VALUES))  # the values channel

    # Made in three card submits; the behaviours are check boxes, submitted comma-joined.
    await teams.says("commitment")
    assert teams.last(ALICE.direct).startswith("Your commitment")
    await teams.clicks("Next", inputs={"text": f"My contribution is to {HOSTILE}"})
    card = teams.current(teams.card_call("Next", ALICE.direct))
    assert card is not None
    (behaviours,) = [e for e in card["body"] if e["type"] == "Input.ChoiceSet"]
    assert behaviours["isMultiSelect"] is True
    assert [c["value"] for c in behaviours["choices"]] == [
        "patients",
        "listen",
        "evidence",
        "open",
        "inclusive",
        "improve",
    ]
    await teams.clicks("Next", inputs={"behaviours": "open,listen"})
    await teams.clicks("In a month")
    # Each question card became its answer, in place: nothing on it to click twice.
    questions = teams.connector.posts(ALICE.direct)[-4:-1]
    answered = [teams.current(call) or {} for call in questions]
    assert [card_texts(card) for card in answered] == [
        ["Your commitment", f"✓ My contribution is to {HOSTILE}"],
        ["Your commitment", "✓ Listen and learn, Open and transparent"],
        ["Your commitment", "✓ Review on 30 Dec 2026"],
    ]
    assert [buttons(card) for card in answered] == [[], [], []]
    saved = teams.last(ALICE.direct)
    assert saved.startswith("Your commitment\nSaved. Only you can see it unless you share it.")
    assert f"{CALL} My contribution is to {HOSTILE}" in saved
    assert "Behaviours: Listen and learn, Open and transparent" in saved
    assert await rows(teams.app, "SELECT text, behaviours, review_on, status FROM commitments") == [
        (HOSTILE, '["listen", "open"]', "2026-12-30", "open")
    ]

    # Shared: asked first, then queued in the outbox, and posted by the delivery worker.
    await teams.clicks("Share with the values channel")
    await teams.clicks("Share it")
    assert "Shared: it will appear in the values channel in a moment." in teams.last(ALICE.direct)
    assert teams.connector.posts(VALUES) == []  # not from the turn: from the outbox
    await deliver(teams.app)
    (post,) = teams.connector.posts(VALUES)
    ((commitment_id,),) = await rows(
        teams.app, "SELECT id FROM commitments WHERE text LIKE 'test%'"
    )
    assert post.path == f"/v3/conversations/{VALUES}/activities"
    assert post.body["channelData"] == {
        "valuesbotOutboxKey": f"commitment-share:{commitment_id}:20261130T093000000000Z"
    }
    assert post.body["conversation"]["tenantId"] == TENANT
    shown = card_texts(post.card)
    assert shown[0] == "A commitment from Alice Smith"
    assert shown[1] == f"{CALL} My contribution is to {HOSTILE}"  # as written, to the reader
    assert shown[2] == "Behaviours: Listen and learn, Open and transparent"
    # ...because the markup is escaped in the card, and nothing mentions anyone.
    wire = json.dumps(post.body)
    assert r"\\*\\*two\\*\\*" in wire
    assert r"\\<at\\>Everyone\\</at\\>" in wire
    assert r"\\[see\\](https://x.example)" in wire
    assert "<at>" not in wire.replace(r"\\<at\\>", "")
    assert "entities" not in post.body
    assert "text" not in post.body  # the card is the whole message
    # Sharing again posts nothing more.
    await teams.clicks("Share it", call=teams.card_call("Share it", ALICE.direct))
    await deliver(teams.app)
    assert len(teams.connector.posts(VALUES)) == 1

    # And one in a line, with a tag.
    await teams.says("commitment My contribution is to publish the minutes #open")
    assert "Saved." in teams.last(ALICE.direct)
    assert await rows(
        teams.app, "SELECT text, behaviours FROM commitments ORDER BY created_at, text"
    ) == [("publish the minutes", '["open"]'), (HOSTILE, '["listen", "open"]')]

    # Edited: the same questions, with what was there kept.
    await teams.says("commitment list")
    listing = teams.current(teams.card_call("Edit", ALICE.direct))
    assert listing is not None
    assert "2 commitments, newest first." in card_texts(listing)[1]
    await teams.clicks(
        "Edit", call=teams.card_call("Edit", ALICE.direct), inputs={"commitment": commitment_id}
    )
    await teams.clicks("Keep the words")
    card = teams.current(teams.card_call("Next", ALICE.direct))
    assert card is not None
    (behaviours,) = [e for e in card["body"] if e["type"] == "Input.ChoiceSet"]
    assert behaviours["value"] == "listen,open"  # the check boxes as they were
    await teams.clicks("Next", inputs={"behaviours": "listen,open,inclusive"})
    await teams.clicks("Keep 30 Dec 2026")
    changed = teams.last(ALICE.direct)
    assert "Changed. The post in the values channel keeps the words you shared." in changed
    assert "Behaviours: Listen and learn, Open and transparent, Inclusive" in changed
    assert await rows(
        teams.app, f"SELECT behaviours FROM commitments WHERE id = '{commitment_id}'"
    ) == [('["listen", "open", "inclusive"]',)]

    # Marked done.
    await teams.clicks("Mark done", call=teams.card_call("Mark done", ALICE.direct))
    assert "Marked done. Well done." in teams.last(ALICE.direct)
    assert await rows(
        teams.app, f"SELECT status FROM commitments WHERE id = '{commitment_id}'"
    ) == [("done",)]
    assert await rows(teams.app, "SELECT COUNT(*) FROM dialog_states") == [(0,)]
    # Every card Teams received is a valid Adaptive Card 1.5 (the Adaptive Cards library says).
    assert_valid(teams.every_card())
