"""The values lens's records and the interfaces of its two stores: personal check-ins and
team check-ins."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from bot.events import ConversationRef
from storage.common import Period, PeriodCount
from storage.people import PersonKey


@dataclass(frozen=True, slots=True, kw_only=True)
class RatingEntry:
    """How a check-in rated one behaviour."""

    behaviour: str
    rating: str
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Checkin:
    """A completed personal values lens check-in."""

    id: str
    owner: PersonKey
    work: str
    action: str
    focus: str | None
    ratings: tuple[RatingEntry, ...]
    started_at: datetime
    completed_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamCheckin:
    """A team values lens in a channel. ``card`` is the platform's id of its card there, once
    posted (None until then, or when the platform gave none): the card changed when it
    closes."""

    id: str
    place: ConversationRef
    work: str
    started_by: str
    opened_at: datetime
    closes_at: datetime
    status: str = "open"
    closed_at: datetime | None = None
    participants: int = 0
    card: str | None = None

    @property
    def is_open(self) -> bool:
        """True until the starter closes it or its time runs out."""
        return self.status == "open"


class RateOutcome(StrEnum):
    """What happened to a member's team ratings."""

    NEW = "new"
    REPLACED = "replaced"
    CLOSED = "closed"


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamTally:
    """How a team rated each behaviour: ``counts[behaviour][rating]``, never who."""

    checkin: TeamCheckin
    participants: int
    counts: Mapping[str, Mapping[str, int]]


class CheckinStore(Protocol):
    """Completed personal check-ins."""

    async def add(self, checkin: Checkin) -> None:
        """Store a completed check-in."""
        ...

    async def get(self, checkin_id: str) -> Checkin | None:
        """One check-in, if it exists."""
        ...

    async def recent(self, owner: PersonKey, limit: int) -> list[Checkin]:
        """The owner's latest check-ins, newest first."""
        ...

    async def for_person(self, owner: PersonKey) -> list[Checkin]:
        """Every check-in of the owner, newest first (their own record)."""
        ...

    async def forget(self, owner: PersonKey) -> int:
        """Erase every check-in of the owner, with its ratings and notes; how many."""
        ...

    async def forget_before(self, when: datetime) -> int:
        """Retention: erase check-ins completed before ``when``; how many."""
        ...

    async def activity(self, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        """Check-ins completed in each period and how many different people completed them
        (the scorecard's counts: aggregates only)."""
        ...

    async def spread(self, periods: Sequence[Period]) -> dict[str, dict[tuple[str, str], int]]:
        """How many ratings each (behaviour, rating) had in the check-ins completed in each
        period."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TeamRatings:
    """One member's ratings in one team check-in, found again by their keyed hash."""

    checkin: TeamCheckin
    ratings: Mapping[str, str]


class TeamCheckinStore(Protocol):
    """Team check-ins and their ratings."""

    async def open(self, checkin: TeamCheckin) -> TeamCheckin:
        """Open a team check-in; if the place already has an open one, that one is returned."""
        ...

    async def current(self, place: ConversationRef) -> TeamCheckin | None:
        """The open team check-in in this place, if any."""
        ...

    async def get(self, checkin_id: str) -> TeamCheckin | None:
        """One team check-in, open or closed."""
        ...

    async def last_closed(self, place: ConversationRef) -> TeamCheckin | None:
        """The team check-in in this place that closed last, if any."""
        ...

    async def rate(
        self, checkin_id: str, member_key: str, ratings: Mapping[str, str]
    ) -> RateOutcome:
        """Store one member's ratings, replacing their earlier ones, if still open."""
        ...

    async def close(self, checkin_id: str, now: datetime) -> TeamCheckin | None:
        """Close it if still open, returning it closed; None if someone closed it first."""
        ...

    async def card_posted(self, checkin_id: str, message_id: str) -> TeamCheckin | None:
        """Keep the platform's id of the check-in's card in its channel; the check-in as it is
        now (None if there is no such check-in)."""
        ...

    async def due(
        self, now: datetime, limit: int, platforms: Sequence[str] | None = None
    ) -> list[TeamCheckin]:
        """Open check-ins whose time has run out (on these platforms, when given)."""
        ...

    async def tally(self, checkin_id: str) -> TeamTally:
        """The counts per behaviour and rating."""
        ...

    async def ids_in(self, platform: str, tenant: str) -> list[str]:
        """The ids of every team check-in of a workspace or tenant (to recompute a member's
        keyed hash in each)."""
        ...

    async def ratings_of(self, member_keys: Mapping[str, str]) -> list[TeamRatings]:
        """The ratings stored under ``member_keys`` (check-in id -> the member's key there),
        oldest check-in first. Check-ins already reduced to counts hold none."""
        ...

    async def started_by(self, platform: str, tenant: str, user: str) -> list[TeamCheckin]:
        """The team check-ins a person started, newest first."""
        ...

    async def forget_member(self, member_keys: Mapping[str, str]) -> int:
        """Erase the ratings stored under ``member_keys`` (check-in id -> key); an open
        check-in counts one participant fewer. How many check-ins held some."""
        ...

    async def forget_starter(self, platform: str, tenant: str, user: str) -> int:
        """The person no longer shows as the starter of their team check-ins (only admins can
        close those still open); how many."""
        ...

    async def summarise_before(self, when: datetime) -> int:
        """Retention: team check-ins closed before ``when`` keep only their counts per
        behaviour and rating; their member rows (keyed hashes) go. How many check-ins."""
        ...

    async def activity(self, periods: Sequence[Period]) -> dict[str, PeriodCount]:
        """Team check-ins closed in each period with at least one answer, and how many took
        part in them (``people``: members are counted once per check-in)."""
        ...

    async def spread(self, periods: Sequence[Period]) -> dict[str, dict[tuple[str, str], int]]:
        """How many members gave each (behaviour, rating) in the team check-ins closed in each
        period (counts kept after retention included)."""
        ...
