"""Your own record in Teams: ``values mydata`` (links only in the personal chat), the downloads,
``values forget-me`` with its confirmation button, and leavers (``conversationUpdate`` with the
person removed from the bot's personal scope, ``installationUpdate`` removing the app), through
recorded activities and the mock Bot Connector."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import pytest

from bot.app import build_app
from bot.clock import ManualClock
from tests.adapters.teams.conftest import ALICE, ANONYMOUS, BOB, CHANNEL, TeamsWorld, start_world
from tests.adapters.teams.test_commitments import deliver
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector

PUBLIC = "https://values.example.org"
LINK = re.compile(re.escape(PUBLIC) + r"/me/([A-Za-z0-9_-]+\.(?:docx|json))")


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    settings = make_settings(sqlite_url, **ANONYMOUS, VALUESBOT_PUBLIC_URL=PUBLIC)
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()


async def test_mydata_in_the_personal_chat_links_to_exactly_my_record(teams: TeamsWorld) -> None:
    for person, words in ((ALICE, "ask two patients"), (BOB, "publish the minutes")):
        await teams.installs(person)
        await teams.says(f"commitment My contribution is to {words} #listen", person=person)
    await teams.says("values mydata")
    card = teams.last(ALICE.direct)
    assert "Your values record" in card
    tokens = {t.rsplit(".", 1)[1]: t for t in LINK.findall(card)}
    assert sorted(tokens) == ["docx", "json"]
    response = await teams.client.get(f"/me/{tokens['json']}")
    assert response.status == 200
    data = json.loads(await response.text())
    assert data["you"]["id"] == ALICE.id
    assert [c["text"] for c in data["commitments"]] == ["ask two patients"]
    assert BOB.id not in json.dumps(data)
    assert (await teams.client.get(f"/me/{tokens['json']}")).status == 410


async def test_mydata_in_a_channel_sends_the_links_to_the_personal_chat(
    teams: TeamsWorld,
) -> None:
    await teams.installs(ALICE)
    await teams.says("values mydata", channel=CHANNEL)
    assert not any(PUBLIC in text for text in teams.texts(CHANNEL))
    await deliver(teams.app)
    assert len(LINK.findall(teams.last(ALICE.direct))) == 2
    assert await rows(teams.app, "SELECT status FROM outbox WHERE job = 'records-mydata'") == [
        ("sent",)
    ]


async def test_forget_me_asks_then_erases_with_the_button(teams: TeamsWorld) -> None:
    for person, words in ((ALICE, "ask two patients"), (BOB, "publish the minutes")):
        await teams.installs(person)
        await teams.says(f"commitment My contribution is to {words} #listen", person=person)
    await teams.says("values forget-me")
    asked = teams.last(ALICE.direct)
    assert "Erase what I hold about you?" in asked
    assert "1 commitment" in asked
    await teams.clicks("Erase everything")
    assert "Erased" in teams.last(ALICE.direct)
    assert await rows(teams.app, "SELECT owner FROM commitments") == [(BOB.id,)]
    assert await rows(teams.app, "SELECT user_id FROM people") == [(BOB.id,)]
