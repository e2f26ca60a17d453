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
    assert "ok (6 behaviours, 4 ratings)" in capsys.readouterr().out
    bad = _write(tmp_path, drop="vision")
    assert main(["content", "check", str(bad)]) == 2
    assert "vision: missing" in capsys.readouterr().err
