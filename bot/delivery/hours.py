"""People's time: working hours in each person's own time zone, and the week the weekly cap
counts in.

Pure functions over aware datetimes, so they are tested with any instant, including the nights
the clocks change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_PATTERN = re.compile(
    r"^\s*(?P<days>[a-z]{3}(?:\s*-\s*[a-z]{3})?(?:\s*,\s*[a-z]{3}(?:\s*-\s*[a-z]{3})?)*)"
    r"\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})\s*$",
    re.IGNORECASE,
)


def _day(name: str) -> int:
    try:
        return DAYS.index(name.strip().lower())
    except ValueError:
        raise ValueError(f"unknown day {name.strip()!r} (use mon, tue, ... sun)") from None


def _clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours == 24 and minutes == 0:
        return time.max
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"{text!r} is not a time of day")
    return time(hours, minutes)


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When proactive messages may reach people: these weekdays (0 = Monday), from ``start``
    to ``end`` local time."""

    days: frozenset[int]
    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> WorkingHours:
        """``"Mon-Fri 09:00-17:00"``, ``"Mon,Wed,Fri 08:30-16:00"``, ``"Sun-Thu 08:00-16:00"``."""
        match = _PATTERN.match(text)
        if match is None:
            raise ValueError('expected days and hours like "Mon-Fri 09:00-17:00"')
        days: set[int] = set()
        for part in match["days"].split(","):
            first, _, last = part.partition("-")
            a = _day(first)
            b = _day(last) if last else a
            days.update((a + i) % 7 for i in range((b - a) % 7 + 1))
        start, end = _clock(match["start"]), _clock(match["end"])
        if end <= start:
            raise ValueError("working hours must end after they start")
        return cls(frozenset(days), start, end)

    def __str__(self) -> str:
        names = ",".join(DAYS[d].capitalize() for d in sorted(self.days))
        return f"{names} {self.start:%H:%M}-{self.end:%H:%M}"

    def contains(self, when: datetime, zone: ZoneInfo) -> bool:
        """True when ``when`` falls in working hours in ``zone``."""
        local = when.astimezone(zone)
        return local.weekday() in self.days and self.start <= local.time() < self.end

    def next_open(self, when: datetime, zone: ZoneInfo) -> datetime:
        """``when`` itself if it is in working hours, else the next moment they begin (UTC)."""
        if self.contains(when, zone):
            return when
        local = when.astimezone(zone)
        for offset in range(8):
            day = local.date() + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            opens = _at(day, self.start, zone)
            if opens > when:
                return opens
        raise AssertionError("working hours have at least one day")  # pragma: no cover

    def after_working(self, start: datetime, seconds: float, zone: ZoneInfo) -> datetime:
        """When ``seconds`` of work inside working hours, begun at ``start`` (or when working
        hours next begin), are done: the work stops when they end and goes on when they next
        begin."""
        moment = self.next_open(start, zone)
        left = max(seconds, 0.0)
        while True:
            ends = self._window_end(moment, zone)
            window = (ends - moment).total_seconds()
            if left <= window:
                return moment + timedelta(seconds=left)
            left -= window
            moment = self.next_open(ends, zone)

    def working_seconds(self, start: datetime, end: datetime, zone: ZoneInfo) -> float:
        """How many seconds of working hours lie between ``start`` and ``end``."""
        total = 0.0
        moment = self.next_open(start, zone)
        while moment < end:
            ends = self._window_end(moment, zone)
            total += (min(ends, end) - moment).total_seconds()
            moment = self.next_open(ends, zone)
        return total

    def _window_end(self, moment: datetime, zone: ZoneInfo) -> datetime:
        """When the working hours that ``moment`` falls in end."""
        day = moment.astimezone(zone).date()
        if self.end == time.max:
            return _at(day + timedelta(days=1), time(0, 0), zone)
        return _at(day, self.end, zone)

    def next_week_open(self, when: datetime, zone: ZoneInfo) -> datetime:
        """When working hours first begin in the person's next week (for the weekly cap)."""
        return self.next_open(next_week(when, zone), zone)


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """The instant a local wall-clock time occurs (a time skipped by a clock change counts as
    the instant after the gap)."""
    local = datetime.combine(day, clock, tzinfo=zone)
    return local.astimezone(UTC)


def next_week(when: datetime, zone: ZoneInfo) -> datetime:
    """Monday 00:00 of the person's next week (UTC)."""
    local = when.astimezone(zone)
    return _at(local.date() + timedelta(days=7 - local.weekday()), time(0, 0), zone)


def week_of(when: datetime, zone: ZoneInfo) -> str:
    """The person's ISO week ("2026-W49"), Monday to Sunday in their own time zone."""
    year, week, _ = when.astimezone(zone).isocalendar()
    return f"{year}-W{week:02d}"


@lru_cache(maxsize=512)
def zone_or(name: str | None, default: str) -> ZoneInfo:
    """The named time zone, or ``default`` when the name is missing or unknown (platforms
    sometimes send names the tz database does not have)."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    return ZoneInfo(default)
