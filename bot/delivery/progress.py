"""Progress of deliveries for comms: the same numbers on the command line and as a card."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.delivery.hours import WorkingHours
from bot.events import CommandReceived
from bot.settings import Settings
from bot.turn import Turn
from bot.ui import Card, Field
from storage.delivery import DeliveryProgress


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """A job's current rate and when it should be done."""

    per_minute: float
    eta: datetime | None
    note: str


def estimate(
    progress: DeliveryProgress,
    now: datetime,
    hours: WorkingHours | None = None,
    zone: ZoneInfo | None = None,
) -> Estimate:
    """Rate over the last few minutes (or since the job began, if sooner) and the ETA.

    Without ``hours``: the ETA of what is due now, at that rate; messages waiting for later
    (working hours, cap) are named, not estimated. With the working ``hours`` (in ``zone``, the
    bot's own time zone, standing for everyone's) and a job whose messages keep to them: the
    ETA of everything still to send, due or waiting, at that rate inside working hours only
    (out of working hours, at the job's average rate over the working time it has sent in).
    A national fan-out takes more than a working day (bench/national_plan.py); sending stops
    when working hours end and goes on when they begin again, and so does its ETA."""
    elapsed = min(progress.window, max(now - progress.created_at, timedelta(seconds=1)))
    per_second = progress.sent_recently / elapsed.total_seconds()
    due = progress.queued + progress.in_flight
    if due == 0 and progress.waiting == 0:
        return Estimate(per_minute=per_second * 60, eta=None, note="done")
    kept = (hours, zone) if hours is not None and zone is not None else None
    if not progress.keeps_hours:
        kept = None
    rate = per_second
    if kept is not None and rate <= 0 and progress.sent and progress.last_sent_at is not None:
        # Out of working hours nothing has been sent lately: the job's own rate over the
        # working time it has been sending instead.
        worked = kept[0].working_seconds(progress.created_at, progress.last_sent_at, kept[1])
        rate = progress.sent / worked if worked > 0 else 0.0
    if due == 0 and (kept is None or rate <= 0):
        return Estimate(per_minute=per_second * 60, eta=None, note="waiting")
    if rate <= 0:
        return Estimate(per_minute=0.0, eta=None, note="not started")
    if kept is not None:
        eta = kept[0].after_working(now, (due + progress.waiting) / rate, kept[1])
    else:
        eta = now + timedelta(seconds=due / rate)
    return Estimate(per_minute=per_second * 60, eta=eta, note="sending")


def _when(moment: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return (
        f"{local:%H:%M}"
        if local.date() == now.astimezone(zone).date()
        else f"{local:%a %d %b %H:%M}"
    )


def summary(
    progress: DeliveryProgress,
    now: datetime,
    zone: ZoneInfo,
    hours: WorkingHours | None = None,
) -> str:
    """One line a person reads: counts, rate, ETA (``estimate``)."""
    guess = estimate(progress, now, hours, zone)
    parts = [
        f"{progress.sent}/{progress.total} sent",
        f"{progress.queued + progress.in_flight} queued",
    ]
    if progress.waiting:
        parts.append(
            f"{progress.waiting} waiting until {_when(progress.next_waiting_at, zone, now)} "
            "(working hours or weekly cap)"
        )
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    if progress.uncertain:
        parts.append(f"{progress.uncertain} uncertain")
    parts.append(f"{guess.per_minute:.0f}/min")
    if guess.eta is not None:
        parts.append(f"ETA {_when(guess.eta, zone, now)}")
    else:
        parts.append(guess.note)
    return ", ".join(parts)


def table(
    jobs: Sequence[DeliveryProgress],
    now: datetime,
    zone: ZoneInfo,
    hours: WorkingHours | None = None,
) -> str:
    """The ``valuesbot deliveries`` table (``estimate`` for the ETA)."""
    if not jobs:
        return "No deliveries yet."
    header = ("job", "queued", "waiting", "sent", "failed", "uncertain", "rate/min", "ETA")
    rows = [header]
    for p in jobs:
        guess = estimate(p, now, hours, zone)
        eta = _when(guess.eta, zone, now) if guess.eta else guess.note
        rows.append(
            (
                p.job,
                str(p.queued + p.in_flight),
                str(p.waiting),
                str(p.sent),
                str(p.failed),
                str(p.uncertain),
                f"{guess.per_minute:.0f}",
                eta,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)
        )
        for r in rows
    )


def card(
    jobs: Sequence[DeliveryProgress],
    now: datetime,
    zone: ZoneInfo,
    hours: WorkingHours | None = None,
) -> Card:
    """The comms card: one field per job."""
    if not jobs:
        return Card(title="Deliveries", text="Nothing has been sent yet.")
    return Card(
        title="Deliveries",
        text="Proactive messages by job, newest first.",
        fields=tuple(Field(label=p.job, value=summary(p, now, zone, hours)) for p in jobs),
        footer="Messages to people wait for their working hours and their weekly cap.",
    )


ONLY_COMMS = Card(
    title="Only comms can do this",
    text="Delivery progress is for the comms team. Ask them if you need to know.",
)


class DeliveryCommands:
    """``/values deliveries``: progress for comms members (VALUESBOT_COMMS)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def deliveries(self, turn: Turn[CommandReceived]) -> None:
        """Show progress to comms; tell anyone else it is not for them."""
        event = turn.event
        if not self.settings.is_comms(
            str(event.conversation.platform), event.actor.id, event.actor.aliases
        ):
            turn.reply(ONLY_COMMS, private=True)
            return
        jobs = await turn.stores.outbox.progress(turn.now, limit=10)
        hours = WorkingHours.parse(self.settings.working_hours)
        turn.reply(card(jobs, turn.now, self.settings.zone, hours), private=True)
