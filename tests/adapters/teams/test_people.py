"""Who people are in Teams: the name Teams leaves out of an install, and the directory entry
(Entra object id, user principal name, email) the bot asks the Bot Connector for once and keeps,
so comms members and admins can be named by what an administrator can look up."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event

from bot.app import build_app
from bot.clock import ManualClock
from storage.people import PersonKey
from tests.adapters.teams.conftest import (
    ALICE,
    ANONYMOUS,
    BOB,
    CAROL,
    CHANNEL,
    TENANT,
    TeamsWorld,
    start_world,
)
from tests.adapters.teams.test_case_studies_digest import deliver
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector

PEOPLE = "SELECT user_id, display_name, directory_id, principal_name, email FROM people"


async def test_the_welcome_names_the_person_teams_did_not_name(teams: TeamsWorld) -> None:
    # Teams' install says who in ids only: the bot asks the connector who that is.
    install = teams.activity("personal_install")
    assert "name" not in install["from"]
    assert await teams.send(install) == 202
    welcome = teams.last(ALICE.direct)
    assert welcome.startswith("Hello Alice Smith\n")
    assert ALICE.id not in welcome
    (lookup,) = teams.connector.lookups()
    assert lookup.path == f"/v3/conversations/{ALICE.direct}/members/{ALICE.id}"
    assert await rows(teams.app, PEOPLE) == [
        (ALICE.id, "Alice Smith", ALICE.aad, ALICE.upn.lower(), ALICE.upn.lower())
    ]
    assert await rows(teams.app, "SELECT directory_at IS NOT NULL FROM people") == [(1,)]

    # Asked once: later events (and a reinstall) use what is kept.
    await teams.says("values")
    await teams.installs(ALICE)
    assert teams.last(ALICE.direct).startswith("Hello Alice Smith\n")
    assert len(teams.connector.lookups()) == 1


async def test_someone_identified_is_read_once_a_minute_not_before_every_turn(
    teams: TeamsWorld,
) -> None:
    await teams.installs(ALICE)  # asked once, and kept
    reads: list[int] = []

    def counted(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "\nFROM people" in statement:
            reads[-1] += 1

    engine = teams.app.database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counted)
    try:
        for _ in range(3):
            reads.append(0)
            await teams.says("values")
        # What this process changes of her (an erasure, a leaver's mark) has her read again.
        teams.app.database.seen_lately.forget(PersonKey("teams", TENANT, ALICE.id))
        reads.append(0)
        await teams.says("values")
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert reads[0] >= 1
    assert reads == [reads[0], reads[0] - 1, reads[0] - 1, reads[0]]
    assert teams.last(ALICE.direct).startswith("NHS England values bot\n")
    assert len(teams.connector.lookups()) == 1


async def test_a_lookup_that_works_when_asked_again_is_used_at_once(teams: TeamsWorld) -> None:
    teams.connector.fail(404)  # the install's lookup
    assert await teams.installs(ALICE) == 202
    await teams.says("values")  # not asked again yet: her row (no entry) read, and kept
    assert len(teams.connector.lookups()) == 1
    # Her retry time has come: asked again, answered, and her entry used from then on.
    key = PersonKey("teams", TENANT, ALICE.id)
    teams.bot._not_found[key] = 0.0
    await teams.says("values")
    await teams.says("values")
    assert [c.status for c in teams.connector.lookups()] == [404, 200]
    assert await rows(teams.app, PEOPLE) == [
        (ALICE.id, "Alice Smith", ALICE.aad, ALICE.upn.lower(), ALICE.upn.lower())
    ]


async def test_someone_added_to_a_channel_is_named_from_the_channel(teams: TeamsWorld) -> None:
    added = teams.activity("channel_member_added", channel=CHANNEL)
    added["membersAdded"] = [{"id": CAROL.id, "aadObjectId": CAROL.aad}]
    assert await teams.send(added) == 202
    (lookup,) = teams.connector.lookups()
    assert lookup.path == f"/v3/conversations/{CHANNEL}/members/{CAROL.id}"
    assert await rows(teams.app, PEOPLE) == [
        (CAROL.id, "Carol Ng", CAROL.aad, CAROL.upn.lower(), CAROL.upn.lower())
    ]
    # Met in the channel: the channel's connector opens a chat with her later.
    assert await rows(teams.app, "SELECT service_url, direct_conversation FROM people") == [
        (teams.connector.url, None)
    ]
    assert teams.connector.posts() == []  # and nobody was told anything


async def test_a_lookup_that_fails_is_no_error_and_names_nobody_by_id(
    teams: TeamsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    teams.connector.fail(404)  # the lookup: Teams says no such member
    with caplog.at_level(logging.INFO):
        assert await teams.installs(ALICE) == 202
    welcome = teams.last(ALICE.direct)
    assert welcome.startswith("Hello\n")
    assert "29:" not in welcome
    assert [c.status for c in teams.connector.lookups()] == [404]
    assert await rows(teams.app, PEOPLE) == [(ALICE.id, "", None, None, None)]
    assert await rows(teams.app, "SELECT directory_at FROM people") == [(None,)]
    said = [r for r in caplog.records if r.name == "valuesbot.teams" and "member" in r.message]
    assert [(r.levelname, r.getMessage()) for r in said] == [
        ("INFO", "could not ask Teams who a member is (RecipientUnreachable)")
    ]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # Not asked again at once; her own message names her meanwhile.
    await teams.says("values")
    assert len(teams.connector.lookups()) == 1
    assert await rows(teams.app, "SELECT display_name FROM people") == [("Alice Smith",)]


@pytest.fixture
async def by_directory(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    """Comms named by user principal name (in another case), an admin by Entra object id."""
    settings = make_settings(
        sqlite_url,
        **ANONYMOUS,
        VALUESBOT_COMMS=f"teams:{CAROL.upn.upper()}",
        VALUESBOT_ADMINS=f"teams:{BOB.aad}",
    )
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()


async def test_comms_and_admins_named_by_their_directory_entry(by_directory: TeamsWorld) -> None:
    teams = by_directory
    for person in (ALICE, BOB, CAROL):
        await teams.installs(person)

    # Carol, listed by her user principal name, is comms: the queue is hers to see.
    await teams.says("casestudy queue", person=CAROL)
    assert teams.last(CAROL.direct) == "Case study queue\nNothing is waiting for review."
    await teams.says("casestudy queue", person=ALICE)
    assert teams.last(ALICE.direct).startswith("Only comms can do this")

    # Alice's story goes to Carol, found by that name among the people the bot knows.
    await teams.says("casestudy")
    await teams.clicks(
        "Send to comms",
        inputs={
            "title": "Patients shaped the letter",
            "story": "We ran two workshops.",
            "behaviours": "listen",
            "difference": "Complaints halved.",
            "named": "yes",
        },
    )
    await deliver(teams.app)
    assert await rows(teams.app, "SELECT recipient, status FROM outbox") == [(CAROL.id, "sent")]
    assert teams.last(CAROL.direct).startswith("Case study to review: Patients shaped the letter")
    await teams.clicks("Approve", person=CAROL)
    assert await rows(teams.app, "SELECT status, moderator FROM case_studies") == [
        ("approved", CAROL.id)
    ]

    # Bob, listed by his Entra object id, is an admin: he may close Alice's team check-in.
    await teams.says("valueslens Rota review", channel=CHANNEL)
    await teams.clicks("Close and show results", person=BOB, where=CHANNEL)
    assert teams.last(CHANNEL).startswith("Team values lens results: Rota review")
    assert await rows(teams.app, "SELECT status FROM team_checkins") == [("closed",)]
    assert await rows(teams.app, "SELECT tenant FROM people GROUP BY tenant") == [(TENANT,)]
