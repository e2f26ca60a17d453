"""The scorecard's arithmetic: points, trends, statuses and the headline. Pure functions over
figures already gathered (``sources``), tested without a database.

The rules:

- a figure from people (a barometer round, a stakeholder round, a survey, the bot's counts) is
  shown only when at least ``min_group`` people are behind it; below that its point has no
  value and reads "not enough answers" (a count of nothing is shown: it is about nobody);
- the trend is a measure's last ``TREND`` periods, oldest first; the latest value is the last
  of them, the previous value the one before;
- the status compares the latest value with the target in the measure's direction (on track
  when it meets it, else needs attention); with no target, with the previous value (on track
  unless it got worse; no data for a count with nothing counted yet); no data when there is no
  latest value. Values are compared as they are
  shown (a percent as a whole number), so "75%" never reads as below a target of 75%;
- an objective needs attention when any of its measures does, is on track when any is (and
  none needs attention), and has no data otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bot.content import Measure, Objective, ScorecardText

TREND = 12
NOT_ENOUGH = "not enough answers"
NO_DATA_YET = "no data yet"
NOTHING_YET = "no target, and nothing counted yet"

_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"\d{4}")
PERIOD_FORMS = "a year (2026), a month (2026-11) or a quarter (2026-Q4)"


def is_period(text: str) -> bool:
    """True for a period the scorecard knows: a year, a month or a quarter."""
    return any(p.fullmatch(text) for p in (_MONTH, _QUARTER, _YEAR))


def period_label(period: str) -> str:
    """ "2026-11" as "November 2026", "2026-Q4" as "2026 Q4", "2026" as itself."""
    if match := _MONTH.fullmatch(period):
        return date(int(match[1]), int(match[2]), 1).strftime("%B %Y")
    if match := _QUARTER.fullmatch(period):
        return f"{match[1]} Q{match[2]}"
    return period


def short_period(period: str) -> str:
    """A label for a chart's axis: "Nov 26", "Q4 26", "2026"."""
    if match := _MONTH.fullmatch(period):
        return date(int(match[1]), int(match[2]), 1).strftime("%b ") + match[1][2:]
    if match := _QUARTER.fullmatch(period):
        return f"Q{match[2]} {match[1][2:]}"
    return period


class Status(StrEnum):
    """How a measure or an objective stands."""

    ON_TRACK = "on track"
    NEEDS_ATTENTION = "needs attention"
    NO_DATA = "no data"


@dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    """A measure's figure for one period. ``value`` is None when it may not be shown (fewer
    than ``min_group`` people behind it); ``respondents`` is how many people it comes from
    (None: not a figure from people)."""

    period: str
    value: float | None
    respondents: int | None = None


def point(
    period: str, value: float, respondents: int | None, min_group: int, *, unit: str = ""
) -> Point:
    """A point, its value withheld when fewer than ``min_group`` people are behind it."""
    withheld = respondents is not None and respondents < min_group
    if withheld and not (unit == "count" and value == 0):
        return Point(period=period, value=None, respondents=respondents)
    return Point(period=period, value=value, respondents=respondents)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeasureResult:
    """One measure on the scorecard: its trend (oldest first), latest and previous values, and
    status."""

    objective: Objective
    measure: Measure
    trend: tuple[Point, ...]
    status: Status
    reason: str

    @property
    def latest(self) -> Point | None:
        """The newest period's point."""
        return self.trend[-1] if self.trend else None

    @property
    def previous(self) -> Point | None:
        """The point before the newest."""
        return self.trend[-2] if len(self.trend) > 1 else None

    @property
    def latest_text(self) -> str:
        """The latest value as people read it ("72%", "not enough answers", "no data yet")."""
        latest = self.latest
        if latest is None:
            return NO_DATA_YET
        if latest.value is None:
            return NOT_ENOUGH
        return shown(self.measure.unit, latest.value)

    @property
    def change(self) -> float | None:
        """Latest minus previous, as shown (None unless both have a value)."""
        latest, previous = self.latest, self.previous
        if latest is None or previous is None or latest.value is None or previous.value is None:
            return None
        unit = self.measure.unit
        return _rounded(unit, latest.value) - _rounded(unit, previous.value)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectiveResult:
    """An objective with its measures and their combined status."""

    number: int
    objective: Objective
    measures: tuple[MeasureResult, ...]
    status: Status


@dataclass(frozen=True, slots=True, kw_only=True)
class Scorecard:
    """Every objective's results, in the content file's order."""

    objectives: tuple[ObjectiveResult, ...]
    min_group: int

    def counts(self) -> dict[Status, int]:
        """How many measures have each status."""
        found = dict.fromkeys(Status, 0)
        for objective in self.objectives:
            for result in objective.measures:
                found[result.status] += 1
        return found

    @property
    def measures(self) -> list[MeasureResult]:
        """Every measure's result, objective by objective."""
        return [m for o in self.objectives for m in o.measures]


def _rounded(unit: str, value: float) -> float:
    if unit == "score":
        return round(value, 1)
    return float(round(value))


def shown(unit: str, value: float) -> str:
    """A value as people read it: "72%", "1,204", "6.8"."""
    rounded = _rounded(unit, value)
    if unit == "percent":
        return f"{rounded:.0f}%"
    if unit == "count":
        return f"{rounded:,.0f}"
    return f"{rounded:,.1f}"


def change_words(unit: str, change: float) -> str:
    """ "up 4 points", "down 3", "no change"."""
    if change == 0:
        return "no change"
    size = abs(change)
    if unit == "percent":
        amount = f"{size:.0f} point{'s' if size != 1 else ''}"
    elif unit == "count":
        amount = f"{size:,.0f}"
    else:
        amount = f"{size:,.1f}"
    return f"{'up' if change > 0 else 'down'} {amount}"


def status_of(measure: Measure, trend: Sequence[Point]) -> tuple[Status, str]:
    """A measure's status from its latest value, its target and its direction, and why."""
    if not trend:
        return Status.NO_DATA, NO_DATA_YET
    latest = trend[-1]
    if latest.value is None:
        return Status.NO_DATA, NOT_ENOUGH
    unit, higher = measure.unit, measure.direction == "higher"
    now = _rounded(unit, latest.value)
    if measure.target is not None:
        target = _rounded(unit, measure.target)
        target_text = shown(unit, measure.target)
        if (now >= target) if higher else (now <= target):
            return Status.ON_TRACK, f"meets its target of {target_text}"
        return Status.NEEDS_ATTENTION, f"short of its target of {target_text}"
    if unit == "count" and all(p.value in (None, 0) for p in trend):
        return Status.NO_DATA, NOTHING_YET
    before = trend[-2].value if len(trend) > 1 else None
    if before is None:
        return Status.ON_TRACK, "no target, and nothing earlier to compare with"
    then = _rounded(unit, before)
    worse = now < then if higher else now > then
    if worse:
        return Status.NEEDS_ATTENTION, "no target, and worse than the period before"
    return Status.ON_TRACK, "no target, and no worse than the period before"


def measure_result(
    objective: Objective, measure: Measure, points: Sequence[Point]
) -> MeasureResult:
    """A measure's result from its points (any order; one per period)."""
    trend = tuple(sorted(points, key=lambda p: p.period)[-TREND:])
    status, reason = status_of(measure, trend)
    return MeasureResult(
        objective=objective, measure=measure, trend=trend, status=status, reason=reason
    )


def combined(statuses: Sequence[Status]) -> Status:
    """An objective's status from its measures'."""
    if Status.NEEDS_ATTENTION in statuses:
        return Status.NEEDS_ATTENTION
    if Status.ON_TRACK in statuses:
        return Status.ON_TRACK
    return Status.NO_DATA


def scorecard(
    text: ScorecardText, points: Mapping[str, Sequence[Point]], min_group: int
) -> Scorecard:
    """Every objective and measure of the content file, with the points found for each
    measure (by its key)."""
    objectives = []
    for number, objective in enumerate(text.objectives, start=1):
        results = tuple(
            measure_result(objective, m, points.get(m.key, ())) for m in objective.measures
        )
        objectives.append(
            ObjectiveResult(
                number=number,
                objective=objective,
                measures=results,
                status=combined([r.status for r in results]),
            )
        )
    return Scorecard(objectives=tuple(objectives), min_group=min_group)


def _moved(result: MeasureResult) -> float:
    change = result.change
    previous = result.previous
    if change is None or previous is None or previous.value is None:
        return 0.0
    if result.measure.unit == "percent":
        return abs(change) / 100
    return abs(change) / max(abs(previous.value), 1.0)


def headline(card: Scorecard, recent: Collection[str] | None = None) -> str:
    """One line of what moved: the statuses, and the measure whose latest value (of one of the
    ``recent`` periods, when given) moved most since the period before."""
    counts = card.counts()
    parts = [
        f"{counts[Status.ON_TRACK]} on track",
        f"{counts[Status.NEEDS_ATTENTION]} "
        f"need{'s' if counts[Status.NEEDS_ATTENTION] == 1 else ''} attention",
    ]
    if counts[Status.NO_DATA]:
        parts.append(f"{counts[Status.NO_DATA]} without data")
    line = f"Scorecard: {', '.join(parts)}."
    candidates = [
        r
        for r in card.measures
        if _moved(r) > 0 and (recent is None or (r.latest and r.latest.period in recent))
    ]
    if candidates:
        top = max(candidates, key=_moved)
        latest, change = top.latest, top.change
        if latest is not None and latest.value is not None and change is not None:
            line += (
                f" Moved most: {top.measure.name}, {change_words(top.measure.unit, change)} to "
                f"{shown(top.measure.unit, latest.value)} ({period_label(latest.period)})."
            )
    else:
        line += " Nothing moved since the period before."
    return line
