"""Reading the figures comms give the scorecard: a staff survey CSV file (``period, key, value,
respondents``) and a figure typed in chat (``/scorecard set KEY PERIOD VALUE``). Pure
functions: every problem is found and named (with the CSV's row numbers, the header being row
1), and a file with any problem is refused whole."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping

from dialogs.scorecard.measures import PERIOD_FORMS, is_period
from storage.scorecard import Figure, FigureSource

COLUMNS = ("period", "key", "value", "respondents")
MAX_ROWS = 10_000
# Problems listed in one refusal, at most (the rest are counted).
SHOWN_PROBLEMS = 20


class FiguresRefused(Exception):
    """A file or a figure with problems: nothing was kept. ``problems`` name each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems

    def summary(self) -> str:
        """The problems as lines, the first ``SHOWN_PROBLEMS`` of them."""
        shown = self.problems[:SHOWN_PROBLEMS]
        more = len(self.problems) - len(shown)
        return "\n".join([*shown, *([f"... and {more} more"] if more else [])])


def number(text: str, unit: str) -> float | None:
    """A figure as typed ("72", "72.5", "72%" for a percent, "6.8"); None when it is not a
    number the unit allows (a percent from 0 to 100, a count a whole number of 0 or more)."""
    given = text.strip()
    if unit == "percent" and given.endswith("%"):
        given = given[:-1].strip()
    try:
        value = float(given)
    except ValueError:
        return None
    if not math.isfinite(value):
        return None
    if unit == "percent" and not 0 <= value <= 100:
        return None
    if unit == "count" and (value < 0 or value != int(value)):
        return None
    return value


def _what(unit: str) -> str:
    return {
        "percent": "a percent from 0 to 100",
        "count": "a whole number of 0 or more",
    }.get(unit, "a number")


def parse_staff_survey(text: str, units: Mapping[str, str]) -> list[Figure]:
    """The figures of a staff survey CSV file, whose keys are the scorecard's ``staff_survey``
    keys (``units``: each key's unit); ``FiguresRefused`` naming every problem by row."""
    if len(text) > 0 and text[0] == "\ufeff":  # a spreadsheet's byte order mark
        text = text[1:]
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(cell.strip() for cell in rows[-1]):
        rows.pop()
    if not rows:
        raise FiguresRefused(
            [
                "the file is empty: it needs a header row (period, key, value, "
                "respondents) and a row per figure"
            ]
        )
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise FiguresRefused(
            [
                f"row 1: the header needs the columns {', '.join(COLUMNS)} (missing: "
                f"{', '.join(missing)})"
            ]
        )
    if len(rows) - 1 > MAX_ROWS:
        raise FiguresRefused([f"the file has more than {MAX_ROWS} rows"])
    where = {c: header.index(c) for c in COLUMNS}
    problems: list[str] = []
    figures: list[Figure] = []
    seen: dict[tuple[str, str], int] = {}
    known = ", ".join(sorted(units)) or "none"
    for number_, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            problems.append(f"row {number_}: {len(row)} cells, the header has {len(header)}")
            continue
        period, key = row[where["period"]].strip(), row[where["key"]].strip()
        value_text, people_text = row[where["value"]], row[where["respondents"]].strip()
        found = []
        if not is_period(period):
            found.append(f"period {period!r} is not {PERIOD_FORMS}")
        unit = units.get(key)
        if unit is None:
            found.append(f"unknown key {key!r} (the scorecard's staff survey keys: {known})")
        value = number(value_text, unit or "score")
        if value is None:
            found.append(f"value {value_text.strip()!r} is not {_what(unit or 'score')}")
        respondents = int(people_text) if people_text.isdigit() else None
        if respondents is None:
            found.append(f"respondents {people_text!r} is not a whole number of 0 or more")
        earlier = seen.get((period, key))
        if earlier is not None:
            found.append(f"period {period} and key {key} are on row {earlier} already")
        seen.setdefault((period, key), number_)
        if found:
            problems.append(f"row {number_}: " + "; ".join(found))
            continue
        assert value is not None
        figures.append(
            Figure(
                source=FigureSource.STAFF_SURVEY,
                key=key,
                period=period,
                value=value,
                respondents=respondents,
            )
        )
    if problems:
        raise FiguresRefused(problems)
    if not figures:
        raise FiguresRefused(["the file has a header but no figures"])
    return figures


def parse_manual(key: str, period: str, value_text: str, units: Mapping[str, str]) -> Figure:
    """A figure comms typed; ``FiguresRefused`` naming what is wrong."""
    problems = []
    unit = units.get(key)
    if unit is None:
        known = ", ".join(sorted(units)) or "none"
        problems.append(f"unknown key {key!r} (the keys comms enter: {known})")
    if not is_period(period):
        problems.append(f"period {period!r} is not {PERIOD_FORMS}")
    value = number(value_text, unit or "score")
    if value is None:
        problems.append(f"value {value_text!r} is not {_what(unit or 'score')}")
    if problems:
        raise FiguresRefused(problems)
    assert value is not None
    return Figure(source=FigureSource.MANUAL, key=key, period=period, value=value)
