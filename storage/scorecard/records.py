"""The scorecard's records and its interface: figures comms import or enter, and stakeholder
feedback rounds (their single-use links and answers)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from storage.barometer import BarometerAnswer, RoundGroup, RoundQuestion, RoundScalePoint


class FigureSource(StrEnum):
    """Where a figure kept by the scorecard came from."""

    STAFF_SURVEY = "staff_survey"
    """Imported from the annual staff survey (``valuesbot scorecard import staff-survey``)."""
    MANUAL = "manual"
    """Entered by comms (``/scorecard set``)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Figure:
    """One figure of one measure for one period. ``respondents``: how many people it comes
    from (a survey's), or None for a figure that is not from people (a budget)."""

    source: str
    key: str
    period: str
    value: float
    respondents: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StakeholderRound:
    """A round of feedback from external partners and stakeholders.

    Like a barometer round, its rules are fixed when it opens: ``min_group``, ``comment_min``,
    the questions, the scale and the organisation types people may give. Its links stop
    working at ``closes_at``; ``invited`` and ``answered`` are counted when it closes (until
    then, ``ScorecardStore.participation`` counts them)."""

    id: str
    period: str
    opened_at: datetime
    closes_at: datetime
    min_group: int
    comment_min: int
    questions: tuple[RoundQuestion, ...]
    scale: tuple[RoundScalePoint, ...]
    groups: tuple[RoundGroup, ...] = ()
    status: str = "open"
    closed_at: datetime | None = None
    invited: int = 0
    answered: int = 0

    @property
    def is_open(self) -> bool:
        """True until it closes."""
        return self.status == "open"


class LinkState(StrEnum):
    """What a stakeholder's link can do now."""

    OK = "ok"
    """Not used yet, and its round takes answers."""
    USED = "used"
    EXPIRED = "expired"
    """Its round's time is over (it has not closed yet, or it has)."""
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkCheck:
    """A link's state and, unless unknown, its round."""

    state: LinkState
    round: StakeholderRound | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StakeholderTally:
    """How many gave each answer to each question, by organisation type (None: not given, or
    a type too small to keep once sealed), and how many people answered."""

    round: StakeholderRound
    respondents: int
    counts: Mapping[tuple[str, str | None, str], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class StakeholderComment:
    """A comment on a stakeholder round: no link, no time, no organisation type."""

    id: str
    round_id: str
    text: str
    status: str = "pending"


class ScorecardStore(Protocol):
    """Figures comms import or enter, and stakeholder feedback rounds, whose links and answers
    are kept apart."""

    async def put_figures(self, figures: Sequence[Figure], now: datetime) -> int:
        """Keep these figures, replacing any of the same source, key and period; how many."""
        ...

    async def figures(self, source: str, keys: Collection[str] | None = None) -> list[Figure]:
        """The figures of a source (of these keys), by key and period."""
        ...

    async def open_round(self, round_: StakeholderRound, token_hashes: Sequence[str]) -> bool:
        """Store a new round with the hashes of its links' tokens; False (nothing stored) when
        its period already has a round or another round is open."""
        ...

    async def round(self, round_id: str) -> StakeholderRound | None:
        """One round."""
        ...

    async def round_by_period(self, period: str) -> StakeholderRound | None:
        """The round of a period, if any."""
        ...

    async def current_round(self) -> StakeholderRound | None:
        """The open round, if any."""
        ...

    async def closed_rounds(self, limit: int) -> list[StakeholderRound]:
        """Closed rounds, newest first."""
        ...

    async def participation(self, round_id: str) -> tuple[int, int]:
        """(links issued, links used) of an open round."""
        ...

    async def check_link(self, token_hash: str, now: datetime) -> LinkCheck:
        """What the link with this token hash can do (nothing changes)."""
        ...

    async def answer(self, token_hash: str, answer: BarometerAnswer, now: datetime) -> LinkCheck:
        """Spend the link and keep its answer, in one transaction: ``OK`` exactly once for a
        link (two requests at once: one of them), then ``USED``. The answer, holding nothing
        of the link, waits sealed with the answer key until the round closes."""
        ...

    async def close_round(self, round_id: str, now: datetime) -> StakeholderRound | None:
        """Close the round if open (None if someone closed it first): every waiting answer is
        written, in random order, to the response and comment tables; the counts of links
        issued and used are kept on the round, and the links forget whether and when they
        were used."""
        ...

    async def seal(
        self,
        round_id: str,
        keep_groups: Collection[str],
        keep_comments: bool,
        keep_answers: bool = True,
    ) -> None:
        """Erase what a closed round may never show: organisation types not in
        ``keep_groups``, the comments unless ``keep_comments``, every answer unless
        ``keep_answers``."""
        ...

    async def tally(self, round_id: str) -> StakeholderTally:
        """The counts of a round (empty until it closes)."""
        ...

    async def comments(
        self, round_id: str, statuses: Collection[str] = ("pending", "approved", "rejected")
    ) -> list[StakeholderComment]:
        """A round's comments with these statuses (in their random id order)."""
        ...

    async def moderate(self, round_id: str, comment_id: str, status: str) -> bool:
        """Set a comment's status; False when there is no such comment."""
        ...

    async def pending(self) -> int:
        """How many answers wait sealed, in every round."""
        ...
