"""When barometer rounds open, remind and close: working days and the month's timetable.

Pure functions. A round opens on the Nth working day of the month (Monday to Friday, not a bank
holiday in England and Wales) at a set local time, closes a set number of days later at the same
local time (so a change of clocks does not move it), and reminds on set days in between, moved
to the next working day when they fall on a weekend or a holiday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo


def easter_sunday(year: int) -> date:
    """Easter Sunday (Gregorian calendar, the anonymous algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    m = (32 + 2 * e + 2 * i - h - k) % 7
    n = (a + 11 * h + 22 * m) // 451
    month, day = divmod(h + m - 7 * n + 114, 31)
    return date(year, month, day + 1)


def _first_monday(year: int, month: int) -> date:
    first = date(year, month, 1)
    return first + timedelta(days=(7 - first.weekday()) % 7)


def _last_monday(year: int, month: int) -> date:
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=last.weekday())


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """The bank holidays of England and Wales in ``year``, with the weekday substitutes for
    New Year's Day, Christmas Day and Boxing Day (one-off holidays are not included)."""
    easter = easter_sunday(year)
    fixed = [
        easter - timedelta(days=2),  # Good Friday
        easter + timedelta(days=1),  # Easter Monday
        _first_monday(year, 5),  # early May
        _last_monday(year, 5),  # spring
        _last_monday(year, 8),  # summer
    ]
    holidays = set(fixed)
    for day in (date(year, 1, 1), date(year, 12, 25), date(year, 12, 26)):
        while day.weekday() >= 5 or day in holidays:
            day += timedelta(days=1)
        holidays.add(day)
    return frozenset(holidays)


def is_working_day(day: date) -> bool:
    """Monday to Friday and not a bank holiday."""
    return day.weekday() < 5 and day not in bank_holidays(day.year)


def next_working_day(day: date) -> date:
    """``day`` itself if it is a working day, else the next one."""
    while not is_working_day(day):
        day += timedelta(days=1)
    return day


def working_day(year: int, month: int, n: int) -> date:
    """The ``n``-th working day of the month (1 is the first)."""
    day = next_working_day(date(year, month, 1))
    for _ in range(n - 1):
        day = next_working_day(day + timedelta(days=1))
    return day


def period_of(when: datetime, zone: ZoneInfo) -> str:
    """The month ``when`` falls in, locally: "2027-05"."""
    local = when.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def month_name(period: str) -> str:
    """ "2027-05" as "May 2027"."""
    year, month = (int(part) for part in period.split("-"))
    return date(year, month, 1).strftime("%B %Y")


def next_period(period: str) -> str:
    """The month after ``period``."""
    year, month = (int(part) for part in period.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Timetable:
    """How rounds are timed (from the settings)."""

    zone: ZoneInfo
    open_day: int = 1
    open_time: time = time(10, 0)
    days: int = 10
    reminder_days: tuple[int, ...] = (3, 7)

    def opens(self, period: str) -> datetime:
        """When the round of ``period`` opens by itself."""
        year, month = (int(part) for part in period.split("-"))
        return _at(working_day(year, month, self.open_day), self.open_time, self.zone)

    def closes(self, opened: datetime) -> datetime:
        """When a round opened at ``opened`` closes: ``days`` later, same local time."""
        local = opened.astimezone(self.zone)
        return _at(
            local.date() + timedelta(days=self.days), local.timetz().replace(tzinfo=None), self.zone
        )

    def reminders(self, opened: datetime, closes: datetime) -> tuple[datetime, ...]:
        """When a round opened at ``opened`` reminds: each reminder day, on a working day,
        before it closes."""
        local = opened.astimezone(self.zone)
        wall = local.timetz().replace(tzinfo=None)
        times = []
        for day in self.reminder_days:
            when = _at(next_working_day(local.date() + timedelta(days=day)), wall, self.zone)
            if when < closes:
                times.append(when)
        return tuple(sorted(times))
