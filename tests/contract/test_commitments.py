"""The commitment store's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage.commitments import Commitment, CommitmentStatus
from storage.engine import Database
from storage.people import PersonKey

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")


def commitment(commitment_id: str, owner: PersonKey = ALICE, **extra: object) -> Commitment:
    values: dict[str, object] = {
        "id": commitment_id,
        "owner": owner,
        "text": f"do {commitment_id}",
        "behaviours": ("listen",),
        "created_at": NOW,
    }
    values.update(extra)
    return Commitment(**values)  # type: ignore[arg-type]


async def test_a_commitment_is_changed_only_by_its_owner(database: Database) -> None:
    async with database.unit() as stores:
        await stores.commitments.add(commitment("m1", review_on=date(2027, 4, 1)))
    later = NOW + timedelta(hours=1)
    async with database.unit() as stores:
        assert (
            await stores.commitments.edit(
                "m1", BOB, text="hijack", behaviours=(), review_on=None, now=later
            )
            is None
        )
        assert await stores.commitments.set_status("m1", BOB, CommitmentStatus.DONE, later) is None
        assert not await stores.commitments.mark_shared("m1", BOB, later)
        assert not await stores.commitments.delete("m1", BOB)
        edited = await stores.commitments.edit(
            "m1",
            ALICE,
            text="Publish the minutes",
            behaviours=("open", "listen"),
            review_on=date(2027, 5, 1),
            now=later,
        )
        assert edited is not None
        assert (edited.text, edited.behaviours, edited.review_on) == (
            "Publish the minutes",
            ("open", "listen"),
            date(2027, 5, 1),
        )
        done = await stores.commitments.set_status("m1", ALICE, CommitmentStatus.DONE, later)
        assert done is not None
        assert (done.status, done.done_at, done.is_open) == ("done", later, False)
        reopened = await stores.commitments.set_status("m1", ALICE, CommitmentStatus.OPEN, later)
        assert reopened is not None
        assert reopened.done_at is None
    async with database.unit() as stores:
        assert await stores.commitments.mark_shared("m1", ALICE, later)
        assert not await stores.commitments.mark_shared("m1", ALICE, later + timedelta(days=1))
        shared = await stores.commitments.get("m1")
        assert shared is not None
        assert shared.shared_at == later
        assert await stores.commitments.delete("m1", ALICE)
        assert await stores.commitments.get("m1") is None
        assert not await stores.commitments.delete("m1", ALICE)


async def test_a_share_that_never_arrived_is_undone_and_can_be_shared_again(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.commitments.add(commitment("m1"))
        assert await stores.commitments.unshare("m1", NOW) is None  # never shared
        assert await stores.commitments.mark_shared("m1", ALICE, NOW)
    later = NOW + timedelta(minutes=1)
    async with database.unit() as stores:
        unshared = await stores.commitments.unshare("m1", later)
        assert unshared is not None
        assert unshared.shared_at is None
        assert await stores.commitments.unshare("m1", later) is None  # once
        assert await stores.commitments.unshare("missing", later) is None
        assert (
            await stores.commitments.count_shared_between(
                "slack", "T1", NOW - timedelta(days=1), later
            )
            == 0
        )
    async with database.unit() as stores:
        assert await stores.commitments.mark_shared("m1", ALICE, later)
        again = await stores.commitments.get("m1")
        assert again is not None
        assert again.shared_at == later


async def test_shared_commitments_are_counted_per_workspace_and_window(database: Database) -> None:
    async with database.unit() as stores:
        for n in range(4):
            await stores.commitments.add(commitment(f"s{n}"))
            await stores.commitments.mark_shared(f"s{n}", ALICE, NOW + timedelta(days=n))
        await stores.commitments.add(commitment("private"))
        elsewhere = PersonKey("slack", "T2", "U1")
        await stores.commitments.add(commitment("t2", owner=elsewhere))
        await stores.commitments.mark_shared("t2", elsewhere, NOW)
    async with database.unit() as stores:
        after, until = NOW, NOW + timedelta(days=2)
        found = await stores.commitments.shared_between("slack", "T1", after, until, 10)
        assert [c.id for c in found] == ["s2", "s1"]
        assert await stores.commitments.count_shared_between("slack", "T1", after, until) == 2
        assert len(await stores.commitments.shared_between("slack", "T1", after, until, 1)) == 1
        assert await stores.commitments.count_shared_between("teams", "T1", after, until) == 0


async def test_review_nudges_are_due_once_per_review_date(database: Database) -> None:
    async with database.unit() as stores:
        await stores.commitments.add(commitment("due", review_on=date(2027, 3, 22)))
        await stores.commitments.add(commitment("later", review_on=date(2027, 3, 23)))
        await stores.commitments.add(commitment("none"))
        await stores.commitments.add(
            commitment("done", review_on=date(2027, 3, 1), status=CommitmentStatus.DONE)
        )
    async with database.unit() as stores:
        due = await stores.commitments.due_for_review(date(2027, 3, 22), 10)
        assert [c.id for c in due] == ["due"]
        assert await stores.commitments.mark_nudged("due", date(2027, 3, 22), NOW)
        assert not await stores.commitments.mark_nudged("due", date(2027, 3, 22), NOW)
        assert not await stores.commitments.mark_nudged("later", date(2027, 3, 1), NOW)
        assert await stores.commitments.due_for_review(date(2027, 3, 22), 10) == []
        # A new review date earns a new nudge.
        await stores.commitments.set_review("due", ALICE, date(2027, 3, 23), NOW)
        again = await stores.commitments.due_for_review(date(2027, 3, 23), 10)
        assert [c.id for c in again] == ["due", "later"]


async def test_commitments_from_one_source_are_stored_once(database: Database) -> None:
    first = Commitment(
        id="m1",
        owner=ALICE,
        text="Publish the minutes",
        behaviours=("open",),
        source="lens:c1",
        review_on=date(2027, 1, 4),
        created_at=NOW,
    )
    async with database.unit() as stores:
        assert await stores.commitments.add(first) == first
        duplicate = await stores.commitments.add(
            Commitment(id="m2", owner=ALICE, text="x", source="lens:c1", created_at=NOW)
        )
        assert duplicate == first
        loose = Commitment(
            id="m3", owner=ALICE, text="Listen more", created_at=NOW + timedelta(days=1)
        )
        await stores.commitments.add(loose)
    async with database.unit() as stores:
        assert [c.id for c in await stores.commitments.for_owner(ALICE, 10)] == ["m3", "m1"]
        assert await stores.commitments.by_source("lens:c1") == first
        assert await stores.commitments.by_source("lens:zz") is None


async def test_a_persons_commitments_are_listed_and_erased(database: Database) -> None:
    async with database.unit() as stores:
        await stores.commitments.add(commitment("m1"))
        await stores.commitments.add(commitment("m2", created_at=NOW + timedelta(days=1)))
        await stores.commitments.add(commitment("b1", owner=BOB))
        await stores.commitments.mark_shared("m2", ALICE, NOW)
    async with database.unit() as stores:
        assert [c.id for c in await stores.commitments.for_person(ALICE)] == ["m2", "m1"]
        erased = await stores.commitments.forget(ALICE)
        assert [(c.id, c.shared_at) for c in erased] == [("m2", NOW), ("m1", None)]
    async with database.unit() as stores:
        assert await stores.commitments.for_person(ALICE) == []
        assert [c.id for c in await stores.commitments.for_person(BOB)] == ["b1"]
