"""The organisation's words: behaviours, ratings and prompts, loaded from one editable YAML file.

The file shipped with the package is ``bot/content/values.yaml``; ``VALUESBOT_CONTENT`` points at
another copy. Loading validates everything once, at start-up, and a problem is reported as a
``ContentError`` naming the file and the exact place (``behaviours[2].definition: missing``).
"""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Ident = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]

DEFAULT_CONTENT = "values.yaml"


class ContentError(Exception):
    """The content file is missing, unreadable or does not hold what the bot needs."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Behaviour(_Model):
    """One of the organisation's behaviours, e.g. "We listen and learn"."""

    id: Ident
    name: Text
    short: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
    definition: Text


class Rating(_Model):
    """How well a piece of work shows a behaviour; ``score`` is None for "not relevant"."""

    id: Ident
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
    score: int | None = None


class LensText(_Model):
    """Prompts of the values lens check-in; ``{work}`` and ``{behaviour}`` are filled in."""

    intro: Text
    work_question: Text
    work_placeholder: Text
    rating_question: Text
    note_label: Text
    action_question: Text
    action_placeholder: Text
    summary_title: Text
    summary_text: Text
    focus_label: Text
    all_strong: Text
    nothing_relevant: Text
    team_intro: Text
    team_discuss_disagree: Text
    team_discuss_lowest: Text
    team_discuss_none: Text


Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
# Option texts are shown on buttons and in pickers: Slack allows 75 characters there.
OptionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=75)]


class ScalePoint(_Model):
    """One answer on the barometer's scale ("Strongly agree"); ``agree`` counts it as agreeing."""

    id: Ident
    label: OptionText
    agree: bool = False


class BarometerQuestion(_Model):
    """A barometer question ("My work is making a positive difference to the NHS")."""

    id: Ident
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
    short: Short


class BarometerGroup(_Model):
    """A group people may say they belong to (a team, a directorate), for breakdowns."""

    id: Ident
    label: OptionText


class BarometerText(_Model):
    """The monthly staff barometer: its questions, scale, optional comment and groups."""

    title: Short
    intro: Text
    questions: Annotated[list[BarometerQuestion], Field(min_length=1, max_length=5)]
    scale: Annotated[list[ScalePoint], Field(min_length=2, max_length=10)]
    comment_label: Text
    comment_placeholder: str = ""
    group_label: Text
    groups: Annotated[list[BarometerGroup], Field(max_length=50)] = []

    @model_validator(mode="after")
    def _check(self) -> BarometerText:
        for kind, ids in (
            ("questions", [q.id for q in self.questions]),
            ("scale", [p.id for p in self.scale]),
            ("groups", [g.id for g in self.groups]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"barometer.{kind}: duplicate id {', '.join(duplicates)}")
        if not any(p.agree for p in self.scale):
            raise ValueError("barometer.scale: mark at least one point `agree: true`")
        if all(p.agree for p in self.scale):
            raise ValueError("barometer.scale: at least one point must not count as agreeing")
        return self


class Content(_Model):
    """Everything the bot says about the organisation's vision and values."""

    organisation: Text
    service_name: Short = "Vision and values"
    """The web pages' service name, in their header and titles."""
    vision: Text
    purpose: Text
    call_to_action: Text
    constitution_values: Annotated[list[Text], Field(min_length=1)]
    behaviours: Annotated[list[Behaviour], Field(min_length=1, max_length=12)]
    ratings: Annotated[list[Rating], Field(min_length=2, max_length=5)]
    lens: LensText
    barometer: BarometerText

    @model_validator(mode="after")
    def _check_ids(self) -> Content:
        for kind, ids in (
            ("behaviours", [b.id for b in self.behaviours]),
            ("ratings", [r.id for r in self.ratings]),
        ):
            duplicates = sorted({i for i in ids if ids.count(i) > 1})
            if duplicates:
                raise ValueError(f"{kind}: duplicate id {', '.join(duplicates)}")
        if not any(r.score is not None for r in self.ratings):
            raise ValueError("ratings: at least one rating needs a score")
        return self

    @cached_property
    def _behaviours_by_id(self) -> dict[str, Behaviour]:
        return {b.id: b for b in self.behaviours}

    @cached_property
    def _ratings_by_id(self) -> dict[str, Rating]:
        return {r.id: r for r in self.ratings}

    def behaviour(self, behaviour_id: str) -> Behaviour:
        """The behaviour with this id (KeyError when the content no longer has it)."""
        return self._behaviours_by_id[behaviour_id]

    def rating(self, rating_id: str) -> Rating:
        """The rating with this id (KeyError when the content no longer has it)."""
        return self._ratings_by_id[rating_id]

    def find_rating(self, text: str) -> Rating | None:
        """The rating whose id or label matches what a person typed ("partly", "Not yet")."""
        wanted = " ".join(text.lower().replace("_", " ").split())
        for rating in self.ratings:
            if wanted in (rating.label.lower(), rating.id.replace("_", " ")):
                return rating
        return None

    @property
    def max_score(self) -> int:
        """The score of the strongest rating."""
        return max(r.score for r in self.ratings if r.score is not None)

    @property
    def min_score(self) -> int:
        """The score of the weakest rating that counts."""
        return min(r.score for r in self.ratings if r.score is not None)


def load_content(path: Path | None = None) -> Content:
    """Read and validate the content file (the packaged one when ``path`` is None)."""
    if path is None:
        source = resources.files("bot") / "content" / DEFAULT_CONTENT
        where = f"bot/content/{DEFAULT_CONTENT}"
        try:
            raw = source.read_text(encoding="utf-8")
        except OSError as error:  # pragma: no cover - a broken installation
            raise ContentError(f"{where}: cannot be read ({error})") from error
    else:
        where = str(path)
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ContentError(f"{where}: cannot be read ({error.strerror or error})") from error
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ContentError(f"{where}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ContentError(f"{where}: expected a mapping at the top level")
    try:
        return Content.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(_describe(e) for e in error.errors())
        raise ContentError(f"{where}: {problems}") from error


def _describe(error: object) -> str:
    assert isinstance(error, dict)
    location = ""
    for part in error.get("loc", ()):
        location += f"[{part}]" if isinstance(part, int) else (f".{part}" if location else part)
    message = str(error.get("msg", "invalid"))
    if error.get("type") == "missing":
        message = "missing"
    return f"{location}: {message}" if location else message
