"""The scorecard's chat cards: every objective and its status in one card, one objective's
measures in detail, and the help. Pure functions from ``measures.Scorecard``."""

from __future__ import annotations

from bot.content import ScorecardText
from bot.ui import Card, Field
from dialogs.scorecard.measures import (
    NOT_ENOUGH,
    MeasureResult,
    ObjectiveResult,
    Scorecard,
    Status,
    change_words,
    period_label,
    shown,
)

MARKS = {
    Status.ON_TRACK: "✓ On track",
    Status.NEEDS_ATTENTION: "! Needs attention",
    Status.NO_DATA: "– No data",
}
# A measure's trend in a card: its last few values (the page has all twelve).
CARD_TREND = 6


def rule(min_group: int) -> str:
    """The anonymity rule, as people read it."""
    return (
        f"No figure is shown from fewer than {min_group} people; below that a measure reads "
        f'"{NOT_ENOUGH}".'
    )


def _tally(objective: ObjectiveResult) -> str:
    counts = {s: sum(1 for m in objective.measures if m.status is s) for s in Status}
    parts = [f"{counts[s]} {s}" for s in Status if counts[s]]
    return f"{MARKS[objective.status]} ({', '.join(parts)})"


def summary_card(text: ScorecardText, card: Scorecard, page: str | None, prefix: str = "/") -> Card:
    """Every objective with its status: ``/scorecard``."""
    counts = card.counts()
    fields = tuple(
        Field(label=f"{o.number}. {o.objective.title}", value=_tally(o)) for o in card.objectives
    )
    more = f"Charts, every figure and open data: {page}" if page else ""
    return Card(
        title=text.title,
        text=f"{text.key_measures}\n\n{counts[Status.ON_TRACK]} measures on track, "
        f"{counts[Status.NEEDS_ATTENTION]} needing attention, {counts[Status.NO_DATA]} without "
        f"data. Type {prefix}scorecard <number> for an objective's measures.".strip(),
        fields=fields,
        footer=" ".join(p for p in (rule(card.min_group), more) if p),
    )


def measure_line(result: MeasureResult) -> str:
    """A measure in one line: latest, previous, target, status and its last values."""
    unit = result.measure.unit
    latest, previous = result.latest, result.previous
    parts = []
    if latest is None:
        parts.append("no data yet")
    else:
        parts.append(f"{result.latest_text} ({period_label(latest.period)})")
    if previous is not None:
        before = NOT_ENOUGH if previous.value is None else shown(unit, previous.value)
        parts.append(f"previous {before} ({period_label(previous.period)})")
    if result.change is not None:
        parts.append(change_words(unit, result.change))
    if result.measure.target is not None:
        better = "or more" if result.measure.direction == "higher" else "or less"
        parts.append(f"target {shown(unit, result.measure.target)} {better}")
    line = " · ".join(parts) + f". {MARKS[result.status]}: {result.reason}."
    recent = result.trend[-CARD_TREND:]
    if len(recent) > 1:
        values = " → ".join("…" if p.value is None else shown(unit, p.value) for p in recent)
        line += f" Trend: {values}."
    return line


def objective_card(
    text: ScorecardText, objective: ObjectiveResult, min_group: int, page: str | None
) -> Card:
    """One objective's measures in detail: ``/scorecard <objective>``."""
    return Card(
        title=f"{objective.number}. {objective.objective.title}",
        text=f"{MARKS[objective.status]}. {text.title}.",
        fields=tuple(
            Field(label=m.measure.name, value=measure_line(m)) for m in objective.measures
        ),
        footer=" ".join(
            p for p in (rule(min_group), f"Charts and open data: {page}" if page else "") if p
        ),
    )


def help_card(text: ScorecardText, comms: bool, problem: str = "", page: str | None = None) -> Card:
    """What ``/scorecard`` can do (and, for the comms team, what it can do for them)."""
    rows = [
        Field(label="/scorecard", value="Every objective and how it stands."),
        Field(
            label="/scorecard <objective>",
            value="One objective's measures: latest and previous figures, trend and target "
            "(by its number, 1 to "
            f"{len(text.objectives)}, or its name).",
        ),
    ]
    if comms:
        rows += [
            Field(
                label="/scorecard set KEY PERIOD VALUE",
                value="Enter a figure comms keep (KEY: one of "
                + ", ".join(sorted(text.keys_of("manual")))
                + "; PERIOD: 2026, 2026-11 or 2026-Q4).",
            ),
            Field(
                label="/scorecard stakeholders",
                value="How the stakeholder feedback round is going, and its comments to read "
                "once it has closed.",
            ),
        ]
    intro = (
        "The scorecard measures us against the commitments we make: the staff barometer, the "
        "staff survey, feedback from our partners and stakeholders, and our own activity."
    )
    return Card(
        title=text.title,
        text=f"{problem}\n\n{intro}".strip(),
        fields=tuple(rows),
        footer=f"On the web: {page}" if page else "",
    )
