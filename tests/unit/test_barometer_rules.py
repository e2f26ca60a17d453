"""The barometer's pure rules: which groups may be shown, and the timetable."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from dialogs.barometer.results import publishable_groups
from dialogs.barometer.schedule import (
    Timetable,
    bank_holidays,
    easter_sunday,
    period_of,
    working_day,
)

LONDON = ZoneInfo("Europe/London")


@pytest.mark.parametrize(
    ("sizes", "shown"),
    [
        ({"a": 3, None: 1}, set()),  # the whole round is below the threshold
        ({"a": 20, "b": 4, "c": 6}, {"a"}),  # b + c = 10 left over, so c goes with b
        ({"a": 20, "b": 4, "c": 6, None: 1}, {"a", "c"}),  # b + 1 who did not say = 5
        ({"a": 20, "b": 4, None: 3}, {"a"}),  # b and those who did not say: 7 left over
        ({"a": 20, "b": 5, "c": 5}, {"a", "b", "c"}),
        ({"a": 20, "b": 5, None: 2}, {"a"}),  # 2 left over: b (the smallest) joins them
        ({"a": 8, "b": 6, "c": 1}, {"a"}),  # 1 left over: b joins it
        ({"a": 9}, {"a"}),  # one group is everyone: nothing new, nothing hidden
        ({None: 30}, set()),
    ],
)
def test_no_group_can_be_worked_out_by_subtraction(
    sizes: dict[str | None, int], shown: set[str]
) -> None:
    assert publishable_groups(sizes, 5) == shown
    total = sum(sizes.values())
    if shown:
        left = total - sum(sizes[g] for g in shown)
        assert left == 0 or left >= 5
    assert all(sizes[g] >= 5 for g in shown)


def test_every_possible_small_breakdown_is_safe() -> None:
    for a in range(0, 13):
        for b in range(0, 13):
            for c in range(0, 8):
                sizes: dict[str | None, int] = {"a": a, "b": b, None: c}
                shown = publishable_groups(sizes, 5)
                left = a + b + c - sum(sizes[g] for g in shown)
                assert all(sizes[g] >= 5 for g in shown)
                if shown:
                    assert left == 0 or left >= 5, sizes


def test_easter_and_the_bank_holidays_of_england() -> None:
    assert easter_sunday(2027) == date(2027, 3, 28)
    assert easter_sunday(2026) == date(2026, 4, 5)
    assert sorted(bank_holidays(2027)) == [
        date(2027, 1, 1),
        date(2027, 3, 26),
        date(2027, 3, 29),
        date(2027, 5, 3),
        date(2027, 5, 31),
        date(2027, 8, 30),
        date(2027, 12, 27),  # Christmas Day falls on a Saturday
        date(2027, 12, 28),
    ]


def test_rounds_open_on_the_first_working_day_at_ten() -> None:
    timetable = Timetable(zone=LONDON)
    assert working_day(2027, 5, 1) == date(2027, 5, 4)  # 1-2 May weekend, 3 May bank holiday
    assert working_day(2027, 1, 1) == date(2027, 1, 4)
    opens = timetable.opens("2027-05")
    assert opens == datetime(2027, 5, 4, 9, 0, tzinfo=UTC)  # 10:00 British Summer Time
    assert timetable.closes(opens) == datetime(2027, 5, 14, 9, 0, tzinfo=UTC)
    # Reminders on days 3 and 7, moved off weekends: Friday 7 May, Tuesday 11 May.
    assert timetable.reminders(opens, timetable.closes(opens)) == (
        datetime(2027, 5, 7, 9, 0, tzinfo=UTC),
        datetime(2027, 5, 11, 9, 0, tzinfo=UTC),
    )


def test_closing_keeps_the_local_time_across_a_change_of_clocks() -> None:
    timetable = Timetable(zone=LONDON)
    opens = timetable.opens("2027-03")  # Monday 1 March, GMT
    assert timetable.closes(opens) == datetime(2027, 3, 11, 10, 0, tzinfo=UTC)
    october = timetable.opens("2027-10")  # Friday 1 October, BST; closes after the change
    assert timetable.closes(october) == datetime(2027, 10, 11, 9, 0, tzinfo=UTC)
    assert period_of(datetime(2027, 5, 31, 23, 30, tzinfo=UTC), LONDON) == "2027-06"
