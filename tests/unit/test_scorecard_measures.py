"""The scorecard's arithmetic without a database: points under the minimum, trends, statuses
from the direction and the target, objectives' statuses, the headline, words and periods."""

from __future__ import annotations

import pytest

from bot.content import Measure, Objective, load_content
from dialogs.scorecard.measures import (
    NOT_ENOUGH,
    TREND,
    Point,
    Status,
    change_words,
    combined,
    headline,
    is_period,
    measure_result,
    period_label,
    point,
    scorecard,
    short_period,
    shown,
    status_of,
)

CONTENT = load_content()
assert CONTENT.scorecard is not None
TEXT = CONTENT.scorecard


def measure(
    unit: str = "percent", direction: str = "higher", target: float | None = None
) -> Measure:
    return Measure.model_validate(
        {
            "key": "m",
            "name": "A measure",
            "unit": unit,
            "direction": direction,
            "target": target,
            "source": "manual:m",
        }
    )


def points(*values: float | None) -> list[Point]:
    return [Point(period=f"2026-{n + 1:02d}", value=v) for n, v in enumerate(values)]


def test_a_point_from_fewer_than_the_minimum_has_no_value() -> None:
    assert point("2026-11", 72.0, 4, 5) == Point(period="2026-11", value=None, respondents=4)
    assert point("2026-11", 72.0, 5, 5).value == 72.0
    assert point("2026-11", 3.0, None, 5).value == 3.0  # not from people: a budget, say
    # A count of nothing is about nobody: it is shown.
    assert point("2026-11", 0.0, 0, 5, unit="count").value == 0.0
    assert point("2026-11", 3.0, 3, 5, unit="count").value is None


@pytest.mark.parametrize(
    ("direction", "target", "values", "status", "reason"),
    [
        ("higher", 75, [70, 76], Status.ON_TRACK, "meets its target of 75%"),
        ("higher", 75, [80, 74], Status.NEEDS_ATTENTION, "short of its target of 75%"),
        # Compared as shown: 74.6% reads as 75%, which meets 75%.
        ("higher", 75, [74.6], Status.ON_TRACK, "meets its target of 75%"),
        ("lower", 0, [1, 0.4], Status.ON_TRACK, "meets its target of 0%"),
        ("lower", 0, [0, 2], Status.NEEDS_ATTENTION, "short of its target of 0%"),
        (
            "higher",
            None,
            [70, 68],
            Status.NEEDS_ATTENTION,
            "no target, and worse than the period before",
        ),
        (
            "higher",
            None,
            [70, 70],
            Status.ON_TRACK,
            "no target, and no worse than the period before",
        ),
        (
            "lower",
            None,
            [70, 60],
            Status.ON_TRACK,
            "no target, and no worse than the period before",
        ),
        ("higher", None, [70], Status.ON_TRACK, "no target, and nothing earlier to compare with"),
        ("higher", 75, [80, None], Status.NO_DATA, NOT_ENOUGH),
        ("higher", 75, [], Status.NO_DATA, "no data yet"),
    ],
)
def test_the_status_comes_from_the_latest_value_the_target_and_the_direction(
    direction: str, target: float | None, values: list[float | None], status: Status, reason: str
) -> None:
    assert status_of(measure(direction=direction, target=target), points(*values)) == (
        status,
        reason,
    )


def test_a_count_with_nothing_counted_yet_has_no_data_unless_it_has_a_target() -> None:
    assert status_of(measure("count"), points(0, 0, None, 0)) == (
        Status.NO_DATA,
        "no target, and nothing counted yet",
    )
    assert status_of(measure("count"), points(0, 1, 0))[0] is Status.NEEDS_ATTENTION
    assert status_of(measure("count", "lower", 0), points(0, 0))[0] is Status.ON_TRACK


def test_the_trend_is_the_last_twelve_periods_oldest_first() -> None:
    objective = TEXT.objectives[0]
    given = [Point(period=f"{2020 + n // 12}-{n % 12 + 1:02d}", value=float(n)) for n in range(20)]
    result = measure_result(objective, measure(), list(reversed(given)))
    assert len(result.trend) == TREND
    assert [p.value for p in result.trend] == [float(n) for n in range(8, 20)]
    assert result.latest == given[-1]
    assert result.previous == given[-2]
    assert result.latest_text == "19%"
    assert result.change == 1.0


def test_a_withheld_latest_reads_not_enough_answers_and_has_no_change() -> None:
    result = measure_result(TEXT.objectives[0], measure(target=50), points(60, None))
    assert result.latest_text == NOT_ENOUGH
    assert result.change is None
    assert result.status is Status.NO_DATA


def test_an_objective_needs_attention_when_any_measure_does() -> None:
    assert combined([Status.ON_TRACK, Status.NEEDS_ATTENTION]) is Status.NEEDS_ATTENTION
    assert combined([Status.ON_TRACK, Status.NO_DATA]) is Status.ON_TRACK
    assert combined([Status.NO_DATA, Status.NO_DATA]) is Status.NO_DATA


def test_the_scorecard_has_every_objective_and_measure_and_a_headline() -> None:
    card = scorecard(
        TEXT,
        {
            "barometer_nhs": [
                Point(period="2026-10", value=70.0, respondents=40),
                Point(period="2026-11", value=78.0, respondents=42),
            ],
            "barometer_organisation": [
                Point(period="2026-10", value=71.0, respondents=40),
                Point(period="2026-11", value=69.0, respondents=42),
            ],
            "staff_engagement": [Point(period="2025", value=6.0, respondents=800)],
        },
        5,
    )
    assert [o.number for o in card.objectives] == list(range(1, 12))
    staff = card.objectives[1]
    assert staff.objective.id == "staff_satisfaction"
    assert [m.status for m in staff.measures] == [
        Status.ON_TRACK,
        Status.NEEDS_ATTENTION,
        Status.NEEDS_ATTENTION,
        Status.NO_DATA,
    ]
    assert staff.status is Status.NEEDS_ATTENTION
    assert card.objectives[2].status is Status.NO_DATA
    assert card.counts() == {
        Status.ON_TRACK: 1,
        Status.NEEDS_ATTENTION: 2,
        Status.NO_DATA: 23,
    }
    assert headline(card, {"2026-11"}) == (
        "Scorecard: 1 on track, 2 need attention, 23 without data. Moved most: Staff who agree "
        "their work makes a positive difference to the NHS, up 8 points to 78% (November 2026)."
    )
    # Nothing recent moved: the line says so.
    assert headline(card, {"2027-05"}).endswith("Nothing moved since the period before.")


def test_values_changes_and_periods_read_as_people_read_them() -> None:
    assert (shown("percent", 72.4), shown("count", 1204), shown("score", 6.84)) == (
        "72%",
        "1,204",
        "6.8",
    )
    assert change_words("percent", 4) == "up 4 points"
    assert change_words("percent", -1) == "down 1 point"
    assert change_words("count", -3) == "down 3"
    assert change_words("score", 0.2) == "up 0.2"
    assert change_words("score", 0) == "no change"
    assert (period_label("2026-11"), period_label("2026-Q4"), period_label("2026")) == (
        "November 2026",
        "2026 Q4",
        "2026",
    )
    assert (short_period("2026-11"), short_period("2026-Q4"), short_period("2026")) == (
        "Nov 26",
        "Q4 26",
        "2026",
    )
    assert all(is_period(p) for p in ("2026", "2026-01", "2026-12", "2026-Q1"))
    assert not any(is_period(p) for p in ("26", "2026-13", "2026-Q5", "2026/11", "2026-1"))


def test_an_objective_with_a_measure_of_its_own() -> None:
    objective = Objective.model_validate(
        {"id": "o", "title": "An objective", "measures": [measure().model_dump()]}
    )
    result = measure_result(objective, objective.measures[0], [])
    assert result.latest is None
    assert result.latest_text == "no data yet"
