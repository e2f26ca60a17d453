"""Your own record in Teams: ``values mydata`` (links only in the personal chat), the downloads,
``values forget-me`` with its confirmation button, and leavers (``conversationUpdate`` with the
person removed from the bot's personal scope, ``installationUpdate`` removing the app), through
recorded activities and the mock Bot Connector."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import build_app
from bot.clock import ManualClock
from bot.delivery import to_person
from bot.ui import Card
from dialogs.records import RETENTION_JOB
from storage.people import PersonKey
from tests.adapters.teams.conftest import (
    ALICE,
    ANONYMOUS,
    BOB,
    CHANNEL,
    TENANT,
    Person,
    TeamsWorld,
    start_world,
)
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


async def queue_for(teams: TeamsWorld, person: Person) -> None:
    async with teams.app.database.unit() as stores:
        await stores.outbox.enqueue(
            to_person(
                f"nudge:{person.name}",
                "nudge",
                PersonKey("teams", TENANT, person.id),
                Card(text="Hi"),
            ),
            teams.app.clock.now() + timedelta(days=1),
        )


@pytest.mark.parametrize("activity", ["personal_uninstall", "installation_update_remove"])
async def test_removing_the_bot_from_the_personal_scope_cancels_then_erases(
    teams: TeamsWorld, clock: ManualClock, activity: str
) -> None:
    await teams.app.ensure_schedules()
    for person, words in ((ALICE, "ask two patients"), (BOB, "publish the minutes")):
        await teams.installs(person)
        await teams.says(f"commitment My contribution is to {words} #listen", person=person)
        await queue_for(teams, person)
    assert await teams.send(teams.activity(activity)) == 202
    assert await rows(
        teams.app, "SELECT recipient, status FROM outbox WHERE job = 'nudge' ORDER BY status"
    ) == [(ALICE.id, "cancelled"), (BOB.id, "queued")]
    assert await rows(teams.app, "SELECT user_id, reason FROM leavers") == [(ALICE.id, "removed")]
    clock.advance(timedelta(days=30, hours=1))
    assert await teams.app.run_schedules(RETENTION_JOB)
    assert await rows(teams.app, "SELECT owner FROM commitments") == [(BOB.id,)]
    assert await rows(teams.app, "SELECT user_id FROM people") == [(BOB.id,)]


async def test_a_person_removed_from_the_personal_scope_is_the_one_gone(
    teams: TeamsWorld,
) -> None:
    await teams.installs(ALICE)
    removed = teams.activity("personal_uninstall")
    removed["membersRemoved"] = [{"id": ALICE.id, "aadObjectId": ALICE.aad}]
    removed["from"] = {"id": "29:1systemActor"}
    assert await teams.send(removed) == 202
    assert await rows(teams.app, "SELECT user_id FROM leavers") == [(ALICE.id,)]
    # Coming back (any activity) lifts the mark.
    await teams.says("values")
    assert await rows(teams.app, "SELECT user_id FROM leavers") == []
