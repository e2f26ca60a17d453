"""Delivery and scheduling: how proactive messages reach people (docs/delivery.md).

What features use:

- ``to_person`` / ``to_channel`` build an ``OutboxMessage``; ``fan_out`` queues one card for
  many people. Queue them with the stores of the unit of work that makes the change they
  announce (``await stores.outbox.enqueue(...)``), so both commit or neither does.
- ``router.schedule(kind, handler)`` registers what a kind of scheduled job does;
  ``stores.schedules.add(Schedule(...), now)`` creates a schedule (rows are the truth).
- ``stores.outbox.progress(now, job=...)`` reads how far a delivery has got.

The machinery (``worker.DeliveryWorker``, ``scheduler.Scheduler``) is wired in ``bot.app``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.ui import Card, card_to_json
from storage.delivery import OutboxMessage
from storage.people import PersonKey
from storage.stores import Stores


def to_person(
    key: str,
    job: str,
    person: PersonKey,
    card: Card,
    *,
    not_before: datetime | None = None,
    respect_working_hours: bool = True,
    counts_towards_cap: bool = True,
) -> OutboxMessage:
    """A card for a person's direct chat with the bot. ``key`` must be unique to this message
    ("barometer:2027-05:slack:T1:U123"): queueing it twice sends it once."""
    return OutboxMessage(
        key=key,
        job=job,
        platform=person.platform,
        tenant=person.tenant,
        recipient=person.user,
        to_person=True,
        card=card_to_json(card).decode(),
        not_before=not_before,
        respect_working_hours=respect_working_hours,
        counts_towards_cap=counts_towards_cap,
    )


def to_channel(
    key: str,
    job: str,
    platform: str,
    tenant: str,
    conversation: str,
    card: Card,
    *,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """A card for a channel (no working hours, no personal cap)."""
    return OutboxMessage(
        key=key,
        job=job,
        platform=platform,
        tenant=tenant,
        recipient=conversation,
        to_person=False,
        card=card_to_json(card).decode(),
        not_before=not_before,
        respect_working_hours=False,
        counts_towards_cap=False,
    )


async def fan_out(
    stores: Stores,
    *,
    job: str,
    people: Iterable[PersonKey],
    card: Card,
    now: datetime,
    not_before: datetime | None = None,
    respect_working_hours: bool = True,
    counts_towards_cap: bool = True,
) -> int:
    """Queue ``card`` for each person, keyed ``"{job}:{platform}:{tenant}:{user}"``; how many
    were new (running it again queues nobody twice)."""
    body = card_to_json(card).decode()
    messages = [
        OutboxMessage(
            key=f"{job}:{p.platform}:{p.tenant}:{p.user}",
            job=job,
            platform=p.platform,
            tenant=p.tenant,
            recipient=p.user,
            to_person=True,
            card=body,
            not_before=not_before,
            respect_working_hours=respect_working_hours,
            counts_towards_cap=counts_towards_cap,
        )
        for p in people
    ]
    return await stores.outbox.enqueue_many(messages, now)


__all__ = ["fan_out", "to_channel", "to_person"]
