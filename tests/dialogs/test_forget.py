"""``/values forget-me`` through the harness: the confirmation names what goes; afterwards no
table holds the person's id, name or any key that can be made again for them (a scan of every
table of the metadata), their shared commitment is off the digest pages, and the barometer's
totals are unchanged."""

from __future__ import annotations

import json
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlmodel import SQLModel

from bot.app import App
from bot.audit import person_actor, record
from bot.delivery import to_person
from bot.ui import Card
from bot.web import build_web_app
from dialogs.digest import Digest, DigestCommitment, DigestStory, digest_to_json
from storage.barometer import BarometerAnswer
from storage.digests import DigestRun, DigestRunStatus
from storage.people import PersonKey
from tests.conftest import START
from tests.dialogs.test_records import ALICE, BOB, hold, identifier_id
from tests.dialogs.test_records import app as app  # the app fixture, with a public address
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness, where

RUN = "0123456789abcdef0123456789abcdef"
ALLOWED: dict[str, set[str]] = {}
"""Tables and columns that may still hold an erased person's id, name or key: none. (On Slack
the workspace's OAuth installation keeps the id of whoever installed the app, for as long as
it is installed: ``slack_installations.user_id``; see README "What is kept, for how long".)"""


async def traces(app: App, needles: list[str]) -> list[tuple[str, str, str]]:
    """Every (table, column, needle) where a needle appears in any row of any table, in any
    text, JSON or binary column (case-insensitive)."""
    wanted = [n.lower() for n in needles if n]
    found = []
    async with app.database.engine.connect() as connection:
        for table in SQLModel.metadata.sorted_tables:
            for row in (await connection.execute(select(table))).mappings():
                for column, value in row.items():
                    text = _text(value).lower()
                    for needle in wanted:
                        if needle in text and column not in ALLOWED.get(table.name, set()):
                            found.append((table.name, str(column), needle))
    return sorted(set(found))


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "ignore")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


async def everything_about(app: App, harness: Harness, person: PersonKey, name: str) -> None:
    """``person`` (and Bob) with every kind of row: check-in, commitments (one shared and in a
    digest page), a named approved story in that digest, team ratings, a dialog under way, a
    message waiting, a barometer answer, a download link, an audit entry, console posts."""
    await harness.user_says("/values", user=person.user)
    await harness.user_says("/values", user="bob")
    await hold(app, person, person.user)
    await hold(app, BOB, "bob")
    await harness.user_says("/values mydata", user=person.user)
    await harness.user_says("/commitment", user=person.user)  # left under way
    async with app.database.unit() as stores:
        await stores.outbox.enqueue(
            to_person("nudge:1", "nudge", person, Card(text=f"Hello {name}")), START
        )
        await stores.console.post(where(person.user, None).conversation, '{"text": "hi"}', START)
        await stores.meta.put(f"console_seen:team-x:{person.user}", "1")
        await record(stores, person_actor(person), "casestudy.approve", "cs-bob", START)
        digest = Digest(
            week_of="7 Dec 2026",
            behaviour="We listen and learn",
            behaviour_definition="...",
            barometer=None,
            stories=(
                DigestStory(
                    title=f"Story of {person.user}",
                    story="...",
                    difference="...",
                    behaviours="",
                    credit=name,
                    id=f"cs-{person.user}",
                ),
            ),
            shared=2,
            commitments=(
                DigestCommitment(text="commitment 1 of bob", behaviours="", by="Bob", id="cm1-bob"),
                DigestCommitment(
                    text=f"commitment 1 of {person.user}",
                    behaviours="",
                    by=name,
                    id=f"cm1-{person.user}",
                ),
            ),
        )
        await stores.digests.claim(
            DigestRun(
                id=RUN,
                schedule_id="d1",
                period="2026-12-07",
                place=where("carol", "values"),
                claimed_at=START,
                as_of=START,
            )
        )
        await stores.digests.include(RUN, where("carol", "values"), f"cs-{person.user}")
        await stores.digests.finish(
            RUN,
            status=DigestRunStatus.QUEUED,
            body=digest_to_json(digest),
            case_studies=1,
            commitments=2,
        )
        round_ = app.barometer.new_round(START, "2026-11")
        await stores.barometer.open(round_)
        await stores.barometer.invite(round_.id, [person, BOB])
        answer = BarometerAnswer(
            values={q.id: round_.scale[-1].id for q in round_.questions}, group=None, comment=""
        )
        await stores.barometer.answer(round_.id, person, answer, "hash-1")
        await stores.barometer.answer(round_.id, BOB, answer, "hash-2")


async def barometer_totals(app: App) -> tuple[object, ...]:
    [counts] = await rows(
        app,
        "SELECT (SELECT count(*) FROM barometer_participation), "
        "(SELECT count(*) FROM barometer_participation WHERE answered), "
        "(SELECT count(*) FROM barometer_pending), (SELECT count(*) FROM barometer_responses)",
    )
    return counts


async def test_forget_me_asks_first_naming_what_goes(harness: Harness, app: App) -> None:
    await everything_about(app, harness, ALICE, "Alice")
    card = (await harness.user_says("/values forget-me"))[-1]
    assert card.title == "Erase what I hold about you?"
    for goes in (
        "1 values lens check-in (with your notes and actions)",
        "2 commitments (1 shared: taken off the digest pages)",
        "your ratings in 1 team check-in",
        "2 values identifiers (those approved stay published under their team, without your name)",
        "1 message waiting to reach you",
        "Your 1 case study: erase them too, or keep them without your name.",
    ):
        assert goes in card.text
    assert "barometer answers (never linked to you)" in card.footer
    assert [c.label for c in card.choices] == [
        "Erase everything",
        "Erase, keep my stories without my name",
        "No, keep it all",
    ]
    cancelled = (await harness.click("No, keep it all"))[-1]
    assert cancelled.title == "Nothing was erased"
    assert await rows(app, "SELECT count(*) FROM checkins WHERE owner = 'alice'") == [(1,)]


async def test_after_forget_me_no_table_holds_the_person(harness: Harness, app: App) -> None:
    await everything_about(app, harness, ALICE, "Alice")
    keys = app.records.member_keys(ALICE, ["team1"])
    needles = ["alice", *keys.values()]
    assert {t for t, _, _ in await traces(app, needles)} >= {
        "people",
        "checkins",
        "commitments",
        "case_studies",
        "identifiers",
        "team_ratings",
        "dialog_states",
        "outbox",
        "digest_runs",
        "barometer_participation",
        "export_links",
        "audit_log",
        "console_posts",
        "meta",
    }
    totals = await barometer_totals(app)
    bob_before = await traces(app, ["bob"])
    async with TestClient(TestServer(build_web_app(app))) as client:
        shared = await (await client.get("/commitments")).text()
    assert "commitment 1 of alice" in shared
    await harness.user_says("/values forget-me")
    done = (await harness.click("Erase everything"))[-1]
    assert done.title == "Erased"
    assert "1 values lens check-in" in done.text
    assert "2 commitments (1 shared, taken off the digest pages)" in done.text
    assert "your ratings in 1 team check-in" in done.text
    assert "1 values identifier erased" in done.text
    assert "1 approved values identifier kept published without your name" in done.text

    assert await traces(app, needles) == []
    # The approved identifier stays published, without its author; the one waiting is gone.
    theirs = [identifier_id("alice", n) for n in (0, 1)]
    assert await rows(
        app,
        "SELECT id, author, status, moderator_note FROM identifiers WHERE id IN "
        f"('{theirs[0]}', '{theirs[1]}')",
    ) == [(theirs[1], "", "approved", None)]
    assert await barometer_totals(app) == totals
    # Bob's rows are all there (his name was only in his own rows and the digest).
    assert await traces(app, ["bob"]) == bob_before
    async with TestClient(TestServer(build_web_app(app))) as client:
        page = await (await client.get(f"/digest/{RUN}")).text()
        shared = await (await client.get("/commitments")).text()
        feed = await (await client.get("/digests.atom")).text()
    assert "commitment 1 of alice" not in page
    assert "commitment 1 of alice" not in shared
    assert "commitment 1 of bob" in shared
    assert "alice" not in feed.lower()
    assert "Story of alice" not in page
    assert "commitment 1 of bob" in page
    async with app.database.unit() as stores:
        [entry] = [e for e in await stores.records.audit_since(None, 10) if e.action == "erase"]
        assert (entry.actor, entry.subject) == ("erased", "")


async def test_stories_can_be_kept_without_the_persons_name(harness: Harness, app: App) -> None:
    await everything_about(app, harness, ALICE, "Alice")
    await harness.user_says("/values forget-me")
    await harness.click("Erase, keep my stories without my name")
    assert await rows(app, "SELECT id, author, named FROM case_studies ORDER BY id") == [
        ("cs-alice", "", 0),
        ("cs-bob", "bob", 1),
    ]
    async with TestClient(TestServer(build_web_app(app))) as client:
        page = await (await client.get(f"/digest/{RUN}")).text()
    assert "Story of alice" in page
    assert "Shared by a colleague" in page
    # What stays is what she wrote in the kept story (its words, and this test's id for it,
    # name her here), never her id or name as its author.
    left = {(t, c) for t, c, _ in await traces(app, ["alice"])}
    assert left == {
        ("case_studies", "id"),
        ("digest_items", "case_study_id"),
        ("case_studies", "title"),
        ("case_studies", "story"),
        ("case_studies", "difference"),
        ("digest_runs", "body"),
    }


async def test_only_the_person_shown_the_card_can_confirm(harness: Harness, app: App) -> None:
    await hold(app, ALICE, "alice")
    card = (await harness.user_says("/values forget-me"))[-1]
    refused = (await harness.click("Erase everything", user="bob", card=card))[-1]
    assert refused.title == "Not yours"
    assert await rows(app, "SELECT count(*) FROM checkins WHERE owner = 'alice'") == [(1,)]
