"""Case studies of "what good looks like": submitted by anyone, moderated by comms, published
only when approved (in the weekly digest, ``dialogs/digest.py``).

A submission is a title, what happened, the behaviours it shows, the difference it made, and
the author's consent to be named. On Slack and Teams it is one card with inputs (``form_card``:
Slack shows it as a modal, Teams as a card form) answered by the ``casestudy.submit`` click. In
the terminal, where a form is awkward, the ``CaseStudyDialog`` asks the same questions one at a
time (``case_studies.mmd``). Both end in ``CaseStudies.submit``.

Each submission is reviewed by comms (``dialogs/review.py``, shared with values identifiers):
every comms member gets a card in their direct chat with Approve, Ask for changes and Reject;
``/casestudy queue`` shows the same cards on demand; the first decision wins and the author is
told. Asked for changes, the author edits and resubmits, which makes a new revision and a new
review; cards of an older revision decide nothing.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.content import Content
from bot.dialogs import END, Dialog, DialogRunner, StepContext, StepResult, cancel_choice
from bot.events import ActionSubmitted, CommandReceived, MessageReceived, Platform
from bot.router import Router
from bot.settings import Settings
from bot.text import local_date, plural, shorten
from bot.turn import Turn
from bot.ui import (
    Card,
    Choice,
    ChoiceInput,
    ChoiceStyle,
    Field,
    Option,
    TextInput,
    commands_typed_with,
)
from dialogs import review
from dialogs.behaviours import (
    BEHAVIOURS,
    behaviour_input,
    behaviour_names,
    parse_behaviours,
    submitted_behaviours,
)
from dialogs.review import Review
from storage.case_studies import CaseStudy, CaseStudyStatus, CaseStudyStore
from storage.people import PersonKey
from storage.stores import Stores

NAME = "case_study"

TITLE_LIMIT = 120
STORY_LIMIT = 2000
DIFFERENCE_LIMIT = 1000
MINE_SIZE = 10

# Platforms that show the submission as one form; the others get the conversation.
FORM_PLATFORMS = frozenset({Platform.SLACK, Platform.TEAMS})

SUBMIT = "casestudy.submit"
CLOSE = "casestudy.close"
EDIT = "casestudy.edit"
KIND = "casestudy"

CASE_STUDY = "case_study"
DRAFT = "draft"
NAMED = "named"
YES, NO = "yes", "no"

_STATUS_WORDS: dict[str, str] = {
    CaseStudyStatus.PENDING: "waiting for comms",
    CaseStudyStatus.CHANGES_REQUESTED: "comms asked for changes",
    CaseStudyStatus.APPROVED: "approved",
    CaseStudyStatus.REJECTED: "not accepted",
    CaseStudyStatus.WITHDRAWN: "unpublished by you",
}


def new_id() -> str:
    """A random id for a case study (made when its form is shown, so a second click on the same
    form files nothing new)."""
    return secrets.token_hex(8)


HINT = "To share a story of what good looks like, use /casestudy: comms will review it."


def only_comms(what: str) -> Card:
    """The answer to someone who is not in the comms team."""
    return review.only_comms(what, HINT)


@dataclass(frozen=True, slots=True, kw_only=True)
class Draft:
    """A checked submission."""

    title: str
    story: str
    behaviours: tuple[str, ...]
    difference: str
    named: bool


def _line(text: str) -> str:
    return " ".join(text.split())


def _paragraphs(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


def check(content: Content, values: Mapping[str, str]) -> tuple[Draft | None, list[str]]:
    """A submission's values checked: the draft, or what to fix (in the form's order)."""
    title = _line(values.get("title", ""))
    story = _paragraphs(values.get("story", ""))
    difference = _paragraphs(values.get("difference", ""))
    behaviours = submitted_behaviours(content, values.get(BEHAVIOURS, ""))
    named = values.get(NAMED, "")
    problems = []
    for label, value, limit in (
        ("a title", title, TITLE_LIMIT),
        ("what happened", story, STORY_LIMIT),
    ):
        if not value:
            problems.append(f"Please write {label}.")
        elif len(value) > limit:
            problems.append(f"Please keep {label} under {limit} characters.")
    if not behaviours:
        problems.append("Please choose at least one behaviour.")
    if not difference:
        problems.append("Please say what difference it made.")
    elif len(difference) > DIFFERENCE_LIMIT:
        problems.append(f"Please keep the difference under {DIFFERENCE_LIMIT} characters.")
    if named not in {YES, NO}:
        problems.append("Please say whether we may use your name.")
    if problems:
        return None, problems
    return Draft(
        title=title,
        story=story,
        behaviours=behaviours,
        difference=difference,
        named=named == YES,
    ), []


def consent_input(initial: str | None = None) -> ChoiceInput:
    """May we name the author when it is published?"""
    return ChoiceInput(
        name=NAMED,
        label="May we use your name when it is published?",
        options=(
            Option(label="Yes, name me", value=YES),
            Option(label="No, keep me anonymous", value=NO),
        ),
        initial=initial,
    )


def _text_inputs(values: Mapping[str, str]) -> dict[str, TextInput]:
    return {
        "title": TextInput(
            name="title",
            label="Title",
            placeholder="e.g. Patients shaped the new discharge letter",
            optional=False,
            max_length=TITLE_LIMIT,
            initial=values.get("title", ""),
        ),
        "story": TextInput(
            name="story",
            label="What happened?",
            placeholder="Who did what, and how it shows our behaviours.",
            multiline=True,
            optional=False,
            max_length=STORY_LIMIT,
            initial=values.get("story", ""),
        ),
        "difference": TextInput(
            name="difference",
            label="What difference did it make?",
            placeholder="For patients, colleagues or partners.",
            multiline=True,
            optional=False,
            max_length=DIFFERENCE_LIMIT,
            initial=values.get("difference", ""),
        ),
    }


def form_card(
    content: Content,
    *,
    draft: str,
    values: Mapping[str, str] | None = None,
    case_study: str = "",
    problems: tuple[str, ...] = (),
) -> Card:
    """The whole submission as one form (Slack: a modal; Teams: a card form). ``values`` fill
    it in again (after a problem, or to edit after comms asked for changes)."""
    values = values or {}
    texts = _text_inputs(values)
    text = (
        "A story of what good looks like: what happened, the behaviours it shows and the "
        "difference it made. Comms review every story; only approved ones are published, in "
        "the weekly values digest."
    )
    if problems:
        text = "\n".join(problems) + "\n\n" + text
    chosen = submitted_behaviours(content, values.get(BEHAVIOURS, ""))
    return Card(
        title="Edit your case study" if case_study else "Share a case study",
        text=text,
        inputs=(
            texts["title"],
            texts["story"],
            behaviour_input(content, label="Which of our behaviours does it show?", initial=chosen),
            texts["difference"],
            consent_input(values.get(NAMED) or None),
        ),
        choices=(
            Choice(label="Send to comms", action=SUBMIT, style=ChoiceStyle.PRIMARY),
            Choice(label="Cancel", action=CLOSE, collects_inputs=False),
        ),
        hidden={DRAFT: draft, CASE_STUDY: case_study},
    )


def _values(case_study: CaseStudy) -> dict[str, str]:
    return {
        "title": case_study.title,
        "story": case_study.story,
        BEHAVIOURS: ",".join(case_study.behaviours),
        "difference": case_study.difference,
        NAMED: YES if case_study.named else NO,
    }


class Step(StrEnum):
    """The questions of the conversational submission."""

    TITLE = "title"
    STORY = "story"
    BEHAVIOURS = "behaviours"
    DIFFERENCE = "difference"
    CONSENT = "consent"
    CONFIRM = "confirm"


_ORDER = (Step.TITLE, Step.STORY, Step.BEHAVIOURS, Step.DIFFERENCE, Step.CONSENT, Step.CONFIRM)
_TEXT_STEPS = {Step.TITLE: "title", Step.STORY: "story", Step.DIFFERENCE: "difference"}
_QUESTIONS = {
    "title": "Give it a short title, like a headline.",
    "story": "What happened? Who did what, and how does it show our behaviours?",
    "difference": "What difference did it make, for patients, colleagues or partners?",
}


class CaseStudyDialog(Dialog):
    """The submission one question at a time (for platforms without forms: the terminal)."""

    name = NAME
    command = "casestudy"

    def __init__(self, content: Content, submissions: Submissions) -> None:
        self.content = content
        self.submissions = submissions

    async def begin(self, ctx: StepContext, start: Mapping[str, str]) -> StepResult:
        ctx.data.update(draft=new_id(), edit="", values={})
        editing = start.get(CASE_STUDY, "")
        if editing:
            found = await ctx.stores.case_studies.get(editing)
            if found is None or found.author != ctx.person:
                return StepResult(next=END, cards=(_not_yours(),))
            ctx.data.update(edit=found.id, values=_values(found))
        elif start.get("title"):
            ctx.data["values"]["title"] = _line(start["title"])[:TITLE_LIMIT]
            return self._ask(Step.STORY, ctx.data)
        return self._ask(Step.TITLE, ctx.data)

    def _ask(self, step: Step, data: Mapping[str, Any], problem: str = "") -> StepResult:
        card = self.prompt(step, data)
        if problem:
            card = replace(card, text=f"{problem}\n\n{card.text}")
        return StepResult(next=step, cards=(card,))

    def describe(self, data: Mapping[str, Any]) -> str:
        title = data.get("values", {}).get("title")
        return f'a case study ("{shorten(title, 50)}")' if title else "a case study"

    def prompt(self, step: str, data: Mapping[str, Any]) -> Card:
        values: Mapping[str, str] = data.get("values", {})
        editing = bool(data.get("edit"))
        number = _ORDER.index(Step(step)) + 1
        title = "Edit your case study" if editing else "Share a case study"
        footer = f"Question {number} of {len(_ORDER) - 1}" if step != Step.CONFIRM else ""
        keep = Choice(label="Keep it", action="casestudy.step", value="keep")
        if step in _TEXT_STEPS:
            field = _TEXT_STEPS[Step(step)]
            box = replace(_text_inputs({})[field], optional=editing)
            text = _QUESTIONS[field]
            if step == Step.TITLE and not editing:
                text = (
                    "A story of what good looks like, in five short questions. Comms review "
                    f"every story before it is published.\n\n{text}"
                )
            if editing and values.get(field):
                text += f"\n\nNow: {values[field]}"
            choices = [Choice(label="Next", action="casestudy.step", style=ChoiceStyle.PRIMARY)]
            if editing:
                choices.append(keep)
            return Card(
                title=title,
                text=text,
                inputs=(box,),
                choices=(*choices, cancel_choice()),
                footer=footer,
            )
        if step == Step.BEHAVIOURS:
            chosen = submitted_behaviours(self.content, values.get(BEHAVIOURS, ""))
            return Card(
                title=title,
                text="Which of our behaviours does it show? Choose one or more."
                + (f"\n\nNow: {behaviour_names(self.content, chosen)}." if chosen else ""),
                inputs=(behaviour_input(self.content, initial=chosen, optional=editing),),
                choices=(
                    Choice(label="Next", action="casestudy.step", style=ChoiceStyle.PRIMARY),
                    cancel_choice(),
                ),
                footer=f"{footer}. Or type their names, e.g. listen, open.",
            )
        if step == Step.CONSENT:
            return Card(
                title=title,
                text="May we use your name when it is published?",
                choices=(
                    Choice(label="Yes, name me", action="casestudy.step", value=YES),
                    Choice(label="No, keep me anonymous", action="casestudy.step", value=NO),
                    cancel_choice(),
                ),
                footer=footer,
            )
        if step == Step.CONFIRM:
            return replace(
                self.submissions.preview_card(values),
                choices=(
                    Choice(
                        label="Send to comms",
                        action="casestudy.step",
                        value="send",
                        style=ChoiceStyle.PRIMARY,
                    ),
                    cancel_choice(),
                ),
            )
        raise ValueError(f"case study has no step {step!r}")

    async def step(self, ctx: StepContext) -> StepResult:
        step = Step(ctx.step)
        values: dict[str, str] = ctx.data["values"]
        editing = bool(ctx.data.get("edit"))
        position = _ORDER.index(step)
        if step in _TEXT_STEPS:
            field = _TEXT_STEPS[step]
            given = ctx.text(field)
            given = _line(given) if field == "title" else _paragraphs(given)
            if editing and (ctx.choice() == "keep" or not given) and values.get(field):
                given = values[field]
            limit = {"title": TITLE_LIMIT, "story": STORY_LIMIT}.get(field, DIFFERENCE_LIMIT)
            if not given:
                return self._ask(step, ctx.data, "Please write a few words.")
            if len(given) > limit:
                return self._ask(step, ctx.data, f"Please keep it under {limit} characters.")
            values[field] = given
        elif step == Step.BEHAVIOURS:
            picked: tuple[str, ...] | None
            if isinstance(ctx.event, MessageReceived):
                picked = parse_behaviours(self.content, ctx.event.text)
            else:
                picked = submitted_behaviours(self.content, ctx.value(BEHAVIOURS))
            if not picked and editing and values.get(BEHAVIOURS):
                picked = submitted_behaviours(self.content, values[BEHAVIOURS])
            if not picked:
                names = ", ".join(
                    f"{n}. {b.short}" for n, b in enumerate(self.content.behaviours, 1)
                )
                return self._ask(step, ctx.data, f"Please choose one or more of: {names}.")
            values[BEHAVIOURS] = ",".join(picked)
        elif step == Step.CONSENT:
            answer = ctx.choice() or ctx.text(NAMED).lower()
            if answer in {"y", "yes", "yes, name me", "name me"}:
                values[NAMED] = YES
            elif answer in {"n", "no", "anonymous", "no, keep me anonymous"}:
                values[NAMED] = NO
            else:
                return self._ask(step, ctx.data, "Please answer yes or no.")
        elif step == Step.CONFIRM:
            if ctx.choice() != "send" and ctx.text("confirm").lower() not in {
                "send",
                "yes",
                "submit",
            }:
                return self._ask(step, ctx.data, 'Choose "Send to comms", or type cancel.')
            draft, problems = check(self.content, values)
            if draft is None:  # pragma: no cover - every step checked its answer
                return self._ask(Step.TITLE, ctx.data, " ".join(problems))
            card = await self.submissions.submit(
                ctx.stores,
                author=ctx.person,
                author_name=ctx.event.actor.display,
                draft=draft,
                draft_id=str(ctx.data["draft"]),
                case_study_id=str(ctx.data.get("edit") or ""),
                now=ctx.now,
            )
            return StepResult(next=END, cards=(card,))
        return self._ask(_ORDER[position + 1], ctx.data)


def _not_yours() -> Card:
    return Card(title="Not found", text="That case study is not one of yours.")


class Submissions:
    """Filing a checked submission and asking comms to review it; the cards involved. Used by
    the form (``CaseStudies``) and the conversation (``CaseStudyDialog``) alike. It is also what
    review by comms (``review``) knows of case studies."""

    kind = KIND
    noun = "case study"
    nouns = "case studies"
    key = CASE_STUDY
    short = "case study"
    command = "casestudy"
    hint = HINT

    def __init__(self, *, content: Content, settings: Settings) -> None:
        self.content = content
        self.settings = settings
        self.review: Review[CaseStudy] = Review(self, settings)

    async def submit(
        self,
        stores: Stores,
        *,
        author: PersonKey,
        author_name: str,
        draft: Draft,
        draft_id: str,
        case_study_id: str,
        now: datetime,
    ) -> Card:
        """File a checked submission (new, or the next revision of ``case_study_id``) and queue
        its review by comms; the card to show its author."""
        if case_study_id:
            stored = await stores.case_studies.resubmit(
                case_study_id,
                author,
                title=draft.title,
                story=draft.story,
                behaviours=draft.behaviours,
                difference=draft.difference,
                named=draft.named,
                now=now,
            )
        else:
            stored = await self.review.add(
                stores,
                CaseStudy(
                    id=draft_id,
                    author=author,
                    title=draft.title,
                    story=draft.story,
                    behaviours=draft.behaviours,
                    difference=draft.difference,
                    named=draft.named,
                    submitted_at=now,
                ),
            )
        if stored is None:
            return self.review.not_filed(edited=bool(case_study_id))
        await self.review.ask_comms(stores, stored, author_name, now)
        return Card(
            title="Thank you: it is with comms",
            text=f'"{stored.title}" is waiting for review. I will tell you here when comms have '
            "looked at it. Nothing is published unless they approve it.",
            footer="See your case studies with /casestudy mine.",
        )

    def preview_card(self, values: Mapping[str, str]) -> Card:
        """A submission as its author checks it before sending."""
        chosen = submitted_behaviours(self.content, values.get(BEHAVIOURS, ""))
        named = values.get(NAMED) == YES
        return Card(
            title=values.get("title", "") or "Your case study",
            text=values.get("story", ""),
            fields=(
                Field(label="The difference it made", value=values.get("difference", "")),
                Field(label="Behaviours", value=behaviour_names(self.content, chosen)),
                Field(label="Your name", value="shown" if named else "not shown"),
            ),
            footer="Comms review it before anything is published.",
        )

    def review_card(self, case_study: CaseStudy, author_name: str, note: str = "") -> Card:
        """What a comms member moderates: the story and Approve / Ask for changes / Reject."""
        return self.review.card(case_study, author_name, note)

    # What review by comms knows of case studies (``dialogs.review.Reviewed``)

    def store(self, stores: Stores) -> CaseStudyStore:
        """Where case studies are."""
        return stores.case_studies

    def review_face(self, case_study: CaseStudy, author_name: str) -> Card:
        """The story as a moderator reads it."""
        consent = "happy to be named" if case_study.named else "wants to stay anonymous"
        return Card(
            title=f"Case study to review: {case_study.title}",
            text=case_study.story,
            fields=(
                Field(label="The difference it made", value=case_study.difference),
                Field(
                    label="Behaviours", value=behaviour_names(self.content, case_study.behaviours)
                ),
                Field(label="From", value=f"{author_name} ({consent})"),
                Field(
                    label="Sent",
                    value=local_date(case_study.submitted_at, self.settings.zone)
                    + (f", version {case_study.revision}" if case_study.revision > 1 else ""),
                ),
            ),
            footer="Only approved case studies are published, in the weekly values digest.",
        )

    def outcome_card(self, case_study: CaseStudy, now: datetime) -> Card:
        """What the author is told."""
        return outcome_card(case_study)

    def decided_text(self, status: str) -> str:
        """The review card once decided."""
        return {
            CaseStudyStatus.APPROVED: "Approved: it will be in the next values digest.",
            CaseStudyStatus.CHANGES_REQUESTED: "Sent back to the author with your note.",
            CaseStudyStatus.REJECTED: "Rejected: it will not be published.",
        }[CaseStudyStatus(status)]

    async def name(self, stores: Stores, person: PersonKey) -> str:
        """A person's display name."""
        return await Review.name(stores, person)


class CaseStudies:
    """``/casestudy``, the submission form, moderation and the author's outcome."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        runner: DialogRunner,
        submissions: Submissions,
    ) -> None:
        self.content = content
        self.settings = settings
        self.runner = runner
        self.submissions = submissions

    def router(self) -> Router:
        """The routes of case studies."""
        router = Router()
        router.command("casestudy", self.command)
        router.action(SUBMIT, self.submitted)
        router.action(CLOSE, self.closed)
        router.action(EDIT, self.edit)
        self.submissions.review.route(router)
        return router

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/casestudy [title | mine | queue | cancel | help]``."""
        text = " ".join(turn.event.text.split())
        word = text.lower()
        if word in {"help", "?"}:
            turn.reply(commands_typed_with(self.help_card(), turn.command_prefix), private=True)
        elif word in {"mine", "list", "my"}:
            turn.reply(await self.mine_card(turn.stores, turn.person), private=True)
        elif consent := re.fullmatch(
            r"(unpublish|withdraw|anonymous|anonymise|named)\s+#?(\d+)", word
        ):
            await self.consent(turn, consent.group(1), int(consent.group(2)))
        elif word in {"unpublish", "withdraw", "anonymous", "anonymise", "named"}:
            listed = await self.mine_card(turn.stores, turn.person)
            note = f"Which one? Type /casestudy {word} 2 (its number in this list)."
            turn.reply(replace(listed, text=f"{note}\n\n{listed.text}"), private=True)
        elif word == "queue":
            await self.queue(turn)
        elif word == "cancel":
            state = await self.runner.active(turn)
            if state is None or state.dialog != NAME:
                turn.reply(
                    Card(title="Nothing to cancel", text="You are not writing a case study."),
                    private=True,
                )
            else:
                await self.runner.cancel(turn, state)
        else:
            start = {} if word in {"", "new", "submit"} else {"title": text}
            await self._start(turn, start)

    def help_card(self) -> Card:
        """How case studies work."""
        return Card(
            title="Case studies",
            text="Share a story of what good looks like: what happened, the behaviours it "
            "shows and the difference it made. Comms review every story; approved ones are "
            "published in the weekly values digest, with your name only if you agree.",
            fields=(
                Field(label="/casestudy", value="Share a story."),
                Field(label="/casestudy <title>", value="Share a story, starting with its title."),
                Field(label="/casestudy mine", value="Your stories and where they are."),
                Field(
                    label="/casestudy unpublish N",
                    value="Take story N of your list off the hub, its feed and every digest "
                    "page, at once and for good.",
                ),
                Field(
                    label="/casestudy anonymous N",
                    value="Keep your name off story N from now on (named N gives it back).",
                ),
                Field(label="/casestudy queue", value="(Comms) Stories waiting for review."),
                Field(label="/casestudy cancel", value="Stop writing one."),
            ),
        )

    async def _start(self, turn: Turn[Any], start: Mapping[str, str]) -> None:
        platform = turn.event.conversation.platform
        if platform in FORM_PLATFORMS:
            values: dict[str, str] = {}
            if start.get("title"):
                values["title"] = _line(start["title"])[:TITLE_LIMIT]
            case_study = start.get(CASE_STUDY, "")
            if case_study:
                found = await turn.stores.case_studies.get(case_study)
                if found is None or found.author != turn.person:
                    turn.reply(_not_yours(), private=True)
                    return
                values = _values(found)
            card = form_card(self.content, draft=new_id(), values=values, case_study=case_study)
            turn.reply(card, private=True)
            return
        if not turn.event.conversation.is_direct:
            turn.reply(
                Card(
                    title="Let's do this in a direct chat",
                    text="Open a direct chat with me and type /casestudy: I will ask a few "
                    "questions, and nothing is shared until comms approve it.",
                ),
                private=True,
            )
            return
        await self.runner.start(turn, NAME, start)

    async def submitted(self, turn: Turn[ActionSubmitted]) -> None:
        """The form's "Send to comms". The form is replaced by the answer (the form again,
        with what to fix, or the thanks), so it cannot be sent twice; where it cannot be
        replaced (a form in a pop-up), the answer comes privately."""
        values = turn.event.values
        draft, problems = check(self.content, values)
        draft_id = values.get(DRAFT, "") or new_id()
        case_study = values.get(CASE_STUDY, "")
        if draft is None:
            card = form_card(
                self.content,
                draft=draft_id,
                values=values,
                case_study=case_study,
                problems=tuple(problems),
            )
            turn.update(card)
            return
        turn.update(
            await self.submissions.submit(
                turn.stores,
                author=turn.person,
                author_name=turn.event.actor.display,
                draft=draft,
                draft_id=draft_id,
                case_study_id=case_study,
                now=turn.now,
            )
        )

    async def closed(self, turn: Turn[ActionSubmitted]) -> None:
        """The form's "Cancel": the form gives way to the answer."""
        turn.update(Card(title="Cancelled", text="Nothing was sent."))

    async def queue(self, turn: Turn[CommandReceived]) -> None:
        """``/casestudy queue``: the review cards of what is waiting (comms only)."""
        await self.submissions.review.queue(turn)

    async def edit(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Edit and resubmit", after comms asked for changes."""
        case_study = await turn.stores.case_studies.get(turn.event.values.get(CASE_STUDY, ""))
        if case_study is None or case_study.author != turn.person:
            turn.reply(_not_yours(), private=True)
            return
        if case_study.status not in {CaseStudyStatus.CHANGES_REQUESTED, CaseStudyStatus.PENDING}:
            turn.reply(
                Card(
                    title="It cannot be changed now",
                    text=f'Comms have already decided on "{case_study.title}".',
                ),
                private=True,
            )
            return
        await self._start(turn, {CASE_STUDY: case_study.id})

    async def mine_card(self, stores: Stores, author: PersonKey) -> Card:
        """The person's case studies and where each one is."""
        found = await stores.case_studies.for_author(author, MINE_SIZE)
        if not found:
            return Card(
                title="Your case studies",
                text="You have not shared a case study yet. Share one with /casestudy.",
            )
        zone = self.settings.zone
        return Card(
            title="Your case studies",
            text="Newest first. Only approved ones are published.",
            fields=tuple(
                Field(
                    label=f"{n}. {shorten(c.title, 90)}",
                    value=f"{_STATUS_WORDS[c.status]} · sent {local_date(c.submitted_at, zone)}"
                    + (" · published without your name" if not c.named else "")
                    + (f" · note from comms: {c.moderator_note}" if c.moderator_note else ""),
                )
                for n, c in enumerate(found, start=1)
            ),
            footer="/casestudy unpublish N takes story N off the hub; /casestudy anonymous N "
            "keeps your name off it.",
        )

    async def consent(self, turn: Turn[CommandReceived], verb: str, number: int) -> None:
        """``/casestudy unpublish|anonymous|named N``: the author changes what is published of
        their story N (numbered as in ``/casestudy mine``). Pages and feeds read the stored
        state on every request, so the change shows everywhere at once."""
        found = await turn.stores.case_studies.for_author(turn.person, MINE_SIZE)
        if not 1 <= number <= len(found):
            turn.reply(
                Card(
                    title="No such case study",
                    text=f"Your list has {plural(len(found), 'case study', 'case studies')}; "
                    "see them with /casestudy mine.",
                ),
                private=True,
            )
            return
        case_study = found[number - 1]
        title = f'"{shorten(case_study.title, 90)}"'
        if verb in {"unpublish", "withdraw"}:
            if await turn.stores.case_studies.withdraw(case_study.id, turn.person, turn.now):
                text = (
                    f"{title} is unpublished: it is off the hub, its feed and every digest page "
                    "now, and will not be in any digest again."
                )
            else:
                text = f"{title} is not published, so there is nothing to take back."
        else:
            named = verb == "named"
            await turn.stores.case_studies.set_named(case_study.id, turn.person, named, turn.now)
            text = (
                f"{title} now shows your name wherever it is published."
                if named
                else f"{title} no longer shows your name anywhere it is published: it says "
                "a colleague."
            )
        turn.reply(Card(title="Your case study", text=text), private=True)


def outcome_card(case_study: CaseStudy) -> Card:
    """What the author is told after comms decide."""
    note = case_study.moderator_note or ""
    match case_study.status:
        case CaseStudyStatus.APPROVED:
            name = "with your name" if case_study.named else "without your name"
            return Card(
                title="Your case study is approved",
                text=f'"{case_study.title}" will be in the next values digest, {name}. Thank you '
                "for sharing what good looks like." + (f"\n\nFrom comms: {note}" if note else ""),
            )
        case CaseStudyStatus.CHANGES_REQUESTED:
            return Card(
                title="Comms asked for a change",
                text=f'About "{case_study.title}":\n\n{note}',
                choices=(
                    Choice(label="Edit and send again", action=EDIT, style=ChoiceStyle.PRIMARY),
                ),
                hidden={CASE_STUDY: case_study.id},
            )
        case _:
            return Card(
                title="Your case study was not accepted",
                text=f'"{case_study.title}" will not be published this time.'
                + (f"\n\nFrom comms: {note}" if note else "")
                + "\n\nThank you for sharing it. You can send another with /casestudy.",
            )
