"""The staff barometer's records and its interface: rounds, answers, tallies and comments."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from storage.people import PersonKey


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundQuestion:
    """A question as a round asked it (kept with the round, so later content edits do not
    change what past results mean)."""

    id: str
    text: str
    short: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundScalePoint:
    """A point of the round's answer scale, most negative first."""

    id: str
    label: str
    agree: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundGroup:
    """A group people could say they belong to in this round."""

    id: str
    label: str


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerRound:
    """One month's staff barometer.

    ``min_group`` and ``comment_min`` are fixed when the round opens, and so is who it is for:
    ``channels``, the channels whose members were asked (empty: everyone the bot knew), and
    ``others_may_answer``, whether someone who was not asked may answer too (and is then counted
    as asked). ``invited`` and ``answered`` are final once it has closed (while open,
    ``BarometerStore.participation`` counts them).
    """

    id: str
    period: str
    opened_at: datetime
    closes_at: datetime
    min_group: int
    comment_min: int
    questions: tuple[RoundQuestion, ...]
    scale: tuple[RoundScalePoint, ...]
    groups: tuple[RoundGroup, ...] = ()
    asks_comment: bool = True
    channels: tuple[str, ...] = ()
    others_may_answer: bool = True
    status: str = "open"
    closed_at: datetime | None = None
    invited: int = 0
    answered: int = 0
    reminders_sent: int = 0

    @property
    def is_open(self) -> bool:
        """True until it closes."""
        return self.status == "open"


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerAnswer:
    """What one person answered: a scale point per question, optionally a group and a
    comment."""

    values: Mapping[str, str]
    group: str | None = None
    comment: str = ""


class AnswerOutcome(StrEnum):
    """What happened to an answer."""

    RECORDED = "recorded"
    ALREADY = "already"
    CHANGED = "changed"
    UNKNOWN = "unknown"
    CLOSED = "closed"
    NOT_ASKED = "not_asked"


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerTally:
    """How many answered each question with each scale point, by group (None: no group given
    or, after closing, a group too small to keep). ``respondents`` is the number of people."""

    round: BarometerRound
    respondents: int
    counts: Mapping[tuple[str, str | None, str], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class BarometerComment:
    """A comment on a round (no person, no time, no group)."""

    id: str
    round_id: str
    text: str
    status: str = "pending"


class BarometerStore(Protocol):
    """Barometer rounds, participation (who) and responses (what), kept apart."""

    async def open(self, round_: BarometerRound) -> bool:
        """Store a new round; False when its period already has one (nothing changes)."""
        ...

    async def get(self, round_id: str) -> BarometerRound | None:
        """One round."""
        ...

    async def by_period(self, period: str) -> BarometerRound | None:
        """The round of a month ("2027-05"), if any."""
        ...

    async def current(self) -> BarometerRound | None:
        """The open round, if any (the latest opened when several are)."""
        ...

    async def closed(self, limit: int) -> list[BarometerRound]:
        """Closed rounds, newest first."""
        ...

    async def invite(self, round_id: str, people: Sequence[PersonKey]) -> int:
        """Record that these people are asked; how many were not asked before."""
        ...

    async def waiting(self, round_id: str) -> list[PersonKey]:
        """People asked who have not answered yet."""
        ...

    async def participation(self, round_id: str) -> tuple[int, int]:
        """(asked, answered) so far."""
        ...

    async def has_answered(self, round_id: str, person: PersonKey) -> bool:
        """True when the person has answered the round."""
        ...

    async def invited(self, round_id: str, person: PersonKey) -> bool:
        """True when the person was asked in the round (or has answered it)."""
        ...

    async def answer(
        self, round_id: str, person: PersonKey, answer: BarometerAnswer, token_hash: str
    ) -> AnswerOutcome:
        """Record a first answer: the participation row, and the answer (carrying
        ``token_hash`` but nothing of the person) in the pool, where it waits for a batch of
        other people's answers to go into the response tables with. ``ALREADY`` when the
        person has answered, ``CLOSED`` when the round is not open, ``NOT_ASKED`` when the
        person was not asked and the round is only for those it asked (``others_may_answer``
        False)."""
        ...

    async def change(
        self, round_id: str, token_hash: str, answer: BarometerAnswer
    ) -> AnswerOutcome:
        """Replace the answer holding ``token_hash`` (where it waits, or, once written, by a
        change that waits for a batch of other changes): ``CHANGED``, ``UNKNOWN`` (no such
        answer) or ``CLOSED``."""
        ...

    async def holds(self, round_id: str, token_hash: str) -> bool:
        """True when an answer in the open round holds ``token_hash`` (waiting or written)."""
        ...

    async def pending(self) -> int:
        """How many answers wait in the pool, in every round (each sealed with the answer
        key: none can be read with another)."""
        ...

    async def reminded(self, round_id: str, sent: int, now_sent: int) -> bool:
        """Count reminders: ``now_sent`` instead of ``sent``, if ``sent`` were counted so far and
        the round is open; False if someone else counted them first."""
        ...

    async def tally(self, round_id: str) -> BarometerTally:
        """The counts of a round, from the response tables: whole only once it has closed
        (until then, answers wait in the pool, which nothing but the person's own change
        reads)."""
        ...

    async def close(self, round_id: str, now: datetime) -> BarometerRound | None:
        """Close the round if open, returning it closed (None if someone closed it first).
        Every answer still waiting in the pool is written to the response tables. The counts
        of asked and answered are kept on the round and its participation rows are deleted:
        who took part is not needed once nobody can answer."""
        ...

    async def seal(
        self,
        round_id: str,
        keep_groups: Collection[str],
        keep_comments: bool,
        keep_answers: bool = True,
    ) -> None:
        """Write a closed round's responses and comments again, in random order, with new
        response ids and no token hash (nothing can change them any more; a comment keeps
        instead its author's mark, ``AnswerKey.author_mark``, see ``comment_by_token``);
        groups not in ``keep_groups`` are erased from the responses, and the comments are
        deleted unless ``keep_comments`` (too few answered for them ever to be shown). Without
        ``keep_answers`` (too few answered for anything to be shown) responses and comments are
        all deleted: the round keeps only its counts of asked and answered."""
        ...

    async def comments(
        self, round_id: str, statuses: Collection[str] = ("pending", "approved", "rejected")
    ) -> list[BarometerComment]:
        """A round's comments with these statuses (in their random id order)."""
        ...

    async def moderate(self, round_id: str, comment_id: str, status: str) -> bool:
        """Set a comment's status; False when there is no such comment."""
        ...

    async def forget_participant(self, person: PersonKey) -> int:
        """Erase the person from open rounds: asked and not answered, their row goes (they are
        asked no more); answered, it stays under a random id of nobody, so the counts of asked
        and answered stay true. Their answers were never linked to them and are not touched.
        How many rows."""
        ...

    async def comment_by_token(self, round_id: str, token_hash: str) -> BarometerComment | None:
        """The comment of a closed round written with the answer whose token hashes to
        ``token_hash`` (found by the author's mark, which only the answer key makes from it),
        whatever its status; None when there is none or the round is not closed. Only the
        author's own chat message holds the token."""
        ...
