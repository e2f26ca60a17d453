"""Where the scorecard's figures come from, one function per kind of source, each returning
the points of every measure of that kind (``measures.Point``, with how many people are behind
each so that the ``min_group`` rule can be applied in one place).

- ``barometer:<question>``: the agree share of each closed round, from the barometer's own
  published results (its publication rules hold: a round shown only with enough answers);
- ``stakeholders:<question>``: the agree share of each closed stakeholder round, through the
  barometer's own publication rules (``dialogs.barometer.results.round_results``);
- ``staff_survey:<key>`` and ``manual:<key>``: the figures kept by the scorecard's store;
- ``engagement:<count>``: monthly counts from each feature's store (``activity``, ``spread``:
  aggregates only, never who), over the last complete months. "You said, we did" counts come
  through ``SaidDidCounts``, a hook whose default reports no data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.content import LENS_STRONG, Content, Measure
from dialogs.barometer.results import RoundResults, round_results
from dialogs.barometer.schedule import next_period, period_of
from dialogs.scorecard.measures import TREND, Point, point
from storage.barometer import BarometerComment, BarometerRound, BarometerTally
from storage.common import Period, PeriodCount
from storage.scorecard import StakeholderRound, StakeholderTally
from storage.stores import Stores

# Closed rounds read for a trend: a few more than it shows, for rounds shown without answers.
ROUNDS_READ = TREND + 12


class SaidDidCounts(Protocol):
    """The hook for "You said, we did": responses to barometer comments and actions, counted
    by month (``dialogs.barometer.service.SaidDidActivity``; ``NoSaidDid`` where it is not
    given, and its measures then show no data)."""

    async def said_did(
        self, stores: Stores, what: str, periods: Sequence[Period]
    ) -> Mapping[str, PeriodCount] | None:
        """``"responses"`` or ``"actions"`` in each period; None when there is nothing to
        count them from."""
        ...


class NoSaidDid:
    """No "You said, we did" yet: its measures report no data."""

    async def said_did(
        self, stores: Stores, what: str, periods: Sequence[Period]
    ) -> Mapping[str, PeriodCount] | None:
        """Always None."""
        return None


def months_before(now: datetime, zone: ZoneInfo, count: int = TREND) -> list[Period]:
    """The ``count`` complete months before the one ``now`` is in (local time), oldest first:
    a month still under way would read as a fall."""
    current = period_of(now, zone)
    year, month = (int(p) for p in current.split("-"))
    periods = []
    for _ in range(count):
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        name = f"{year:04d}-{month:02d}"
        start = datetime(year, month, 1, tzinfo=zone)
        after = next_period(name)
        end_year, end_month = (int(p) for p in after.split("-"))
        periods.append(Period(name, start, datetime(end_year, end_month, 1, tzinfo=zone)))
    return list(reversed(periods))


def barometer_points(
    measures: Sequence[Measure], history: Sequence[RoundResults], min_group: int
) -> dict[str, list[Point]]:
    """The agree share of each closed round, for each ``barometer:`` measure."""
    found: dict[str, list[Point]] = {}
    for measure in measures:
        points = []
        for results in history:
            question = results.question(measure.name_in_source)
            period = results.round.period
            if results.shown and question is not None:
                points.append(
                    point(period, question.agree_share * 100, question.respondents, min_group)
                )
            else:
                points.append(Point(period=period, value=None, respondents=results.answered))
        found[measure.key] = points
    return found


def stakeholder_results(
    tally: StakeholderTally, approved_comments: Sequence[str] = ()
) -> RoundResults:
    """What a closed stakeholder round may show, by the barometer's own rules (a result only
    from ``min_group`` people, organisation types that cannot be subtracted from the rest,
    comments only from ``comment_min`` and approved)."""
    round_: StakeholderRound = tally.round
    as_barometer = BarometerRound(
        id=round_.id,
        period=round_.period,
        opened_at=round_.opened_at,
        closes_at=round_.closes_at,
        min_group=round_.min_group,
        comment_min=round_.comment_min,
        questions=round_.questions,
        scale=round_.scale,
        groups=round_.groups,
        status=round_.status,
        closed_at=round_.closed_at,
        invited=round_.invited,
        answered=round_.answered,
    )
    # The barometer's rules take its comment records; a stakeholder comment is shown as one.
    comments = [
        BarometerComment(id=str(n), round_id=round_.id, text=text, status="approved")
        for n, text in enumerate(approved_comments)
    ]
    return round_results(
        BarometerTally(round=as_barometer, respondents=tally.respondents, counts=tally.counts),
        comments,
    )


def stakeholder_points(
    measures: Sequence[Measure], history: Sequence[RoundResults], min_group: int
) -> dict[str, list[Point]]:
    """The agree share of each closed stakeholder round, for each ``stakeholders:``
    measure."""
    return barometer_points(measures, history, min_group)


async def figure_points(
    stores: Stores, kind: str, measures: Sequence[Measure], min_group: int
) -> dict[str, list[Point]]:
    """The figures kept for ``staff_survey:`` or ``manual:`` measures."""
    keys = {m.name_in_source for m in measures}
    by_key: dict[str, list[Point]] = defaultdict(list)
    units = {m.name_in_source: m.unit for m in measures}
    for figure in await stores.scorecard.figures(kind, keys):
        by_key[figure.key].append(
            point(
                figure.period, figure.value, figure.respondents, min_group, unit=units[figure.key]
            )
        )
    return {m.key: by_key.get(m.name_in_source, []) for m in measures}


def _counted(
    periods: Sequence[Period],
    counts: Mapping[str, PeriodCount],
    min_group: int,
    *,
    people: bool = True,
) -> list[Point]:
    """Each period's count; withheld below ``min_group`` people unless no people are behind
    the count (``people`` false)."""
    empty = PeriodCount(count=0, people=0)
    return [
        point(
            p.name,
            float(counts.get(p.name, empty).count),
            counts.get(p.name, empty).people if people else None,
            min_group,
            unit="count",
        )
        for p in periods
    ]


def _strong_share(
    periods: Sequence[Period],
    behaviour: str,
    strongest: str,
    scored: set[str],
    spreads: Sequence[Mapping[str, Mapping[tuple[str, str], int]]],
    people: Sequence[Mapping[str, PeriodCount]],
    min_group: int,
) -> list[Point]:
    found = []
    for period in periods:
        strong = rated = 0
        for spread in spreads:
            for (rated_behaviour, rating), count in spread.get(period.name, {}).items():
                if rated_behaviour == behaviour and rating in scored:
                    rated += count
                    strong += count if rating == strongest else 0
        who = sum(p[period.name].people for p in people if period.name in p)
        if rated == 0:
            found.append(Point(period=period.name, value=None, respondents=who))
        else:
            found.append(point(period.name, strong / rated * 100, who, min_group))
    return found


async def engagement_points(
    stores: Stores,
    content: Content,
    measures: Sequence[Measure],
    periods: Sequence[Period],
    min_group: int,
    said_did: SaidDidCounts,
) -> dict[str, list[Point]]:
    """The bot's own counts for each ``engagement:`` measure, month by month."""
    found: dict[str, list[Point]] = {}
    cache: dict[str, Mapping[str, PeriodCount]] = {}

    async def activity(name: str) -> Mapping[str, PeriodCount] | None:
        if name not in cache:
            counted: Mapping[str, PeriodCount] | None
            if name == "lens_checkins":
                counted = await stores.checkins.activity(periods)
            elif name == "lens_team_checkins":
                counted = await stores.team_checkins.activity(periods)
            elif name.startswith("commitments_"):
                counted = await stores.commitments.activity(
                    name.removeprefix("commitments_"), periods
                )
            elif name.startswith("case_studies_"):
                counted = await stores.case_studies.activity(
                    name.removeprefix("case_studies_"), periods
                )
            else:
                counted = await said_did.said_did(stores, name.removeprefix("said_did_"), periods)
            if counted is None:
                return None
            cache[name] = counted
        return cache[name]

    spreads: list[Mapping[str, Mapping[tuple[str, str], int]]] = []
    for measure in measures:
        name = measure.name_in_source
        if name.startswith(LENS_STRONG):
            if not spreads:
                spreads = [
                    await stores.checkins.spread(periods),
                    await stores.team_checkins.spread(periods),
                ]
            top = content.max_score
            strongest = next(r.id for r in content.ratings if r.score == top)
            scored = {r.id for r in content.ratings if r.score is not None}
            people = [
                await activity("lens_checkins") or {},
                await activity("lens_team_checkins") or {},
            ]
            found[measure.key] = _strong_share(
                periods,
                name.removeprefix(LENS_STRONG),
                strongest,
                scored,
                spreads,
                people,
                min_group,
            )
            continue
        counted = await activity(name)
        # What the comms team did ("You said, we did") has nobody behind it to protect.
        behind = not name.startswith("said_did_")
        found[measure.key] = (
            [] if counted is None else _counted(periods, counted, min_group, people=behind)
        )
    return found
