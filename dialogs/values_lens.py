"""The values lens check-in: one piece of work, looked at through the six behaviours.

Personal mode (a direct conversation) is the ``ValuesLens`` dialog, drawn in
``values_lens.mmd``: what is the work, how well does it show each behaviour (with an optional
note), one action to strengthen it, then a summary card whose action can be saved as a
commitment.

Team mode (``/valueslens <work>`` in a channel) needs no dialog state: the channel gets one card
holding the six ratings as inputs, each member submits their own (privately: platforms keep card
inputs on each person's screen), and when the starter closes it, or its time runs out, the channel
gets the counts per behaviour, never names, with the behaviour to talk about first. Once it has
closed, however it closed, its card in the channel says so in place (changed through the
outbox, the platform's id of the card kept with the check-in: ``CardPosted``); a card the
platform will not let the bot change turns closed at its next click. Results a check-in closed
by itself could not post (the bot is not in the channel) are not lost: the starter is told in
their direct chat, and ``/valueslens results post`` posts them in the channel.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.content import Behaviour, Content, Rating
from bot.delivery import notice, place_label, to_channel, why
from bot.dialogs import END, Dialog, DialogRunner, StepContext, StepResult, cancel_choice
from bot.events import (
    ActionSubmitted,
    CardPosted,
    CommandReceived,
    ConversationRef,
    DeliveryFailed,
    MessageRef,
    Platform,
)
from bot.pseudonym import Pseudonymiser
from bot.router import Router
from bot.settings import Settings
from bot.text import local_date, local_time, plural, shorten
from bot.turn import Turn
from bot.ui import (
    BarRow,
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
from storage.commitments import Commitment
from storage.delivery import OutboxMessage
from storage.people import PersonKey
from storage.stores import Stores
from storage.values_lens import Checkin, RateOutcome, RatingEntry, TeamCheckin, TeamTally

NAME = "values_lens"
# The work's name is shown in every question, the summary and the team card's title.
WORK_LIMIT = 200
NOTE_LIMIT = 300
ACTION_LIMIT = 500
HISTORY_SIZE = 10

SAVE_COMMITMENT = "lens.save_commitment"
TEAM_START = "lens.team.start"
TEAM_RATE = "lens.team.rate"
TEAM_CLOSE = "lens.team.close"
# The outbox job of a team check-in's messages (its results, when it closes by itself, and the
# change of its card once closed); also what its card is remembered by (``CardPosted``).
TEAM_JOB = "team-lens:"
# The end of the key a team card is remembered by, and of its change's outbox key.
CARD = ":card"
CLOSED_CARD = ":closed-card"

# Hidden values of the team start card: the channel (and thread) the check-in is for, which a
# platform may show the card elsewhere (Teams: in the person's direct chat), and a keyed hash
# that binds them to the person the card was made for, so a forged card opens nothing.
START_PLACE = "place"
START_THREAD = "place_thread"
START_SEAL = "place_seal"


class Step(StrEnum):
    """The steps of a personal check-in."""

    WORK = "work"
    RATE = "rate"
    ACTION = "action"


def work_of(text: str) -> str:
    """The work's name as given, spaces and line breaks folded."""
    return " ".join(text.split())


def work_problem(work: str) -> str | None:
    """What is wrong with ``work`` as the name of the work looked at, in the words a person
    sees wherever it was given (typed, in a form, after ``/valueslens`` in a direct chat or a
    channel); None when nothing is."""
    if not work:
        return "Tell me in a few words what the work is."
    if len(work) > WORK_LIMIT:
        return f"Please name the work in {WORK_LIMIT} characters or fewer (that was {len(work):,})."
    return None


def new_id() -> str:
    """A random id for a check-in or commitment."""
    return secrets.token_hex(8)


def _score(rating: Rating) -> int:
    return -1 if rating.score is None else rating.score


@dataclass(frozen=True, slots=True)
class Profile:
    """How a check-in rated the behaviours, and which one is most worth attention."""

    focus: Behaviour | None
    any_relevant: bool


def profile(content: Content, ratings: Mapping[str, str]) -> Profile:
    """The behaviour rated lowest (first in content order on a tie), unless all are strong."""
    scored = [
        (content.rating(ratings[b.id]), b)
        for b in content.behaviours
        if b.id in ratings and content.rating(ratings[b.id]).score is not None
    ]
    if not scored:
        return Profile(focus=None, any_relevant=False)
    lowest_rating, lowest = min(scored, key=lambda pair: _score(pair[0]))
    if _score(lowest_rating) >= content.max_score:
        return Profile(focus=None, any_relevant=True)
    return Profile(focus=lowest, any_relevant=True)


class ValuesLens(Dialog):
    """A personal values lens check-in, one question at a time."""

    name = NAME
    command = "valueslens"

    def __init__(self, content: Content) -> None:
        self.content = content

    @property
    def total_steps(self) -> int:
        """Questions in a check-in: the work, each behaviour, the action."""
        return len(self.content.behaviours) + 2

    async def begin(self, ctx: StepContext, start: Mapping[str, str]) -> StepResult:
        ctx.data.update(work="", index=0, ratings={}, notes={})
        work = work_of(start.get("work", ""))
        if not work:
            return StepResult(next=Step.WORK, cards=(self.prompt(Step.WORK, ctx.data),))
        problem = work_problem(work)
        if problem is not None:
            return self._again(Step.WORK, ctx.data, problem)
        ctx.data["work"] = work
        return StepResult(next=Step.RATE, cards=(self.prompt(Step.RATE, ctx.data),))

    async def step(self, ctx: StepContext) -> StepResult:
        match ctx.step:
            case Step.WORK:
                return self._work(ctx)
            case Step.RATE:
                return self._rate(ctx)
            case Step.ACTION:
                return await self._action(ctx)
        raise ValueError(f"values lens has no step {ctx.step!r}")

    def describe(self, data: Mapping[str, Any]) -> str:
        work = data.get("work")
        return f'a values lens check-in on "{shorten(work, 60)}"' if work else "a values lens"

    def prompt(self, step: str, data: Mapping[str, Any]) -> Card:
        lens = self.content.lens
        work = str(data.get("work", ""))
        match step:
            case Step.WORK:
                return Card(
                    title="Values lens",
                    text=f"{lens.intro}\n\n{lens.work_question}",
                    inputs=(
                        TextInput(
                            name="work",
                            label=lens.work_question,
                            placeholder=lens.work_placeholder,
                            optional=False,
                            max_length=WORK_LIMIT,
                        ),
                    ),
                    choices=(
                        Choice(label="Next", action="lens.work", style=ChoiceStyle.PRIMARY),
                        cancel_choice(),
                    ),
                    footer=f"Question 1 of {self.total_steps}",
                )
            case Step.RATE:
                index = int(data.get("index", 0))
                behaviour = self.content.behaviours[index]
                return Card(
                    title=behaviour.name,
                    text=f"{behaviour.definition}\n\n{lens.rating_question.format(work=work)}",
                    inputs=(TextInput(name="note", label=lens.note_label, max_length=NOTE_LIMIT),),
                    choices=(
                        *(
                            Choice(label=r.label, action="lens.rate", value=r.id)
                            for r in self.content.ratings
                        ),
                        cancel_choice(),
                    ),
                    footer=f"Question {index + 2} of {self.total_steps}",
                )
            case Step.ACTION:
                return Card(
                    title="One action",
                    text=lens.action_question.format(work=work),
                    inputs=(
                        TextInput(
                            name="action",
                            label="Your action",
                            placeholder=lens.action_placeholder,
                            multiline=True,
                            optional=False,
                            max_length=ACTION_LIMIT,
                        ),
                    ),
                    choices=(
                        Choice(label="Finish", action="lens.action", style=ChoiceStyle.PRIMARY),
                        cancel_choice(),
                    ),
                    footer=f"Question {self.total_steps} of {self.total_steps}",
                )
        raise ValueError(f"values lens has no step {step!r}")

    def _again(self, step: Step, data: Mapping[str, Any], problem: str) -> StepResult:
        card = self.prompt(step, data)
        return StepResult(next=step, cards=(replace(card, text=f"{problem}\n\n{card.text}"),))

    def _work(self, ctx: StepContext) -> StepResult:
        work = work_of(ctx.text("work"))
        problem = work_problem(work)
        if problem is not None:
            return self._again(Step.WORK, ctx.data, problem)
        ctx.data["work"] = work
        return StepResult(
            next=Step.RATE,
            cards=(self.prompt(Step.RATE, ctx.data),),
            update=_answered("Values lens", work)
            if isinstance(ctx.event, ActionSubmitted)
            else None,
        )

    def _rate(self, ctx: StepContext) -> StepResult:
        index = int(ctx.data["index"])
        behaviour = self.content.behaviours[index]
        rating, note = self._read_rating(ctx)
        if rating is None:
            labels = ", ".join(r.label for r in self.content.ratings)
            return self._again(Step.RATE, ctx.data, f"Please pick one of: {labels}.")
        if len(note) > NOTE_LIMIT:
            return self._again(
                Step.RATE, ctx.data, f"Please keep the note under {NOTE_LIMIT} characters."
            )
        ctx.data["ratings"][behaviour.id] = rating.id
        if note:
            ctx.data["notes"][behaviour.id] = note
        else:
            ctx.data["notes"].pop(behaviour.id, None)
        answered = rating.label + (f": {note}" if note else "")
        update = (
            _answered(behaviour.name, answered) if isinstance(ctx.event, ActionSubmitted) else None
        )
        if index + 1 < len(self.content.behaviours):
            ctx.data["index"] = index + 1
            return StepResult(
                next=Step.RATE, cards=(self.prompt(Step.RATE, ctx.data),), update=update
            )
        return StepResult(
            next=Step.ACTION, cards=(self.prompt(Step.ACTION, ctx.data),), update=update
        )

    def _read_rating(self, ctx: StepContext) -> tuple[Rating | None, str]:
        chosen = ctx.choice()
        if chosen:
            try:
                return self.content.rating(chosen), ctx.value("note")
            except KeyError:
                return None, ""
        return parse_rating(self.content, ctx.text("note"))

    async def _action(self, ctx: StepContext) -> StepResult:
        action = ctx.text("action").strip()
        if not action:
            return self._again(
                Step.ACTION, ctx.data, "Write one thing you will do: a sentence is enough."
            )
        if len(action) > ACTION_LIMIT:
            return self._again(
                Step.ACTION, ctx.data, f"Please keep it under {ACTION_LIMIT} characters."
            )
        ratings: dict[str, str] = ctx.data["ratings"]
        notes: dict[str, str] = ctx.data["notes"]
        found = profile(self.content, ratings)
        checkin = Checkin(
            id=new_id(),
            owner=ctx.person,
            work=ctx.data["work"],
            action=action,
            focus=found.focus.id if found.focus else None,
            ratings=tuple(
                RatingEntry(behaviour=b.id, rating=ratings[b.id], note=notes.get(b.id, ""))
                for b in self.content.behaviours
                if b.id in ratings
            ),
            started_at=ctx.now,
            completed_at=ctx.now,
        )
        await ctx.stores.checkins.add(checkin)
        update = _answered("One action", action) if isinstance(ctx.event, ActionSubmitted) else None
        return StepResult(next=END, cards=(summary_card(self.content, checkin),), update=update)


def _answered(title: str, answer: str) -> Card:
    """The face of a question card once answered: the question and the answer, no buttons."""
    return Card(title=title, text=f"✓ {answer}")


_NUMBERED = re.compile(r"^\s*(\d+)\s*[.):,-]?\s*(.*)$", re.DOTALL)


def parse_rating(content: Content, text: str) -> tuple[Rating | None, str]:
    """A rating typed as a message: "2", "2 we asked", "partly", "Not yet - no data yet"."""
    text = text.strip()
    numbered = _NUMBERED.match(text)
    if numbered:
        number = int(numbered.group(1))
        if 1 <= number <= len(content.ratings):
            return content.ratings[number - 1], numbered.group(2).strip()
        return None, ""
    lowered = text.lower()
    for rating in sorted(content.ratings, key=lambda r: len(r.label), reverse=True):
        for word in (rating.label.lower(), rating.id.replace("_", " ")):
            if lowered == word or (lowered.startswith(word) and not lowered[len(word)].isalnum()):
                return rating, text[len(word) :].strip(" \t:-–—,.")
    return None, ""


def summary_card(content: Content, checkin: Checkin, *, saved: bool = False) -> Card:
    """The end of a personal check-in: the profile, the focus and the action."""
    lens = content.lens
    given = {r.behaviour: r for r in checkin.ratings}
    bars = []
    for behaviour in content.behaviours:
        entry = given.get(behaviour.id)
        if entry is None:
            continue
        rating = content.rating(entry.rating)
        caption = rating.label.lower() + (f" · {entry.note}" if entry.note else "")
        bars.append(
            BarRow(
                label=behaviour.short,
                value=float(rating.score or 0),
                maximum=float(content.max_score),
                caption=caption,
            )
        )
    found = profile(content, {r.behaviour: r.rating for r in checkin.ratings})
    if found.focus is not None:
        focus = Field(label=lens.focus_label, value=f"{found.focus.name}. {found.focus.definition}")
    else:
        focus = Field(
            label=lens.focus_label,
            value=lens.all_strong if found.any_relevant else lens.nothing_relevant,
        )
    if saved:
        choices: tuple[Choice, ...] = ()
        footer = "✓ Saved as a commitment. See your check-ins with /valueslens history."
    else:
        choices = (
            Choice(
                label="Save the action as a commitment",
                action=SAVE_COMMITMENT,
                value=checkin.id,
                style=ChoiceStyle.PRIMARY,
            ),
        )
        footer = "See your past check-ins with /valueslens history."
    return Card(
        title=lens.summary_title.format(work=checkin.work),
        text=lens.summary_text,
        bars=tuple(bars),
        fields=(focus, Field(label="Your action", value=checkin.action)),
        choices=choices,
        footer=footer,
        hidden={"checkin": checkin.id},
    )


class ValuesLensCommands:
    """``/valueslens`` and the clicks on values lens cards that are not part of a dialog."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        runner: DialogRunner,
        pseudonyms: Pseudonymiser,
    ) -> None:
        self.content = content
        self.settings = settings
        self.runner = runner
        self.pseudonyms = pseudonyms

    def router(self) -> Router:
        """The routes of the values lens."""
        router = Router()
        router.command("valueslens", self.command)
        router.action(SAVE_COMMITMENT, self.save_commitment)
        router.action(TEAM_START, self.team_start)
        router.action(TEAM_RATE, self.team_rate)
        router.action(TEAM_CLOSE, self.team_close)
        router.undelivered(TEAM_JOB, self.results_undelivered)
        router.posted(TEAM_JOB, self.card_posted)
        return router

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/valueslens [work | history | cancel | close | help]``."""
        text = work_of(turn.event.text)
        word = text.lower()
        if word in {"help", "?"}:
            turn.reply(commands_typed_with(self.help_card(), turn.command_prefix), private=True)
        elif word == "history":
            turn.reply(await self.history_card(turn), private=True)
        elif word == "cancel":
            await self._cancel(turn)
        elif turn.event.conversation.is_direct and word in {"close", "results"}:
            turn.reply(
                Card(
                    title="Values lens",
                    text=f"/valueslens {word} is for a team check-in: type it in the team's "
                    "channel. Here, /valueslens <work> starts a check-in of your own.",
                ),
                private=True,
            )
        elif turn.event.conversation.is_direct:
            await self._personal(turn, text)
        elif word == "close":
            await self._close(
                turn, await turn.stores.team_checkins.current(turn.event.conversation)
            )
        elif word == "results":
            turn.reply(await self.last_results(turn.stores, turn.event.conversation), private=True)
        elif word in {"results post", "post results"}:
            await self._post_results(turn)
        else:
            await self._team(turn, text)

    def help_card(self) -> Card:
        """How to use the values lens."""
        return Card(
            title="Values lens",
            text=("Look at one piece of work through our six behaviours, alone or as a team."),
            fields=(
                Field(label="/valueslens", value="Start a check-in (in a direct chat with me)."),
                Field(
                    label="/valueslens <work>",
                    value="In a direct chat: start on that work. In a channel: start a team "
                    "check-in that everyone answers privately.",
                ),
                Field(label="/valueslens history", value="Your past check-ins."),
                Field(label="/valueslens close", value="Close the team check-in and show results."),
                Field(
                    label="/valueslens results",
                    value="In a channel: the results of its last team check-in, again.",
                ),
                Field(
                    label="/valueslens results post",
                    value="In a channel: post those results for everyone (when I could not).",
                ),
                Field(label="/valueslens cancel", value="Stop the check-in you are in."),
            ),
        )

    async def history_card(self, turn: Turn[Any]) -> Card:
        """The person's latest check-ins."""
        return await self.history(turn.stores, turn.person)

    async def history(self, stores: Stores, person: PersonKey, limit: int = HISTORY_SIZE) -> Card:
        """The latest check-ins of ``person`` (``/valueslens history``, the Slack Home tab)."""
        checkins = await stores.checkins.recent(person, limit)
        if not checkins:
            return Card(
                title="Your values lens check-ins",
                text="You have no check-ins yet. Start one with /valueslens.",
            )
        zone = self.settings.zone
        rows = []
        for checkin in checkins:
            focus = self.content.behaviour(checkin.focus).short if checkin.focus else "none"
            rows.append(
                Field(
                    label=f"{local_date(checkin.completed_at, zone)} · {shorten(checkin.work, 80)}",
                    value=f"Focus: {focus}. Action: {shorten(checkin.action, 140)}",
                )
            )
        latest = (
            "Your only check-in so far."
            if len(checkins) == 1
            else f"Your latest {len(checkins)} check-ins, newest first."
        )
        return Card(
            title="Your values lens check-ins",
            text=latest,
            fields=tuple(rows),
        )

    async def _cancel(self, turn: Turn[CommandReceived]) -> None:
        state = await self.runner.active(turn)
        if state is None or state.dialog != NAME:
            turn.reply(
                Card(title="Nothing to cancel", text="You have no check-in under way."),
                private=True,
            )
            return
        await self.runner.cancel(turn, state)

    async def _personal(self, turn: Turn[CommandReceived], work: str) -> None:
        state = await self.runner.active(turn)
        if state is not None and state.dialog == NAME:
            await self.runner.resume(
                turn,
                state,
                "You have a check-in under way; carrying on from where you were. "
                "(Type cancel to stop it and start again.)",
            )
            return
        await self.runner.start(turn, NAME, {"work": work} if work else {})

    async def save_commitment(self, turn: Turn[ActionSubmitted]) -> None:
        """Save a check-in's action as the person's commitment (once, however often clicked)."""
        checkin_id = turn.event.values.get("checkin") or turn.event.values.get("choice", "")
        checkin = await turn.stores.checkins.get(checkin_id)
        if checkin is None or checkin.owner != turn.person:
            turn.reply(
                Card(title="Not found", text="That check-in is not one of yours."), private=True
            )
            return
        await turn.stores.commitments.add(
            Commitment(
                id=new_id(),
                owner=checkin.owner,
                text=checkin.action,
                behaviours=(checkin.focus,) if checkin.focus else (),
                source=f"lens:{checkin.id}",
                created_at=turn.now,
            )
        )
        turn.update(summary_card(self.content, checkin, saved=True))

    # Team mode

    async def _team(self, turn: Turn[CommandReceived], work: str) -> None:
        place = turn.event.conversation
        problem = work_problem(work) if work else None
        if problem is not None:
            # Refused before anything opens: the starter gets the form to try again.
            turn.reply(self.team_start_card(self._sealed(turn, place), problem), private=True)
            return
        current = await turn.stores.team_checkins.current(place)
        if current is not None and current.closes_at <= turn.now:
            await self._finish(turn, current)
            current = None
        if current is not None:
            note = (
                f'There is already a team check-in on "{current.work}" here; add your ratings '
                "below."
                if work
                else ""
            )
            turn.reply(await self.team_card(turn.stores, current, note), private=True)
            return
        if not work:
            turn.reply(self.team_start_card(self._sealed(turn, place)), private=True)
            return
        await self._open(turn, work, place)

    def team_start_card(self, place: Mapping[str, str], problem: str = "") -> Card:
        """Asks what the team is looking at; ``place`` (hidden values from ``_sealed``) says
        in which channel the check-in opens, wherever the card is shown."""
        text = "Start a team values lens: everyone rates the work privately, then the channel "
        text += "sees the counts, never names."
        return Card(
            title="Team values lens",
            text=f"{problem}\n\n{text}".strip(),
            inputs=(
                TextInput(
                    name="work",
                    label="What piece of work is the team looking at?",
                    placeholder=self.content.lens.work_placeholder,
                    optional=False,
                    max_length=WORK_LIMIT,
                ),
            ),
            choices=(Choice(label="Start", action=TEAM_START, style=ChoiceStyle.PRIMARY),),
            hidden=dict(place),
        )

    def _sealed(self, turn: Turn[Any], place: ConversationRef) -> dict[str, str]:
        """The hidden values naming ``place`` on a start card made for the turn's person."""
        values = {START_PLACE: place.conversation, START_THREAD: place.thread or ""}
        values[START_SEAL] = self._seal(turn, values)
        return values

    def _seal(self, turn: Turn[Any], values: Mapping[str, str]) -> str:
        where = turn.event.conversation
        named = "\x1f".join(
            (values.get(START_PLACE, ""), values.get(START_THREAD, ""), turn.event.actor.id)
        )
        return self.pseudonyms.key(TEAM_START, str(where.platform), where.tenant, named)

    async def _start_place(self, turn: Turn[ActionSubmitted]) -> ConversationRef | None:
        """Where the start card clicked opens the check-in: the channel it names (it may be
        clicked in a direct chat), if the card was made for this person; None when it names
        none that the bot knows and it was not clicked in a channel."""
        values = turn.event.values
        here = turn.event.conversation
        named = values.get(START_PLACE, "")
        if not named:  # a card from before cards named their channel
            return None if here.is_direct else here
        if not hmac.compare_digest(values.get(START_SEAL, ""), self._seal(turn, values)):
            return None
        thread = values.get(START_THREAD) or None
        if named == here.conversation and thread == here.thread:
            return here
        stored = await turn.stores.people.conversation(str(here.platform), here.tenant, named)
        if stored is None or stored.is_direct:
            return None
        return replace(stored, thread=thread)

    async def team_start(self, turn: Turn[ActionSubmitted]) -> None:
        """The "Start" button of the team start card: the check-in opens in the channel the
        card names, also when it is clicked in the person's direct chat."""
        place = await self._start_place(turn)
        if place is None:
            turn.reply(
                Card(
                    title="Start it in the channel",
                    text="A team check-in belongs to a channel: type "
                    f"{turn.command('valueslens <the work>')} in the channel where the team "
                    "should answer.",
                ),
                private=True,
            )
            return
        work = work_of(turn.event.values.get("work", ""))
        problem = work_problem(work)
        if problem is not None:
            turn.reply(self.team_start_card(self._sealed(turn, place), problem), private=True)
            return
        current = await turn.stores.team_checkins.current(place)
        if current is not None and current.closes_at > turn.now:
            turn.reply(await self.team_card(turn.stores, current), private=True)
            return
        if current is not None:
            await self._finish(turn, current)
        await self._open(turn, work, place)
        here = turn.event.conversation
        if (here.conversation, here.thread) != (place.conversation, place.thread):
            # The form in the person's direct chat is done with: no second check-in from it.
            turn.update(_answered("Team values lens", f"Started in the channel: {work}"))

    async def _open(self, turn: Turn[Any], work: str, place: ConversationRef) -> None:
        opened = await turn.stores.team_checkins.open(
            TeamCheckin(
                id=new_id(),
                place=place,
                work=work,
                started_by=turn.event.actor.id,
                opened_at=turn.now,
                closes_at=turn.now + timedelta(hours=self.settings.team_lens_hours),
            )
        )
        card = await self.team_card(turn.stores, opened)
        here = turn.event.conversation
        remember = f"{TEAM_JOB}{opened.id}{CARD}"
        if (here.conversation, here.thread) == (place.conversation, place.thread):
            turn.reply(card, remember=remember)
        else:
            turn.post(place, card, remember=remember)

    async def card_posted(self, turn: Turn[CardPosted]) -> None:
        """A team card has landed in its channel: keep its id, to change it when the check-in
        closes (at once, if it closed meanwhile)."""
        event = turn.event
        if not event.key.endswith(CARD):
            return
        checkin_id = event.key.removeprefix(TEAM_JOB).removesuffix(CARD)
        checkin = await turn.stores.team_checkins.get(checkin_id)
        if checkin is None or not _same_place(event.conversation, checkin.place):
            return
        kept = await turn.stores.team_checkins.card_posted(checkin.id, event.message.id)
        if kept is not None and not kept.is_open:
            await self._change_card(turn.stores, kept, turn.now, turn.command_prefix)

    async def team_card(self, stores: Stores, checkin: TeamCheckin, note: str = "") -> Card:
        """The card in the channel: the six ratings as inputs, add mine, close."""
        starter = await self._name(stores, checkin, checkin.started_by)
        closes = local_time(checkin.closes_at, self.settings.zone)
        text = self.content.lens.team_intro.format(work=checkin.work)
        text += f"\n\nStarted by {starter}. Closes {closes} or when {starter} closes it."
        if note:
            text = f"{note}\n\n{text}"
        return Card(
            title=f"Team values lens: {checkin.work}",
            text=text,
            inputs=tuple(
                ChoiceInput(
                    name=f"b_{b.id}",
                    label=b.name,
                    options=tuple(Option(label=r.label, value=r.id) for r in self.content.ratings),
                )
                for b in self.content.behaviours
            ),
            choices=(
                Choice(label="Add my ratings", action=TEAM_RATE, style=ChoiceStyle.PRIMARY),
                Choice(
                    label="Close and show results",
                    action=TEAM_CLOSE,
                    style=ChoiceStyle.DANGER,
                    collects_inputs=False,
                ),
            ),
            footer="Your answers are private: results show counts only, never names. "
            "Answer again to change yours.",
            hidden={"team": checkin.id},
        )

    async def team_rate(self, turn: Turn[ActionSubmitted]) -> None:
        """A member's six ratings, submitted from the team card."""
        checkin = await turn.stores.team_checkins.get(turn.event.values.get("team", ""))
        if checkin is None:
            turn.reply(
                Card(title="Not found", text="That team check-in does not exist."), private=True
            )
            return
        if checkin.is_open and checkin.closes_at <= turn.now:
            await self._finish(turn, checkin)
            checkin = await turn.stores.team_checkins.get(checkin.id) or checkin
        if not checkin.is_open:
            self._closed(turn, checkin)
            return
        ratings: dict[str, str] = {}
        missing = []
        for behaviour in self.content.behaviours:
            given = turn.event.values.get(f"b_{behaviour.id}", "")
            try:
                ratings[behaviour.id] = self.content.rating(given).id
            except KeyError:
                missing.append(behaviour.short)
        if missing:
            note = f"Please rate every behaviour (still to rate: {', '.join(missing)})."
            turn.reply(await self.team_card(turn.stores, checkin, note), private=True)
            return
        member = self.pseudonyms.key(
            f"team:{checkin.id}",
            str(turn.event.conversation.platform),
            turn.event.conversation.tenant,
            turn.event.actor.id,
        )
        outcome = await turn.stores.team_checkins.rate(checkin.id, member, ratings)
        if outcome is RateOutcome.CLOSED:
            self._closed(turn, checkin)
            return
        tally = await turn.stores.team_checkins.tally(checkin.id)
        done = (
            "Thanks, your ratings are in."
            if outcome is RateOutcome.NEW
            else ("Thanks, your ratings are updated.")
        )
        turn.reply(
            Card(
                title=f"Team values lens: {checkin.work}",
                text=f"{done} {plural(tally.participants, 'person', 'people')} "
                f"{'has' if tally.participants == 1 else 'have'} answered so far.",
                footer="Nobody sees your answers; the results show counts only.",
            ),
            private=True,
        )

    async def team_close(self, turn: Turn[ActionSubmitted]) -> None:
        """The "Close and show results" button: the card it is on then says the check-in has
        closed (the results follow in the channel)."""
        checkin_id = turn.event.values.get("team", "")
        checkin = await turn.stores.team_checkins.get(checkin_id)
        if checkin is not None and not checkin.is_open:
            self._closed(turn, checkin)
            return
        await self._close(turn, checkin)
        closed = await turn.stores.team_checkins.get(checkin_id)
        if closed is not None and not closed.is_open:
            turn.update(self.closed_card(closed, turn.command_prefix))

    def _closed(self, turn: Turn[ActionSubmitted], checkin: TeamCheckin) -> None:
        """A click on the card of a check-in that has closed: the card says so in place (for
        everyone who sees it), or the person is told when there is no card to change."""
        if turn.event.source is not None:
            turn.update(self.closed_card(checkin, turn.command_prefix))
        else:
            turn.reply(_closed_note(checkin), private=True)

    def closed_card(self, checkin: TeamCheckin, command_prefix: str = "/") -> Card:
        """The team card once the check-in has closed: nothing left to answer, and where the
        results are (the command written after ``command_prefix``: ``Turn.command_prefix``)."""
        again = f"{command_prefix}valueslens results"
        return Card(
            title=f"Team values lens: {checkin.work}",
            text="This team check-in has closed. Its results are posted in the channel; type "
            f"{again} there to see them again.",
            footer="Counts only, never names.",
        )

    async def _close(self, turn: Turn[Any], checkin: TeamCheckin | None) -> None:
        if checkin is None:
            turn.reply(
                Card(title="No team check-in", text="There is no open team check-in here."),
                private=True,
            )
            return
        if not checkin.is_open:
            turn.reply(_closed_note(checkin), private=True)
            return
        actor = turn.event.actor.id
        platform = str(turn.event.conversation.platform)
        if actor != checkin.started_by and not self.settings.is_admin(
            platform, actor, turn.event.actor.aliases
        ):
            starter = await self._name(turn.stores, checkin, checkin.started_by)
            closes = local_time(checkin.closes_at, self.settings.zone)
            turn.reply(
                Card(
                    title="Only the starter can close it",
                    text=f"{starter} started this check-in and can close it; otherwise it "
                    f"closes by itself {closes}.",
                ),
                private=True,
            )
            return
        await self._finish(turn, checkin)

    async def _finish(self, turn: Turn[Any], checkin: TeamCheckin) -> None:
        event = turn.event
        # A click on the card itself: the turn replaces that card (``_closed``, ``team_close``).
        clicked = (
            event.source
            if isinstance(event, ActionSubmitted) and _same_place(event.conversation, checkin.place)
            else None
        )
        card = await self.close(
            turn.stores, checkin, turn.now, command_prefix=turn.command_prefix, clicked=clicked
        )
        if card is None:
            return
        if turn.event.conversation == checkin.place:
            turn.reply(card)
        else:
            turn.post(checkin.place, card)

    async def close(
        self,
        stores: Stores,
        checkin: TeamCheckin,
        now: datetime,
        *,
        command_prefix: str = "/",
        clicked: MessageRef | None = None,
    ) -> Card | None:
        """Close the check-in and return its results card; None if someone closed it first.
        Its card in the channel is changed to say so (through the outbox, in this unit of
        work), unless that card is the one ``clicked`` (the turn replaces it itself)."""
        closed = await stores.team_checkins.close(checkin.id, now)
        if closed is None:
            return None
        if closed.card is not None and (clicked is None or clicked.id != closed.card):
            await self._change_card(stores, closed, now, command_prefix)
        tally = await stores.team_checkins.tally(closed.id)
        return self.results_card(tally, await self._name(stores, closed, closed.started_by))

    async def _change_card(
        self, stores: Stores, checkin: TeamCheckin, now: datetime, command_prefix: str
    ) -> None:
        """Queue the change of the closed check-in's card in its channel into the closed card
        (once: its key is the check-in's)."""
        if checkin.card is None:
            return
        place = checkin.place
        await stores.outbox.enqueue(
            to_channel(
                f"{TEAM_JOB}{checkin.id}{CLOSED_CARD}",
                f"{TEAM_JOB}{checkin.id}",
                str(place.platform),
                place.tenant,
                place.conversation,
                self.closed_card(checkin, command_prefix),
                thread=place.thread,
                replaces=checkin.card,
            ),
            now,
        )

    async def last_results(self, stores: Stores, place: ConversationRef) -> Card:
        """The results of the team check-in that closed last in ``place`` (again, for anyone
        who missed them)."""
        closed = await stores.team_checkins.last_closed(place)
        if closed is None:
            return Card(
                title="No results yet",
                text="No team check-in has closed here yet. Start one with /valueslens <work>.",
            )
        tally = await stores.team_checkins.tally(closed.id)
        return self.results_card(tally, await self._name(stores, closed, closed.started_by))

    async def _post_results(self, turn: Turn[CommandReceived]) -> None:
        closed = await turn.stores.team_checkins.last_closed(turn.event.conversation)
        card = await self.last_results(turn.stores, turn.event.conversation)
        # A reply, not an outbox post: it answers the command where it was typed, which works
        # even where the bot is not a member (Slack's response URL).
        turn.reply(card, private=closed is None)

    async def results_undelivered(self, turn: Turn[DeliveryFailed]) -> None:
        """The results of a check-in that closed by itself could not be posted in its channel
        (the bot is not a member, the channel is gone...): tell the starter, in their direct
        chat, what happened and how to post them."""
        event = turn.event
        checkin = await turn.stores.team_checkins.get(event.job.removeprefix(TEAM_JOB))
        # A card that could not be changed stays as it was until its next click: nobody needs
        # telling.
        if checkin is None or event.to_person or event.update:
            return
        place = checkin.place
        starter = PersonKey(str(place.platform), place.tenant, checkin.started_by)
        label = await place_label(turn.stores, event)
        card = Card(
            title="Your team check-in's results were not posted",
            text=f'The team check-in on "{checkin.work}" closed by itself, but I could not post '
            f"its results in {label}: {why(event)}.\n\nAdd valuesbot to {label}, then type "
            "/valueslens results post there to post them for everyone.",
            footer=f"Reason: {event.reason}",
        )
        await turn.stores.outbox.enqueue(notice(event, starter, card), turn.now)

    async def close_due(
        self,
        stores: Stores,
        now: datetime,
        limit: int = 50,
        *,
        command_prefix: Callable[[Platform], str] = lambda _: "/",
    ) -> int:
        """Close every team check-in whose time has run out and queue its results for its
        channel, and the change of its card there, in the same transaction (the outbox sends
        them, once, even after a crash); how many were closed. ``command_prefix`` says how
        each platform's people type commands (``Dispatcher.command_prefix``)."""
        closed = 0
        for checkin in await stores.team_checkins.due(now, limit):
            card = await self.close(
                stores, checkin, now, command_prefix=command_prefix(checkin.place.platform)
            )
            if card is None:
                continue
            place = checkin.place
            await stores.outbox.enqueue(
                OutboxMessage(
                    key=f"{TEAM_JOB}{checkin.id}:results",
                    job=f"{TEAM_JOB}{checkin.id}",
                    platform=str(place.platform),
                    tenant=place.tenant,
                    recipient=place.conversation,
                    thread=place.thread,
                    to_person=False,
                    card=card_to_json(card).decode(),
                    respect_working_hours=False,
                    counts_towards_cap=False,
                ),
                now,
            )
            closed += 1
        return closed

    def results_card(self, tally: TeamTally, starter: str) -> Card:
        """Counts per behaviour, never names, and what to talk about first."""
        checkin = tally.checkin
        title = f"Team values lens results: {checkin.work}"
        started = f"Started by {starter} on {local_date(checkin.opened_at, self.settings.zone)}."
        minimum = self.settings.team_lens_min
        if tally.participants < minimum:
            answered = plural(tally.participants, "person", "people")
            return Card(
                title=title,
                text=f"The check-in has closed. {answered} answered; results are shown only "
                f"when at least {minimum} people answer, so nobody's answers can be singled out.",
                footer=started,
            )
        bars = []
        for behaviour in self.content.behaviours:
            counts = tally.counts.get(behaviour.id, {})
            total = sum(
                counts.get(r.id, 0) * (r.score or 0)
                for r in self.content.ratings
                if r.score is not None
            )
            scored = sum(counts.get(r.id, 0) for r in self.content.ratings if r.score is not None)
            bars.append(
                BarRow(
                    label=behaviour.short,
                    value=total / scored if scored else 0.0,
                    maximum=float(self.content.max_score),
                    caption=self._counts(counts),
                )
            )
        return Card(
            title=title,
            text=f"{plural(tally.participants, 'person', 'people')} answered.\n\n"
            f"{self.discussion(tally)}",
            bars=tuple(bars),
            footer=f"Counts only, never names. {started}",
        )

    def discussion(self, tally: TeamTally) -> str:
        """The behaviour the team sees most differently, else the one it rates lowest."""
        lens = self.content.lens
        spreads = []
        for position, behaviour in enumerate(self.content.behaviours):
            counts = tally.counts.get(behaviour.id, {})
            scores = [
                r.score
                for r in self.content.ratings
                if r.score is not None
                for _ in range(counts.get(r.id, 0))
            ]
            if not scores:
                continue
            mean = sum(scores) / len(scores)
            spreads.append((max(scores) - min(scores), -mean, -position, behaviour, counts))
        if not spreads:
            return lens.team_discuss_none
        full_range = self.content.max_score - self.content.min_score
        widest = max(spreads, key=lambda s: (s[0], s[1], s[2]))
        if widest[0] >= full_range > 0:
            return lens.team_discuss_disagree.format(
                behaviour=widest[3].name, counts=self._counts(widest[4])
            )
        lowest = max(spreads, key=lambda s: (s[1], s[2]))
        if -lowest[1] >= self.content.max_score:
            return lens.team_discuss_none
        return lens.team_discuss_lowest.format(
            behaviour=lowest[3].name, counts=self._counts(lowest[4])
        )

    def _counts(self, counts: Mapping[str, int]) -> str:
        given = [
            f"{counts[r.id]} {r.label.lower()}" for r in self.content.ratings if counts.get(r.id)
        ]
        return ", ".join(given) or "no answers"

    @staticmethod
    async def _name(stores: Stores, checkin: TeamCheckin, user: str) -> str:
        person = await stores.people.get(
            PersonKey(str(checkin.place.platform), checkin.place.tenant, user)
        )
        return person.display_name if person and person.display_name else user


def _same_place(here: ConversationRef, place: ConversationRef) -> bool:
    """Whether ``here`` is the conversation ``place`` (whatever thread)."""
    return (here.platform, here.tenant, here.conversation) == (
        place.platform,
        place.tenant,
        place.conversation,
    )


def _closed_note(checkin: TeamCheckin) -> Card:
    return Card(
        title="This team check-in has closed",
        text=f'The team check-in on "{checkin.work}" is closed; its results were posted here.',
    )
