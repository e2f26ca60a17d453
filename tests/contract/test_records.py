"""The records store's contract (download links, leaver marks, the audit trail), on SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from storage.engine import Database
from storage.people import PersonKey
from storage.records import ERASED, LinkState, actor_of

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")
KIND = {"h": "docx", "x": "docx", "e": "json", "c": "json"}


async def test_a_link_works_once_then_says_it_was_used(database: Database) -> None:
    async with database.unit() as stores:
        await stores.records.issue_link("h" * 64, ALICE, "docx", NOW, NOW + timedelta(minutes=15))
    async with database.unit() as stores:
        first = await stores.records.use_link("h" * 64, KIND["h"], NOW + timedelta(minutes=1))
    async with database.unit() as stores:
        second = await stores.records.use_link("h" * 64, KIND["h"], NOW + timedelta(minutes=2))
        unknown = await stores.records.use_link("x" * 64, KIND["x"], NOW)
        other_kind = await stores.records.use_link("h" * 64, "json", NOW)
    assert (first.state, first.person, first.kind) == (LinkState.OK, ALICE, "docx")
    assert (second.state, second.person) == (LinkState.USED, None)
    assert unknown.state is LinkState.UNKNOWN
    assert other_kind.state is LinkState.UNKNOWN


async def test_a_link_asked_as_another_kind_stays_unused(database: Database) -> None:
    async with database.unit() as stores:
        await stores.records.issue_link("k" * 64, ALICE, "docx", NOW, NOW + timedelta(minutes=15))
    async with database.unit() as stores:
        assert (await stores.records.use_link("k" * 64, "json", NOW)).state is LinkState.UNKNOWN
        assert (await stores.records.use_link("k" * 64, "docx", NOW)).state is LinkState.OK


async def test_a_link_expires(database: Database) -> None:
    async with database.unit() as stores:
        await stores.records.issue_link("e" * 64, ALICE, "json", NOW, NOW + timedelta(minutes=15))
    async with database.unit() as stores:
        late = await stores.records.use_link("e" * 64, KIND["e"], NOW + timedelta(minutes=15))
    assert (late.state, late.person) == (LinkState.EXPIRED, None)
    async with database.unit() as stores:
        [link] = await stores.records.links_of(ALICE)
    assert link.used_at is None


async def test_two_requests_at_once_use_a_link_once(database: Database) -> None:
    async with database.unit() as stores:
        await stores.records.issue_link("c" * 64, ALICE, "json", NOW, NOW + timedelta(minutes=15))

    async def follow() -> LinkState:
        async with database.unit() as stores:
            return (await stores.records.use_link("c" * 64, KIND["c"], NOW)).state

    states = await asyncio.gather(follow(), follow())
    assert sorted(states) == [LinkState.OK, LinkState.USED]


async def test_a_leaver_is_due_after_the_grace_and_coming_back_lifts_the_mark(
    database: Database,
) -> None:
    grace = NOW + timedelta(days=30)
    async with database.unit() as stores:
        assert await stores.records.mark_left([ALICE, BOB], "deleted", NOW, grace) == 2
        # Marked again later: the first mark stands.
        assert (
            await stores.records.mark_left([ALICE], "uninstalled", grace, grace + timedelta(days=1))
            == 0
        )
    async with database.unit() as stores:
        assert await stores.records.leavers_due(grace - timedelta(seconds=1), 10) == []
        assert await stores.records.returned(BOB)
        assert not await stores.records.returned(BOB)
        due = await stores.records.leavers_due(grace, 10)
        marked = await stores.records.leaver(ALICE)
    assert [(d.person, d.reason) for d in due] == [(ALICE, "deleted")]
    assert marked is not None
    assert marked.erase_after == grace


async def test_the_audit_trail_keeps_who_did_what_and_forgets_an_erased_actor(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.records.audit(actor_of(ALICE), "barometer.open", "2027-03", NOW)
        await stores.records.audit(actor_of(BOB), "casestudy.approve", "cs1", NOW)
        await stores.records.audit("cli:dpo", "erase", "", NOW + timedelta(days=1))
        await stores.records.issue_link("a" * 64, ALICE, "json", NOW, NOW + timedelta(minutes=1))
        await stores.records.mark_left([ALICE], "deleted", NOW, NOW)
    async with database.unit() as stores:
        since = await stores.records.audit_since(NOW + timedelta(hours=1), 10)
        alices = await stores.records.audit_by(actor_of(ALICE))
        assert await stores.records.forget(ALICE) == 3
    assert [(e.actor, e.action) for e in since] == [("cli:dpo", "erase")]
    assert [(e.action, e.subject) for e in alices] == [("barometer.open", "2027-03")]
    async with database.unit() as stores:
        everything = await stores.records.audit_since(None, 10)
        assert await stores.records.links_of(ALICE) == []
        assert await stores.records.leaver(ALICE) is None
    assert sorted(e.actor for e in everything) == sorted(["cli:dpo", ERASED, actor_of(BOB)])


async def test_retention_drops_old_links_and_audit_entries(database: Database) -> None:
    async with database.unit() as stores:
        await stores.records.issue_link("o" * 64, ALICE, "json", NOW, NOW + timedelta(minutes=15))
        await stores.records.issue_link("y" * 64, ALICE, "json", NOW, NOW + timedelta(days=2))
        await stores.records.audit("cli:dpo", "export", "", NOW)
        await stores.records.audit("cli:dpo", "export", "", NOW + timedelta(days=400))
    async with database.unit() as stores:
        assert (
            await stores.records.forget_before(NOW + timedelta(days=1), NOW + timedelta(days=10))
            == 2
        )
        links = await stores.records.links_of(ALICE)
        entries = await stores.records.audit_since(None, 10)
    assert [link.expires_at for link in links] == [NOW + timedelta(days=2)]
    assert [e.at for e in entries] == [NOW + timedelta(days=400)]
