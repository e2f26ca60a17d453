"""A whole barometer round in Teams: real activity JSON posted to the running server, the poll
delivered by the outbox worker through the Teams outbound to the mock Bot Connector, answers as
Action.Submit activities, results posted to the results channel. Asserts the rows in the
database and the exact calls the connector received."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters import OnFirstUse, channel_directories
from adapters.teams.app import TeamsChannelMembers
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import ConversationKind, ConversationRef, Platform
from dialogs.barometer.service import AudienceError
from storage.people import PersonKey
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import (
    ANONYMOUS,
    BOT_ID,
    CAROL,
    CHANNEL,
    TENANT,
    Person,
    TeamsWorld,
    staff,
    start_world,
)
from tests.conftest import make_settings
from tests.contract.test_barometer import answers_now
from tests.dialogs.test_barometer import nhs_counts
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector, card_texts

RESULTS = "19:5e4d3c2b1a0f49e8d7c6b5a4f3e2d1c0@thread.tacv2"
PERIOD = "2026-11"  # the clock starts on Monday 30 November 2026, 09:30 in London
JOB = f"barometer:{PERIOD}"
PEOPLE = staff(50)


def chat(person: Person) -> str:
    """The direct chat the bot opens with someone it met only through a channel."""
    return f"a:mock-direct-{person.id}"


def member(person: Person) -> dict[str, str]:
    """A person as the connector's members API lists them."""
    return {
        "id": person.id,
        "name": person.name,
        "aadObjectId": person.aad,
        "userPrincipalName": f"{person.name.split()[0].lower()}@example.org",
        "tenantId": TENANT,
        "userRole": "user",
    }


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    """valuesbot as ``valuesbot serve`` wires it (the channel directories of ``adapters``), the
    barometer asked of a Teams channel's members."""
    settings = make_settings(
        sqlite_url,
        **ANONYMOUS,
        VALUESBOT_COMMS=f"teams:{CAROL.id}",
        # A channel of the bot's own tenant needs no tenant id.
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID=TENANT,
        VALUESBOT_BAROMETER_CHANNELS=f"teams:{CHANNEL}",
        VALUESBOT_BAROMETER_RESULTS=f"teams:{TENANT}:{RESULTS}",
        VALUESBOT_PUBLIC_URL="https://values.example.org",
    )
    app = await build_app(
        settings, clock=clock, prepare=False, directories=channel_directories(settings)
    )
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()


async def deliver(app: App) -> None:
    """The delivery worker's rounds until nothing due is left (bounded)."""
    deadline = time.monotonic() + 60
    while await app.delivery.run_once():
        assert time.monotonic() < deadline, "the delivery never finished"


def answers(nhs: str, organisation: str, group: str = "", comment: str = "") -> dict[str, str]:
    given = {"q_nhs": nhs, "q_organisation": organisation}
    if group:
        given["group"] = group
    if comment:
        given["comment"] = comment
    return given


def by_type(card: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e for e in card["body"] if e["type"] == kind]


async def test_a_whole_round_in_teams(teams: TeamsWorld, clock: ManualClock) -> None:
    connector = teams.connector
    # The app is in the team (both channels); Carol of comms has it in her chat; the team's
    # fifty people have never talked to the bot.
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    await teams.send(teams.activity("channel_install", channel=RESULTS))
    await teams.installs(CAROL)
    connector.members(CHANNEL, [*map(member, PEOPLE), {"id": BOT_ID, "name": "valuesbot"}])
    start = len(connector.calls)

    # Comms open the round: the channel's members are asked, the polls queued.
    await teams.says("barometer open", person=CAROL)
    assert teams.last(CAROL.direct).startswith("Opened: Staff barometer: November 2026")
    assert "queued for 50 people" in teams.last(CAROL.direct)
    listing, opened = connector.calls[start:]
    assert (listing.method, listing.path) == ("GET", f"/v3/conversations/{CHANNEL}/pagedmembers")
    assert opened.conversation == CAROL.direct
    assert await rows(teams.app, "SELECT COUNT(*) FROM barometer_participation") == [(50,)]
    assert await rows(teams.app, "SELECT COUNT(*), MIN(status) FROM outbox") == [(50, "queued")]

    # The outbox worker opens a chat with each person and posts the poll there, once.
    start = len(connector.calls)
    await deliver(teams.app)
    calls = connector.calls[start:]
    created = [c for c in calls if c.path == "/v3/conversations"]
    polls = [c for c in calls if c.path.endswith("/activities")]
    assert len(calls) == len(created) + len(polls) == 100
    assert sorted(c.body["members"][0]["id"] for c in created) == sorted(p.id for p in PEOPLE)
    assert all(c.body["bot"]["id"] == BOT_ID and c.body["tenantId"] == TENANT for c in created)
    assert sorted(c.conversation or "" for c in polls) == sorted(map(chat, PEOPLE))
    assert sorted(connector.keys()) == sorted(f"{JOB}:teams:{TENANT}:{p.id}" for p in PEOPLE)
    assert await rows(teams.app, "SELECT status, COUNT(*) FROM outbox GROUP BY 1") == [("sent", 50)]
    ((round_id,),) = await rows(teams.app, "SELECT id FROM barometer_rounds")

    # The poll: a choice set per question, the optional team and comment, one Send button
    # carrying the round (and no token: nothing has been answered).
    poll = polls[0].card
    assert poll is not None
    assert all(c.card == poll for c in polls)
    assert poll["version"] == "1.5"
    assert card_texts(poll)[0] == "Staff barometer: November 2026"
    nhs, organisation, group = by_type(poll, "Input.ChoiceSet")
    assert (nhs["id"], nhs["isRequired"]) == ("q_nhs", True)
    assert nhs["label"] == "My work is making a positive difference to the NHS"
    assert [c["value"] for c in nhs["choices"]] == [
        "strongly_disagree",
        "disagree",
        "neutral",
        "agree",
        "strongly_agree",
    ]
    assert (organisation["id"], group["id"], group["isRequired"]) == (
        "q_organisation",
        "group",
        False,
    )
    (comment,) = by_type(poll, "Input.Text")
    assert (comment["id"], comment["isMultiline"], comment["maxLength"]) == ("comment", True, 500)
    (send,) = poll["actions"]
    assert (send["type"], send["title"]) == ("Action.Submit", "Send my answers")
    assert send["data"]["valuesbot"]["hidden"] == {"round": round_id}
    assert send["data"]["valuesbot"]["inputs"] == ["q_nhs", "q_organisation", "group", "comment"]
    assert "Results are shown only for groups of 5 or more people" in card_texts(poll)[-2]

    # Thirty answer through the card; each card becomes "thank you, recorded" in place.
    for n, person in enumerate(PEOPLE[:30]):
        team = "area" if n < 20 else ("regional" if n < 24 else "national")
        given = answers(
            "agree" if n % 3 else "strongly_agree",
            "agree" if n % 2 else "neutral",
            team,
            f"comment {n} <at>Everyone</at>" if n < 12 else "",
        )
        before = len(connector.calls)
        assert (
            await teams.clicks("Send my answers", person=person, inputs=given, where=chat(person))
            == 202
        )
        (update,) = connector.calls[before:]
        poll_call = connector.posts(chat(person))[0]
        assert (update.method, update.path) == (
            "PUT",
            f"/v3/conversations/{chat(person)}/activities/{poll_call.answered_id}",
        )
        thanks = update.card
        assert thanks is not None
        assert card_texts(thanks)[0] == "Thank you: Staff barometer: November 2026"
        assert "Your answer is recorded." in card_texts(thanks)[1]
        assert by_type(thanks, "Input.ChoiceSet") == []  # answered: nothing to click twice
        change, *see = thanks["actions"]
        assert change["title"] == "Change my answer"
        # Those who wrote a comment can read the comms team's response to it, later.
        assert [a["title"] for a in see] == (["See the response to my comment"] if n < 12 else [])
        hidden = change["data"]["valuesbot"]["hidden"]
        assert hidden["round"] == round_id
        assert len(hidden["token"]) >= 32
        if n == 0:
            # Teams retries the same submit (same activity id): it counts once.
            before = len(connector.calls)
            assert await teams.send(teams.last_click) == 202
            assert connector.calls[before:] == []
    assert await rows(teams.app, "SELECT COUNT(*) FROM barometer_participation WHERE answered") == [
        (30,)
    ]
    everyone = await answers_now(teams.app.database)
    assert len(everyone) == 30
    assert all(set(a.values) == {"nhs", "organisation"} for a in everyone.values())
    # Nothing links a person to an answer: the answer rows hold no person.
    for table in ("barometer_responses", "barometer_comments", "barometer_pending"):
        found = await rows(teams.app, f"SELECT * FROM {table}")
        assert not any(p.id in str(r) for r in found for p in PEOPLE), table

    # A second, separate click on the poll as first posted (a screen not yet refreshed).
    first = connector.posts(chat(PEOPLE[2]))[0]
    await teams.clicks(
        "Send my answers",
        person=PEOPLE[2],
        inputs=answers("disagree", "disagree"),
        call=first,
    )
    assert "You have already answered" in teams.last(chat(PEOPLE[2]))

    # PEOPLE[1] changes their mind through the answered card (they gave agree/agree).
    person = PEOPLE[1]
    before_counts = await nhs_counts(teams.app)
    before = len(connector.calls)
    await teams.clicks("Change my answer", person=person, where=chat(person))
    (update,) = connector.calls[before:]
    assert update.method == "PUT"  # the same message turns back into the questions
    form = update.card
    assert form is not None
    assert "your new answer replaces the one you gave" in "\n".join(card_texts(form))
    assert all("value" not in i for i in by_type(form, "Input.ChoiceSet"))  # never shown again
    new, keep = form["actions"]
    assert (new["title"], keep["title"]) == ("Send my new answer", "Keep my answer")
    assert new["data"]["valuesbot"]["hidden"]["token"] == hidden_token(connector, person)
    await teams.clicks(
        "Send my new answer",
        person=person,
        inputs=answers("disagree", "agree", "area"),
        where=chat(person),
    )
    assert "Your new answer replaced your earlier one." in teams.last(chat(person))
    after_counts = await nhs_counts(teams.app)
    assert after_counts == {
        **before_counts,
        "agree": before_counts["agree"] - 1,
        "disagree": 1,
    }
    assert await rows(teams.app, "SELECT COUNT(*) FROM barometer_participation WHERE answered") == [
        (30,)
    ]

    # A reminder goes to the twenty who have not answered, in the chats already open.
    await teams.says("barometer remind", person=CAROL)
    assert teams.last(CAROL.direct).startswith("Reminder 1 of 2 queued")
    start = len(connector.calls)
    await deliver(teams.app)
    reminders = connector.calls[start:]
    assert all(c.method == "POST" and c.path.endswith("/activities") for c in reminders)
    assert sorted(c.conversation or "" for c in reminders) == sorted(map(chat, PEOPLE[30:]))
    assert "You have not answered" in card_texts(reminders[0].card)[1]

    # Comms close the round: the results card goes to the results channel.
    clock.advance(timedelta(days=1))
    await teams.says("barometer close", person=CAROL)
    assert "The results are queued for 1 results channel." in teams.last(CAROL.direct)
    start = len(connector.calls)
    await deliver(teams.app)
    (posted,) = connector.calls[start:]
    assert (posted.method, posted.path) == ("POST", f"/v3/conversations/{RESULTS}/activities")
    assert posted.body["channelData"] == {
        "valuesbotOutboxKey": f"{JOB}:results:teams:{TENANT}:{RESULTS}"
    }
    results = card_texts(posted.card)
    assert results[0] == "Staff barometer results: November 2026"
    assert "30 of 50 people answered (60%)" in results[1]
    assert "The NHS: Agree" in results
    assert "My work is making a positive difference to the NHS: 97% agree" in results
    assert not any("regional" in t.lower() or "national" in t.lower() for t in results)
    assert await rows(teams.app, "SELECT status FROM barometer_rounds") == [("closed",)]
    assert await rows(teams.app, "SELECT COUNT(*) FROM barometer_participation") == [(0,)]
    # The same server publishes them on the web.
    published = await teams.client.get("/barometer.json")
    (latest,) = (await published.json())["rounds"]
    assert (latest["asked"], latest["answered"], latest["shown"]) == (50, 30, True)
    page = await teams.client.get("/barometer")
    assert "30 of 50 people answered (60%)" in await page.text()

    # Answering after the close is refused, privately.
    await teams.clicks(
        "Send my answers",
        person=PEOPLE[40],
        inputs=answers("agree", "agree"),
        where=chat(PEOPLE[40]),
    )
    assert teams.last(chat(PEOPLE[40])).startswith("Staff barometer: this round has closed")
    # Every card Teams received is a valid Adaptive Card 1.5 (the Adaptive Cards library says).
    assert_valid(teams.every_card())


def hidden_token(connector: MockBotConnector, person: Person) -> str:
    """The token the person's answered card holds (only their own message has it)."""
    for call in reversed(connector.updates(f"a:mock-direct-{person.id}")):
        card = call.card
        if card and card.get("actions") and card["actions"][0]["title"] == "Change my answer":
            return str(card["actions"][0]["data"]["valuesbot"]["hidden"]["token"])
    raise AssertionError("no answered card")


def directory(world: TeamsWorld) -> TeamsChannelMembers:
    lazy = world.app.barometer.directories[Platform.TEAMS]
    assert isinstance(lazy, OnFirstUse)
    found = lazy.built()
    assert isinstance(found, TeamsChannelMembers)
    return found


async def stored_channel(world: TeamsWorld, channel: str = CHANNEL) -> ConversationRef:
    async with world.app.database.unit() as stores:
        found = await stores.people.conversation("teams", TENANT, channel)
    assert found is not None
    return found


async def test_the_directory_pages_through_a_large_team(teams: TeamsWorld) -> None:
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    await teams.installs(CAROL)
    everyone = staff(1201)
    connector = teams.connector
    connector.members(CHANNEL, [member(CAROL), *map(member, everyone), {"id": BOT_ID}])
    place = await stored_channel(teams)
    async with teams.app.database.unit() as stores:
        seen_before = await stores.people.get(PersonKey("teams", TENANT, CAROL.id))
        found = await directory(teams).members(place, stores)
    assert found == [CAROL.id, *(p.id for p in everyone)]  # people only: the bot left out
    pages = connector.calls[-3:]
    assert [c.path for c in pages] == [f"/v3/conversations/{CHANNEL}/pagedmembers"] * 3
    # The newcomers are remembered with the channel's connector and the bot's account, so a
    # chat can be opened with each; Carol, already known, is left as she was.
    async with teams.app.database.unit() as stores:
        newcomer = await stores.people.get(PersonKey("teams", TENANT, everyone[-1].id))
        carol = await stores.people.get(PersonKey("teams", TENANT, CAROL.id))
    assert newcomer is not None
    assert newcomer.service_url == connector.url
    assert newcomer.extra["bot_id"] == BOT_ID
    assert newcomer.display_name == everyone[-1].name
    assert newcomer.direct_conversation is None
    assert carol == seen_before


async def test_a_channel_never_met_or_unlisted_is_a_clear_audience_error(
    teams: TeamsWorld,
) -> None:
    nowhere = ConversationRef(
        platform=Platform.TEAMS,
        tenant=TENANT,
        conversation="19:unknown@thread.tacv2",
        kind=ConversationKind.CHANNEL,
    )
    async with teams.app.database.unit() as stores:
        with pytest.raises(AudienceError, match="not been added to the Teams channel"):
            await directory(teams).members(nowhere, stores)
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    teams.connector.fail(503)
    async with teams.app.database.unit() as stores:
        with pytest.raises(AudienceError, match="Teams did not list the members"):
            await directory(teams).members(await stored_channel(teams), stores)


async def test_comms_are_told_when_the_channel_cannot_be_listed(teams: TeamsWorld) -> None:
    await teams.installs(CAROL)  # the app was never added to the team of CHANNEL
    await teams.says("barometer open", person=CAROL)
    said = teams.last(CAROL.direct)
    assert said.startswith("The round was not opened")
    assert "not been added to the Teams channel" in said
    assert await rows(teams.app, "SELECT COUNT(*) FROM barometer_rounds") == [(0,)]
