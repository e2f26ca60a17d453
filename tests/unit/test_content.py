"""The content file: the seed's words, validated with errors that say where."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.cli import main
from bot.content import ContentError, load_content


def test_built_in_content_has_the_six_behaviours_from_the_seed() -> None:
    content = load_content()
    assert content.vision == "High quality care for all, now and for future generations."
    assert [b.name for b in content.behaviours] == [
        "We prioritise patients in every decision we take",
        "We listen and learn",
        "We are evidence-based",
        "We are open and transparent",
        "We are inclusive",
        "We strive for improvement",
    ]
    assert content.call_to_action.endswith("My contribution is to...")
    assert [r.label for r in content.ratings] == ["Strongly", "Partly", "Not yet", "Not relevant"]
    assert content.max_score == 2
    assert content.min_score == 0
    assert content.find_rating("not yet") == content.rating("not_yet")
    assert "Everyone counts" in content.constitution_values


def _write(tmp_path: Path, change: dict[str, object] | None = None, drop: str = "") -> Path:
    data = yaml.safe_load((Path(__file__).parents[2] / "bot/content/values.yaml").read_text())
    data.update(change or {})
    data.pop(drop, None)
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_an_edited_copy_is_used(tmp_path: Path) -> None:
    path = _write(tmp_path, {"vision": "Better care for everyone."})
    assert load_content(path).vision == "Better care for everyone."


@pytest.mark.parametrize(
    ("change", "drop", "message"),
    [
        ({}, "behaviours", "behaviours: missing"),
        (
            {"behaviours": [{"id": "x", "name": "N", "short": "S"}]},
            "",
            "behaviours[0].definition: missing",
        ),
        (
            {"ratings": [{"id": "a", "label": "A", "score": 1}, {"id": "a", "label": "B"}]},
            "",
            "ratings: duplicate id a",
        ),
        (
            {"ratings": [{"id": "a", "label": "A"}, {"id": "b", "label": "B"}]},
            "",
            "at least one rating needs a score",
        ),
        ({"colour": "blue"}, "", "colour: Extra inputs are not permitted"),
    ],
)
def test_problems_are_named(
    tmp_path: Path, change: dict[str, object], drop: str, message: str
) -> None:
    path = _write(tmp_path, change, drop)
    with pytest.raises(ContentError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_content(path)


def test_unreadable_or_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ContentError, match="cannot be read"):
        load_content(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("behaviours: [\n")
    with pytest.raises(ContentError, match="not valid YAML"):
        load_content(broken)


def test_content_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["content", "check"]) == 0
    assert (
        "ok (6 behaviours, 4 ratings, scorecard: 11 objectives, 26 measures)"
        in capsys.readouterr().out
    )
    bad = _write(tmp_path, drop="vision")
    assert main(["content", "check", str(bad)]) == 2
    assert "vision: missing" in capsys.readouterr().err


def test_the_scorecard_has_the_papers_eleven_objectives() -> None:
    card = load_content().scorecard
    assert card is not None
    assert [o.title for o in card.objectives] == [
        "Improving patient satisfaction",
        "Improving staff satisfaction",
        "Preventing people from dying prematurely",
        "Enhancing quality of life for people with long term conditions",
        "Helping people to recover from episodes of ill health or following injury",
        "Ensuring people have a positive experience of care",
        "Treating and caring for people in a safe environment; and protecting them from "
        "avoidable harm",
        "Promoting equality and reducing inequalities in health outcomes",
        "Enabling more people to know their NHS Constitution rights and pledges",
        "Becoming an excellent organisation",
        "Ensuring quality financial management",
    ]
    assert "satisfied patients and staff" in card.key_measures
    kinds = {m.kind for _, m in card.measures.values()}
    assert kinds == {"barometer", "engagement", "staff_survey", "stakeholders", "manual"}
    assert card.keys_of("staff_survey") == {
        "engagement",
        "recommend_work",
        "recommend_care",
        "fair_career_progression",
    }
    assert card.objective("2") == card.objective("staff_satisfaction") == card.objectives[1]
    assert card.objective("improving staff satisfaction") == card.objectives[1]
    assert card.objective("12") is None


def _scorecard_with(tmp_path: Path, edit: object) -> Path:
    data = yaml.safe_load((Path(__file__).parents[2] / "bot/content/values.yaml").read_text())
    edit(data["scorecard"])  # type: ignore[operator]
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _measure(card: dict[str, object], objective: int, measure: int) -> dict[str, object]:
    return card["objectives"][objective]["measures"][measure]  # type: ignore[index,no-any-return]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: _measure(c, 0, 0).update(source="survey:patients"),
            "scorecard.objectives[0].measures[0].source: unknown source 'survey:patients'",
        ),
        (
            lambda c: _measure(c, 0, 0).update(source="patients"),
            "unknown source 'patients'",
        ),
        (
            lambda c: _measure(c, 1, 0).update(source="barometer:morale"),
            "the barometer has no question 'morale'",
        ),
        (
            lambda c: _measure(c, 0, 0).update(source="stakeholders:morale"),
            "the stakeholder form has no question 'morale'",
        ),
        (
            lambda c: _measure(c, 7, 1).update(source="engagement:lens_strong_kind"),
            "no count 'lens_strong_kind'",
        ),
        (
            lambda c: _measure(c, 0, 1).update(source="manual:GP Experience"),
            "manual keys are lowercase words",
        ),
        (
            lambda c: _measure(c, 1, 1).update(key="barometer_nhs"),
            "scorecard: duplicate measure key barometer_nhs",
        ),
        (
            lambda c: _measure(c, 1, 1).update(source="barometer:nhs"),
            "the same source in two measures: barometer:nhs",
        ),
        (
            lambda c: c["objectives"][1].update(id="patient_satisfaction"),
            "scorecard.objectives: duplicate id patient_satisfaction",
        ),
        (
            lambda c: _measure(c, 0, 0).update(unit="count"),
            "stakeholders measures are the share who agree: percent",
        ),
        (
            lambda c: _measure(c, 1, 0).update(target=120),
            "measures[0].target: a percent between 0 and 100",
        ),
        (
            lambda c: _measure(c, 1, 0).update(direction="up"),
            "direction: Input should be 'higher' or 'lower'",
        ),
        (
            lambda c: _measure(c, 1, 0).update(unit="people"),
            "unit: Input should be 'percent', 'count' or 'score'",
        ),
        (
            lambda c: c["stakeholders"]["questions"].append(
                {"id": "open", "text": "Again", "short": "Again"}
            ),
            "scorecard.stakeholders.questions: duplicate id open",
        ),
    ],
)
def test_scorecard_problems_are_named(tmp_path: Path, edit: object, message: str) -> None:
    path = _scorecard_with(tmp_path, edit)
    with pytest.raises(ContentError) as raised:
        load_content(path)
    assert message in str(raised.value)


def test_content_check_names_a_bad_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _scorecard_with(tmp_path, lambda c: _measure(c, 0, 0).update(source="poll:x"))
    assert main(["content", "check", str(path)]) == 2
    assert "unknown source 'poll:x'" in capsys.readouterr().err


def test_a_content_file_without_a_scorecard_still_loads(tmp_path: Path) -> None:
    path = _write(tmp_path, drop="scorecard")
    assert load_content(path).scorecard is None
