"""Personal commitments: "We create the culture and conditions... My contribution is to...".

A commitment is made in a short conversation (the ``CommitmentDialog``, drawn in
``commitments.mmd``): the organisation's call to action and the person's own words, the
behaviours it shows, and an optional day to look back at it. It can also be written in one line
(``/commitment My contribution is to ... #open``) or saved from a values lens summary.

Commitments are private: only their owner sees them (``/commitment list``), edits them, marks
them done or deletes them. "Share" posts one to the values channel of the platform
(``VALUESBOT_VALUES_CHANNEL``) with the owner's name and its behaviours. The post goes through
the outbox, queued in the same transaction that records the share: a crash or a platform error
after the click cannot lose it or send it twice (its key is the commitment), the delivery
machinery's rate limits and retries apply, and the person's click is answered at once. Posting
straight from the turn would send after the commit with no retry, so a failed send would leave
a commitment marked shared that nobody saw. When the platform refuses the post for good (the
bot is not in the values channel), the share is undone and the person is told, in their direct
chat, with the button to share it again; each share has a key of its own, so sharing again
sends again.

On the review day the owner gets a gentle nudge in their direct chat, through the outbox too
(within their working hours and the weekly cap, which the delivery machinery applies):
``Commitments.queue_review_nudges(stores, now)`` queues the nudges that are due; the scheduler
calls it at least daily (more often is harmless).
"""

from __future__ import annotations

import calendar
import re
import secrets
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.content import Content
from bot.delivery import notice, place_label, why
from bot.dialogs import END, Dialog, DialogRunner, StepContext, StepResult, cancel_choice
from bot.events import (
    ActionSubmitted,
    CommandReceived,
    DeliveryFailed,
    MessageReceived,
    ScheduleFired,
)
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
    card_to_json,
    commands_typed_with,
)
from dialogs.behaviours import (
    BEHAVIOURS,
    behaviour_input,
    behaviour_names,
    parse_behaviours,
    submitted_behaviours,
    tags,
)
from storage.commitments import Commitment, CommitmentStatus
from storage.delivery import OutboxMessage
from storage.people import PersonKey
from storage.stores import Stores

NAME = "commitment"
TEXT_LIMIT = 500
LIST_SIZE = 20
NUDGE_BATCH = 500
# The schedule job that queues review nudges; the default schedule runs it every hour.
REVIEW_JOB = "commitment.review"
# The outbox job of shares posted to the values channel.
SHARE_JOB = "commitment-share"
REVIEW_HORIZON_DAYS = 2 * 366

# Hidden value / input naming the commitment an action is about.
COMMITMENT = "commitment"
CONFIRM = "confirm"

SHARE = "commitment.share"
EDIT = "commitment.edit"
DONE = "commitment.done"
DELETE = "commitment.delete"
SHOW = "commitment.show"
SNOOZE = "commitment.snooze"
NEW = "commitment.new"
UNSHARE = "commitment.unshare"

_PREFIX = re.compile(r"^\s*(?:my\s+contribution\s+is\s+to)\s*(?:\.\.\.|…|:|-|–)?\s*", re.I)


class Step(StrEnum):
    """The steps of making (or editing) a commitment."""

    TEXT = "text"
    BEHAVIOURS = "behaviours"
    REVIEW = "review"


def new_id() -> str:
    """A random id for a commitment."""
    return secrets.token_hex(8)


def clean_text(text: str) -> str:
    """What someone wrote after "My contribution is to", without the words themselves."""
    return " ".join(_PREFIX.sub("", text, count=1).split())


def sentence(content: Content, text: str, *, whole: bool = True) -> str:
    """The call to action completed with the commitment: "We create ... My contribution is to
    test the draft with patients"; only its last sentence ("My contribution is to test...")
    unless ``whole``."""
    lead = content.call_to_action.strip()
    if lead.endswith(("...", "…")):
        lead = lead.rstrip(".…").rstrip()
    if not whole:
        lead = re.split(r"(?<=[.!?])\s+", lead)[-1]
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        text = text[0].lower() + text[1:]
    return f"{lead} {text}"


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class ReviewDateError(ValueError):
    """A review date that cannot be used; the message says why, for the person."""


_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name} | {
    name.lower(): n for n, name in enumerate(calendar.month_abbr) if name
}
_IN = re.compile(r"^(?:in\s+)?(\d+|a|an|one|two|three|six)\s+(day|week|month)s?$")
_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "six": 6}


def parse_review(text: str, today: date) -> date:
    """A review day typed by a person: "31/03/2027", "2027-03-31", "31 March 2027", "31 March",
    "in 2 weeks", "in a month". It must be after ``today`` and within two years."""
    typed = " ".join(text.lower().replace(",", " ").split())
    found: date | None = None
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", typed):
            found = date(int(m[1]), int(m[2]), int(m[3]))
        elif m := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})", typed):
            year = int(m[3]) + (2000 if len(m[3]) == 2 else 0)
            found = date(year, int(m[2]), int(m[1]))
        elif m := re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)?\s+([a-z]+)(?:\s+(\d{4}))?", typed):
            month = _MONTHS.get(m[2])
            if month is not None:
                found = date(int(m[3]) if m[3] else today.year, month, int(m[1]))
                if not m[3] and found <= today:
                    found = date(today.year + 1, month, int(m[1]))
        elif m := _IN.fullmatch(typed):
            count = int(m[1]) if m[1].isdigit() else _WORDS[m[1]]
            unit = m[2]
            if unit == "month":
                found = add_months(today, count)
            else:
                found = today + timedelta(days=count * (7 if unit == "week" else 1))
    except (ValueError, OverflowError):
        raise ReviewDateError(f'"{shorten(text, 30)}" is not a date in the calendar.') from None
    if found is None:
        raise ReviewDateError(
            "I could not read that date. Try 31/03/2027, 31 March 2027 or in 6 weeks."
        )
    if found <= today:
        raise ReviewDateError("Please pick a day after today.")
    if (found - today).days > REVIEW_HORIZON_DAYS:
        raise ReviewDateError("Please pick a day within the next two years.")
    return found


class CommitmentDialog(Dialog):
    """Make a commitment (or change one) in three questions."""

    name = NAME
    command = "commitment"

    def __init__(self, content: Content, settings: Settings) -> None:
        self.content = content
        self.settings = settings

    def today(self, now: datetime) -> date:
        """The organisation's date at ``now``."""
        return now.astimezone(self.settings.zone).date()

    async def begin(self, ctx: StepContext, start: Mapping[str, str]) -> StepResult:
        ctx.data.update(edit=None, text="", behaviours=[], review_on=None)
        editing = start.get("edit")
        if editing:
            existing = await ctx.stores.commitments.get(editing)
            if existing is None or existing.owner != ctx.person:
                return StepResult(next=END, cards=(_not_found(),))
            ctx.data.update(
                edit=existing.id,
                text=existing.text,
                behaviours=list(existing.behaviours),
                review_on=existing.review_on.isoformat() if existing.review_on else None,
            )
            return StepResult(next=Step.TEXT, cards=(self.prompt(Step.TEXT, ctx.data),))
        return StepResult(next=Step.TEXT, cards=(self.prompt(Step.TEXT, ctx.data),))

    async def step(self, ctx: StepContext) -> StepResult:
        match ctx.step:
            case Step.TEXT:
                return self._text(ctx)
            case Step.BEHAVIOURS:
                return self._behaviours(ctx)
            case Step.REVIEW:
                return await self._review(ctx)
        raise ValueError(f"commitment has no step {ctx.step!r}")

    def describe(self, data: Mapping[str, Any]) -> str:
        if data.get("edit"):
            return "changing a commitment"
        text = data.get("text")
        return f'a commitment ("{shorten(text, 50)}")' if text else "making a commitment"

    def prompt(self, step: str, data: Mapping[str, Any]) -> Card:
        editing = bool(data.get("edit"))
        title = "Change your commitment" if editing else "Your commitment"
        match step:
            case Step.TEXT:
                text = f"{self.content.call_to_action}\n\nFinish the sentence in your own words."
                choices = [
                    Choice(label="Next", action="commitment.text", style=ChoiceStyle.PRIMARY)
                ]
                if editing:
                    text += f"\n\nNow: {sentence(self.content, str(data['text']))}"
                    choices.append(
                        Choice(label="Keep the words", action="commitment.text", value="keep")
                    )
                return Card(
                    title=title,
                    text=text,
                    inputs=(
                        TextInput(
                            name="text",
                            label="My contribution is to...",
                            placeholder="e.g. test every draft with two patient representatives",
                            multiline=True,
                            optional=editing,
                            max_length=TEXT_LIMIT,
                        ),
                    ),
                    choices=(*choices, cancel_choice()),
                    footer="Question 1 of 3",
                )
            case Step.BEHAVIOURS:
                current = list(data.get("behaviours") or [])
                text = "Which of our behaviours does it show? Choose one or more."
                if current:
                    text += f"\n\nNow: {behaviour_names(self.content, current)}."
                return Card(
                    title=title,
                    text=text,
                    inputs=(behaviour_input(self.content, initial=current, optional=editing),),
                    choices=(
                        Choice(label="Next", action="commitment.tag", style=ChoiceStyle.PRIMARY),
                        cancel_choice(),
                    ),
                    footer="Question 2 of 3. Or type their names, e.g. listen, open.",
                )
            case Step.REVIEW:
                choices = [
                    Choice(label="In a month", action="commitment.review", value="1m"),
                    Choice(label="In three months", action="commitment.review", value="3m"),
                    Choice(
                        label="On this date",
                        action="commitment.review",
                        value="date",
                        style=ChoiceStyle.PRIMARY,
                    ),
                    Choice(label="No review date", action="commitment.review", value="none"),
                ]
                text = (
                    "When would you like to look back at it? I will send you a gentle reminder "
                    "that day. Pick one, or type a date such as 31/03/2027."
                )
                if editing and data.get("review_on"):
                    review = date.fromisoformat(str(data["review_on"]))
                    label = f"Keep {review.day} {review:%b %Y}"
                    choices.insert(0, Choice(label=label, action="commitment.review", value="keep"))
                return Card(
                    title=title,
                    text=text,
                    inputs=(
                        TextInput(
                            name="review_on",
                            label="A date",
                            placeholder="e.g. 31/03/2027 or in 6 weeks",
                            max_length=30,
                        ),
                    ),
                    choices=(*choices, cancel_choice()),
                    footer="Question 3 of 3",
                )
        raise ValueError(f"commitment has no step {step!r}")

    def _again(self, step: Step, data: Mapping[str, Any], problem: str) -> StepResult:
        card = self.prompt(step, data)
        return StepResult(next=step, cards=(replace(card, text=f"{problem}\n\n{card.text}"),))

    def _text(self, ctx: StepContext) -> StepResult:
        editing = bool(ctx.data.get("edit"))
        typed = clean_text(ctx.text("text"))
        if editing and (ctx.choice() == "keep" or not typed):
            typed = str(ctx.data["text"])
        if not typed:
            return self._again(
                Step.TEXT, ctx.data, "Finish the sentence: what will you do? A line is enough."
            )
        if len(typed) > TEXT_LIMIT:
            return self._again(
                Step.TEXT, ctx.data, f"Please keep it under {TEXT_LIMIT} characters."
            )
        ctx.data["text"] = typed
        return StepResult(
            next=Step.BEHAVIOURS,
            cards=(self.prompt(Step.BEHAVIOURS, ctx.data),),
            update=self._answered(ctx, sentence(self.content, typed, whole=False)),
        )

    def _behaviours(self, ctx: StepContext) -> StepResult:
        picked: tuple[str, ...] | None
        if isinstance(ctx.event, MessageReceived):
            picked = parse_behaviours(self.content, ctx.event.text)
            if picked is None:
                names = ", ".join(
                    f"{n}. {b.short}" for n, b in enumerate(self.content.behaviours, 1)
                )
                return self._again(
                    Step.BEHAVIOURS, ctx.data, f"Please name one or more of: {names}."
                )
        else:
            picked = submitted_behaviours(self.content, ctx.value(BEHAVIOURS))
        if not picked and ctx.data.get("edit"):
            picked = tuple(ctx.data["behaviours"])
        if not picked:
            return self._again(Step.BEHAVIOURS, ctx.data, "Please choose at least one behaviour.")
        ctx.data["behaviours"] = list(picked)
        return StepResult(
            next=Step.REVIEW,
            cards=(self.prompt(Step.REVIEW, ctx.data),),
            update=self._answered(ctx, behaviour_names(self.content, picked)),
        )

    def _answered(self, ctx: StepContext, answer: str) -> Card | None:
        """The face of the question card just answered by a click: the answer, no buttons
        (nothing when the answer was typed: there is no card to change)."""
        if not isinstance(ctx.event, ActionSubmitted):
            return None
        title = "Change your commitment" if ctx.data.get("edit") else "Your commitment"
        return Card(title=title, text=f"✓ {answer}")

    async def _review(self, ctx: StepContext) -> StepResult:
        today = self.today(ctx.now)
        choice = ctx.choice()
        typed = ctx.value("review_on") if choice else ctx.text("review_on")
        review: date | None
        if choice == "keep" and ctx.data.get("review_on"):
            review = date.fromisoformat(str(ctx.data["review_on"]))
        elif choice in {"1m", "3m"}:
            review = add_months(today, 1 if choice == "1m" else 3)
        elif choice == "none" or (not choice and typed.lower() in _NO_REVIEW):
            review = None
        else:
            if not typed:
                return self._again(
                    Step.REVIEW, ctx.data, "Type the date, e.g. 31/03/2027, or pick a choice."
                )
            try:
                review = parse_review(typed, today)
            except ReviewDateError as problem:
                return self._again(Step.REVIEW, ctx.data, str(problem))
        return await self._save(ctx, review)

    async def _save(self, ctx: StepContext, review: date | None) -> StepResult:
        text, behaviours = str(ctx.data["text"]), tuple(ctx.data["behaviours"])
        if ctx.data.get("edit"):
            saved = await ctx.stores.commitments.edit(
                str(ctx.data["edit"]),
                ctx.person,
                text=text,
                behaviours=behaviours,
                review_on=review,
                now=ctx.now,
            )
            if saved is None:
                return StepResult(next=END, cards=(_not_found(),))
            note = "Changed."
            if saved.shared_at:
                note += " The post in the values channel keeps the words you shared."
        else:
            saved = await ctx.stores.commitments.add(
                Commitment(
                    id=new_id(),
                    owner=ctx.person,
                    text=text,
                    behaviours=behaviours,
                    review_on=review,
                    created_at=ctx.now,
                )
            )
            note = "Saved. Only you can see it unless you share it."
        card = commitment_card(self.content, self.settings, saved, note=note)
        when = f"Review on {review.day} {review:%b %Y}" if review else "No review date"
        return StepResult(next=END, cards=(card,), update=self._answered(ctx, when))


_NO_REVIEW = {"none", "no", "no review", "no review date", "skip", "never", "-"}


def _not_found() -> Card:
    return Card(title="Not found", text="That commitment is not one of yours, or it was deleted.")


def commitment_card(
    content: Content, settings: Settings, commitment: Commitment, *, note: str = ""
) -> Card:
    """One commitment as its owner sees it, with what they can do with it."""
    zone = settings.zone
    fields = [
        Field(
            label="Behaviours", value=behaviour_names(content, commitment.behaviours) or "none yet"
        )
    ]
    fields.append(
        Field(
            label="Review",
            value=f"{commitment.review_on.day} {commitment.review_on:%b %Y}"
            if commitment.review_on
            else "No review date",
        )
    )
    if commitment.is_open:
        fields.append(
            Field(label="Status", value=f"Made {local_date(commitment.created_at, zone)}")
        )
    else:
        done = local_date(commitment.done_at, zone) if commitment.done_at else ""
        fields.append(Field(label="Status", value=f"Done {done}".strip()))
    fields.append(
        Field(
            label="Shared",
            value=f"In the values channel since {local_date(commitment.shared_at, zone)}"
            if commitment.shared_at
            else "No: private to you",
        )
    )
    choices = []
    platform = commitment.owner.platform
    if commitment.shared_at is None and settings.values_channel(platform):
        choices.append(
            Choice(label="Share with the values channel", action=SHARE, style=ChoiceStyle.PRIMARY)
        )
    if commitment.shared_at is not None:
        choices.append(Choice(label="Stop sharing", action=UNSHARE))
    choices.append(Choice(label="Edit", action=EDIT))
    if commitment.is_open:
        choices.append(Choice(label="Mark done", action=DONE))
    choices.append(Choice(label="Delete", action=DELETE, style=ChoiceStyle.DANGER))
    return Card(
        title="Your commitment",
        text=f"{note}\n\n{sentence(content, commitment.text)}".strip(),
        fields=tuple(fields),
        choices=tuple(choices),
        footer="See all your commitments with /commitment list.",
        hidden={COMMITMENT: commitment.id},
    )


def commitment_picker(found: list[Commitment]) -> ChoiceInput:
    """Which of the listed commitments an action on the list is about."""
    return ChoiceInput(
        name=COMMITMENT,
        label="Which commitment?",
        options=tuple(
            Option(label=f"{n}. {shorten(c.text, 60)}", value=c.id)
            for n, c in enumerate(found, start=1)
        ),
    )


def shared_card(content: Content, commitment: Commitment, author: str) -> Card:
    """A commitment as the values channel sees it: attributed, with its behaviours."""
    names = behaviour_names(content, commitment.behaviours)
    return Card(
        title=f"A commitment from {author}",
        text=sentence(content, commitment.text),
        fields=(Field(label="Behaviours", value=names),) if names else (),
        footer="Make your own with /commitment.",
    )


def review_card(content: Content, settings: Settings, commitment: Commitment) -> Card:
    """The gentle nudge on a commitment's review day."""
    made = local_date(commitment.created_at, settings.zone)
    names = behaviour_names(content, commitment.behaviours)
    return Card(
        title="A moment to look back",
        text=f"On {made} you wrote:\n\n{sentence(content, commitment.text)}\n\n"
        "How is it going? There is no wrong answer: mark it done, give it more time, or change it.",
        fields=(Field(label="Behaviours", value=names),) if names else (),
        choices=(
            Choice(label="Mark done", action=DONE, style=ChoiceStyle.PRIMARY),
            Choice(label="Look again in a month", action=SNOOZE),
            Choice(label="Edit", action=EDIT),
        ),
        footer="You chose this reminder when you made the commitment.",
        hidden={COMMITMENT: commitment.id},
    )


class Commitments:
    """``/commitment``, the clicks on commitment cards, and the review nudges."""

    def __init__(self, *, content: Content, settings: Settings, runner: DialogRunner) -> None:
        self.content = content
        self.settings = settings
        self.runner = runner

    def router(self) -> Router:
        """The routes of commitments."""
        router = Router()
        router.command("commitment", self.command)
        router.action(SHARE, self.share)
        router.action(EDIT, self.edit)
        router.action(DONE, self.done)
        router.action(DELETE, self.delete)
        router.action(SHOW, self.show)
        router.action(SNOOZE, self.snooze)
        router.action(NEW, self.new)
        router.action(UNSHARE, self.unshare)
        router.schedule(REVIEW_JOB, self.scheduled)
        router.undelivered(SHARE_JOB, self.share_undelivered)
        return router

    async def scheduled(self, turn: Turn[ScheduleFired]) -> None:
        """The ``commitment.review`` job: queue the nudges whose review day has come."""
        await self.queue_review_nudges(turn.stores, turn.now)

    def card(self, commitment: Commitment, note: str = "") -> Card:
        """One commitment as its owner sees it."""
        return commitment_card(self.content, self.settings, commitment, note=note)

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/commitment [text | list | new | edit N | done N | share N | delete N | cancel |
        help]``."""
        text = " ".join(turn.event.text.split())
        word = text.lower()
        numbered = re.fullmatch(r"(edit|done|share|unshare|delete)\s+#?(\d+)", word)
        if word in {"help", "?"}:
            turn.reply(commands_typed_with(self.help_card(), turn.command_prefix), private=True)
        elif word in {"list", "mine", "my", "all"}:
            turn.reply(await self.list_card(turn.stores, turn.person), private=True)
        elif word == "cancel":
            await self._cancel(turn)
        elif numbered:
            await self._numbered(turn, numbered.group(1), int(numbered.group(2)))
        elif word in {"edit", "done", "share", "unshare", "delete"}:
            # The word alone is a question, not a commitment that reads "edit".
            listed = await self.list_card(turn.stores, turn.person)
            if listed.fields:
                note = f"Which one? Pick it here, or type /commitment {word} 2 (its number)."
                listed = replace(listed, text=f"{note}\n\n{listed.text}")
            turn.reply(listed, private=True)
        elif word in {"", "new", "make", "add"}:
            await self._start(turn)
        else:
            await self._one_line(turn, text)

    def help_card(self) -> Card:
        """How to use commitments."""
        return Card(
            title="Commitments",
            text=f"{self.content.call_to_action}\n\nWrite what your contribution is, tag it with "
            "our behaviours, and look back at it when you choose. Commitments are private "
            "unless you share them.",
            fields=(
                Field(label="/commitment", value="Make a commitment, a question at a time."),
                Field(
                    label="/commitment My contribution is to ... #open #listen",
                    value="Make one in a line; #tags name behaviours (ids or short names).",
                ),
                Field(label="/commitment list", value="Your commitments, with what you can do."),
                Field(
                    label="/commitment edit|done|share|unshare|delete N",
                    value="Act on number N of your list (unshare takes it off the hub and "
                    "every page at once).",
                ),
                Field(label="/commitment cancel", value="Stop making one."),
            ),
        )

    async def list_card(self, stores: Stores, owner: PersonKey) -> Card:
        """The person's commitments, with a picker and the actions."""
        found = await stores.commitments.for_owner(owner, LIST_SIZE)
        if not found:
            return Card(
                title="Your commitments",
                text="You have no commitments yet.",
                choices=(
                    Choice(
                        label="Make one",
                        action=NEW,
                        style=ChoiceStyle.PRIMARY,
                        collects_inputs=False,
                    ),
                ),
                footer="Or write one in a line: /commitment My contribution is to ...",
            )
        zone = self.settings.zone
        rows = []
        for number, item in enumerate(found, start=1):
            status = "✓ done" if not item.is_open else "open"
            bits = [status, behaviour_names(self.content, item.behaviours) or "no behaviours"]
            if item.review_on and item.is_open:
                bits.append(f"review {item.review_on.day} {item.review_on:%b %Y}")
            bits.append(
                f"shared {local_date(item.shared_at, zone)}" if item.shared_at else "private"
            )
            rows.append(Field(label=f"{number}. {shorten(item.text, 90)}", value=" · ".join(bits)))
        share = (
            [Choice(label="Share", action=SHARE)]
            if self.settings.values_channel(owner.platform)
            else []
        )
        return Card(
            title="Your commitments",
            text=f"{plural(len(found), 'commitment')}, newest first. Only you can see this list.",
            fields=tuple(rows),
            inputs=(commitment_picker(found),),
            choices=(
                Choice(label="Edit", action=EDIT),
                Choice(label="Mark done", action=DONE),
                *share,
                Choice(label="Delete", action=DELETE, style=ChoiceStyle.DANGER),
                Choice(label="Make a new one", action=NEW, collects_inputs=False),
            ),
            footer="Or type /commitment done 2 (the number in this list).",
        )

    async def _cancel(self, turn: Turn[CommandReceived]) -> None:
        state = await self.runner.active(turn)
        if state is None or state.dialog != NAME:
            turn.reply(
                Card(title="Nothing to cancel", text="You are not making a commitment."),
                private=True,
            )
            return
        await self.runner.cancel(turn, state)

    async def _start(self, turn: Turn[Any], start: Mapping[str, str] | None = None) -> None:
        if not turn.event.conversation.is_direct:
            turn.reply(
                Card(
                    title="Commitments are private",
                    text="Let's do this in a direct chat with me, so only you see it: open a "
                    "chat with me and type /commitment. Or write it in one line here: "
                    "/commitment My contribution is to ... (only you will see the answer).",
                ),
                private=True,
            )
            return
        state = await self.runner.active(turn)
        if state is not None and state.dialog == NAME and not start:
            await self.runner.resume(
                turn, state, "You are already making a commitment; carrying on from where you were."
            )
            return
        await self.runner.start(turn, NAME, start)

    async def _one_line(self, turn: Turn[CommandReceived], text: str) -> None:
        words, behaviours = tags(self.content, text)
        words = clean_text(words)
        if not words:
            await self._start(turn)
            return
        if len(words) > TEXT_LIMIT:
            turn.reply(
                Card(
                    title="That is a long one",
                    text=f"Please keep a commitment under {TEXT_LIMIT} characters "
                    f"(this one has {len(words)}).",
                ),
                private=True,
            )
            return
        saved = await turn.stores.commitments.add(
            Commitment(
                id=new_id(),
                owner=turn.person,
                text=words,
                behaviours=behaviours,
                created_at=turn.now,
            )
        )
        note = "Saved. Only you can see it unless you share it."
        if not behaviours:
            note += " Choose Edit to tag it with our behaviours and set a review date."
        turn.reply(self.card(saved, note), private=True)

    async def _numbered(self, turn: Turn[CommandReceived], verb: str, number: int) -> None:
        found = await turn.stores.commitments.for_owner(turn.person, LIST_SIZE)
        if not 1 <= number <= len(found):
            turn.reply(
                Card(
                    title="No such commitment",
                    text=f"Your list has {plural(len(found), 'commitment')}; "
                    "see them with /commitment list.",
                ),
                private=True,
            )
            return
        commitment = found[number - 1]
        match verb:
            case "edit":
                await self._start(turn, {"edit": commitment.id})
            case "done":
                await self._done(turn, commitment.id)
            case "share":
                turn.reply(self._share_question(commitment), private=True)
            case "unshare":
                await self._unshare(turn, commitment)
            case "delete":
                turn.reply(self._delete_question(commitment), private=True)

    # Clicks

    async def _own(self, turn: Turn[ActionSubmitted]) -> Commitment | None:
        commitment_id = turn.event.values.get(COMMITMENT, "")
        found = await turn.stores.commitments.get(commitment_id) if commitment_id else None
        if found is None or found.owner != turn.person:
            if not commitment_id:
                turn.reply(
                    Card(title="Which one?", text="Please pick a commitment first."), private=True
                )
            else:
                turn.reply(_not_found(), private=True)
            return None
        return found

    async def new(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Make one" on the list."""
        await self._start(turn)

    async def show(self, turn: Turn[ActionSubmitted]) -> None:
        """Show a commitment again ("Not now", "Keep it")."""
        found = await self._own(turn)
        if found is not None:
            turn.reply(self.card(found, "Nothing changed."), private=True)

    async def edit(self, turn: Turn[ActionSubmitted]) -> None:
        """Change a commitment, in the same three questions."""
        found = await self._own(turn)
        if found is not None:
            await self._start(turn, {"edit": found.id})

    async def done(self, turn: Turn[ActionSubmitted]) -> None:
        """Mark a commitment done."""
        found = await self._own(turn)
        if found is not None:
            await self._done(turn, found.id)

    async def _done(self, turn: Turn[Any], commitment_id: str) -> None:
        changed = await turn.stores.commitments.set_status(
            commitment_id, turn.person, CommitmentStatus.DONE, turn.now
        )
        if changed is None:
            turn.reply(_not_found(), private=True)
            return
        turn.reply(self.card(changed, "Marked done. Well done."), private=True)

    async def snooze(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Look again in a month" on a review nudge."""
        found = await self._own(turn)
        if found is None:
            return
        today = turn.now.astimezone(self.settings.zone).date()
        review = add_months(today, 1)
        changed = await turn.stores.commitments.set_review(found.id, turn.person, review, turn.now)
        if changed is not None:
            when = f"{review.day} {review:%b %Y}"
            turn.reply(self.card(changed, f"I will remind you again on {when}."), private=True)

    def _delete_question(self, commitment: Commitment) -> Card:
        note = ""
        if commitment.shared_at:
            note = "\n\nThe post in the values channel stays where it is."
        return Card(
            title="Delete this commitment?",
            text=f"{sentence(self.content, commitment.text)}{note}",
            choices=(
                Choice(
                    label="Yes, delete it", action=DELETE, value=CONFIRM, style=ChoiceStyle.DANGER
                ),
                Choice(label="Keep it", action=SHOW, collects_inputs=False),
            ),
            hidden={COMMITMENT: commitment.id},
        )

    async def delete(self, turn: Turn[ActionSubmitted]) -> None:
        """Delete a commitment, after asking."""
        found = await self._own(turn)
        if found is None:
            return
        if turn.event.values.get("choice") != CONFIRM:
            turn.reply(self._delete_question(found), private=True)
            return
        await turn.stores.commitments.delete(found.id, turn.person)
        turn.reply(
            Card(title="Deleted", text="That commitment is gone. Make another with /commitment."),
            private=True,
        )

    async def unshare(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Stop sharing": the commitment is private again."""
        found = await self._own(turn)
        if found is not None:
            await self._unshare(turn, found)

    async def _unshare(self, turn: Turn[Any], commitment: Commitment) -> None:
        # Pages and feeds read the stored state on every request: off them at once.
        if await turn.stores.commitments.stop_sharing(commitment.id, turn.person, turn.now):
            note = (
                "No longer shared: it is off the hub and every web page now. The post already "
                "in the values channel stays there; delete it there if you wish."
            )
        else:
            note = "It is not shared: only you can see it."
        changed = await turn.stores.commitments.get(commitment.id) or commitment
        turn.reply(self.card(changed, note), private=True)

    def _share_question(self, commitment: Commitment) -> Card:
        if commitment.shared_at:
            return self.card(commitment, "You have already shared this one.")
        return Card(
            title="Share it with the values channel?",
            text="Everyone in the values channel will see it, with your name and its "
            f"behaviours:\n\n{sentence(self.content, commitment.text)}",
            choices=(
                Choice(label="Share it", action=SHARE, value=CONFIRM, style=ChoiceStyle.PRIMARY),
                Choice(label="Not now", action=SHOW, collects_inputs=False),
            ),
            hidden={COMMITMENT: commitment.id},
        )

    async def share(self, turn: Turn[ActionSubmitted]) -> None:
        """Share a commitment with the values channel, after asking."""
        found = await self._own(turn)
        if found is None:
            return
        platform = found.owner.platform
        channel = self.settings.values_channel(platform)
        if channel is None:
            turn.reply(
                Card(
                    title="No values channel yet",
                    text="Your organisation has not chosen a values channel for sharing "
                    "commitments. Your comms team can set one (VALUESBOT_VALUES_CHANNEL).",
                ),
                private=True,
            )
            return
        if turn.event.values.get("choice") != CONFIRM or found.shared_at:
            turn.reply(self._share_question(found), private=True)
            return
        if await turn.stores.commitments.mark_shared(found.id, turn.person, turn.now):
            post = shared_card(self.content, found, turn.event.actor.display)
            await turn.stores.outbox.enqueue(
                OutboxMessage(
                    # One key per share: a share undone (never delivered) can be made again.
                    key=f"{SHARE_JOB}:{found.id}:{turn.now:%Y%m%dT%H%M%S%fZ}",
                    job=SHARE_JOB,
                    platform=platform,
                    tenant=found.owner.tenant,
                    recipient=channel,
                    to_person=False,
                    card=card_to_json(post).decode(),
                    respect_working_hours=False,
                    counts_towards_cap=False,
                ),
                turn.now,
            )
        shared = await turn.stores.commitments.get(found.id) or found
        turn.reply(
            self.card(shared, "Shared: it will appear in the values channel in a moment."),
            private=True,
        )

    async def share_undelivered(self, turn: Turn[DeliveryFailed]) -> None:
        """The post of a shared commitment was refused for good: the commitment is private
        again (so it can be shared again) and its owner is told why and what to do."""
        event = turn.event
        commitment_id = event.key.removeprefix(f"{SHARE_JOB}:").split(":", 1)[0]
        unshared = await turn.stores.commitments.unshare(commitment_id, turn.now)
        if unshared is None:
            return  # deleted meanwhile: nothing to undo, nobody waiting for it
        label = await place_label(turn.stores, event)
        card = replace(
            self.card(
                unshared,
                f"I could not post your commitment in the values channel ({label}): "
                f"{why(event)}. It is private again. Ask your comms team to add valuesbot to "
                "the values channel, then share it again.",
            ),
            title="Your commitment was not shared",
            footer=f"Reason: {event.reason}",
        )
        await turn.stores.outbox.enqueue(notice(event, unshared.owner, card), turn.now)

    # The scheduler's part

    async def queue_review_nudges(
        self, stores: Stores, now: datetime, limit: int = NUDGE_BATCH
    ) -> int:
        """Queue a gentle nudge for every open commitment whose review day (in the
        organisation's time zone) has come and whose nudge is not yet queued; how many were
        queued. Idempotent: call it daily, or as often as you like, from any instance.

        Each nudge is an outbox message to the owner's direct chat that waits for their working
        hours and counts towards their weekly cap; its key names the commitment and the review
        day, so a new review date gets a new nudge and the same one is never queued twice."""
        today = now.astimezone(self.settings.zone).date()
        queued = 0
        for commitment in await stores.commitments.due_for_review(today, limit):
            review = commitment.review_on
            if review is None or not await stores.commitments.mark_nudged(
                commitment.id, review, now
            ):
                continue
            card = review_card(self.content, self.settings, commitment)
            if await stores.outbox.enqueue(
                OutboxMessage(
                    key=f"commitment-review:{commitment.id}:{review.isoformat()}",
                    job=f"commitment-review:{today.isoformat()}",
                    platform=commitment.owner.platform,
                    tenant=commitment.owner.tenant,
                    recipient=commitment.owner.user,
                    to_person=True,
                    card=card_to_json(card).decode(),
                    respect_working_hours=True,
                    counts_towards_cap=True,
                ),
                now,
            ):
                queued += 1
        return queued
