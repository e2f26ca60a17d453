"""The barometer's cards: the questions, the thank-you, reminders, results and trends.

Pure functions from rounds and results to neutral cards. The anonymity rule is on every card a
respondent sees, in the words of the round (its ``min_group`` was fixed when it opened).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from zoneinfo import ZoneInfo

from bot.content import BarometerText
from bot.text import local_time, plural, shorten
from bot.ui import BarRow, Card, Choice, ChoiceInput, ChoiceStyle, Field, Option, TextInput
from dialogs.barometer.results import RoundResults, change, percent
from dialogs.barometer.schedule import month_name
from storage.barometer import BarometerComment, BarometerRound

ANSWER = "barometer.answer"
CHANGE = "barometer.change"
KEEP = "barometer.keep"
APPROVE = "barometer.approve"
REJECT = "barometer.reject"
ASK = "barometer.ask"
MINE = "barometer.mine"
SEE_RESPONSE = "See the response to my comment"
PREVIEW = "preview"
COMMENT_LIMIT = 500
# A card lists this many groups or comments at most; the page has them all.
CARD_GROUPS = 6
CARD_COMMENTS = 3


def rule(round_: BarometerRound) -> str:
    """The anonymity rule of a round, as people read it."""
    return (
        f"Results are shown only for groups of {round_.min_group} or more people; comments "
        f"only when {round_.comment_min} or more answer, after the comms team has read them."
    )


def title(text: BarometerText, round_: BarometerRound) -> str:
    """ "Staff barometer: May 2027"."""
    return f"{text.title}: {month_name(round_.period)}"


def question_card(
    text: BarometerText,
    round_: BarometerRound,
    zone: ZoneInfo,
    *,
    lead: str = "",
    token: str = "",
    preview: bool = False,
    keep: Mapping[str, str] | None = None,
) -> Card:
    """The round's questions, answered in one go (``keep``: hidden values the answered card
    had, which "Keep my answer" gives back to it)."""
    inputs: list[ChoiceInput | TextInput] = [
        ChoiceInput(
            name=f"q_{q.id}",
            label=q.text,
            options=tuple(Option(label=p.label, value=p.id) for p in round_.scale),
        )
        for q in round_.questions
    ]
    if round_.groups:
        inputs.append(
            ChoiceInput(
                name="group",
                label=text.group_label,
                options=tuple(Option(label=g.label, value=g.id) for g in round_.groups),
                optional=True,
            )
        )
    if round_.asks_comment:
        inputs.append(
            TextInput(
                name="comment",
                label=text.comment_label,
                placeholder=text.comment_placeholder,
                multiline=True,
                max_length=COMMENT_LIMIT,
            )
        )
    hidden = {"round": PREVIEW if preview else round_.id}
    if token:
        hidden["token"] = token
        hidden.update(keep or {})
    body = f"{lead}\n\n{text.intro}" if lead else text.intro
    closes = local_time(round_.closes_at, zone)
    return Card(
        title=("Preview: " if preview else "") + title(text, round_),
        text=f"{body}\n\nOpen until {closes}.",
        inputs=tuple(inputs),
        choices=(
            Choice(
                label="Send my new answer" if token else "Send my answers",
                action=ANSWER,
                style=ChoiceStyle.PRIMARY,
            ),
            *(
                (Choice(label="Keep my answer", action=KEEP, collects_inputs=False),)
                if token
                else ()
            ),
        ),
        footer=rule(round_),
        hidden=hidden,
    )


def reminder_card(text: BarometerText, round_: BarometerRound, zone: ZoneInfo) -> Card:
    """A reminder to someone who has not answered, with the questions to answer at once."""
    lead = (
        f"You have not answered the {month_name(round_.period)} staff barometer yet. That is "
        "all I know about you here: whether you have answered. I never know what anyone "
        "answered, because answers are stored apart from names."
    )
    return question_card(text, round_, zone, lead=lead)


def thanks_card(
    text: BarometerText,
    round_: BarometerRound,
    zone: ZoneInfo,
    token: str,
    *,
    changed: bool,
    holder: str = "",
    commented: bool = False,
) -> Card:
    """What the answered card becomes: thank you, recorded; the rule; the way to change it;
    and, when the answer had a comment, the way to read the comms team's response to it once
    the round has closed (``holder``: the card's holder mark, ``AnswerKey.holder_mark``)."""
    done = "Your new answer replaced your earlier one." if changed else "Your answer is recorded."
    choices = [Choice(label="Change my answer", action=CHANGE, collects_inputs=False)]
    hidden = {"round": round_.id, "token": token}
    later = ""
    if commented and holder:
        choices.append(Choice(label=SEE_RESPONSE, action=MINE, collects_inputs=False))
        hidden.update(holder=holder, commented="1")
        later = (
            "\n\nOnce the round has closed, this card can also show you the comms team's "
            f'response to your comment: press "{SEE_RESPONSE}". I cannot tell you when one is '
            "written, because I do not know which comment is yours."
        )
    return Card(
        title=f"Thank you: {title(text, round_)}",
        text=f"{done} It is stored apart from your name, and nobody can see what you answered. "
        f"Results are published for everyone when the round closes, "
        f"{local_time(round_.closes_at, zone)}.\n\n"
        "Until then you can change your answer with the button below. Only whoever holds the "
        f"token in this message can: keep it to yourself.{later}",
        choices=tuple(choices),
        footer=rule(round_),
        hidden=hidden,
    )


def change_card(
    text: BarometerText,
    round_: BarometerRound,
    zone: ZoneInfo,
    token: str,
    keep: Mapping[str, str] | None = None,
) -> Card:
    """The questions again, to replace the answer this card gave."""
    lead = (
        "Answer again: your new answer replaces the one you gave. Your earlier answer is not "
        "shown, so that it never appears in a chat message."
    )
    return question_card(text, round_, zone, lead=lead, token=token, keep=keep)


def already_card(text: BarometerText, round_: BarometerRound, zone: ZoneInfo) -> Card:
    """Someone who answered asks again."""
    return Card(
        title=title(text, round_),
        text="You have already answered this round: thank you. Each person answers once. "
        'To change your answer, press "Change my answer" on the card where you answered. '
        f"Results are published when the round closes, {local_time(round_.closes_at, zone)}.",
        footer=rule(round_),
    )


def not_asked_card(
    text: BarometerText, round_: BarometerRound, zone: ZoneInfo, platform: str, tenant: str
) -> Card:
    """Someone the round did not ask wants to answer it, and it is only for those it asked."""
    return Card(
        title=f"{title(text, round_)}: for the people it asked",
        text=f"This round was sent to the members of {audience(round_, platform, tenant)} when it "
        "opened, and you were not one of them, so it cannot count your answer: its response "
        "rate is of the people it asked. If you should have been asked, tell the comms team. "
        f"The results are published for everyone when it closes, "
        f"{local_time(round_.closes_at, zone)}.",
        footer=rule(round_),
    )


def audience(round_: BarometerRound, platform: str, tenant: str) -> str:
    """The channels a round asked, as someone on ``platform`` and ``tenant`` knows them (the
    channels of their own workspace or tenant, else all of them): "C0STAFF and C0NURSES"."""
    places = [place.split(":", 2) for place in round_.channels]
    own = [c for p, t, c in places if (p, t) == (platform, tenant)]
    names = own or [c for _, _, c in places]
    if not names:
        return "the channels the comms team chose"
    shown = [shorten(name, 80) for name in names[:CARD_GROUPS]]
    if len(names) > len(shown):
        shown.append(plural(len(names) - len(shown), "other channel"))
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} and {shown[-1]}"


def closed_card(text: BarometerText) -> Card:
    """An answer to a round that has closed."""
    return Card(
        title=f"{text.title}: this round has closed",
        text="Answers can no longer be given or changed. See the results with /barometer results.",
    )


def _change_words(points: float, before: RoundResults) -> str:
    month = month_name(before.round.period)
    rounded = round(points)
    if rounded == 0:
        return f"no change since {month}"
    direction = "up" if rounded > 0 else "down"
    return f"{direction} {plural(abs(rounded), 'point')} since {month}"


def answered_line(results: RoundResults) -> str:
    """ "42 of 50 people answered (84%)"."""
    rate = results.response_rate
    people = "person" if results.invited == 1 else "people"
    line = f"{results.answered} of {results.invited} {people} answered"
    return f"{line} ({percent(rate)})" if rate is not None else line


def results_card(
    text: BarometerText,
    results: RoundResults,
    earlier: Sequence[RoundResults] = (),
    page: str | None = None,
    *,
    we_did: str | None = None,
    responses_page: str | None = None,
) -> Card:
    """A closed round's results: the distribution of each question as bars, the response
    rate, the change since the last round, groups and approved comments, how many of them the
    comms team answered (and where to read it), and ``we_did``: "You said ..., we did ..." for
    the actions finished since the round before."""
    round_ = results.round
    heading = f"{text.title} results: {month_name(round_.period)}"
    more = f"Full results, trends and open data: {page}" if page else "Trends: /barometer trend"
    if not results.shown:
        return Card(
            title=heading,
            text=f"{answered_line(results)}. Results are shown only when at least "
            f"{round_.min_group} people answer, so nobody's answers can be singled out.",
            fields=(Field(label="You said, we did", value=we_did),) if we_did else (),
            footer=more,
        )
    bars = []
    fields = []
    for question in results.questions:
        for answer in question.answers:
            bars.append(
                BarRow(
                    label=f"{question.question.short}: {answer.point.label}",
                    value=float(answer.count),
                    maximum=float(question.respondents),
                    caption=f"{answer.count} ({percent(answer.share)})",
                )
            )
        summary = f"{percent(question.agree_share)} agree"
        moved = change(results, earlier, question.question.id)
        if moved is not None:
            summary += f", {_change_words(*moved)}"
        fields.append(Field(label=question.question.text, value=summary))
    for group in results.groups[:CARD_GROUPS]:
        shares = " · ".join(
            f"{q.question.short} {percent(q.agree_share)} agree" for q in group.questions
        )
        fields.append(Field(label=f"{group.label} ({group.respondents})", value=shares))
    if results.groups_withheld:
        fields.append(
            Field(
                label="Groups not shown",
                value=f"Groups where fewer than {round_.min_group} answered are not shown, nor "
                "any group that would let their answers be worked out from the others.",
            )
        )
    for comment in results.comments[:CARD_COMMENTS]:
        fields.append(Field(label="Comment", value=shorten(comment, 300)))
    if results.replies:
        where = responses_page or "/barometer responses"
        fields.append(
            Field(
                label="Responses to comments",
                value=f"{results.answered_comments} of {plural(len(results.comments), 'comment')}"
                f" answered by the comms team: {where}",
            )
        )
    if we_did:
        fields.append(Field(label="You said, we did", value=we_did))
    return Card(
        title=heading,
        text=f"{answered_line(results)}. {rule(round_)}",
        bars=tuple(bars),
        fields=tuple(fields),
        footer=more,
    )


def headline(results: RoundResults) -> str:
    """One line for a closed round: "November 2026: The NHS 82% agree · Our organisation 75%
    agree (41 of 50 answered)", or that too few answered to show anything."""
    month = month_name(results.round.period)
    if not results.shown:
        return f"{month}: too few answers to show results ({answered_line(results)})."
    shares = " · ".join(
        f"{q.question.short} {percent(q.agree_share)} agree" for q in results.questions
    )
    return f"{month}: {shares} ({results.answered} of {results.invited} answered)."


def home_card(
    text: BarometerText,
    round_: BarometerRound | None,
    answered: bool,
    latest: RoundResults | None,
    zone: ZoneInfo,
    page: str | None = None,
) -> Card | None:
    """The barometer on a person's home page: the open round (to answer, or answered), else
    the latest results in a line; None before the first round."""
    more = f"Full results: {page}" if page else "Results: /barometer results"
    if round_ is not None:
        closes = local_time(round_.closes_at, zone)
        if answered:
            return Card(
                title=title(text, round_),
                text=f"You have answered: thank you. Results are published for everyone when "
                f"the round closes, {closes}.",
                footer=rule(round_),
            )
        return Card(
            title=title(text, round_),
            text=f"{text.intro}\n\nOpen until {closes}.",
            choices=(
                Choice(
                    label="Answer now", action=ASK, style=ChoiceStyle.PRIMARY, collects_inputs=False
                ),
            ),
            footer=rule(round_),
        )
    if latest is None:
        return None
    return Card(title=f"{text.title}: latest results", text=headline(latest), footer=more)


def trend_card(text: BarometerText, history: Sequence[RoundResults]) -> Card:
    """Each question's agree share by month, oldest first."""
    shown = [r for r in reversed(history) if r.shown]
    if not shown:
        return Card(
            title=f"{text.title}: trend",
            text="No round has published results yet.",
        )
    bars = []
    questions = {q.question.id: q.question for r in shown for q in r.questions}
    for question_id, question in questions.items():
        for results in shown:
            result = results.question(question_id)
            if result is None:
                continue
            bars.append(
                BarRow(
                    label=f"{question.short}: {month_name(results.round.period)}",
                    value=result.agree_share,
                    maximum=1.0,
                    caption=f"{percent(result.agree_share)} agree of {result.respondents}",
                )
            )
    hidden = len(history) - len(shown)
    note = f" {plural(hidden, 'round')} had too few answers to show." if hidden else ""
    return Card(
        title=f"{text.title}: trend",
        text=f"The share who agree, month by month.{note}",
        bars=tuple(bars),
    )


def comment_card(round_: BarometerRound, comment: BarometerComment, done: str = "") -> Card:
    """A comment for the comms team to approve or reject."""
    return Card(
        title=f"Comment on the {month_name(round_.period)} barometer",
        text=comment.text,
        choices=()
        if done
        else (
            Choice(
                label="Approve", action=APPROVE, style=ChoiceStyle.PRIMARY, collects_inputs=False
            ),
            Choice(label="Reject", action=REJECT, style=ChoiceStyle.DANGER, collects_inputs=False),
        ),
        footer=done
        or "Approved comments are published with the results, without names or groups. "
        "Reject anything that could identify someone.",
        hidden={"round": round_.id, "comment": comment.id},
    )
