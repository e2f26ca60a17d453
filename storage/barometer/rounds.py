"""The SQL of rounds of questions answered anonymously, which the staff barometer and the
scorecard's stakeholder feedback rounds share.

Each kind of round has a table of rounds (``id``, ``period``, ``status`` "open" or "closed",
``opened_at``, ``closed_at``, ``invited``, ``answered``), one of responses (``round_id``,
``question``, ``group_id``, ``value``: no person, no time) and one of comments (``round_id``,
``id``, ``status``). These functions take the tables and give rows back; each store makes its
own records of them.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import func, inspect, update
from sqlmodel import SQLModel, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.common import rowcount

_Row = TypeVar("_Row", bound=SQLModel)

Counts = dict[tuple[str, str | None, str], int]
"""How many gave each answer: (question, group or None, scale point) to a count."""


def _columns(table: type[SQLModel]) -> Any:
    return inspect(table).columns


async def by_period(session: AsyncSession, rounds: type[_Row], period: str) -> _Row | None:
    """The round of a period, if there is one."""
    found = await session.exec(
        select(rounds)
        .where(_columns(rounds).period == period)
        .execution_options(populate_existing=True)
    )
    return found.first()


async def newest(session: AsyncSession, rounds: type[_Row], status: str, limit: int) -> list[_Row]:
    """Up to ``limit`` rounds in ``status`` ("open" or "closed"), the latest opened first."""
    c = _columns(rounds)
    found = await session.exec(
        select(rounds)
        .where(c.status == status)
        .order_by(c.opened_at.desc())
        .limit(limit)
        .execution_options(populate_existing=True)
    )
    return list(found)


async def mark_closed(
    session: AsyncSession,
    rounds: type[SQLModel],
    round_id: str,
    now: datetime,
    invited: int,
    answered: int,
) -> bool:
    """Close a round that is open, with its final participation; False when it is not open
    (closed already, by another instance or an earlier run)."""
    c = _columns(rounds)
    closed = await session.exec(
        update(rounds)
        .where(c.id == round_id, c.status == "open")
        .values(status="closed", closed_at=now, invited=invited, answered=answered)
        .execution_options(synchronize_session=False)
    )
    return rowcount(closed) == 1


async def count_answers(
    session: AsyncSession, responses: type[SQLModel], round_id: str, first_question: str
) -> tuple[Counts, int]:
    """How many gave each answer in a round, and how many people answered (every answer
    answers every question, so those who answered ``first_question``)."""
    c = _columns(responses)
    counted = await session.exec(
        select(c.question, c.group_id, c.value, func.count())
        .where(c.round_id == round_id)
        .group_by(c.question, c.group_id, c.value)
    )
    counts: Counts = {(q, g, v): int(n) for q, g, v, n in counted}
    respondents = sum(n for (q, _, _), n in counts.items() if q == first_question)
    return counts, respondents


async def comment_rows(
    session: AsyncSession, comments: type[_Row], round_id: str, statuses: Collection[str]
) -> list[_Row]:
    """A round's comments in these statuses, by id (random, so in no telling order)."""
    c = _columns(comments)
    found = await session.exec(
        select(comments)
        .where(c.round_id == round_id, c.status.in_(list(statuses)))
        .order_by(c.id)
        .execution_options(populate_existing=True)
    )
    return list(found)


async def moderate(
    session: AsyncSession, comments: type[SQLModel], round_id: str, comment_id: str, status: str
) -> bool:
    """Approve or reject a comment; False when the round has no such comment."""
    c = _columns(comments)
    changed = await session.exec(
        update(comments)
        .where(c.round_id == round_id, c.id == comment_id)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    return rowcount(changed) == 1
