"""Delivery and scheduling: how proactive messages reach people (docs/delivery.md).

What features use:

- ``to_person`` / ``to_channel`` build an ``OutboxMessage``; ``fan_out`` queues one card for
  many people. Queue them with the stores of the unit of work that makes the change they
  announce (``await stores.outbox.enqueue(...)``), so both commit or neither does.
- ``router.schedule(kind, handler)`` registers what a kind of scheduled job does;
  ``stores.schedules.add(Schedule(...), now)`` creates a schedule (rows are the truth).
- ``stores.outbox.progress(now, job=...)`` reads how far a delivery has got.
- ``router.undelivered(job_prefix, handler)`` reacts when the outbox gives up on a message
  for good (a ``DeliveryFailed`` turn): ``notice`` and ``tell_comms`` queue what people are
  told, ``place_label`` and ``why`` say where and why in words. Messages to channels nobody
  reacts to are reported to comms by ``Undelivered.fallback``.

The machinery (``worker.DeliveryWorker``, ``scheduler.Scheduler``) is wired in ``bot.app``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING

from bot.events import DeliveryFailed, Failure
from bot.ui import Card, card_to_json
from storage.delivery import OutboxMessage
from storage.people import PersonKey
from storage.stores import Stores

if TYPE_CHECKING:  # bot.settings imports bot.delivery.hours, and so this package, first
    from bot.settings import Settings
    from bot.turn import Turn

# The job of the notices about undelivered messages (so a notice that fails in its turn is
# nobody's to react to: it is logged, and counted in ``valuesbot deliveries``).
NOTICE_JOB = "undelivered"


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
    thread: str | None = None,
    replaces: str | None = None,
) -> OutboxMessage:
    """A card for a channel (no working hours, no personal cap), in its ``thread`` if given.
    With ``replaces`` (the id of a message posted there, from ``CardPosted``), the card takes
    that message's place instead of being posted: the change is sent once, like any message,
    and a change that cannot be made (the message is gone, the bot left) tells nobody."""
    return OutboxMessage(
        key=key,
        job=job,
        platform=platform,
        tenant=tenant,
        recipient=conversation,
        to_person=False,
        card=card_to_json(card).decode(),
        thread=thread,
        not_before=not_before,
        respect_working_hours=False,
        counts_towards_cap=False,
        replaces=replaces,
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


def notice(
    event: DeliveryFailed, person: PersonKey, card: Card, *, about: str = ""
) -> OutboxMessage:
    """A card telling ``person`` (in their direct chat) that a message could not be delivered.
    Its key is derived from the failed message's (or from ``about``, to tell once about many
    messages, e.g. a digest's cards), so a second reaction to the same failure queues nothing.
    It goes at once, outside working hours and the weekly cap: it answers what they did."""
    return to_person(
        f"{about or event.key}:undelivered:{person.platform}:{person.tenant}:{person.user}",
        NOTICE_JOB,
        person,
        card,
        respect_working_hours=False,
        counts_towards_cap=False,
    )


async def tell_comms(
    stores: Stores,
    settings: Settings,
    event: DeliveryFailed,
    card: Card,
    now: datetime,
    *,
    about: str = "",
) -> int:
    """Queue ``card`` for every comms member (``VALUESBOT_COMMS``, else the admins) on the
    failed message's platform and workspace or tenant; how many were queued (none listed:
    the worker's WARNING line is all there is)."""
    platform, tenant = str(event.conversation.platform), event.conversation.tenant
    queued = 0
    for member in settings.comms_on(platform):
        person = PersonKey(platform, tenant, member)
        if await stores.outbox.enqueue(notice(event, person, card, about=about), now):
            queued += 1
    return queued


async def place_label(stores: Stores, event: DeliveryFailed) -> str:
    """What people call the channel the message was going to: the name the adapter kept with
    the conversation ("General in Winter planning", "#winter-planning"), else its id."""
    place = event.conversation
    known = await stores.people.conversation(str(place.platform), place.tenant, place.conversation)
    name = known.extra.get("name") if known is not None else None
    return name or f"the channel {place.conversation}"


def why(event: DeliveryFailed) -> str:
    """Why it was not delivered, in words (the code itself goes in a footer)."""
    if event.failure is Failure.UNREACHABLE:
        if event.to_person:
            return "I cannot reach them (they may have left, or never opened a chat with me)"
        return "I am not a member of it, or it was archived or deleted"
    if event.failure is Failure.GAVE_UP:
        return "the platform kept failing, so I gave up"
    return "the message was damaged on our side"


class Undelivered:
    """The core's reaction when no feature reacts to an undelivered message: a message for a
    channel is reported to comms (or the admins), with what to do; a message for a person,
    or a change to a card already posted (the card keeps its old face), is only logged (the
    worker's WARNING) and counted (``valuesbot deliveries``)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def fallback(self, turn: Turn[DeliveryFailed]) -> None:
        """Tell comms that a channel post failed."""
        event = turn.event
        if event.to_person or event.update or event.job == NOTICE_JOB:
            return
        label = await place_label(turn.stores, event)
        card = Card(
            title="A message could not be posted",
            text=f"I could not post a message of {event.job} in {label}: {why(event)}.\n\n"
            f"Add valuesbot to {label}; then whoever runs valuesbot can send it again with "
            f"valuesbot deliveries requeue {event.job} --failed.",
            footer=f"Reason: {event.reason}",
        )
        await tell_comms(turn.stores, self.settings, event, card, turn.now)


__all__ = [
    "NOTICE_JOB",
    "Undelivered",
    "fan_out",
    "notice",
    "place_label",
    "tell_comms",
    "to_channel",
    "to_person",
    "why",
]
