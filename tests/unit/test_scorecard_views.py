"""The scorecard's views without a browser: the charts' geometry, the open data's figures (a
withheld one as a note only), the stakeholder form's fields and errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.content import load_content
from dialogs.scorecard.measures import Point, scorecard
from dialogs.scorecard.stakeholders import FormProblem, read_form
from dialogs.scorecard.views import AREA, TOP, form_view, render_csv, render_json, scorecard_view
from storage.barometer import RoundGroup, RoundQuestion, RoundScalePoint
from storage.scorecard import StakeholderRound

CONTENT = load_content()
assert CONTENT.scorecard is not None
TEXT = CONTENT.scorecard
NOW = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


def card() -> object:
    return scorecard(
        TEXT,
        {
            "barometer_nhs": [
                Point(period="2026-10", value=50.0, respondents=12),
                Point(period="2026-11", value=None, respondents=3),
            ],
            "severe_harm": [
                Point(period="2026-Q1", value=10.0),
                Point(period="2026-Q2", value=20.0),
            ],
        },
        5,
    )


def measure_view(view: dict[str, object], key: str) -> dict[str, object]:
    for objective in view["objectives"]:  # type: ignore[attr-defined]
        for measure in objective["measures"]:
            if measure["key"] == key:
                return measure  # type: ignore[no-any-return]
    raise KeyError(key)


def test_charts_are_drawn_to_scale_with_the_target_as_a_line() -> None:
    view = scorecard_view(CONTENT, card())  # type: ignore[arg-type]
    nhs = measure_view(view, "barometer_nhs")
    chart = nhs["chart"]
    assert isinstance(chart, dict)
    first, second = chart["bars"]
    # A percent is drawn out of 100: 50% is half the area; the target 75% three quarters up.
    assert (first["height"], first["y"], first["label"], first["short"]) == (
        AREA / 2,
        TOP + AREA / 2,
        "50%",
        "Oct 26",
    )
    assert (second["shown"], second["label"]) == (False, "–")
    assert chart["target"] == {"y": TOP + AREA / 4}
    assert chart["rows"] == [
        ("October 2026", "50%", 12),
        ("November 2026", "not enough answers", "–"),
    ]
    assert nhs["latest"] == "not enough answers"
    assert nhs["status"] == "no data"
    # A count is drawn out of its largest value (and a margin); no target, no line.
    harm = measure_view(view, "severe_harm")["chart"]
    assert isinstance(harm, dict)
    assert harm["bars"][1]["height"] == round(AREA / 1.15, 1)
    assert harm["target"] is None
    assert measure_view(view, "gp_experience")["chart"] is None


def test_open_data_has_no_withheld_figure() -> None:
    data = render_json(CONTENT, card())  # type: ignore[arg-type]
    nhs = next(m for o in data["objectives"] for m in o["measures"] if m["key"] == "barometer_nhs")
    assert nhs["latest"] == {"period": "2026-11", "note": "not enough answers"}
    assert nhs["previous"] == {"period": "2026-10", "value": 50.0, "respondents": 12}
    table = render_csv(card())  # type: ignore[arg-type]
    assert ",2026-11,,,not enough answers\r\n" in table
    assert ",2026-10,50.0,12,\r\n" in table


def a_round() -> StakeholderRound:
    return StakeholderRound(
        id="s1",
        period="2026-Q4",
        opened_at=NOW,
        closes_at=NOW + timedelta(days=28),
        min_group=5,
        comment_min=10,
        questions=(RoundQuestion(id="open", text="Open", short="Open"),),
        scale=(RoundScalePoint(id="no", label="No"), RoundScalePoint(id="yes", label="Yes")),
        groups=(RoundGroup(id="lg", label="Local government"),),
    )


def test_the_form_keeps_what_was_given_and_links_each_problem_to_its_field() -> None:
    answer, problems = read_form(a_round(), {"organisation": "mars", "comment": "  a  b "})
    assert answer is None
    assert problems == [
        FormProblem(field="q_open", message="Answer: Open"),
        FormProblem(field="organisation", message="Pick an organisation type from the list"),
    ]
    view = form_view(
        TEXT.stakeholders, a_round(), "t" * 64, {"q_open": "yes", "comment": "hi"}, problems
    )
    assert view["errors"] == [
        {"text": "Answer: Open", "href": "#q_open"},
        {"text": "Pick an organisation type from the list", "href": "#organisation"},
    ]
    [question] = view["questions"]
    assert [i["checked"] for i in question["items"]] == [False, True]
    assert question["error"] == "Answer: Open"
    assert view["comment"]["value"] == "hi"
    answer, problems = read_form(a_round(), {"q_open": "yes", "comment": "  a  b "})
    assert problems == []
    assert answer is not None
    assert (dict(answer.values), answer.group, answer.comment) == ({"open": "yes"}, None, "a b")
