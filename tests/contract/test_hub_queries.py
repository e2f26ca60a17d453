"""What the hub's pages ask of the stores, on SQLite and PostgreSQL: published case studies
searched, filtered and paged in a stable order; shared commitments; sent digests; withdrawal."""

from __future__ import annotations

import importlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql

from storage.case_studies import (
    CaseStudyRow,
    CaseStudySearch,
    CaseStudyStatus,
    search_document,
)
from storage.commitments import Commitment
from storage.digests import DigestRunStatus
from storage.engine import Database
from tests.contract.test_case_studies import ALICE, BOB, NOW, case_study
from tests.contract.test_digests import VALUES, run, schedule


async def seed(database: Database) -> None:
    stories = [
        ("s1", "Patients shaped the letter", "We asked patients first.", ("patients",)),
        ("s2", "Open board papers", "We published 100% of papers_online.", ("open",)),
        ("s3", "Listening clinics", "Patients and carers told us what hurt.", ("listen",)),
        ("s4", "A draft", "Still waiting for patients.", ("patients",)),
        ("s5", "Same minute", "Approved at the same time as s6.", ("open", "listen")),
        ("s6", "Same minute too", "Approved at the same time as s5.", ("open",)),
    ]
    async with database.unit() as stores:
        for n, (key, title, story, behaviours) in enumerate(stories):
            await stores.case_studies.add(
                case_study(key, title=title, story=story, behaviours=behaviours)
            )
            if key != "s4":
                minutes = min(n, 4)  # s5 and s6 approved at the same instant
                await stores.case_studies.decide(
                    key,
                    1,
                    CaseStudyStatus.APPROVED,
                    "U9",
                    None,
                    NOW + timedelta(minutes=minutes),
                )


async def test_published_case_studies_newest_first_in_a_stable_order(database: Database) -> None:
    await seed(database)
    async with database.unit() as stores:
        everything = await stores.case_studies.published(CaseStudySearch(limit=10))
        assert [c.id for c in everything.items] == ["s6", "s5", "s3", "s2", "s1"]
        assert everything.total == 5  # s4 is not approved
        first = await stores.case_studies.published(CaseStudySearch(offset=0, limit=2))
        second = await stores.case_studies.published(CaseStudySearch(offset=2, limit=2))
        third = await stores.case_studies.published(CaseStudySearch(offset=4, limit=2))
        paged = [c.id for p in (first, second, third) for c in p.items]
        assert paged == ["s6", "s5", "s3", "s2", "s1"]
        assert first.total == third.total == 5


async def test_published_case_studies_by_behaviour_and_words(database: Database) -> None:
    await seed(database)
    async with database.unit() as stores:

        async def ids(**given: object) -> list[str]:
            found = await stores.case_studies.published(CaseStudySearch(limit=10, **given))  # type: ignore[arg-type]
            return [c.id for c in found.items]

        assert await ids(behaviour="open") == ["s6", "s5", "s2"]
        assert await ids(behaviour="listen") == ["s5", "s3"]
        assert await ids(behaviour="nobody") == []
        assert await ids(words="patients") == ["s3", "s1"]  # not the draft s4
        assert await ids(words="PATIENTS carers") == ["s3"]  # every word, any case
        assert await ids(words="patients", behaviour="listen") == ["s3"]
        assert await ids(words="letter") == ["s1"]
        assert await ids(words="100%") == ["s2"]  # LIKE's wildcards are taken literally
        assert await ids(words="zz%zz") == []
        assert await ids(words="'; drop table case_studies; --") == []
        assert (await stores.case_studies.published(CaseStudySearch(words="zzz"))).total == 0


async def test_the_search_can_use_its_gin_index(database: Database) -> None:
    """On PostgreSQL the store's own search query (captured as it runs) can use the GIN index
    on its expression: with sequential scans off, the plan reads ix_case_studies_search."""
    if database.dialect != "postgresql":
        pytest.skip("the full-text search and its index are PostgreSQL's")
    await seed(database)
    async with database.unit() as stores:
        # Enough other approved stories that the planner's statistics favour the index.
        for n in range(300):
            key = f"x{n:03d}"
            await stores.case_studies.add(case_study(key, story=f"Number {n}.", difference="-"))
            await stores.case_studies.decide(key, 1, CaseStudyStatus.APPROVED, "U9", None, NOW)
    async with database.engine.begin() as connection:
        await connection.execute(text("ANALYZE case_studies"))
    ran: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if "websearch_to_tsquery" in statement and "count(" not in statement:
            ran.append((statement, parameters))

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        async with database.unit() as stores:
            found = await stores.case_studies.published(CaseStudySearch(words="patients"))
            assert [c.id for c in found.items] == ["s3", "s1"]
            [(statement, parameters)] = ran
            connection = await stores.session.connection()
            await connection.execute(text("SET LOCAL enable_seqscan = off"))
            plan = await connection.exec_driver_sql("EXPLAIN " + statement, parameters)
            lines = [row[0] for row in plan]
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert any("ix_case_studies_search" in line for line in lines), "\n".join(lines)


def test_the_index_is_on_the_search_expression() -> None:
    """Migration 0016 writes the index's expression out; it is the search's, to the letter."""
    migration = importlib.import_module("storage.migrations.versions.0016_case_study_search_index")
    table = CaseStudyRow.__table__.c  # type: ignore[attr-defined]
    document = search_document(table.title, table.story, table.difference)
    compiled = document.compile(
        dialect=postgresql.dialect(), compile_kwargs={"include_table": False}
    )
    assert str(compiled) == migration.DOCUMENT


async def test_withdrawn_and_anonymous_case_studies(database: Database) -> None:
    await seed(database)
    later = NOW + timedelta(hours=1)
    async with database.unit() as stores:
        assert not await stores.case_studies.withdraw("s1", BOB, later)  # not Bob's
        assert await stores.case_studies.withdraw("s1", ALICE, later)
        assert not await stores.case_studies.withdraw("s1", ALICE, later)  # already
        assert await stores.case_studies.set_named("s2", ALICE, False, later)
        assert not await stores.case_studies.set_named("s2", BOB, True, later)
        assert await stores.case_studies.withdraw("s4", ALICE, later)  # a draft, too
    async with database.unit() as stores:
        found = await stores.case_studies.published(CaseStudySearch(limit=10))
        assert [c.id for c in found.items] == ["s6", "s5", "s3", "s2"]
        withdrawn = await stores.case_studies.get("s1")
        assert withdrawn is not None
        assert withdrawn.status == CaseStudyStatus.WITHDRAWN
        anonymous = await stores.case_studies.get("s2")
        assert anonymous is not None
        assert anonymous.named is False


async def test_a_digest_shows_only_what_is_still_published(database: Database) -> None:
    await seed(database)
    async with database.unit() as stores:
        await stores.digests.save_schedule(schedule(), NOW)
        assert await stores.digests.claim(run("r1", "2027-03-22"))
        await stores.digests.finish(
            "r1", status=DigestRunStatus.QUEUED, body="{}", case_studies=2, commitments=0
        )
        assert await stores.digests.claim(run("r2", "2027-03-29", when=NOW + timedelta(days=7)))
        for key in ("s1", "s2"):
            await stores.digests.include("r1", VALUES, key)
    async with database.unit() as stores:
        assert [c.id for c in await stores.case_studies.published_in_digest("r1")] == ["s1", "s2"]
        await stores.case_studies.withdraw("s1", ALICE, NOW + timedelta(hours=1))
    async with database.unit() as stores:
        assert [c.id for c in await stores.case_studies.published_in_digest("r1")] == ["s2"]
        runs, total = await stores.digests.sent(0, 10)
        assert [r.id for r in runs] == ["r1"]  # r2 was claimed, never sent
        assert total == 1


async def test_shared_commitments_newest_first_and_taken_back(database: Database) -> None:
    async with database.unit() as stores:
        for n, (key, behaviours) in enumerate(
            [("c1", ("open",)), ("c2", ("listen",)), ("c3", ("open", "listen")), ("c4", ())]
        ):
            await stores.commitments.add(
                Commitment(
                    id=key,
                    owner=ALICE,
                    text=f"commitment {key}",
                    behaviours=behaviours,
                    created_at=NOW,
                )
            )
            if key != "c4":
                await stores.commitments.mark_shared(key, ALICE, NOW + timedelta(minutes=n))
    async with database.unit() as stores:
        page = await stores.commitments.shared(None, 0, 2)
        assert [c.id for c in page.items] == ["c3", "c2"]
        assert page.total == 3
        assert [c.id for c in (await stores.commitments.shared(None, 2, 2)).items] == ["c1"]
        assert [c.id for c in (await stores.commitments.shared("open", 0, 10)).items] == [
            "c3",
            "c1",
        ]
        assert not await stores.commitments.stop_sharing("c3", BOB, NOW)
        assert await stores.commitments.stop_sharing("c3", ALICE, NOW)
        assert not await stores.commitments.stop_sharing("c4", ALICE, NOW)  # never shared
    async with database.unit() as stores:
        assert [c.id for c in (await stores.commitments.shared("open", 0, 10)).items] == ["c1"]
        still = await stores.commitments.still_shared(["c1", "c3", "c4", "nope"])
        assert [c.id for c in still] == ["c1"]
        assert await stores.commitments.still_shared([]) == []
