"""What the scorecard's pages show, as plain values: pure functions from ``measures.Scorecard``
(and a stakeholder round), tested without a browser.

``scorecard_view`` gathers the page: each objective's measures with their latest and previous
values, target and status, and a chart of each measure's trend drawn as inline SVG whose
geometry is computed here (the template only places it), hidden from screen readers and
followed by a table of the same numbers. ``render_json`` and ``render_csv`` give the same
figures as open data: a figure withheld under the ``min_group`` rule is in neither, only a note
that there were not enough answers. ``form_view`` gathers the stakeholder form.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from typing import Any

from bot.content import Content, StakeholderText
from dialogs.barometer.results import RoundResults
from dialogs.scorecard.measures import (
    NOT_ENOUGH,
    MeasureResult,
    Point,
    Scorecard,
    Status,
    change_words,
    period_label,
    short_period,
    shown,
)
from dialogs.scorecard.stakeholders import FormProblem
from storage.scorecard import StakeholderRound

TAGS = {
    Status.ON_TRACK: "nhsuk-tag--green",
    Status.NEEDS_ATTENTION: "nhsuk-tag--red",
    Status.NO_DATA: "nhsuk-tag--grey",
}
SOURCES = {
    "barometer": "Staff barometer",
    "engagement": "Our own activity (values bot)",
    "staff_survey": "Annual staff survey",
    "stakeholders": "Partner and stakeholder feedback",
    "manual": "Entered by the comms team",
}

BAR = 34
GAP = 10
TOP = 26
AREA = 110


def _value_text(unit: str, point: Point | None) -> str:
    if point is None:
        return "–"
    return NOT_ENOUGH if point.value is None else shown(unit, point.value)


def _chart(result: MeasureResult) -> dict[str, Any]:
    """A bar for each period of the trend (none for a withheld one), and the target as a
    line."""
    unit = result.measure.unit
    target = result.measure.target
    values = [p.value for p in result.trend if p.value is not None]
    highest = max([*values, target or 0.0, 0.0]) * 1.15 or 1.0
    top = 100.0 if unit == "percent" else highest
    bars = []
    for index, item in enumerate(result.trend):
        x = GAP + index * (BAR + GAP)
        height = 0.0 if item.value is None else round(max(item.value, 0.0) / top * AREA, 1)
        bars.append(
            {
                "x": x,
                "y": TOP + AREA - height,
                "height": height,
                "shown": item.value is not None,
                "label": "–" if item.value is None else shown(unit, item.value),
                "short": short_period(item.period),
            }
        )
    return {
        "width": max(len(result.trend), 1) * (BAR + GAP) + GAP,
        "height": TOP + AREA + 24,
        "bar": BAR,
        "base": TOP + AREA,
        "bars": bars,
        "target": None
        if target is None
        else {"y": round(TOP + AREA - max(target, 0.0) / top * AREA, 1)},
        "caption": f"{result.measure.name}: by period",
        "rows": [
            (
                period_label(p.period),
                _value_text(unit, p),
                "–" if p.respondents is None or p.value is None else p.respondents,
            )
            for p in result.trend
        ],
    }


def _measure(result: MeasureResult) -> dict[str, Any]:
    measure = result.measure
    latest, previous = result.latest, result.previous
    target = (
        f"{shown(measure.unit, measure.target)} "
        f"{'or more' if measure.direction == 'higher' else 'or less'}"
        if measure.target is not None
        else "none"
    )
    return {
        "key": measure.key,
        "name": measure.name,
        "source": SOURCES[measure.kind],
        "latest": result.latest_text,
        "latest_period": period_label(latest.period) if latest else "",
        "previous": _value_text(measure.unit, previous),
        "previous_period": period_label(previous.period) if previous else "",
        "change": change_words(measure.unit, result.change) if result.change is not None else "",
        "target": target,
        "better": "Higher is better" if measure.direction == "higher" else "Lower is better",
        "status": str(result.status),
        "tag": TAGS[result.status],
        "reason": result.reason,
        "chart": _chart(result) if result.trend else None,
    }


def partners_view(results: RoundResults | None) -> dict[str, Any] | None:
    """The latest closed stakeholder round: how many answered, and its comments (only those
    comms approved, only when enough answered: ``results`` applies the barometer's rules)."""
    if results is None:
        return None
    round_ = results.round
    return {
        "period": period_label(round_.period),
        "answered": results.answered,
        "asked": results.invited,
        "shown": results.shown,
        "min_group": round_.min_group,
        "comment_min": round_.comment_min,
        "comments": list(results.comments),
    }


def scorecard_view(
    content: Content, card: Scorecard, partners: RoundResults | None = None
) -> dict[str, Any]:
    """What the scorecard page shows."""
    assert content.scorecard is not None
    text = content.scorecard
    counts = card.counts()
    return {
        "partners": partners_view(partners),
        "heading": text.title,
        "intro": text.intro,
        "key_measures": text.key_measures,
        "anonymity": f"No figure is shown from fewer than {card.min_group} people: below that a "
        f'measure reads "{NOT_ENOUGH}".',
        "counts": [(str(s), counts[s], TAGS[s]) for s in Status],
        "objectives": [
            {
                "number": o.number,
                "id": o.objective.id,
                "title": o.objective.title,
                "status": str(o.status),
                "tag": TAGS[o.status],
                "measures": [_measure(m) for m in o.measures],
            }
            for o in card.objectives
        ],
    }


def _point_json(point: Point | None) -> dict[str, Any] | None:
    if point is None:
        return None
    if point.value is None:
        return {"period": point.period, "note": NOT_ENOUGH}
    found: dict[str, Any] = {"period": point.period, "value": round(point.value, 4)}
    if point.respondents is not None:
        found["respondents"] = point.respondents
    return found


def render_json(
    content: Content, card: Scorecard, partners: RoundResults | None = None
) -> dict[str, Any]:
    """The scorecard as open data: every objective, measure, status and figure shown on the
    page (a withheld figure only as a note), and the latest stakeholder round's approved
    comments."""
    assert content.scorecard is not None
    return {
        "organisation": content.organisation,
        "title": content.scorecard.title,
        "min_group": card.min_group,
        "stakeholders": None
        if partners is None
        else {
            "period": partners.round.period,
            "asked": partners.invited,
            "answered": partners.answered,
            "shown": partners.shown,
            "comments": list(partners.comments),
        },
        "objectives": [
            {
                "number": o.number,
                "id": o.objective.id,
                "title": o.objective.title,
                "status": str(o.status),
                "measures": [
                    {
                        "key": m.measure.key,
                        "name": m.measure.name,
                        "unit": m.measure.unit,
                        "direction": m.measure.direction,
                        "target": m.measure.target,
                        "source": m.measure.kind,
                        "status": str(m.status),
                        "reason": m.reason,
                        "latest": _point_json(m.latest),
                        "previous": _point_json(m.previous),
                        "trend": [_point_json(p) for p in m.trend],
                    }
                    for m in o.measures
                ],
            }
            for o in card.objectives
        ],
    }


CSV_COLUMNS = (
    "objective",
    "objective_title",
    "measure",
    "measure_name",
    "unit",
    "direction",
    "target",
    "source",
    "status",
    "period",
    "value",
    "respondents",
    "note",
)


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    # A spreadsheet would run a cell starting with these as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(card: Scorecard) -> str:
    """One row per measure and period of its trend (a measure without any, one row without a
    period): the figures of the page, a withheld one empty with its note."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for objective in card.objectives:
        for result in objective.measures:
            measure = result.measure
            head = [
                objective.objective.id,
                objective.objective.title,
                measure.key,
                measure.name,
                measure.unit,
                measure.direction,
                "" if measure.target is None else measure.target,
                measure.kind,
                str(result.status),
            ]
            points: Sequence[Point | None] = result.trend or [None]
            for item in points:
                if item is None:
                    tail: list[object] = ["", "", "", "no data yet"]
                elif item.value is None:
                    tail = [item.period, "", "", NOT_ENOUGH]
                else:
                    tail = [item.period, round(item.value, 4), item.respondents, ""]
                writer.writerow([_cell(v) for v in (*head, *tail)])
    return out.getvalue()


def form_view(
    text: StakeholderText,
    round_: StakeholderRound,
    form_token: str,
    given: Mapping[str, str] | None = None,
    problems: Sequence[FormProblem] = (),
) -> dict[str, Any]:
    """The stakeholder form: a fieldset per question (its legend the question, a radio per
    point of the scale), the optional organisation type and comment, and, after a refused
    post, the error summary linking to each field and what was given kept."""
    given = given or {}
    errors = {p.field: p.message for p in problems}

    def first_id(name: str) -> str:
        # The NHS.UK radios give the first item the group's name as its id.
        return name

    questions = []
    for question in round_.questions:
        name = f"q_{question.id}"
        questions.append(
            {
                "name": name,
                "legend": question.text,
                "items": [
                    {"value": p.id, "text": p.label, "checked": given.get(name) == p.id}
                    for p in round_.scale
                ],
                "error": errors.get(name),
            }
        )
    organisation = {
        "legend": text.organisation_label,
        "items": [
            {"value": g.id, "text": g.label, "checked": given.get("organisation") == g.id}
            for g in round_.groups
        ],
        "error": errors.get("organisation"),
    }
    return {
        "heading": text.title,
        "intro": text.intro,
        "form_token": form_token,
        "questions": questions,
        "organisation": organisation if round_.groups else None,
        "comment": {
            "label": text.comment_label,
            "hint": text.comment_hint,
            "value": given.get("comment", ""),
            "error": errors.get("comment"),
        },
        "errors": [{"text": p.message, "href": f"#{first_id(p.field)}"} for p in problems],
    }
