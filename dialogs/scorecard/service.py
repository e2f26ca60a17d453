"""The vision and purpose scorecard: ``/scorecard`` for everyone, figures and stakeholder rounds
for comms.

Everyone: ``/scorecard`` (every objective and its status), ``/scorecard <objective>`` (its
measures: latest, previous, trend, target, status), ``/scorecard help``. The comms team
(``VALUESBOT_COMMS``) also: ``/scorecard set KEY PERIOD VALUE`` (a figure they keep) and
``/scorecard stakeholders`` (the stakeholder round's progress, and its comments to approve or
reject once it has closed). The command line does the same, and imports the staff survey and
opens and closes stakeholder rounds (``bot/cli.py``).

Every figure is gathered afresh when asked (``build``): the sources (``sources``) read the
barometer's published results, the closed stakeholder rounds, the figures kept by the
scorecard's store and each feature's aggregate counts; ``measures`` turns them into trends and
statuses under the ``min_group`` rule. Comms actions go into the audit trail, never the
figures typed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime
from typing import Any

from bot.audit import person_actor, record
from bot.content import Content, ScorecardText
from bot.events import ActionSubmitted, CommandReceived, ScheduleFired
from bot.router import Router
from bot.settings import Settings
from bot.text import local_time, shorten
from bot.turn import Turn
from bot.ui import Card, Choice, ChoiceStyle, Field, commands_typed_with
from dialogs.barometer.schedule import period_of
from dialogs.barometer.service import Barometer
from dialogs.scorecard import cards
from dialogs.scorecard.figures import FiguresRefused, parse_manual, parse_staff_survey
from dialogs.scorecard.measures import Point, Scorecard, headline, period_label, scorecard
from dialogs.scorecard.sources import (
    NoSaidDid,
    SaidDidCounts,
    barometer_points,
    engagement_points,
    figure_points,
    months_before,
    stakeholder_points,
)
from dialogs.scorecard.stakeholders import Stakeholders
from storage.scorecard import FigureSource, StakeholderComment, StakeholderRound
from storage.stores import Stores

log = logging.getLogger("valuesbot.scorecard")

TICK_JOB = "scorecard.tick"
APPROVE = "scorecard.approve"
REJECT = "scorecard.reject"
COMMENTS_PER_REQUEST = 10
WORD_SHOWN = 40


class Scorecards:
    """The scorecard: its command, its figures and its stakeholder rounds."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        barometer: Barometer,
        said_did: SaidDidCounts | None = None,
    ) -> None:
        assert content.scorecard is not None, "the content file has no scorecard section"
        self.content = content
        self.text: ScorecardText = content.scorecard
        self.settings = settings
        self.barometer = barometer
        self.said_did: SaidDidCounts = said_did or NoSaidDid()
        self.stakeholders = Stakeholders(content=content, settings=settings)

    @property
    def page(self) -> str | None:
        """The address of the scorecard page, when the public address is set."""
        if self.settings.public_url is None:
            return None
        return f"{self.settings.public_url}/scorecard"

    def router(self) -> Router:
        """``/scorecard``, comment moderation and the tick closing stakeholder rounds."""
        router = Router()
        router.command("scorecard", self.command)
        router.action(APPROVE, self.approve)
        router.action(REJECT, self.reject)
        router.schedule(TICK_JOB, self.scheduled)
        return router

    # The figures

    async def build(self, stores: Stores, now: datetime) -> Scorecard:
        """The scorecard as it stands now: every measure's points from its source."""
        min_group = self.settings.min_group
        by_kind: dict[str, list[Any]] = {}
        for _, measure in self.text.measures.values():
            by_kind.setdefault(measure.kind, []).append(measure)
        points: dict[str, list[Point]] = {}
        if "barometer" in by_kind:
            history = await self.barometer.published(stores)
            points |= barometer_points(by_kind["barometer"], history, min_group)
        if "stakeholders" in by_kind:
            rounds = await self.stakeholders.published(stores)
            points |= stakeholder_points(by_kind["stakeholders"], rounds, min_group)
        for kind in (FigureSource.STAFF_SURVEY, FigureSource.MANUAL):
            if kind in by_kind:
                points |= await figure_points(stores, kind, by_kind[kind], min_group)
        if "engagement" in by_kind:
            periods = months_before(now, self.settings.zone)
            points |= await engagement_points(
                stores, self.content, by_kind["engagement"], periods, min_group, self.said_did
            )
        return scorecard(self.text, points, min_group)

    async def headline(self, stores: Stores, now: datetime) -> str:
        """One line of what moved, for the monthly barometer results: among measures whose
        latest figure is of this month or the one before (or of a stakeholder round closed this
        quarter)."""
        card = await self.build(stores, now)
        return headline(card, recent_periods(now, self.settings))

    # Commands

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/scorecard [<objective> | help | set KEY PERIOD VALUE | stakeholders]``."""
        text = " ".join(turn.event.text.split())
        word, _, rest = text.partition(" ")
        word = word.lower()
        comms = self._is_comms(turn)
        prefix = turn.command_prefix
        if not text:
            built = await self.build(turn.stores, turn.now)
            turn.reply(cards.summary_card(self.text, built, self.page, prefix), private=True)
            return
        if word in {"help", "?"}:
            turn.reply(self._help(comms, prefix=prefix), private=True)
            return
        if word in {"set", "stakeholders"}:
            if not comms:
                turn.reply(
                    Card(
                        title="Only the comms team can do this",
                        text=f"/scorecard {word} is for the comms team. Everyone can see the "
                        "scorecard with /scorecard.",
                    ),
                    private=True,
                )
                return
            if word == "set":
                turn.reply(await self._set(turn, rest), private=True)
            else:
                for card in await self.stakeholder_cards(turn.stores, turn.now):
                    turn.reply(card, private=True)
            return
        objective = self.text.objective(text)
        if objective is None:
            problem = f"I don't know the objective {shorten(text, WORD_SHOWN)!r}."
            turn.reply(self._help(comms, problem, prefix), private=True)
            return
        built = await self.build(turn.stores, turn.now)
        (found,) = [o for o in built.objectives if o.objective.id == objective.id]
        turn.reply(cards.objective_card(self.text, found, built.min_group, self.page), private=True)

    def _help(self, comms: bool, problem: str = "", prefix: str = "/") -> Card:
        return commands_typed_with(cards.help_card(self.text, comms, problem, self.page), prefix)

    async def _set(self, turn: Turn[CommandReceived], rest: str) -> Card:
        parts = rest.split()
        if len(parts) != 3:
            return Card(
                title="A figure needs a key, a period and a value",
                text="For example: /scorecard set gp_experience 2026-11 72. Keys: "
                + ", ".join(sorted(self.text.keys_of("manual")))
                + ".",
            )
        key, period, value = parts
        problem = await self.set_figure(
            turn.stores, key, period, value, person_actor(turn.person), turn.now
        )
        if problem:
            return Card(title="The figure was not kept", text=problem)
        _, measure = next(
            (o, m)
            for o, m in self.text.measures.values()
            if m.kind == "manual" and m.name_in_source == key
        )
        return Card(
            title="Figure kept",
            text=f"{measure.name}: {value} for {period_label(period)}. It is on the scorecard now.",
        )

    async def set_figure(
        self, stores: Stores, key: str, period: str, value: str, actor: str, now: datetime
    ) -> str:
        """Keep a figure comms entered (``manual:`` measures), recording who in the audit
        trail: "" when kept, else what is wrong."""
        units = self._units("manual")
        try:
            figure = parse_manual(key, period, value, units)
        except FiguresRefused as refused:
            said = "; ".join(refused.problems)
            return said[:1].upper() + said[1:] + "."
        await stores.scorecard.put_figures([figure], now)
        await record(stores, actor, "scorecard.set", f"{key} {period}", now)
        return ""

    async def import_staff_survey(
        self, stores: Stores, text: str, actor: str, now: datetime
    ) -> int:
        """Import a staff survey CSV file whole (``FiguresRefused`` naming every problem by
        row, and nothing kept); how many figures."""
        figures = parse_staff_survey(text, self._units("staff_survey"))
        await stores.scorecard.put_figures(figures, now)
        periods = sorted({f.period for f in figures})
        await record(
            stores,
            actor,
            "scorecard.import.staff_survey",
            f"{len(figures)} figures ({', '.join(periods)})",
            now,
        )
        return len(figures)

    def _units(self, kind: str) -> dict[str, str]:
        return {m.name_in_source: m.unit for _, m in self.text.measures.values() if m.kind == kind}

    # Stakeholder rounds, in chat

    async def stakeholder_cards(self, stores: Stores, now: datetime) -> list[Card]:
        """The open round's progress, or the latest closed round's comments to read."""
        zone = self.settings.zone
        current = await stores.scorecard.current_round()
        found: list[Card] = []
        if current is not None:
            invited, answered = await stores.scorecard.participation(current.id)
            found.append(
                Card(
                    title=f"Stakeholder feedback: {period_label(current.period)}",
                    text="Response rate only: nobody, comms included, sees answers before the "
                    "round closes.",
                    fields=(
                        Field(label="Answered", value=f"{answered} of {invited} links"),
                        Field(label="Closes", value=local_time(current.closes_at, zone)),
                    ),
                    footer=cards.rule(current.min_group),
                )
            )
        round_, waiting, problem = await self.stakeholders.waiting_comments(stores)
        if round_ is None and current is None:
            return [
                Card(
                    title="No stakeholder round",
                    text="No stakeholder round has run yet. Comms open one from the command "
                    "line: valuesbot stakeholders open --invites 200.",
                )
            ]
        if round_ is not None and problem:
            found.append(Card(title="No stakeholder comments to read", text=problem))
        elif round_ is not None and not waiting:
            found.append(
                Card(title="No stakeholder comments to read", text="Every comment is read.")
            )
        elif round_ is not None:
            found += [comment_card(round_, c) for c in waiting[:COMMENTS_PER_REQUEST]]
            if len(waiting) > COMMENTS_PER_REQUEST:
                found.append(
                    Card(
                        text=f"{len(waiting) - COMMENTS_PER_REQUEST} more: /scorecard "
                        "stakeholders again."
                    )
                )
        return found

    async def approve(self, turn: Turn[ActionSubmitted]) -> None:
        """Comms approve a stakeholder comment for publication."""
        await self._moderate(turn, "approved", "✓ Approved: it is published with the results.")

    async def reject(self, turn: Turn[ActionSubmitted]) -> None:
        """Comms reject a stakeholder comment: it is never published."""
        await self._moderate(turn, "rejected", "✗ Rejected: it will not be published.")

    async def _moderate(self, turn: Turn[ActionSubmitted], status: str, done: str) -> None:
        if not self._is_comms(turn):
            turn.reply(
                Card(
                    title="Only the comms team can do this",
                    text="Comments are approved by the comms team.",
                ),
                private=True,
            )
            return
        values = turn.event.values
        comment_id = values.get("comment", "")
        round_ = await self.stakeholders.latest_closed(turn.stores)
        found = (
            [c for c in await turn.stores.scorecard.comments(round_.id) if c.id == comment_id]
            if round_ is not None and round_.id == values.get("round")
            else []
        )
        problem = await self.stakeholders.moderate(
            turn.stores, comment_id, status, person_actor(turn.person), turn.now
        )
        if problem or round_ is None or not found:
            turn.reply(
                Card(title="That comment cannot be moderated", text=problem or "It has gone."),
                private=True,
            )
            return
        turn.update(comment_card(round_, found[0], done))

    async def scheduled(self, turn: Turn[ScheduleFired]) -> None:
        """The ``scorecard.tick`` job: close a stakeholder round whose time is up."""
        await self.stakeholders.close_due(turn.stores, turn.now)

    def _is_comms(self, turn: Turn[Any]) -> bool:
        actor = turn.event.actor
        return self.settings.is_comms(
            str(turn.event.conversation.platform), actor.id, actor.aliases
        )


def comment_card(round_: StakeholderRound, comment: StakeholderComment, done: str = "") -> Card:
    """A stakeholder comment for comms to approve or reject (or, ``done``, what they did)."""
    return Card(
        title=f"Stakeholder comment ({round_.period})",
        text=comment.text,
        footer=done
        or "Approved comments are published with the round's results; rejected ones never are.",
        choices=()
        if done
        else (
            Choice(label="Approve", action=APPROVE, style=ChoiceStyle.PRIMARY),
            Choice(label="Reject", action=REJECT, style=ChoiceStyle.DANGER),
        ),
        hidden={"round": round_.id, "comment": comment.id},
    )


def recent_periods(now: datetime, settings: Settings) -> Collection[str]:
    """The periods a headline looks at: this month and the one before, their quarters."""
    this = period_of(now, settings.zone)
    before = months_before(now, settings.zone, 1)[0].name
    found = {this, before}
    for month in (this, before):
        year, number = month.split("-")
        found.add(f"{year}-Q{(int(number) - 1) // 3 + 1}")
    return found
