"""The values identifier store's contract, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from storage.engine import Database
from storage.identifiers import Identifier, IdentifierStatus, Statement
from storage.people import PersonKey

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")
STATEMENTS = (
    Statement(behaviour="patients", text="Patients <b>wrote</b> half of it."),
    Statement(behaviour="listen", text=""),
    Statement(behaviour="evidence", text="Every figure is sourced."),
)


def identifier(identifier_id: str, author: PersonKey = ALICE, **extra: object) -> Identifier:
    values: dict[str, object] = {
        "id": identifier_id,
        "author": author,
        "title": f"Publication {identifier_id}",
        "statements": STATEMENTS,
        "vision": "It helps because patients shaped it.",
        "owner": "Patient experience team",
        "intended": date(2027, 5, 1),
        "source": "checkin:c1",
        "submitted_at": NOW,
    }
    values.update(extra)
    return Identifier(**values)  # type: ignore[arg-type]


async def test_an_identifier_is_reviewed_once_per_revision(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.identifiers.add(identifier("a1b2c3d4e5f6"))
        assert not await stores.identifiers.add(identifier("a1b2c3d4e5f6", title="again"))
        stored = await stores.identifiers.get("a1b2c3d4e5f6")
        assert stored == identifier("a1b2c3d4e5f6")
        assert stored is not None
        assert stored.reference == "VI-A1B2-C3D4-E5F6"
        assert stored.covered == ("patients", "evidence")
        assert [i.id for i in await stores.identifiers.pending("slack", "T1", 10)] == [
            "a1b2c3d4e5f6"
        ]
        assert await stores.identifiers.pending("slack", "T2", 10) == []
    later = NOW + timedelta(hours=1)
    async with database.unit() as stores:
        asked = await stores.identifiers.decide(
            "a1b2c3d4e5f6", 1, IdentifierStatus.CHANGES_REQUESTED, "U9", "Say more", later
        )
        assert asked is not None
        assert (asked.status, asked.moderator, asked.moderator_note, asked.decided_at) == (
            "changes_requested",
            "U9",
            "Say more",
            later,
        )
        # A second click on the same card finds it decided.
        assert (
            await stores.identifiers.decide(
                "a1b2c3d4e5f6", 1, IdentifierStatus.APPROVED, "U8", None, later
            )
            is None
        )
        # Only its author can send the next revision.
        changed = {
            "title": "Publication, second edition",
            "statements": (Statement(behaviour="patients", text="Now with carers too."),),
            "vision": "Better.",
            "owner": "Another team",
            "intended": date(2027, 6, 1),
            "now": later,
        }
        assert await stores.identifiers.resubmit("a1b2c3d4e5f6", BOB, **changed) is None  # type: ignore[arg-type]
        again = await stores.identifiers.resubmit("a1b2c3d4e5f6", ALICE, **changed)  # type: ignore[arg-type]
        assert again is not None
        assert (again.status, again.revision, again.title, again.owner) == (
            "pending",
            2,
            "Publication, second edition",
            "Another team",
        )
        assert again.statements == (Statement(behaviour="patients", text="Now with carers too."),)
        assert again.intended == date(2027, 6, 1)
        # The first revision's card decides nothing now.
        assert (
            await stores.identifiers.decide(
                "a1b2c3d4e5f6", 1, IdentifierStatus.APPROVED, "U9", None, later
            )
            is None
        )
        approved = await stores.identifiers.decide(
            "a1b2c3d4e5f6", 2, IdentifierStatus.APPROVED, "U9", None, later
        )
        assert approved is not None
        assert approved.status == "approved"
        # Approved: it can no longer be changed.
        assert await stores.identifiers.resubmit("a1b2c3d4e5f6", ALICE, **changed) is None  # type: ignore[arg-type]


async def test_the_register_lists_only_approved_identifiers_newest_first(
    database: Database,
) -> None:
    async with database.unit() as stores:
        for n, status in enumerate(
            ["approved", "pending", "approved", "rejected", "changes_requested", "approved"]
        ):
            await stores.identifiers.add(
                identifier(
                    f"00000000000{n}",
                    status=status,
                    decided_at=None if status == "pending" else NOW + timedelta(days=n),
                )
            )
    async with database.unit() as stores:
        first = await stores.identifiers.published(0, 2)
        assert (first.total, [i.id for i in first.items]) == (3, ["000000000005", "000000000002"])
        rest = await stores.identifiers.published(2, 2)
        assert [i.id for i in rest.items] == ["000000000000"]
        mine = await stores.identifiers.for_author(ALICE, 10)
        assert len(mine) == 6
        assert await stores.identifiers.for_author(BOB, 10) == []


async def test_an_author_is_erased_and_their_approved_identifiers_stay_without_them(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.identifiers.add(
            identifier("00000000000a", status="approved", decided_at=NOW, moderator_note="Nice")
        )
        await stores.identifiers.add(identifier("00000000000b"))
        await stores.identifiers.add(
            identifier(
                "00000000000c",
                author=BOB,
                status="approved",
                moderator="U1",
                decided_at=NOW,
            )
        )
        await stores.identifiers.add(
            identifier("00000000000d", author=PersonKey("teams", "T1", "U1"))
        )
    async with database.unit() as stores:
        assert [i.id for i in await stores.identifiers.for_person(ALICE)] == [
            "00000000000a",
            "00000000000b",
        ]
        gone = await stores.identifiers.forget(ALICE, keep=["00000000000a"])
        assert sorted(i.id for i in gone) == ["00000000000a", "00000000000b"]
    async with database.unit() as stores:
        assert await stores.identifiers.for_person(ALICE) == []
        assert await stores.identifiers.get("00000000000b") is None
        kept = await stores.identifiers.get("00000000000a")
        assert kept is not None
        assert (kept.author.user, kept.moderator_note, kept.status) == ("", None, "approved")
        # Bob's identifier no longer names Alice as its reviewer; a namesake elsewhere stays.
        bobs = await stores.identifiers.get("00000000000c")
        assert bobs is not None
        assert bobs.moderator == ""
        assert await stores.identifiers.get("00000000000d") is not None


async def test_retention_erases_identifiers_never_approved(database: Database) -> None:
    async with database.unit() as stores:
        for n, status in enumerate(["approved", "pending", "rejected", "changes_requested"]):
            await stores.identifiers.add(
                identifier(
                    f"10000000000{n}",
                    status=status,
                    decided_at=None if status == "pending" else NOW,
                )
            )
        await stores.identifiers.add(
            identifier("200000000000", status="rejected", submitted_at=NOW + timedelta(days=30))
        )
    async with database.unit() as stores:
        assert await stores.identifiers.forget_before(NOW + timedelta(days=1)) == 3
    async with database.unit() as stores:
        left = [i.id for i in await stores.identifiers.for_person(ALICE)]
        assert sorted(left) == ["100000000000", "200000000000"]
