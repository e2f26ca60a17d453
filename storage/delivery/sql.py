"""The outbox and the delivery queue on SQLAlchemy."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    Row,
    String,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    update,
)
from sqlalchemy import select as select_columns
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select

from storage.common import (
    ROWS_AT_ONCE,
    SqlStore,
    among,
    chunks,
    conflict_insert,
    keys_among,
    keys_given,
    prepared_upsert,
    rowcount,
)
from storage.delivery.records import (
    ClaimedMessage,
    DeliveryProgress,
    OutboxMessage,
    OutboxStatus,
    SendStart,
    SendToStart,
)
from storage.delivery.tables import OutboxRow, PersonWeekRow, RateBucketRow
from storage.people import PersonKey, PersonRow

# While a bucket recovers from a 429, its slots are this much further apart (80% of its speed).
SLOWED_STEP = 1.25


def _outbox_values(message: OutboxMessage, now: datetime) -> dict[str, Any]:
    return {
        "key": message.key,
        "job": message.job,
        "platform": message.platform,
        "tenant": message.tenant,
        "recipient": message.recipient,
        "to_person": message.to_person,
        "thread": message.thread,
        "card": message.card,
        "respect_working_hours": message.respect_working_hours,
        "counts_towards_cap": message.counts_towards_cap,
        "replaces": message.replaces,
        "status": OutboxStatus.QUEUED.value,
        "attempts": 0,
        "next_attempt_at": message.not_before or now,
        "created_at": now,
    }


@lru_cache(maxsize=2)
def _enqueue_many(dialect: str) -> Any:
    """The insert of a list of messages, each new key once (one statement built once: the
    driver sends the rows in batches; a statement of 500 rows' values, built and compiled
    anew for each 500, took most of the time of queueing a round for 6,500 people)."""
    key = OutboxRow.__table__.c.key  # type: ignore[attr-defined]
    return prepared_upsert(dialect, OutboxRow, ("key",), updates=None).returning(key)


# Multi-row inserts are split so no statement passes SQLite's and asyncpg's parameter limits.
ENQUEUE_CHUNK = 500


class SqlOutbox(SqlStore):
    """Proactive messages in ``outbox``, as features see them."""

    async def enqueue(self, message: OutboxMessage, now: datetime) -> bool:
        statement = (
            conflict_insert(self.session, OutboxRow)
            .values(**_outbox_values(message, now))
            .on_conflict_do_nothing()
        )
        return rowcount(await self.session.exec(statement)) == 1

    async def enqueue_many(self, messages: Sequence[OutboxMessage], now: datetime) -> int:
        added = 0
        statement = _enqueue_many(self.dialect)
        for chunk in chunks(messages, ENQUEUE_CHUNK):
            inserted = await self.run(statement, [_outbox_values(m, now) for m in chunk])
            added += len(inserted.all())
        return added

    async def progress(
        self, now: datetime, *, job: str | None = None, limit: int = 20
    ) -> list[DeliveryProgress]:
        # One statement, so one snapshot: on PostgreSQL each statement of a unit sees what was
        # committed when it began, and a fan-out queued between two of them once gave a job
        # counts but no start.
        window = timedelta(minutes=5)
        status = col(OutboxRow.status)
        queued = status == OutboxStatus.QUEUED.value
        later = col(OutboxRow.next_attempt_at) > now
        to_send = status.in_(
            [OutboxStatus.QUEUED.value, OutboxStatus.CLAIMED.value, OutboxStatus.SENDING.value]
        )
        in_hours = and_(col(OutboxRow.to_person), col(OutboxRow.respect_working_hours))

        def count(*where: Any) -> Any:
            return func.sum(case((and_(*where), 1), else_=0))

        columns = {
            "queued": count(queued, col(OutboxRow.next_attempt_at) <= now),
            "waiting": count(queued, later),
            "in_flight": count(
                status.in_([OutboxStatus.CLAIMED.value, OutboxStatus.SENDING.value])
            ),
            "sent": count(status == OutboxStatus.SENT.value),
            "failed": count(status == OutboxStatus.FAILED.value),
            "uncertain": count(status == OutboxStatus.UNCERTAIN.value),
            "cancelled": count(status == OutboxStatus.CANCELLED.value),
            "sent_recently": count(
                status == OutboxStatus.SENT.value, col(OutboxRow.sent_at) >= now - window
            ),
            "in_hours": count(to_send, in_hours),
        }
        rows = await self.session.exec(
            select(
                OutboxRow.job,
                func.min(OutboxRow.created_at),
                func.max(OutboxRow.sent_at),
                func.min(case((and_(queued, later), col(OutboxRow.next_attempt_at)))),
                *columns.values(),
            )
            .where(*([] if job is None else [col(OutboxRow.job) == job]))
            .group_by(col(OutboxRow.job))
        )
        found = []
        for row in rows:
            name, created, last_sent, next_waiting = row[:4]
            sums: Sequence[Any] = row[4:]
            counts = {field: int(value or 0) for field, value in zip(columns, sums, strict=True)}
            keeps_hours = counts.pop("in_hours") > 0
            found.append(
                DeliveryProgress(
                    job=name,
                    created_at=created,
                    last_sent_at=last_sent,
                    next_waiting_at=next_waiting,
                    keeps_hours=bool(keeps_hours),
                    window=window,
                    **counts,
                )
            )
        found.sort(key=lambda p: (p.created_at, p.job), reverse=True)
        return found[:limit]

    async def requeue(self, job: str, status: OutboxStatus, now: datetime) -> int:
        if status not in (OutboxStatus.FAILED, OutboxStatus.UNCERTAIN):
            raise ValueError("only failed or uncertain messages can be sent again")
        statement = (
            update(OutboxRow)
            .where(col(OutboxRow.job) == job, col(OutboxRow.status) == status.value)
            .values(
                status=OutboxStatus.QUEUED.value,
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.session.exec(statement))

    async def waiting_for(self, person: PersonKey) -> int:
        found = await self.session.exec(
            select(func.count()).where(
                *_to(person),
                col(OutboxRow.status).in_([OutboxStatus.QUEUED.value, OutboxStatus.CLAIMED.value]),
            )
        )
        return int(found.one())

    async def cancel_to(self, person: PersonKey, now: datetime) -> int:
        cancelled = await self.session.exec(
            update(OutboxRow)
            .where(
                *_to(person),
                col(OutboxRow.status).in_([OutboxStatus.QUEUED.value, OutboxStatus.CLAIMED.value]),
            )
            .values(
                status=OutboxStatus.CANCELLED.value,
                last_error="recipient left",
                lease_owner=None,
                lease_until=None,
                sent_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        return rowcount(cancelled)

    async def forget(self, person: PersonKey, keys_starting: Sequence[str] = ()) -> int:
        gone = rowcount(
            await self.session.exec(
                delete(OutboxRow).where(*_to(person)).execution_options(synchronize_session=False)
            )
        )
        for prefix in keys_starting:
            gone += rowcount(
                await self.session.exec(
                    delete(OutboxRow)
                    .where(col(OutboxRow.key).startswith(prefix, autoescape=True))
                    .execution_options(synchronize_session=False)
                )
            )
        gone += rowcount(
            await self.session.exec(
                delete(PersonWeekRow)
                .where(
                    col(PersonWeekRow.platform) == person.platform,
                    col(PersonWeekRow.tenant) == person.tenant,
                    col(PersonWeekRow.person) == person.user,
                )
                .execution_options(synchronize_session=False)
            )
        )
        return gone

    async def forget_mentions(
        self, job_prefix: str, platform: str, tenant: str, needles: Sequence[str]
    ) -> int:
        gone = 0
        for needle in needles:
            removed = await self.session.exec(
                delete(OutboxRow)
                .where(
                    col(OutboxRow.job).startswith(job_prefix, autoescape=True),
                    col(OutboxRow.platform) == platform,
                    col(OutboxRow.tenant) == tenant,
                    col(OutboxRow.status).in_(_FINISHED),
                    col(OutboxRow.card).contains(needle, autoescape=True),
                )
                .execution_options(synchronize_session=False)
            )
            gone += rowcount(removed)
        return gone

    async def forget_before(self, when: datetime, week: str) -> int:
        finished = _FINISHED
        messages = await self.session.exec(
            delete(OutboxRow)
            .where(
                col(OutboxRow.status).in_(finished),
                func.coalesce(col(OutboxRow.sent_at), col(OutboxRow.created_at)) < when,
            )
            .execution_options(synchronize_session=False)
        )
        weeks = await self.session.exec(
            delete(PersonWeekRow)
            .where(col(PersonWeekRow.week) < week)
            .execution_options(synchronize_session=False)
        )
        return rowcount(messages) + rowcount(weeks)


_FINISHED = [
    OutboxStatus.SENT.value,
    OutboxStatus.FAILED.value,
    OutboxStatus.UNCERTAIN.value,
    OutboxStatus.CANCELLED.value,
]


def _to(person: PersonKey) -> tuple[Any, ...]:
    return (
        col(OutboxRow.to_person).is_(True),
        col(OutboxRow.platform) == person.platform,
        col(OutboxRow.tenant) == person.tenant,
        col(OutboxRow.recipient) == person.user,
    )


def _later(a: Any, b: Any) -> Any:
    """The greater of two numbers, in SQL both dialects understand."""
    return case((a > b, a), else_=b)


# The statements of every batch (claim, caps, start, finish) are built once, on the tables
# rather than the mapped classes, with parameters of the same shape whatever the batch: building
# them for each batch, with its own list of values, and compiling each new shape took a fifth of
# the event loop's time in a fan-out. Rows of values are a list of parameters (one statement,
# sent by the driver in as few round trips as it can); lists of ids, see ``among``.
_OUTBOX = OutboxRow.__table__  # type: ignore[attr-defined]
_BUCKETS = RateBucketRow.__table__  # type: ignore[attr-defined]
_WEEKS = PersonWeekRow.__table__  # type: ignore[attr-defined]
_PEOPLE = PersonRow.__table__  # type: ignore[attr-defined]


DUE_MESSAGES = (
    select_columns(_OUTBOX)
    .where(
        _OUTBOX.c.status == OutboxStatus.QUEUED.value,
        _OUTBOX.c.next_attempt_at <= bindparam("now"),
        _OUTBOX.c.platform.in_(bindparam("platforms", expanding=True)),
    )
    .order_by(_OUTBOX.c.next_attempt_at, _OUTBOX.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)
"""The claim's query: the first ``limit`` due queued messages of these ``platforms``, oldest
first, locked (``SKIP LOCKED``: rows other workers hold are passed over)."""

_EXPIRE_CLAIMS = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.status == OutboxStatus.CLAIMED.value,
        _OUTBOX.c.lease_until < bindparam("now"),
    )
    .values(status=OutboxStatus.QUEUED.value, lease_owner=None, lease_until=None)
)
_TAKE_EXPIRED_SENDS = (
    select_columns(_OUTBOX)
    .where(
        _OUTBOX.c.status == OutboxStatus.SENDING.value,
        _OUTBOX.c.lease_until < bindparam("now"),
        _OUTBOX.c.platform.in_(bindparam("platforms", expanding=True)),
    )
    .order_by(_OUTBOX.c.lease_until, _OUTBOX.c.id)
    .limit(bindparam("limit", type_=Integer))
    .with_for_update(skip_locked=True)
)


def _message_ids(dialect: str) -> Any:
    """Each row's own message id, looked up by its id in the ``refs`` parameter (a JSON object
    of message ids by row id; null or missing: none). One parameter whatever the group's size:
    a ``CASE`` of the group's ids was a new statement, compiled anew, for every group."""
    key = cast(_OUTBOX.c.id, String)
    refs = bindparam("refs", type_=String)
    if dialect == "postgresql":
        return func.jsonb_extract_path_text(cast(refs, postgresql.JSONB), key)
    return func.json_extract(refs, literal('$."', String) + key + literal('"', String))


@dataclass(frozen=True, slots=True)
class _ByIds:
    """The batch's statements on lists of rows (``ids``, ``buckets``, ``people``), in one
    dialect."""

    claim: Any
    timezones: Any
    take_over: Any
    hold_week: Any
    lock_claimed: Any
    bucket_tats: Any
    start: Any
    sent: Any


@lru_cache(maxsize=2)
def _by_ids(dialect: str) -> _ByIds:
    ids = among(_OUTBOX.c.id, "ids", dialect)

    def held(status: OutboxStatus) -> tuple[Any, ...]:
        """The rows of ``ids`` that ``owner`` still holds, in ``status``."""
        return (ids, _OUTBOX.c.lease_owner == bindparam("owner"), _OUTBOX.c.status == status.value)

    return _ByIds(
        claim=update(_OUTBOX)
        .where(ids)
        .values(
            status=OutboxStatus.CLAIMED.value,
            lease_owner=bindparam("owner"),
            lease_until=bindparam("until"),
        ),
        timezones=select_columns(
            _PEOPLE.c.platform, _PEOPLE.c.tenant, _PEOPLE.c.user_id, _PEOPLE.c.timezone
        ).where(
            keys_among((_PEOPLE.c.platform, _PEOPLE.c.tenant, _PEOPLE.c.user_id), "people", dialect)
        ),
        take_over=update(_OUTBOX)
        .where(ids)
        .values(lease_owner=bindparam("owner"), lease_until=bindparam("until")),
        hold_week=update(_OUTBOX).where(ids).values(cap_week=bindparam("week")),
        lock_claimed=select_columns(_OUTBOX.c.id)
        .where(*held(OutboxStatus.CLAIMED))
        .with_for_update(),
        bucket_tats=select_columns(_BUCKETS.c.bucket, _BUCKETS.c.tat).where(
            among(_BUCKETS.c.bucket, "buckets", dialect)
        ),
        start=update(_OUTBOX)
        .where(*held(OutboxStatus.CLAIMED))
        .values(
            status=OutboxStatus.SENDING.value,
            attempts=_OUTBOX.c.attempts + 1,
            sending_at=bindparam("now"),
            lease_until=bindparam("until"),
        ),
        sent=update(_OUTBOX)
        .where(*held(OutboxStatus.SENDING))
        .values(
            status=OutboxStatus.SENT.value,
            sent_at=bindparam("now"),
            lease_until=None,
            message_id=_message_ids(dialect),
            last_error=None,
        )
        .returning(_OUTBOX.c.id),
    )


def _insert(dialect: str) -> Any:
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


@lru_cache(maxsize=2)
def _take_buckets(dialect: str) -> Any:
    """Each row's budget (``bucket``) taken if it is free at ``wall`` (tat <= wall): its next
    send may go at the row's ``tat``; returns the buckets taken."""
    statement = _insert(dialect)(_BUCKETS)
    return statement.on_conflict_do_update(
        index_elements=["bucket"],
        set_={"tat": statement.excluded.tat},
        where=_BUCKETS.c.tat <= bindparam("wall"),
    ).returning(_BUCKETS.c.bucket)


@lru_cache(maxsize=2)
def _count_in_week(dialect: str) -> Any:
    """Add one message to each row's person-week, unless it already holds ``cap``; returns the
    person-weeks counted."""
    return (
        _insert(dialect)(_WEEKS)
        .on_conflict_do_update(
            index_elements=["platform", "tenant", "person", "week"],
            set_={"messages": _WEEKS.c.messages + 1},
            where=_WEEKS.c.messages < bindparam("cap"),
        )
        .returning(_WEEKS.c.platform, _WEEKS.c.tenant, _WEEKS.c.person, _WEEKS.c.week)
    )


def due_messages(platforms: Sequence[str], now: datetime, limit: int) -> Any:
    """``DUE_MESSAGES`` with its parameters given (to show or explain it)."""
    return DUE_MESSAGES.params(platforms=list(platforms), now=now, limit=limit)


def _claimed(row: Row[Any], timezone: str | None = None) -> ClaimedMessage:
    return ClaimedMessage(
        id=row.id,
        key=row.key,
        job=row.job,
        platform=row.platform,
        tenant=row.tenant,
        recipient=row.recipient,
        to_person=row.to_person,
        thread=row.thread,
        card=row.card,
        attempts=row.attempts,
        respect_working_hours=row.respect_working_hours,
        counts_towards_cap=row.counts_towards_cap,
        cap_week=row.cap_week,
        timezone=timezone,
        sending_at=row.sending_at,
        replaces=row.replaces,
    )


class SqlDeliveryQueue(SqlStore):
    """The outbox as the workers see it, the shared send budgets (``rate_buckets``) and the
    weekly caps (``person_weeks``).

    Claims use ``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so workers on several
    instances take disjoint batches without waiting for each other. SQLite ignores the clause;
    there every unit of work holds the write lock from its first statement (``BEGIN
    IMMEDIATE``), so a select-then-update is already atomic.
    """

    def _held(self, message_id: int, owner: str, *statuses: OutboxStatus) -> Any:
        return (
            col(OutboxRow.id) == message_id,
            col(OutboxRow.lease_owner) == owner,
            col(OutboxRow.status).in_([s.value for s in statuses]),
        )

    async def _update(self, where: Any, **values: Any) -> bool:
        statement = (
            update(OutboxRow)
            .where(*where)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return rowcount(await self.session.exec(statement)) == 1

    async def _timezones(self, rows: Sequence[Row[Any]]) -> dict[tuple[str, str, str], str]:
        people = list({(r.platform, r.tenant, r.recipient) for r in rows if r.to_person})
        zones: dict[tuple[str, str, str], str] = {}
        for chunk in chunks(people, ROWS_AT_ONCE):
            found = await self.run(
                _by_ids(self.dialect).timezones, keys_given("people", chunk, self.dialect)
            )
            zones.update(
                ((r.platform, r.tenant, r.user_id), r.timezone) for r in found if r.timezone
            )
        return zones

    async def claim(
        self,
        platforms: Sequence[str],
        owner: str,
        now: datetime,
        lease_until: datetime,
        limit: int,
    ) -> list[ClaimedMessage]:
        if not platforms or limit <= 0:
            return []
        due = await self.run(
            DUE_MESSAGES, {"platforms": list(platforms), "now": now, "limit": limit}
        )
        rows = due.all()
        if not rows:
            return []
        await self.run(
            _by_ids(self.dialect).claim,
            {"ids": [r.id for r in rows], "owner": owner, "until": lease_until},
        )
        zones = await self._timezones(rows)
        return [_claimed(r, zones.get((r.platform, r.tenant, r.recipient))) for r in rows]

    async def expire_claims(self, now: datetime) -> int:
        return rowcount(await self.run(_EXPIRE_CLAIMS, {"now": now}))

    async def _release_cap(self, message_id: int) -> None:
        found = await self.session.exec(
            select(
                OutboxRow.platform, OutboxRow.tenant, OutboxRow.recipient, OutboxRow.cap_week
            ).where(col(OutboxRow.id) == message_id)
        )
        row = found.first()
        if row is None or row[3] is None:
            return
        platform, tenant, recipient, week = row
        await self.session.exec(
            update(PersonWeekRow)
            .where(
                col(PersonWeekRow.platform) == platform,
                col(PersonWeekRow.tenant) == tenant,
                col(PersonWeekRow.person) == recipient,
                col(PersonWeekRow.week) == week,
                col(PersonWeekRow.messages) > 0,
            )
            .values(messages=col(PersonWeekRow.messages) - 1)
            .execution_options(synchronize_session=False)
        )
        await self._update((col(OutboxRow.id) == message_id,), cap_week=None)

    async def hold_cap(self, message: ClaimedMessage, week: str, cap: int) -> bool:
        [held] = await self.hold_caps([(message, week)], cap)
        return held

    async def hold_caps(self, wanted: Sequence[tuple[ClaimedMessage, str]], cap: int) -> list[bool]:
        held = [False] * len(wanted)
        # Whose week each message would count in: a person met once in the batch is counted
        # by one multi-row upsert; a person with several messages in it, one message at a time.
        places: dict[tuple[str, str, str, str], list[int]] = defaultdict(list)
        for n, (message, week) in enumerate(wanted):
            if message.cap_week == week:
                held[n] = True
            elif cap > 0:
                if message.cap_week is not None:
                    await self._release_cap(message.id)
                places[(message.platform, message.tenant, message.recipient, week)].append(n)
        count_in_week = _count_in_week(self.dialect)

        def week_of(place: tuple[str, str, str, str]) -> dict[str, Any]:
            platform, tenant, person, week = place
            return {
                "platform": platform,
                "tenant": tenant,
                "person": person,
                "week": week,
                "messages": 1,
                "cap": cap,
            }

        once = [week_of(place) for place, seen in places.items() if len(seen) == 1]
        counted: set[tuple[str, str, str, str]] = set()
        if once:
            found = await self.run(count_in_week, once)
            counted.update((r.platform, r.tenant, r.person, r.week) for r in found)
        for place, seen in places.items():
            if len(seen) == 1:
                held[seen[0]] = place in counted
                continue
            for n in seen:
                held[n] = (await self.run(count_in_week, week_of(place))).first() is not None
        weeks: dict[str, list[int]] = defaultdict(list)
        for (message, week), ok in zip(wanted, held, strict=True):
            if ok and message.cap_week != week:
                weeks[week].append(message.id)
        for week, ids in weeks.items():
            for chunk in chunks(ids, ROWS_AT_ONCE):
                await self.run(_by_ids(self.dialect).hold_week, {"ids": list(chunk), "week": week})
        return held

    async def defer(
        self, message_id: int, owner: str, until: datetime, reason: str | None = None
    ) -> bool:
        values: dict[str, Any] = {
            "status": OutboxStatus.QUEUED.value,
            "next_attempt_at": until,
            "lease_owner": None,
            "lease_until": None,
        }
        if reason is not None:
            values["last_error"] = reason[:512]
        return await self._update(self._held(message_id, owner, OutboxStatus.CLAIMED), **values)

    async def start_sends(
        self, starts: Sequence[SendToStart], owner: str, now: datetime, lease_until: datetime,
        wall: float,
    ) -> list[tuple[SendStart, datetime | None]]:  # fmt: skip
        results: list[tuple[SendStart, datetime | None]] = [(SendStart.LOST, None)] * len(starts)
        held: set[int] = set()
        for ids in chunks([s.message.id for s in starts], ROWS_AT_ONCE):
            found = await self.run(
                _by_ids(self.dialect).lock_claimed, {"ids": list(ids), "owner": owner}
            )
            held.update(int(i) for i in found.scalars())
        # Each conversation's budget is taken once per call, by its first message here; a
        # second message to it waits for the next free moment like any busy conversation.
        first: dict[str, int] = {}
        busy: list[int] = []
        go: list[int] = []
        for n, start in enumerate(starts):
            if start.message.id not in held:
                continue
            if start.interval <= 0:
                go.append(n)
            elif start.bucket in first:
                busy.append(n)
            else:
                first[start.bucket] = n
        taken: set[str] = set()
        if first:
            # A conversation free at ``wall`` (tat <= wall) sends now: its next send may go one
            # interval later.
            found = await self.run(
                _take_buckets(self.dialect),
                [
                    {
                        "bucket": b,
                        "tat": wall + starts[n].interval,
                        "slowed_until": 0.0,
                        "wall": wall,
                    }
                    for b, n in first.items()
                ],
            )
            taken.update(str(b) for b in found.scalars())
        for bucket, n in first.items():
            (go if bucket in taken else busy).append(n)
        if busy:
            free: dict[str, float] = {}
            for buckets in chunks(list({starts[n].bucket for n in busy}), ROWS_AT_ONCE):
                found_tats = await self.run(
                    _by_ids(self.dialect).bucket_tats, {"buckets": list(buckets)}
                )
                free.update((r.bucket, float(r.tat)) for r in found_tats)
            for n in busy:
                free_at = now + timedelta(seconds=max(free[starts[n].bucket] - wall, 0.0))
                await self.defer(starts[n].message.id, owner, free_at)
                results[n] = (SendStart.DEFERRED, free_at)
        for places in chunks(sorted(go), ROWS_AT_ONCE):
            ids = [starts[n].message.id for n in places]
            await self.run(
                _by_ids(self.dialect).start,
                {"ids": ids, "owner": owner, "now": now, "until": lease_until},
            )
            for n in places:
                results[n] = (SendStart.STARTED, None)
        return results

    async def mark_sent(
        self, message_id: int, owner: str, now: datetime, message_ref: str | None
    ) -> bool:
        return (await self.mark_sent_many([(message_id, message_ref)], owner, now))[0]

    async def mark_sent_many(
        self, sent: Sequence[tuple[int, str | None]], owner: str, now: datetime
    ) -> list[bool]:
        marked: set[int] = set()
        for chunk in chunks(list(sent), ROWS_AT_ONCE):
            found = await self.run(
                _by_ids(self.dialect).sent,
                {
                    "ids": [message_id for message_id, _ in chunk],
                    "owner": owner,
                    "now": now,
                    "refs": json.dumps({str(message_id): ref for message_id, ref in chunk}),
                },
            )
            marked.update(int(i) for i in found.scalars())
        return [message_id in marked for message_id, _ in sent]

    async def retry_later(
        self, message_id: int, owner: str, when: datetime, error: str, *, attempt: bool = True
    ) -> bool:
        values: dict[str, Any] = {
            "status": OutboxStatus.QUEUED.value,
            "next_attempt_at": when,
            "lease_owner": None,
            "lease_until": None,
            "last_error": error[:512],
        }
        if not attempt:
            values["attempts"] = case(
                (col(OutboxRow.attempts) > 0, col(OutboxRow.attempts) - 1), else_=0
            )
        return await self._update(
            self._held(message_id, owner, OutboxStatus.CLAIMED, OutboxStatus.SENDING), **values
        )

    async def fail(self, message_id: int, owner: str, now: datetime, reason: str) -> bool:
        where = self._held(message_id, owner, OutboxStatus.CLAIMED, OutboxStatus.SENDING)
        held = await self.session.exec(select(OutboxRow.id).where(*where).with_for_update())
        if held.first() is None:
            return False
        await self._release_cap(message_id)
        return await self._update(
            where, status=OutboxStatus.FAILED.value, lease_until=None, last_error=reason[:512]
        )

    async def mark_uncertain(self, message_id: int, owner: str, now: datetime, reason: str) -> bool:
        return await self._update(
            self._held(message_id, owner, OutboxStatus.SENDING),
            status=OutboxStatus.UNCERTAIN.value,
            lease_until=None,
            last_error=reason[:512],
        )

    async def probe_later(self, message_id: int, owner: str, when: datetime, error: str) -> bool:
        return await self._update(
            self._held(message_id, owner, OutboxStatus.SENDING),
            lease_until=when,
            last_error=error[:512],
        )

    async def take_expired_sends(
        self, platforms: Sequence[str], owner: str, now: datetime, lease_until: datetime, limit: int
    ) -> list[ClaimedMessage]:
        if not platforms or limit <= 0:
            return []
        found = await self.run(
            _TAKE_EXPIRED_SENDS, {"platforms": list(platforms), "now": now, "limit": limit}
        )
        rows = found.all()
        if not rows:
            return []
        await self.run(
            _by_ids(self.dialect).take_over,
            {"ids": [r.id for r in rows], "owner": owner, "until": lease_until},
        )
        return [_claimed(r) for r in rows]

    async def take_slots(
        self, bucket: str, count: int, interval: float, wall: float
    ) -> tuple[float, float]:
        slowed = case((col(RateBucketRow.slowed_until) > wall, SLOWED_STEP), else_=1.0)
        taken = await self.session.exec(
            conflict_insert(self.session, RateBucketRow)
            .values(bucket=bucket, tat=wall + count * interval, slowed_until=0.0)
            .on_conflict_do_update(
                index_elements=["bucket"],
                set_={
                    "tat": _later(col(RateBucketRow.tat), literal(wall)) + count * interval * slowed
                },
            )
            .returning(RateBucketRow.tat, RateBucketRow.slowed_until)
        )
        tat, slowed_until = taken.one()
        step = interval * (SLOWED_STEP if float(slowed_until) > wall else 1.0)
        return float(tat) - count * step, step

    async def slow_down(self, bucket: str, wall: float, pause: float, recovery: float) -> None:
        resume = wall + pause
        await self.session.exec(
            conflict_insert(self.session, RateBucketRow)
            .values(bucket=bucket, tat=resume, slowed_until=resume + recovery)
            .on_conflict_do_update(
                index_elements=["bucket"],
                set_={
                    "tat": _later(col(RateBucketRow.tat), literal(resume)),
                    "slowed_until": _later(
                        col(RateBucketRow.slowed_until), literal(resume + recovery)
                    ),
                },
            )
        )

    async def forget_buckets(self, before: float) -> int:
        statement = delete(RateBucketRow).where(
            col(RateBucketRow.tat) < before, col(RateBucketRow.slowed_until) < before
        )
        return rowcount(await self.session.exec(statement))

    async def depth(self) -> dict[tuple[str, str], int]:
        found = await self.session.exec(
            select(OutboxRow.platform, OutboxRow.status, func.count()).group_by(
                col(OutboxRow.platform), col(OutboxRow.status)
            )
        )
        return {(p, s): int(n) for p, s, n in found}
