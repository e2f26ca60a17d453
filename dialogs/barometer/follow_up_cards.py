"""The cards of "You said, we did": the comms team's response form for a comment, the
published responses, actions, the author's own view of the response to their comment, and the
one line "You said ..., we did ..." that the results card and the weekly digest carry.

Pure functions. All text is plain: the adapters escape it for their platform (comments,
responses, theme names and action titles are all someone's words).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from bot.text import local_date, plural, shorten
from bot.ui import Card, Choice, ChoiceInput, ChoiceStyle, Field, Option, TextInput
from dialogs.barometer.cards import MINE, SEE_RESPONSE
from dialogs.barometer.results import PublishedReply, RoundResults
from dialogs.barometer.schedule import month_name
from storage.barometer import (
    ActionStatus,
    BarometerAction,
    BarometerComment,
    BarometerRound,
    CommentReply,
)
from storage.barometer.follow_up import OWNER_LIMIT, THEME_LIMIT, TITLE_LIMIT

RESPOND = "barometer.respond"
WITHDRAW = "barometer.withdraw"
ACTION_ADD = "barometer.action_add"
ACTION_STATUS = "barometer.action_status"

REPLY_LIMIT = 1000
SHORT_ID = 6
# A card lists this many responses or actions at most; the page has them all.
CARD_ITEMS = 8
# Each item of the one line "You said ..., we did ...", and how many it names.
LINE_TITLE = 80
LINE_ITEMS = 2

NO_PUSH = (
    "I cannot tell you when a response is written: I do not know which comment is yours (only "
    "the token in this card can find it), so I cannot message you. Press the button again "
    "later to look."
)


def short_id(comment_id: str) -> str:
    """The few characters of a comment's id the comms team type ("3fa2c1")."""
    return comment_id[:SHORT_ID]


def status_words(action: BarometerAction, zone: ZoneInfo) -> str:
    """ "Done (20 Dec 2026)", "In progress since 5 Dec 2026", "Planned, due 31 Jan 2027"."""
    since = local_date(action.changed_at, zone)
    if action.status is ActionStatus.DONE:
        words = f"Done ({since})"
    elif action.status is ActionStatus.DROPPED:
        words = f"Dropped ({since})"
    elif action.status is ActionStatus.IN_PROGRESS:
        words = f"In progress since {since}"
    else:
        words = f"Planned ({since})"
    if action.due is not None and action.status in (
        ActionStatus.PLANNED,
        ActionStatus.IN_PROGRESS,
    ):
        words += f", due {due_words(action.due)}"
    return words


def due_words(day: date) -> str:
    """ "31 Jan 2027"."""
    return f"{day.day} {day:%b %Y}"


def reply_dates(reply: PublishedReply | CommentReply, zone: ZoneInfo) -> str:
    """ "Written 3 Dec 2026, edited 5 Dec 2026" or "Withdrawn 6 Dec 2026"."""
    if reply.withdrawn_at is not None:
        return f"Withdrawn {local_date(reply.withdrawn_at, zone)}"
    words = f"Written {local_date(reply.written_at, zone)}"
    if reply.edited_at is not None:
        words += f", edited {local_date(reply.edited_at, zone)}"
    return words


def respond_card(
    round_: BarometerRound,
    comment: BarometerComment,
    reply: CommentReply | None,
    zone: ZoneInfo,
    done: str = "",
) -> Card:
    """An approved comment for the comms team to respond to (or to change or withdraw their
    response): the response and an optional theme, which groups comments under one response."""
    fields = [Field(label="Comment id", value=short_id(comment.id))]
    current = reply if reply is not None and not reply.withdrawn else None
    if reply is not None:
        label = f"Response (theme: {reply.theme})" if reply.theme else "Response"
        value = "Withdrawn." if reply.withdrawn else reply.text
        fields.append(Field(label=label, value=f"{value} ({reply_dates(reply, zone)})"))
    choices = [
        Choice(
            label="Publish response" if current is None else "Publish changes",
            action=RESPOND,
            style=ChoiceStyle.PRIMARY,
        )
    ]
    if current is not None:
        choices.append(
            Choice(
                label="Withdraw response",
                action=WITHDRAW,
                style=ChoiceStyle.DANGER,
                collects_inputs=False,
            )
        )
    return Card(
        title=f"Comment on the {month_name(round_.period)} barometer",
        text=comment.text,
        fields=tuple(fields),
        inputs=(
            TextInput(
                name="response",
                label="Your response (published with the results, without names)",
                multiline=True,
                max_length=REPLY_LIMIT,
                initial=current.text if current is not None else "",
            ),
            TextInput(
                name="theme",
                label="Theme (optional: comments with the same theme share one response)",
                max_length=THEME_LIMIT,
                initial=(current.theme or "") if current is not None else "",
            ),
        ),
        choices=tuple(choices),
        footer=done
        or "Your response is published on the results page and with the results, under the "
        "comment. Its author can read it from their own card; nobody is told who wrote it.",
        hidden={"round": round_.id, "comment": comment.id},
    )


def responses_card(results: RoundResults, zone: ZoneInfo, page: str | None) -> Card:
    """A closed round's published comments that have a response, each with it."""
    month = month_name(results.round.period)
    title = f"You said, we did: {month}"
    answered = [r for r in results.replies if not r.withdrawn]
    if not answered:
        return Card(
            title=title,
            text=f"The comms team have not responded to the {month} comments yet.",
            footer=f"More: {page}" if page else "",
        )
    fields = []
    for reply in answered[:CARD_ITEMS]:
        said = " · ".join(shorten(results.comments[i], 200) for i in reply.comments[:3])
        if len(reply.comments) > 3:
            said += f" (and {plural(len(reply.comments) - 3, 'more comment')})"
        label = f"Theme: {reply.theme}" if reply.theme else "You said"
        fields.append(Field(label=label, value=said))
        edited = " (edited)" if reply.edited_at is not None else ""
        fields.append(Field(label="We said", value=f"{reply.text}{edited}"))
    more = len(answered) - CARD_ITEMS
    footer = f"Everything, with the actions: {page}" if page else "Actions: /barometer actions"
    if more > 0:
        footer = f"{plural(more, 'more response')}. {footer}"
    return Card(
        title=title,
        text=f"{responded_line(results)} Responses are published without names.",
        fields=tuple(fields),
        footer=footer,
    )


def responded_line(results: RoundResults) -> str:
    """ "3 of 8 comments have a response." """
    count = len(results.comments)
    return (
        f"{results.answered_comments} of {plural(count, 'comment')} "
        f"{'has' if count == 1 else 'have'} a response."
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionView:
    """An action with what it answers in words: "the November 2026 barometer", "Workload
    (November 2026)"."""

    action: BarometerAction
    answers: tuple[str, ...]


def action_card(view: ActionView, zone: ZoneInfo, *, comms: bool, done: str = "") -> Card:
    """One action; for comms, with buttons to move it on."""
    action = view.action
    fields = [Field(label="Status", value=status_words(action, zone))]
    if action.owner:
        fields.append(Field(label="Owner", value=action.owner))
    if view.answers:
        fields.append(Field(label="Answers", value="; ".join(view.answers)))
    choices: tuple[Choice, ...] = ()
    if comms:
        choices = tuple(
            Choice(
                label=status.label,
                action=ACTION_STATUS,
                value=status.value,
                collects_inputs=False,
                style=ChoiceStyle.PRIMARY if status is ActionStatus.DONE else ChoiceStyle.DEFAULT,
            )
            for status in ActionStatus
            if status is not action.status
        )
    return Card(
        title=f"Action {action.id}: {action.title}",
        fields=tuple(fields),
        choices=choices,
        footer=done,
        hidden={"action": str(action.id)} if comms else {},
    )


def actions_card(views: Sequence[ActionView], zone: ZoneInfo, page: str | None) -> Card:
    """Every action in short, newest first (for everyone)."""
    if not views:
        return Card(
            title="You said, we did: actions",
            text="No action has been recorded yet.",
            footer=f"Responses to comments: {page}" if page else "",
        )
    fields = [
        Field(
            label=f"{view.action.id}. {view.action.title}",
            value=status_words(view.action, zone)
            + (f" · {view.action.owner}" if view.action.owner else "")
            + (f" · answers {'; '.join(view.answers)}" if view.answers else ""),
        )
        for view in views[:CARD_ITEMS]
    ]
    more = len(views) - CARD_ITEMS
    footer = f"Everything: {page}" if page else ""
    if more > 0:
        footer = f"{plural(more, 'more action')}. {footer}".strip()
    return Card(title="You said, we did: actions", fields=tuple(fields), footer=footer)


def action_form_card(
    round_: BarometerRound | None, themes: Sequence[CommentReply], problem: str = ""
) -> Card:
    """The form comms add an action with: it answers the round, or one of its themes."""
    answers = f"the {month_name(round_.period)} barometer" if round_ else "no round yet"
    inputs: list[TextInput | ChoiceInput] = [
        TextInput(name="title", label="What will be done", max_length=TITLE_LIMIT, optional=False),
        TextInput(
            name="owner",
            label="Owner (a team, not a person, unless they agree)",
            max_length=OWNER_LIMIT,
        ),
        TextInput(name="due", label="Due date (e.g. 2027-01-31)", max_length=20),
    ]
    named = [t for t in themes if t.theme and not t.withdrawn]
    if named:
        inputs.append(
            ChoiceInput(
                name="theme",
                label="The theme it answers (leave empty for the round as a whole)",
                options=tuple(Option(label=t.theme or "", value=t.id) for t in named),
                optional=True,
            )
        )
    return Card(
        title="Add an action: you said, we did",
        text=(f"{problem}\n\n" if problem else "")
        + f"The action answers {answers}"
        + (", or one of its themes" if named else "")
        + ". It starts as planned; move it on from /barometer actions.",
        inputs=tuple(inputs),
        choices=(Choice(label="Add the action", action=ACTION_ADD, style=ChoiceStyle.PRIMARY),),
        hidden={"round": round_.id} if round_ else {},
    )


def mine_card(
    round_: BarometerRound,
    hidden: Mapping[str, str],
    zone: ZoneInfo,
    *,
    reply: PublishedReply | CommentReply | None = None,
    note: str = "",
) -> Card:
    """What the author's own card shows once the round has closed: the response to their
    comment, or why there is none (``note``). It keeps the card's token, to look again."""
    month = month_name(round_.period)
    fields: tuple[Field, ...] = ()
    if reply is not None and not reply.withdrawn:
        text = (
            f"The comms team responded to your comment on the {month} barometer"
            + (f", under the theme “{reply.theme}”" if reply.theme else "")
            + ". Your comment is not repeated here, so that it never appears in a chat "
            "message; it is published, without your name, with the results."
        )
        fields = (Field(label="Their response", value=reply.text),)
        footer = f"{reply_dates(reply, zone)}. {NO_PUSH}"
    else:
        text = note
        footer = NO_PUSH
    return Card(
        title=f"The response to your comment: {month}",
        text=text,
        fields=fields,
        choices=(Choice(label=SEE_RESPONSE, action=MINE, collects_inputs=False),),
        footer=footer,
        hidden=dict(hidden),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    """An action done, with what it answered: a theme's name and the round's month."""

    title: str
    theme: str | None
    period: str | None


def we_did_line(finished: Sequence[Finished], page: str | None) -> str | None:
    """One line for the actions finished: 'You said “Workload” (November 2026), we did
    “Meeting-free afternoons”.'; None when there are none."""
    if not finished:
        return None
    parts = []
    for item in finished[:LINE_ITEMS]:
        did = f"we did “{shorten(item.title, LINE_TITLE)}”"
        if item.theme and item.period:
            said = f"you said “{shorten(item.theme, LINE_TITLE)}” ({month_name(item.period)})"
        elif item.period:
            said = f"you said it in the {month_name(item.period)} barometer"
        else:
            said = "you said it in the barometer"
        parts.append(f"{said}, {did}")
    line = "; ".join(parts)
    line = line[0].upper() + line[1:] + "."
    more = len(finished) - LINE_ITEMS
    if more > 0:
        line += f" And {plural(more, 'more')}" + (f": {page}" if page else ".")
    return line
