"""What a closed round may show: thresholds, breakdowns that cannot be subtracted, trends.

Pure functions over a round's counts. The rules (DESIGN.md section 4):

- nothing about a round's answers is shown unless at least ``min_group`` people answered;
- a group is shown only when at least ``min_group`` of its people answered, and never in a way
  that lets a smaller group be worked out by subtracting the groups shown from the total: the
  people not in any shown group (those who did not say, and the small groups) must be none or at
  least ``min_group`` too. When they are between, the smallest shown group is withheld as well,
  which always brings them up to ``min_group`` or more;
- comments only when at least ``comment_min`` people answered, and only those the comms team
  approved; the comms team's responses only with those comments (a response whose comments
  are not shown is not shown either).

Every output (cards, the page, JSON, CSV) is built from ``RoundResults``, so the rules hold
everywhere at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from storage.barometer import (
    BarometerComment,
    BarometerRound,
    BarometerTally,
    CommentReply,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
)

REMAINDER_LABEL = "Did not say, or in a group not shown"


def publishable_groups(sizes: Mapping[str | None, int], min_group: int) -> set[str]:
    """The groups whose results may be shown, given how many answered in each (None: people
    who gave no group). Empty when the whole round is below ``min_group``."""
    total = sum(sizes.values())
    if total < min_group:
        return set()
    named = {g: n for g, n in sizes.items() if g is not None and n > 0}
    shown = {g for g, n in named.items() if n >= min_group}
    remainder = total - sum(named[g] for g in shown)
    if 0 < remainder < min_group and shown:
        # One more group joins the remainder; since it has min_group or more, the remainder
        # then has too. The smallest goes, so as little as possible is withheld.
        smallest = min(shown, key=lambda g: (named[g], g))
        shown.discard(smallest)
        remainder += named[smallest]
    return shown


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerCount:
    """How many chose one point of the scale."""

    point: RoundScalePoint
    count: int
    share: float


@dataclass(frozen=True, slots=True, kw_only=True)
class QuestionResult:
    """One question's answers among some people."""

    question: RoundQuestion
    respondents: int
    answers: tuple[AnswerCount, ...]

    @property
    def agree(self) -> int:
        """How many agreed (any point marked ``agree``)."""
        return sum(a.count for a in self.answers if a.point.agree)

    @property
    def agree_share(self) -> float:
        """The share that agreed, between 0 and 1."""
        return self.agree / self.respondents if self.respondents else 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupResult:
    """The answers of one group (``group`` None: everyone not in a shown group)."""

    group: RoundGroup | None
    respondents: int
    questions: tuple[QuestionResult, ...]

    @property
    def label(self) -> str:
        """The group's name."""
        return self.group.label if self.group is not None else REMAINDER_LABEL


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedReply:
    """The comms team's response as published, to the comments of ``RoundResults.comments``
    at ``comments`` (their positions there); ``theme`` names the theme of a response to
    several. Withdrawn, it keeps its dates and loses its text."""

    id: str
    theme: str | None
    text: str
    written_at: datetime
    edited_at: datetime | None = None
    withdrawn_at: datetime | None = None
    comments: tuple[int, ...] = ()

    @property
    def withdrawn(self) -> bool:
        """True once the comms team withdrew it."""
        return self.withdrawn_at is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundResults:
    """Everything a closed round may show. ``shown`` is False (and ``questions`` empty) when
    too few answered."""

    round: BarometerRound
    invited: int
    answered: int
    shown: bool
    questions: tuple[QuestionResult, ...] = ()
    groups: tuple[GroupResult, ...] = ()
    groups_withheld: bool = False
    comments: tuple[str, ...] = ()
    replies: tuple[PublishedReply, ...] = ()

    @property
    def answered_comments(self) -> int:
        """How many of the comments shown have a response (not withdrawn)."""
        return len({i for r in self.replies if not r.withdrawn for i in r.comments})

    def reply_to(self, comment: int) -> PublishedReply | None:
        """The response to the comment at position ``comment`` of ``comments``."""
        return next((r for r in self.replies if comment in r.comments), None)

    @property
    def response_rate(self) -> float | None:
        """Answered out of asked (None when nobody was asked)."""
        return self.answered / self.invited if self.invited else None

    def question(self, question_id: str) -> QuestionResult | None:
        """The overall result of one question."""
        return next((q for q in self.questions if q.question.id == question_id), None)


def _question(
    round_: BarometerRound,
    question: RoundQuestion,
    counts: Mapping[tuple[str, str | None, str], int],
    groups: Sequence[str | None] | None,
) -> QuestionResult:
    by_point = {p.id: 0 for p in round_.scale}
    for (q, g, v), n in counts.items():
        if q == question.id and v in by_point and (groups is None or g in groups):
            by_point[v] += n
    respondents = sum(by_point.values())
    return QuestionResult(
        question=question,
        respondents=respondents,
        answers=tuple(
            AnswerCount(
                point=p,
                count=by_point[p.id],
                share=by_point[p.id] / respondents if respondents else 0.0,
            )
            for p in round_.scale
        ),
    )


def published_replies(
    approved: Sequence[BarometerComment], replies: Sequence[CommentReply]
) -> tuple[PublishedReply, ...]:
    """The responses to approved comments, each pointing at its comments' positions in
    ``approved``; responses to no approved comment are left out."""
    position = {c.id: n for n, c in enumerate(approved)}
    shown = []
    for reply in replies:
        answered = tuple(sorted(position[c] for c in reply.comments if c in position))
        if not answered:
            continue
        shown.append(
            PublishedReply(
                id=reply.id,
                theme=reply.theme,
                text="" if reply.withdrawn else reply.text,
                written_at=reply.written_at,
                edited_at=reply.edited_at,
                withdrawn_at=reply.withdrawn_at,
                comments=answered,
            )
        )
    return tuple(shown)


def round_results(
    tally: BarometerTally,
    approved: Sequence[BarometerComment] = (),
    replies: Sequence[CommentReply] = (),
) -> RoundResults:
    """What a closed round shows, from its counts, its approved comments and the comms team's
    responses to them."""
    round_ = tally.round
    answered = round_.answered or tally.respondents
    invited = max(round_.invited, answered)
    if tally.respondents < round_.min_group:
        return RoundResults(round=round_, invited=invited, answered=answered, shown=False)
    counts = tally.counts
    questions = tuple(_question(round_, q, counts, None) for q in round_.questions)
    sizes: dict[str | None, int] = {}
    first = round_.questions[0].id
    for (q, g, _), n in counts.items():
        if q == first:
            sizes[g] = sizes.get(g, 0) + n
    groups: list[GroupResult] = []
    withheld = False
    if round_.groups:
        known = {g.id for g in round_.groups}
        shown = publishable_groups(sizes, round_.min_group) & known
        # Once a round is sealed its small groups are erased from the rows, so "withheld" means
        # any group of the round that is not shown (including one nobody said they were in).
        withheld = len(shown) < len(known)
        for group in round_.groups:
            if group.id in shown:
                members: list[str | None] = [group.id]
                parts = tuple(_question(round_, q, counts, members) for q in round_.questions)
                groups.append(
                    GroupResult(group=group, respondents=parts[0].respondents, questions=parts)
                )
        rest = [g for g in sizes if g not in shown]
        rest_size = sum(sizes[g] for g in rest)
        if groups and rest_size:
            parts = tuple(_question(round_, q, counts, rest) for q in round_.questions)
            groups.append(GroupResult(group=None, respondents=rest_size, questions=parts))
    shown_comments = approved if tally.respondents >= round_.comment_min else ()
    return RoundResults(
        round=round_,
        invited=invited,
        answered=answered,
        shown=True,
        questions=questions,
        groups=tuple(groups),
        groups_withheld=withheld,
        comments=tuple(c.text for c in shown_comments),
        replies=published_replies(shown_comments, replies),
    )


def change(
    results: RoundResults, earlier: Sequence[RoundResults], question_id: str
) -> tuple[float, RoundResults] | None:
    """The change in a question's agree share since the latest earlier round that showed it:
    (difference in points of percentage, that round)."""
    now = results.question(question_id)
    if now is None:
        return None
    for before in earlier:
        then = before.question(question_id)
        if then is not None and before.round.opened_at < results.round.opened_at:
            return (now.agree_share - then.agree_share) * 100, before
    return None


def percent(share: float) -> str:
    """0.724 as "72%"."""
    return f"{round(share * 100)}%"
