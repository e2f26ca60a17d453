"""The organisation's words: behaviours, ratings and prompts, loaded from one editable YAML file.

The file shipped with the package is ``bot/content/values.yaml``; ``VALUESBOT_CONTENT`` points at
another copy. Loading validates everything once, at start-up, and a problem is reported as a
``ContentError`` naming the file and the exact place (``behaviours[2].definition: missing``).
"""

from __future__ import annotations

import re
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

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
_IDENT = re.compile(r"[a-z][a-z0-9_]{0,31}")

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


SOURCE_KINDS = ("barometer", "engagement", "staff_survey", "stakeholders", "manual")
"""Where a scorecard measure's figures come from (``<kind>:<name>``)."""

ENGAGEMENT_COUNTS = (
    "lens_checkins",
    "lens_team_checkins",
    "commitments_made",
    "commitments_kept",
    "commitments_shared",
    "case_studies_submitted",
    "case_studies_approved",
    "said_did_responses",
    "said_did_actions",
)
"""The bot's own aggregate counts a measure may name (``engagement:<name>``); besides these,
``lens_strong_<behaviour id>``: the share of values lens ratings of that behaviour at the
strongest rating."""

LENS_STRONG = "lens_strong_"

Unit = Literal["percent", "count", "score"]
Direction = Literal["higher", "lower"]


class Measure(_Model):
    """One measure of an objective: a name, a unit, which way is better, an optional target and
    where its figures come from (``source``: ``barometer:<question id>``,
    ``engagement:<count>``, ``staff_survey:<key>``, ``stakeholders:<question id>`` or
    ``manual:<key>``)."""

    key: Ident
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    unit: Unit
    direction: Direction = "higher"
    target: float | None = None
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=64)]

    @property
    def kind(self) -> str:
        """The kind of source: "barometer", "engagement", "staff_survey"..."""
        return self.source.partition(":")[0]

    @property
    def name_in_source(self) -> str:
        """The question, count or key within the source."""
        return self.source.partition(":")[2]


class Objective(_Model):
    """An objective "against which we will hold ourselves to account", with its measures."""

    id: Ident
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    measures: Annotated[list[Measure], Field(min_length=1, max_length=12)]


class StakeholderQuestion(_Model):
    """A question external partners and stakeholders answer on the barometer's scale."""

    id: Ident
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
    short: Short


class StakeholderText(_Model):
    """The feedback form for external partners and stakeholders (reached by single-use
    links)."""

    title: Short
    intro: Text
    questions: Annotated[list[StakeholderQuestion], Field(min_length=1, max_length=8)]
    comment_label: Text
    comment_hint: str = ""
    organisation_label: Text
    organisation_types: Annotated[list[BarometerGroup], Field(max_length=20)] = []
    thanks: Text


class ScorecardText(_Model):
    """The vision and purpose scorecard: the objectives, their measures and the stakeholder
    form."""

    title: Short
    intro: Text
    key_measures: str = ""
    objectives: Annotated[list[Objective], Field(min_length=1, max_length=20)]
    stakeholders: StakeholderText

    @cached_property
    def measures(self) -> dict[str, tuple[Objective, Measure]]:
        """Every measure by its key, with its objective."""
        return {m.key: (o, m) for o in self.objectives for m in o.measures}

    def keys_of(self, kind: str) -> set[str]:
        """The names within sources of this kind that measures use (``staff_survey`` keys the
        import accepts, ``manual`` keys comms may set)."""
        return {m.name_in_source for o in self.objectives for m in o.measures if m.kind == kind}

    def objective(self, text: str) -> Objective | None:
        """The objective a person named: its id, its number (1 for the first) or its title."""
        wanted = " ".join(text.lower().split())
        if wanted.isdigit() and 1 <= int(wanted) <= len(self.objectives):
            return self.objectives[int(wanted) - 1]
        for objective in self.objectives:
            if wanted in (objective.id, objective.title.lower()):
                return objective
        return None


def check_scorecard(content: Content) -> list[str]:
    """What is wrong with the scorecard section: duplicate ids or keys, sources of no known
    kind, or naming a question, count or behaviour the content does not have."""
    card = content.scorecard
    if card is None:
        return []
    problems = []
    objective_ids = [o.id for o in card.objectives]
    duplicates = sorted({i for i in objective_ids if objective_ids.count(i) > 1})
    if duplicates:
        problems.append(f"scorecard.objectives: duplicate id {', '.join(duplicates)}")
    keys = [m.key for o in card.objectives for m in o.measures]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        problems.append(f"scorecard: duplicate measure key {', '.join(duplicates)}")
    sources = [m.source for o in card.objectives for m in o.measures]
    duplicates = sorted({s for s in sources if sources.count(s) > 1})
    if duplicates:
        problems.append(f"scorecard: the same source in two measures: {', '.join(duplicates)}")
    stakeholder_ids = [q.id for q in card.stakeholders.questions]
    for kind, ids in (
        ("questions", stakeholder_ids),
        ("organisation_types", [t.id for t in card.stakeholders.organisation_types]),
    ):
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            problems.append(f"scorecard.stakeholders.{kind}: duplicate id {', '.join(duplicates)}")
    barometer = {q.id for q in content.barometer.questions}
    strong = {LENS_STRONG + b.id for b in content.behaviours}
    for o_index, objective in enumerate(card.objectives):
        for m_index, measure in enumerate(objective.measures):
            where = f"scorecard.objectives[{o_index}].measures[{m_index}].source"
            kind, colon, name = measure.source.partition(":")
            if not colon or kind not in SOURCE_KINDS:
                problems.append(
                    f"{where}: unknown source {measure.source!r} (one of "
                    f"{', '.join(k + ':...' for k in SOURCE_KINDS)})"
                )
            elif kind == "barometer" and name not in barometer:
                problems.append(f"{where}: the barometer has no question {name!r}")
            elif kind == "stakeholders" and name not in stakeholder_ids:
                problems.append(f"{where}: the stakeholder form has no question {name!r}")
            elif kind == "engagement" and name not in (*ENGAGEMENT_COUNTS, *sorted(strong)):
                problems.append(
                    f"{where}: no count {name!r} (one of "
                    f"{', '.join([*ENGAGEMENT_COUNTS, *sorted(strong)])})"
                )
            elif kind in ("staff_survey", "manual") and not _IDENT.fullmatch(name):
                problems.append(
                    f"{where}: {kind} keys are lowercase words (a-z, 0-9, _), got {name!r}"
                )
            elif kind in ("barometer", "stakeholders") and measure.unit != "percent":
                problems.append(
                    f"scorecard.objectives[{o_index}].measures[{m_index}].unit: {kind} measures "
                    "are the share who agree: percent"
                )
            elif (
                measure.target is not None
                and measure.unit == "percent"
                and not (0 <= measure.target <= 100)
            ):
                problems.append(
                    f"scorecard.objectives[{o_index}].measures[{m_index}].target: a percent "
                    "between 0 and 100"
                )
    return problems


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
    scorecard: ScorecardText | None = None

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
        problems = check_scorecard(self)
        if problems:
            raise ValueError("; ".join(problems))
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
