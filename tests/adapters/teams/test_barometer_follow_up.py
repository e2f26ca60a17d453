"""You said, we did in Teams: real activities to the running server, cards from the mock Bot
Connector. A round of twelve with comments, closed; comms respond to two comments and one theme;
the author reads the response on their own card, someone else's replay of that click shows
them nothing; an action goes from planned to done and is in the next digest; the results page,
its JSON and CSV and ``/you-said-we-did`` show it."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from adapters import channel_directories
from bot.app import build_app
from bot.clock import ManualClock
from tests.adapters.teams.adaptive_cards import assert_valid
from tests.adapters.teams.conftest import (
    ANONYMOUS,
    BOT_ID,
    CAROL,
    CHANNEL,
    TENANT,
    TeamsWorld,
    staff,
    start_world,
)
from tests.adapters.teams.test_barometer import answers, chat, deliver, member
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector, card_texts

NEWS = "19:0a1b2c3d4e5f40718293a4b5c6d7e8f9@thread.tacv2"
PEOPLE = staff(12)
SEE = "See the response to my comment"
AUTHOR_SAID = "**Read this** <at>Everyone</at> & [click](https://evil.example)"


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    settings = make_settings(
        sqlite_url,
        **ANONYMOUS,
        VALUESBOT_COMMS=f"teams:{CAROL.id}",
        CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID=TENANT,
        VALUESBOT_BAROMETER_CHANNELS=f"teams:{CHANNEL}",
        VALUESBOT_PUBLIC_URL="https://values.example.org",
    )
    app = await build_app(
        settings, clock=clock, prepare=False, directories=channel_directories(settings)
    )
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()


def comment_of(n: int) -> str:
    return AUTHOR_SAID if n == 0 else f"Comment {n} about workload"


def raw(card: object) -> str:
    """The Markdown of every TextBlock and fact on a card, as Teams reads it (escapes kept)."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "TextBlock":
                found.append(str(node.get("text")))
            if node.get("type") == "FactSet":
                found.extend(f"{f['title']}: {f['value']}" for f in node.get("facts", ()))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(card)
    return "\n".join(found)


async def test_you_said_we_did_in_teams(teams: TeamsWorld, clock: ManualClock) -> None:
    connector = teams.connector
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    await teams.send(teams.activity("channel_install", channel=NEWS))
    await teams.installs(CAROL)
    connector.members(CHANNEL, [*map(member, PEOPLE), {"id": BOT_ID, "name": "valuesbot"}])
    await teams.says("barometer open", person=CAROL)
    await deliver(teams.app)
    for n, person in enumerate(PEOPLE):
        given = answers("agree", "agree", comment=comment_of(n))
        assert (
            await teams.clicks("Send my answers", person=person, inputs=given, where=chat(person))
            == 202
        )
    author, other = PEOPLE[0], PEOPLE[5]
    author_card = teams.card_call(SEE, chat(author))
    clock.advance(timedelta(days=1))
    await teams.says("barometer close", person=CAROL)
    for _ in range(2):
        await teams.says("barometer comments", person=CAROL)
        while True:
            try:
                await teams.clicks("Approve", person=CAROL)
            except AssertionError:
                break
    assert await rows(teams.app, "SELECT DISTINCT status FROM barometer_comments") == [
        ("approved",)
    ]
    ids = {
        str(t): str(i) for i, t in await rows(teams.app, "SELECT id, text FROM barometer_comments")
    }

    # Comms respond to the author's comment on its card (the cards come ten at a time).
    await teams.says("barometer respond", person=CAROL)
    await teams.says("barometer respond 2", person=CAROL)
    form = next(
        call
        for call in connector.posts(CAROL.direct)
        if call.card
        and AUTHOR_SAID in card_texts(call.card)
        and "Publish response" in card_texts(call.card)
    )
    assert (
        "\\*\\*Read this\\*\\* \\<at\\>Everyone\\</at\\> & \\[click\\](https://evil.example)"
        in (raw(form.card))
    )
    reply = "We read it **all** <at>Everyone</at>: the rota changes in January."
    await teams.clicks(
        "Publish response", person=CAROL, inputs={"response": reply, "theme": ""}, call=form
    )
    published = teams.current(form)
    assert published is not None
    assert any(t.startswith("✓ Published") for t in card_texts(published))
    assert "\\*\\*all\\*\\* \\<at\\>Everyone\\</at\\>" in raw(published)
    # Another typed, then two under a theme; someone not in comms is refused.
    await teams.says(f"barometer respond {ids[comment_of(1)][:6]} Thank you, noted.", person=CAROL)
    assert teams.last(CAROL.direct).startswith("Response published")
    await teams.says(
        f'barometer respond {ids[comment_of(2)][:6]} {ids[comment_of(3)][:6]} --theme "Workload" '
        "Fewer meetings from January.",
        person=CAROL,
    )
    assert "the theme “Workload” (2 comments)" in teams.last(CAROL.direct)
    await teams.says(f"barometer respond {ids[comment_of(4)][:6]} Hi", person=other)
    assert teams.last(other.direct).startswith("Only the comms team can do this")

    # The author's own card shows the response, in place, in their personal chat.
    before = len(connector.calls)
    await teams.clicks(SEE, person=author, call=author_card)
    (update,) = connector.calls[before:]
    assert (update.method, update.conversation) == ("PUT", chat(author))
    shown = card_texts(update.card)
    assert "Their response: " + reply in shown
    assert not any(AUTHOR_SAID in t for t in shown)
    # Someone else's replay of that click (the author's card, its token, their own id): no
    # card changes and no response reaches anyone.
    before = len(connector.calls)
    await teams.clicks(SEE, person=other, call=author_card)
    sent = connector.calls[before:]
    assert [c.method for c in sent] == ["POST"]
    assert card_texts(sent[0].card)[0] == "Nothing to show"
    assert not any("rota" in t for t in card_texts(sent[0].card))

    # An action for the theme, from planned to done; the digest says so.
    await teams.says(
        'barometer actions add "Meeting-free *afternoons*" --theme Workload --owner "Ops team"',
        person=CAROL,
    )
    assert teams.last(CAROL.direct).startswith("Action 1: Meeting-free *afternoons*")
    clock.advance(timedelta(days=2))
    await teams.clicks("Done", person=CAROL)
    assert "✓ Done (3 Dec 2026)." in teams.last(CAROL.direct)
    await teams.says(f"digest schedule {NEWS} weekly monday 09:00", person=CAROL)
    await teams.says(f"digest send-now {NEWS}", person=CAROL)
    before = len(connector.calls)
    await deliver(teams.app)
    digest = [c for c in connector.calls[before:] if c.conversation == NEWS]
    assert digest
    texts = "\n".join(card_texts(digest[0].card))
    assert "You said “Workload” (November 2026), we did “Meeting-free *afternoons*”." in texts
    assert "Meeting-free \\*afternoons\\*" in raw(digest[0].card)

    # The results page, its JSON and CSV, and You said, we did, from the same server.
    page = await (await teams.client.get("/barometer")).text()
    assert "We read it **all** &lt;at&gt;Everyone&lt;/at&gt;: the rota changes in January." in page
    latest = (await (await teams.client.get("/barometer.json")).json())["rounds"][0]
    assert latest["comments_answered"] == 4
    table = await (await teams.client.get("/barometer.csv")).text()
    commented = {
        line["comment"]: line
        for line in csv.DictReader(io.StringIO(table))
        if line["question_id"] == "comment"
    }
    assert commented[AUTHOR_SAID]["response"] == reply
    assert commented[comment_of(2)]["theme"] == "Workload"
    said_did = await (await teams.client.get("/you-said-we-did")).text()
    assert "Meeting-free *afternoons*" in said_did
    assert "Done (3 Dec 2026)" in said_did
    data = await (await teams.client.get("/you-said-we-did.json")).json()
    [done] = data["rounds"][0]["actions"]
    assert [h["status"] for h in done["history"]] == ["planned", "done"]
    assert_valid(teams.every_card())
