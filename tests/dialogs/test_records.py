"""Your own record through the harness: ``/values mydata`` and its single-use downloads (Word
and JSON), holding exactly the person's rows and nobody else's."""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from docx import Document

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import ConversationKind, ConversationRef, Platform
from bot.web import build_web_app
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.commitments import Commitment
from storage.identifiers import Identifier, Statement
from storage.people import PersonKey
from storage.values_lens import Checkin, RatingEntry, TeamCheckin
from tests.conftest import START, make_settings
from tests.harness import TENANT, Harness

PUBLIC = "https://values.example.org"
ALICE = PersonKey("console", TENANT, "alice")
BOB = PersonKey("console", TENANT, "bob")
LINK = re.compile(re.escape(PUBLIC) + r"/me/([A-Za-z0-9_-]+\.(?:docx|json))")


@pytest.fixture
async def app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    """A valuesbot with a public address, so links can be made."""
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_PUBLIC_URL=PUBLIC,
            VALUESBOT_COMMS="console:carol",
            VALUESBOT_VALUES_CHANNEL="console:values",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


async def hold(app: App, person: PersonKey, tag: str) -> None:
    """A check-in, two commitments (one shared), a case study and team ratings of ``person``,
    every text marked with ``tag``."""
    async with app.database.unit() as stores:
        await stores.checkins.add(
            Checkin(
                id=f"ci-{tag}",
                owner=person,
                work=f"Work of {tag}",
                action=f"Action of {tag}",
                focus="open",
                ratings=(
                    RatingEntry(behaviour="patients", rating="strongly"),
                    RatingEntry(behaviour="open", rating="not_yet", note=f"Note of {tag}"),
                ),
                started_at=START,
                completed_at=START,
            )
        )
        for n, shared in ((1, START), (2, None)):
            await stores.commitments.add(
                Commitment(
                    id=f"cm{n}-{tag}",
                    owner=person,
                    text=f"commitment {n} of {tag}",
                    behaviours=("listen",),
                    created_at=START + timedelta(minutes=n),
                    shared_at=shared,
                    review_on=date(2027, 1, 4),
                )
            )
        await stores.case_studies.add(
            CaseStudy(
                id=f"cs-{tag}",
                author=person,
                title=f"Story of {tag}",
                story=f"What {tag} did",
                behaviours=("patients",),
                difference=f"Difference of {tag}",
                named=True,
                submitted_at=START,
            )
        )
        await stores.case_studies.decide(
            f"cs-{tag}", 1, CaseStudyStatus.APPROVED, "carol", None, START
        )
        channel = ConversationRef(
            platform=Platform.CONSOLE,
            tenant=TENANT,
            conversation="team-x",
            kind=ConversationKind.CHANNEL,
        )
        team = await stores.team_checkins.open(
            TeamCheckin(
                id="team1",
                place=channel,
                work="Team work",
                started_by="carol",
                opened_at=START,
                closes_at=START + timedelta(days=1),
            )
        )
        keys = app.records.member_keys(person, [team.id])
        rating = "strongly" if tag == "alice" else "partly"
        await stores.team_checkins.rate(team.id, keys[team.id], {"patients": rating})
        # A values identifier waiting for comms, and one approved (published under its team).
        for n, status in enumerate(("pending", "approved")):
            await stores.identifiers.add(
                Identifier(
                    id=identifier_id(tag, n),
                    author=person,
                    title=f"Publication of {tag}" if status == "pending" else "A publication",
                    statements=(
                        Statement(
                            behaviour="patients",
                            text=f"Statement of {tag}"
                            if status == "pending"
                            else "Patients first.",
                        ),
                    ),
                    vision=f"Vision of {tag}" if status == "pending" else "It helps.",
                    owner="Policy team",
                    intended=date(2027, 3, 1),
                    status=status,
                    moderator="carol" if status == "approved" else None,
                    moderator_note=f"Note to {tag}" if status == "approved" else None,
                    submitted_at=START,
                    decided_at=START if status == "approved" else None,
                )
            )


def identifier_id(tag: str, n: int) -> str:
    """The id of ``hold``'s ``n``th identifier of ``tag`` (hex: an id never holds the tag)."""
    return hashlib.sha256(f"{tag}{n}".encode()).hexdigest()[:12]


async def links(harness: Harness, user: str = "alice") -> dict[str, str]:
    card = (await harness.user_says("/values mydata", user=user))[-1]
    found = LINK.findall(card.text)
    return {token.rsplit(".", 1)[1]: token for token in found}


async def test_mydata_shows_what_is_held_with_two_links(harness: Harness, app: App) -> None:
    await hold(app, ALICE, "alice")
    await hold(app, BOB, "bob")
    card = (await harness.user_says("/values mydata"))[-1]
    assert card.title == "Your values record"
    assert {f.label: f.value for f in card.fields} == {
        "Values lens check-ins": "1",
        "Commitments": "2 (1 shared)",
        "Case studies": "1",
        "Values identifiers": "2",
        "Team check-ins you joined": "1",
    }
    assert "barometer answers are not in this record" in card.footer
    assert sorted(t.rsplit(".", 1)[1] for t in LINK.findall(card.text)) == ["docx", "json"]
    assert "once, for 15 minutes" in card.text


async def test_asked_in_a_channel_the_links_go_only_to_the_direct_chat(harness: Harness) -> None:
    seen = await harness.user_says("/values mydata", channel="team-x")
    assert [c.title for c in seen] == ["Your values record"]
    assert PUBLIC not in seen[0].plain_text()
    assert "direct chat" in seen[0].text
    assert harness.public("team-x") == []
    [queued] = await harness.outbox("records-mydata")
    assert (queued.recipient, queued.to_person, queued.respect_working_hours) == (
        "alice",
        True,
        False,
    )
    assert len(LINK.findall(queued.card.text)) == 2


async def test_the_json_export_holds_exactly_the_persons_rows(harness: Harness, app: App) -> None:
    await hold(app, ALICE, "alice")
    await hold(app, BOB, "bob")
    token = (await links(harness))["json"]
    async with TestClient(TestServer(build_web_app(app))) as client:
        response = await client.get(f"/me/{token}")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Disposition"].startswith("attachment;")
        text = await response.text()
    data = json.loads(text)
    assert data["you"]["id"] == "alice"
    assert [c["id"] for c in data["values_lens_checkins"]] == ["ci-alice"]
    assert data["values_lens_checkins"][0]["ratings"][1]["note"] == "Note of alice"
    assert data["values_lens_checkins"][0]["action"] == "Action of alice"
    assert [c["id"] for c in data["commitments"]] == ["cm2-alice", "cm1-alice"]
    assert [c["status"] for c in data["commitments"]] == ["open", "open"]
    assert data["commitments"][0]["review_on"] == "2027-01-04"
    assert [(c["id"], c["status"]) for c in data["case_studies"]] == [("cs-alice", "approved")]
    assert [t["id"] for t in data["team_checkins_joined"]] == ["team1"]
    assert list(data["team_checkins_joined"][0]["your_ratings"].values()) == ["Strongly"]
    identifiers = {i["id"]: i for i in data["values_identifiers"]}
    assert sorted(identifiers) == sorted(identifier_id("alice", n) for n in (0, 1))
    waiting = identifiers[identifier_id("alice", 0)]
    assert (waiting["publication"], waiting["status"], waiting["owner"]) == (
        "Publication of alice",
        "pending",
        "Policy team",
    )
    assert waiting["statements"]["We prioritise patients in every decision we take"] == (
        "Statement of alice"
    )
    assert waiting["how_it_helps_achieve_the_vision"] == "Vision of alice"
    assert identifiers[identifier_id("alice", 1)]["note_from_comms"] == "Note to alice"
    assert "bob" not in text.lower()


async def test_the_word_document_holds_exactly_the_persons_items(
    harness: Harness, app: App
) -> None:
    await hold(app, ALICE, "alice")
    await hold(app, BOB, "bob")
    token = (await links(harness))["docx"]
    async with TestClient(TestServer(build_web_app(app))) as client:
        response = await client.get(f"/me/{token}")
        assert response.status == 200
        assert response.content_type == (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        )
        body = await response.read()
    document = Document(io.BytesIO(body))
    text = "\n".join(p.text for p in document.paragraphs)
    for expected in (
        "Work of alice",
        "Note of alice",
        "My action: Action of alice",
        "My contribution is to commitment 1 of alice (open; review on 04 Jan 2027; shared",
        "My contribution is to commitment 2 of alice (open; review on 04 Jan 2027",
        "Story of alice (approved",
        "What alice did",
        "Publication of alice, for Policy team (waiting for the comms team; VI-",
        "A publication, for Policy team (approved (published); VI-",
    ):
        assert expected in text
    assert "bob" not in text.lower()


async def test_a_link_works_once_and_expires(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await hold(app, ALICE, "alice")
    first = await links(harness)
    async with TestClient(TestServer(build_web_app(app))) as client:
        assert (await client.get(f"/me/{first['json']}")).status == 200
        again = await client.get(f"/me/{first['json']}")
        assert again.status == 410
        assert "used already" in await again.text()
        clock.advance(timedelta(minutes=15))
        late = await client.get(f"/me/{first['docx']}")
        assert late.status == 410
        assert "expired" in await late.text()
    async with app.database.unit() as stores:
        entries = await stores.records.audit_since(None, 10)
    assert [(e.actor, e.action, e.subject) for e in entries] == [
        ("console:test:alice", "export", "json")
    ]


async def test_an_unknown_or_mismatched_token_shows_nothing(harness: Harness, app: App) -> None:
    await hold(app, ALICE, "alice")
    mine = await links(harness)
    made_for_word = mine["docx"].removesuffix(".docx")
    async with TestClient(TestServer(build_web_app(app))) as client:
        for path in (
            "/me/" + "x" * 32 + ".json",
            f"/me/{made_for_word}.json",
            f"/me/{made_for_word}.pdf",
        ):
            response = await client.get(path)
            text = await response.text()
            assert response.status == 404
            assert "alice" not in text.lower()
        malformed = await client.get("/me/%3Cscript%3E.json")
        assert malformed.status == 400
        # Asked for as the wrong format, the Word link was not spent.
        assert (await client.get(f"/me/{mine['docx']}")).status == 200


async def test_without_a_public_address_no_links_are_made(
    sqlite_url: str, clock: ManualClock
) -> None:
    plain = await build_app(make_settings(sqlite_url), clock=clock, prepare=False)
    try:
        card = (await Harness(plain).user_says("/values mydata"))[-1]
        async with plain.database.unit() as stores:
            assert await stores.records.links_of(ALICE) == []
    finally:
        await plain.close()
    assert "VALUESBOT_PUBLIC_URL" in card.text
    assert "/me/" not in card.text


PAGE = re.compile(re.escape(PUBLIC) + r"/me/([A-Za-z0-9_-]+)(?=\s|$)", re.M)


async def test_the_web_page_holds_exactly_the_persons_items_once(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await hold(app, ALICE, "alice")
    await hold(app, BOB, "bob")
    async with app.database.unit() as stores:
        await stores.checkins.add(
            Checkin(
                id="hostile",
                owner=ALICE,
                work="<script>alert(1)</script>",
                action="",
                focus=None,
                ratings=(),
                started_at=START,
                completed_at=START,
            )
        )
    card = (await harness.user_says("/values mydata"))[-1]
    [token] = PAGE.findall(card.text)
    async with TestClient(TestServer(build_web_app(app))) as client:
        response = await client.get(f"/me/{token}")
        assert response.status == 200
        assert response.headers["Cache-Control"] == "no-store"
        assert "Content-Security-Policy" in response.headers
        page = await response.text()
        again = await client.get(f"/me/{token}")
        assert again.status == 410
        assert "used already" in await again.text()
        unknown = await client.get("/me/" + "y" * 32)
        assert unknown.status == 404
    for expected in (
        "My values record: Alice",
        "Work of alice",
        "Note of alice",
        "My action: Action of alice",
        "My contribution is to commitment 1 of alice",
        "Story of alice",
    ):
        assert expected in page
    assert "bob" not in page.lower()
    # Escaped like every page: what people wrote cannot become markup.
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
