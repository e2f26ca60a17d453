"""Making a values identifier: the conversation (``identifier.mmd``).

The publication's title (unless it came with ``/identifier``); a values lens check-in of the
same work to start from, when the person has one from the last 30 days (their own, or a team
check-in they started); then for each of the six behaviours one or two sentences on how the
publication shows it, or "not relevant"; one sentence on how it helps achieve the vision; the
team that owns it; the intended date; a last look, and it goes to comms.

A check-in pre-fills the statements: its notes become drafts, and behaviours it rated "not
relevant" (in a team check-in: that most of the team did) are offered as not relevant. Every
draft is only offered: the person keeps it, rewrites it or says otherwise. After comms ask for
changes the same conversation runs again with the identifier's own words as the drafts.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.content import Content
from bot.dialogs import END, Dialog, StepContext, StepResult, cancel_choice
from bot.text import local_date, shorten
from bot.ui import Card, Choice, ChoiceStyle, Field, TextInput
from storage.identifiers import Identifier, Statement
from storage.people import PersonKey
from storage.stores import Stores

if TYPE_CHECKING:
    from dialogs.identifier.service import Identifiers

NAME = "identifier"
TITLE_LIMIT = 200
STATEMENT_LIMIT = 300
VISION_LIMIT = 300
OWNER_LIMIT = 120
RECENT = timedelta(days=30)
SOURCES_SHOWN = 5
# How far ahead (and back, for a publication already out) the intended date may be.
DATE_AHEAD = timedelta(days=5 * 366)
DATE_BACK = timedelta(days=366)

STEP = "identifier.step"
NOT_RELEVANT = "not_relevant"
USE_DRAFT = "draft"
AFRESH = "afresh"
SEND = "send"
NOT_RELEVANT_WORDS = frozenset({"not relevant", "n/a", "na", "none", "-", "not applicable"})
DATE_FORMATS = ("%Y-%m-%d", "%d %B %Y", "%d %b %Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y")


class Step(StrEnum):
    """The questions of the conversation."""

    TITLE = "title"
    SOURCE = "source"
    STATEMENT = "statement"
    VISION = "vision"
    OWNER = "owner"
    DATE = "date"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """A finished draft, ready for comms."""

    title: str
    statements: tuple[Statement, ...]
    vision: str
    owner: str
    intended: date
    source: str | None


def line(text: str) -> str:
    """Text on one line, spaces folded."""
    return " ".join(text.split())


def parse_date(text: str) -> date | None:
    """A date as people type it: 2027-03-31, 31 March 2027, 31 Mar 2027, 31/03/2027."""
    text = line(text).rstrip(".")
    for form in DATE_FORMATS:
        try:
            return datetime.strptime(text, form).date()
        except ValueError:
            continue
    return None


def new_id() -> str:
    """A random id for an identifier (its address and reference are made from it)."""
    return secrets.token_hex(6)


@dataclass(frozen=True, slots=True, kw_only=True)
class Source:
    """A values lens check-in to start from."""

    key: str
    label: str
    drafts: Mapping[str, str]
    """Behaviour id -> draft statement ("" offers "not relevant")."""


async def sources(
    stores: Stores, content: Content, person: PersonKey, now: datetime, zone: ZoneInfo
) -> list[Source]:
    """The person's values lens check-ins of the last 30 days, newest first: their own, and
    the team check-ins they started."""
    since = now - RECENT
    not_relevant = {r.id for r in content.ratings if r.score is None}
    found: list[tuple[datetime, Source]] = []
    for checkin in await stores.checkins.recent(person, SOURCES_SHOWN):
        if checkin.completed_at < since:
            continue
        drafts = {}
        for rating in checkin.ratings:
            if rating.rating in not_relevant:
                drafts[rating.behaviour] = ""
            elif rating.note:
                drafts[rating.behaviour] = rating.note[:STATEMENT_LIMIT]
        label = (
            f"My check-in: {shorten(checkin.work, 40)} ({local_date(checkin.completed_at, zone)})"
        )
        found.append(
            (checkin.completed_at, Source(key=f"checkin:{checkin.id}", label=label, drafts=drafts))
        )
    started = await stores.team_checkins.started_by(person.platform, person.tenant, person.user)
    for team in started[:SOURCES_SHOWN]:
        if team.opened_at < since:
            continue
        tally = await stores.team_checkins.tally(team.id)
        drafts = {}
        for behaviour, counts in tally.counts.items():
            answered = sum(counts.values())
            unrelated = sum(n for rating, n in counts.items() if rating in not_relevant)
            if answered and unrelated * 2 > answered:
                drafts[behaviour] = ""
        label = f"Team check-in: {shorten(team.work, 40)} ({local_date(team.opened_at, zone)})"
        found.append((team.opened_at, Source(key=f"team:{team.id}", label=label, drafts=drafts)))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [source for _, source in found[:SOURCES_SHOWN]]


def draft_of(content: Content, data: Mapping[str, Any]) -> Draft:
    """The conversation's answers as a draft (every step checked its answer)."""
    statements: Mapping[str, str] = data["statements"]
    return Draft(
        title=str(data["title"]),
        statements=tuple(
            Statement(behaviour=b.id, text=statements.get(b.id, "")) for b in content.behaviours
        ),
        vision=str(data["vision"]),
        owner=str(data["owner"]),
        intended=date.fromisoformat(str(data["intended"])),
        source=str(data.get("source") or "") or None,
    )


def values_of(identifier: Identifier) -> dict[str, Any]:
    """An identifier's words as the conversation's data (to edit it)."""
    return {
        "title": identifier.title,
        "drafts": {s.behaviour: s.text for s in identifier.statements},
        "vision": identifier.vision,
        "owner": identifier.owner,
        "intended": identifier.intended.isoformat(),
        "source": identifier.source or "",
    }


class IdentifierDialog(Dialog):
    """Making (or editing) a values identifier, one question at a time."""

    name = NAME
    command = "identifier"

    def __init__(self, content: Content, submissions: Identifiers, zone: ZoneInfo) -> None:
        self.content = content
        self.submissions = submissions
        """``Identifiers``: files the finished draft and asks comms (``submit``)."""
        self.zone = zone

    # Dialog

    async def begin(self, ctx: StepContext, start: Mapping[str, str]) -> StepResult:
        ctx.data.update(
            draft=new_id(),
            edit="",
            title="",
            source="",
            index=0,
            statements={},
            drafts={},
            vision="",
            owner="",
            intended="",
            sources=[],
        )
        editing = start.get("identifier", "")
        if editing:
            found = await ctx.stores.identifiers.get(editing)
            if found is None or found.author != ctx.person:
                return StepResult(
                    next=END,
                    cards=(Card(title="Not found", text="That identifier is not one of yours."),),
                )
            ctx.data.update(edit=found.id, **values_of(found))
            return self._ask(Step.TITLE, ctx.data)
        title = line(start.get("title", ""))
        if not title:
            return self._ask(Step.TITLE, ctx.data)
        problem = self._title_problem(title)
        if problem:
            return self._ask(Step.TITLE, ctx.data, problem)
        ctx.data["title"] = title
        return await self._after_title(ctx)

    def describe(self, data: Mapping[str, Any]) -> str:
        title = data.get("title")
        return f'a values identifier for "{shorten(title, 50)}"' if title else "a values identifier"

    def cancelled(self, data: Mapping[str, Any]) -> Card:
        return Card(
            title="Cancelled",
            text=f"Stopped {self.describe(data)}. Nothing was sent to comms.",
        )

    def prompt(self, step: str, data: Mapping[str, Any]) -> Card:
        editing = bool(data.get("edit"))
        heading = "Edit your values identifier" if editing else "Values identifier"
        title = str(data.get("title", ""))
        next_choice = Choice(label="Next", action=STEP, style=ChoiceStyle.PRIMARY)
        keep = Choice(label="Keep it", action=STEP, value=USE_DRAFT)
        match step:
            case Step.TITLE:
                text = (
                    "A values identifier goes at the front of a key publication: it says how "
                    "the publication is in line with our values and helps us achieve our "
                    "vision. Comms review it before it is published.\n\nWhat is the "
                    "publication called?"
                )
                if editing and title:
                    text += f"\n\nNow: {title}"
                return Card(
                    title=heading,
                    text=text,
                    inputs=(
                        TextInput(
                            name="title",
                            label="The publication's title",
                            optional=editing,
                            max_length=TITLE_LIMIT,
                        ),
                    ),
                    choices=(next_choice, *((keep,) if editing else ()), cancel_choice()),
                )
            case Step.SOURCE:
                offered = data.get("sources", [])
                return Card(
                    title=heading,
                    text=f'Start "{title}" from a values lens check-in of the same work? Its '
                    "notes become drafts of your statements, and what it rated not relevant is "
                    "offered as not relevant. You can change every one.",
                    choices=(
                        *(
                            Choice(label=shorten(s["label"], 75), action=STEP, value=s["key"])
                            for s in offered
                        ),
                        Choice(label="Start afresh", action=STEP, value=AFRESH),
                        cancel_choice(),
                    ),
                    footer="Or type its number, or afresh.",
                )
            case Step.STATEMENT:
                index = int(data.get("index", 0))
                behaviour = self.content.behaviours[index]
                drafts: Mapping[str, str] = data.get("drafts", {})
                text = (
                    f"{behaviour.definition}\n\nIn one or two sentences: how does "
                    f'"{title}" show this? Or choose Not relevant.'
                )
                choices = [next_choice]
                initial = ""
                if behaviour.id in drafts:
                    draft = drafts[behaviour.id]
                    if draft:
                        text += f"\n\nDraft: {draft}"
                        initial = draft
                        choices.append(Choice(label="Keep the draft", action=STEP, value=USE_DRAFT))
                    else:
                        text += "\n\nDraft: not relevant."
                choices.append(
                    Choice(
                        label="Not relevant",
                        action=STEP,
                        value=NOT_RELEVANT,
                        collects_inputs=False,
                    )
                )
                return Card(
                    title=behaviour.name,
                    text=text,
                    inputs=(
                        TextInput(
                            name="statement",
                            label="How the publication shows it",
                            multiline=True,
                            max_length=STATEMENT_LIMIT,
                            initial=initial,
                        ),
                    ),
                    choices=(*choices, cancel_choice()),
                    footer=f"Behaviour {index + 1} of {len(self.content.behaviours)}. Up to "
                    f"{STATEMENT_LIMIT} characters.",
                )
            case Step.VISION:
                return self._text_card(
                    heading,
                    f'In one sentence: how does "{title}" help us achieve our vision, '
                    f'"{self.content.vision}"?',
                    TextInput(
                        name="vision",
                        label="How it helps achieve our vision",
                        multiline=True,
                        optional=False,
                        max_length=VISION_LIMIT,
                        initial=str(data.get("vision", "")),
                    ),
                    str(data.get("vision", "")) if editing else "",
                )
            case Step.OWNER:
                return self._text_card(
                    heading,
                    "Which team owns the publication?",
                    TextInput(
                        name="owner",
                        label="The owning team",
                        placeholder="e.g. Urgent and emergency care team",
                        optional=False,
                        max_length=OWNER_LIMIT,
                        initial=str(data.get("owner", "")),
                    ),
                    str(data.get("owner", "")) if editing else "",
                )
            case Step.DATE:
                return self._text_card(
                    heading,
                    "When do you intend to publish it?",
                    TextInput(
                        name="date",
                        label="Intended publication date",
                        placeholder="e.g. 2027-03-31 or 31 March 2027",
                        optional=False,
                        max_length=40,
                        initial=str(data.get("intended", "")),
                    ),
                    str(data.get("intended", "")) if editing else "",
                )
            case Step.CONFIRM:
                return replace(
                    self.preview(data),
                    choices=(
                        Choice(
                            label="Send to comms",
                            action=STEP,
                            value=SEND,
                            style=ChoiceStyle.PRIMARY,
                        ),
                        cancel_choice(),
                    ),
                )
        raise ValueError(f"identifier has no step {step!r}")

    def _text_card(self, heading: str, question: str, box: TextInput, now: str) -> Card:
        choices = [Choice(label="Next", action=STEP, style=ChoiceStyle.PRIMARY)]
        text = question
        if now:
            text += f"\n\nNow: {now}"
            choices.append(Choice(label="Keep it", action=STEP, value=USE_DRAFT))
        return Card(title=heading, text=text, inputs=(box,), choices=(*choices, cancel_choice()))

    def preview(self, data: Mapping[str, Any]) -> Card:
        """The draft as its author checks it before sending."""
        statements: Mapping[str, str] = data.get("statements", {})
        intended = str(data.get("intended", ""))
        when = parse_date(intended) if intended else None
        return Card(
            title=f"Values identifier: {data.get('title', '')}",
            text=f"How it helps achieve our vision: {data.get('vision', '')}",
            fields=(
                *(
                    Field(label=b.short, value=statements.get(b.id, "") or "Not relevant")
                    for b in self.content.behaviours
                ),
                Field(label="Owner", value=str(data.get("owner", ""))),
                Field(
                    label="Intended publication",
                    value=f"{when.day} {when:%B %Y}" if when else intended,
                ),
            ),
            footer="Comms review it; only approved identifiers are published.",
        )

    def _ask(self, step: Step, data: Mapping[str, Any], problem: str = "") -> StepResult:
        card = self.prompt(step, data)
        if problem:
            card = replace(card, text=f"{problem}\n\n{card.text}")
        return StepResult(next=step, cards=(card,))

    @staticmethod
    def _title_problem(title: str) -> str:
        if not title:
            return "Please write the publication's title."
        if len(title) > TITLE_LIMIT:
            return (
                f"Please keep the title to {TITLE_LIMIT} characters or fewer (that was "
                f"{len(title):,})."
            )
        return ""

    async def _after_title(self, ctx: StepContext) -> StepResult:
        if ctx.data.get("edit"):
            return self._ask(Step.STATEMENT, ctx.data)
        found = await sources(ctx.stores, self.content, ctx.person, ctx.now, self.zone)
        if not found:
            return self._ask(Step.STATEMENT, ctx.data)
        ctx.data["sources"] = [
            {"key": s.key, "label": s.label, "drafts": dict(s.drafts)} for s in found
        ]
        return self._ask(Step.SOURCE, ctx.data)

    async def step(self, ctx: StepContext) -> StepResult:
        data = ctx.data
        choice = ctx.choice()
        keep = choice == USE_DRAFT
        match Step(ctx.step):
            case Step.TITLE:
                title = line(ctx.text("title"))
                if data.get("edit") and (keep or not title):
                    title = str(data["title"])
                problem = self._title_problem(title)
                if problem:
                    return self._ask(Step.TITLE, data, problem)
                data["title"] = title
                return await self._after_title(ctx)
            case Step.SOURCE:
                return self._source(ctx)
            case Step.STATEMENT:
                return self._statement(ctx)
            case Step.VISION:
                given = line(ctx.text("vision"))
                if keep or (not given and data.get("edit")):
                    given = str(data.get("vision", ""))
                if not given:
                    return self._ask(Step.VISION, data, "Please write one sentence.")
                if len(given) > VISION_LIMIT:
                    return self._ask(
                        Step.VISION,
                        data,
                        f"Please keep it to {VISION_LIMIT} characters or fewer (that was "
                        f"{len(given):,}).",
                    )
                data["vision"] = given
                return self._ask(Step.OWNER, data)
            case Step.OWNER:
                owner = line(ctx.text("owner"))
                if keep or (not owner and data.get("edit")):
                    owner = str(data.get("owner", ""))
                if not owner:
                    return self._ask(Step.OWNER, data, "Please name the team.")
                if len(owner) > OWNER_LIMIT:
                    return self._ask(
                        Step.OWNER,
                        data,
                        f"Please keep the team's name to {OWNER_LIMIT} characters or fewer.",
                    )
                data["owner"] = owner
                return self._ask(Step.DATE, data)
            case Step.DATE:
                typed = ctx.text("date")
                if keep or (not typed and data.get("edit")):
                    typed = str(data.get("intended", ""))
                when = parse_date(typed)
                today = ctx.now.date()
                if when is None:
                    return self._ask(
                        Step.DATE, data, "Please give a date, like 2027-03-31 or 31 March 2027."
                    )
                if not today - DATE_BACK <= when <= today + DATE_AHEAD:
                    return self._ask(
                        Step.DATE,
                        data,
                        "Please give a date within a year before today and five years after.",
                    )
                data["intended"] = when.isoformat()
                return self._ask(Step.CONFIRM, data)
            case Step.CONFIRM:
                if choice != SEND and line(ctx.text("confirm")).lower() not in {
                    "send",
                    "yes",
                    "send to comms",
                }:
                    return self._ask(Step.CONFIRM, data, 'Choose "Send to comms", or type cancel.')
                card = await self.submissions.submit(
                    ctx.stores,
                    author=ctx.person,
                    author_name=ctx.event.actor.display,
                    draft=draft_of(self.content, data),
                    draft_id=str(data["draft"]),
                    identifier_id=str(data.get("edit") or ""),
                    now=ctx.now,
                )
                return StepResult(next=END, cards=(card,))
        raise ValueError(f"identifier has no step {ctx.step!r}")

    def _source(self, ctx: StepContext) -> StepResult:
        data = ctx.data
        offered: list[dict[str, Any]] = data.get("sources", [])
        picked = ctx.choice()
        typed = line(ctx.text("source")).lower()
        if not picked:
            if typed in {"afresh", "no", "none", "start afresh", "0"}:
                picked = AFRESH
            elif typed.isdigit() and 1 <= int(typed) <= len(offered):
                picked = offered[int(typed) - 1]["key"]
        if picked == AFRESH:
            data["source"] = ""
            data["drafts"] = {}
        else:
            chosen = next((s for s in offered if s["key"] == picked), None)
            if chosen is None:
                numbers = ", ".join(f"{n}. {s['label']}" for n, s in enumerate(offered, start=1))
                return self._ask(
                    Step.SOURCE, data, f"Please choose one: {numbers}; or type afresh."
                )
            data["source"] = chosen["key"]
            data["drafts"] = dict(chosen["drafts"])
        data["sources"] = []
        return self._ask(Step.STATEMENT, data)

    def _statement(self, ctx: StepContext) -> StepResult:
        data = ctx.data
        index = int(data["index"])
        behaviour = self.content.behaviours[index]
        drafts: Mapping[str, str] = data.get("drafts", {})
        choice = ctx.choice()
        typed = ctx.text("statement")
        given = " ".join(typed.split())
        if choice == NOT_RELEVANT or (not choice and given.lower() in NOT_RELEVANT_WORDS):
            data["statements"][behaviour.id] = ""
        elif choice == USE_DRAFT and drafts.get(behaviour.id):
            data["statements"][behaviour.id] = drafts[behaviour.id]
        elif not given:
            return self._ask(
                Step.STATEMENT,
                data,
                "Please write one or two sentences, or choose Not relevant.",
            )
        elif len(given) > STATEMENT_LIMIT:
            return self._ask(
                Step.STATEMENT,
                data,
                f"Please keep it to {STATEMENT_LIMIT} characters or fewer (that was "
                f"{len(given):,}).",
            )
        else:
            data["statements"][behaviour.id] = given
        if index + 1 < len(self.content.behaviours):
            data["index"] = index + 1
            return self._ask(Step.STATEMENT, data)
        if not any(data["statements"].values()):
            data["index"] = 0
            data["statements"] = {}
            return self._ask(
                Step.STATEMENT,
                data,
                "An identifier needs at least one behaviour the publication shows: you said "
                "none is relevant. Let's go through them again.",
            )
        return self._ask(Step.VISION, data)
