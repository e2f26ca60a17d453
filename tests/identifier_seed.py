"""Values identifiers for the tests of their outputs: one with hostile text in every field, one
at every length limit (in wide capitals, the hardest to fit on one page), one pending."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.app import App
from bot.content import Content
from storage.identifiers import Identifier, Statement
from storage.people import PersonKey

AUTHOR = PersonKey("console", "test", "alice")
DECIDED = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
HOSTILE = '<script>alert(1)</script> "><img src=x onerror=alert(2)> <!channel> & co'
HOSTILE_ID = "a1b2c3d4e5f6"
LONGEST_ID = "0f0f0f0f0f0f"
PENDING_ID = "bbbbbbbbbbbb"


def statements(content: Content, text: str, not_relevant: int | None = 3) -> tuple[Statement, ...]:
    """A statement per behaviour (the ``not_relevant``-th, counting from 0, not relevant), each
    naming its behaviour so a test can find it."""
    return tuple(
        Statement(behaviour=b.id, text="" if n == not_relevant else f"{b.id}: {text}")
        for n, b in enumerate(content.behaviours)
    )


def hostile(content: Content) -> Identifier:
    """An approved identifier with hostile text everywhere people write."""
    return Identifier(
        id=HOSTILE_ID,
        author=AUTHOR,
        title=f"Winter plan {HOSTILE}",
        statements=statements(content, f"Patients wrote it. {HOSTILE}"),
        vision=f"It helps. {HOSTILE}",
        owner=f"Urgent care {HOSTILE}",
        intended=date(2027, 3, 31),
        status="approved",
        moderator="carol",
        submitted_at=DECIDED,
        decided_at=DECIDED,
    )


def longest(content: Content) -> Identifier:
    """An approved identifier at every limit, in wide capitals."""
    wide = ("WMWMWMW " * 50)[:292]  # with "<id>: " in front, 296 to 300 characters
    return Identifier(
        id=LONGEST_ID,
        author=AUTHOR,
        title=("MWMWMWMWM " * 30)[:200],
        statements=tuple(
            Statement(behaviour=b.id, text=f"{b.id}: {wide}"[:300]) for b in content.behaviours
        ),
        vision=("WWWWWW " * 50)[:300],
        owner=("OWMWOWMWO " * 20)[:120],
        intended=date(2027, 12, 31),
        status="approved",
        moderator="carol",
        submitted_at=DECIDED,
        decided_at=DECIDED.replace(hour=11),
    )


def pending(content: Content) -> Identifier:
    """One still waiting for comms: published nowhere."""
    return Identifier(
        id=PENDING_ID,
        author=AUTHOR,
        title="Not yet approved",
        statements=statements(content, "Draft."),
        vision="Draft.",
        owner="Team",
        intended=date(2027, 3, 31),
        submitted_at=DECIDED,
    )


async def seed_identifiers(app: App) -> None:
    """The three identifiers, in the app's database."""
    async with app.database.unit() as stores:
        for made in (hostile, longest, pending):
            assert await stores.identifiers.add(made(app.content))
