"""What ``GET /you-said-we-did`` (and its ``.json``) shows: per closed round, the themes the
comms team named, their responses with the comments they answer, the responses to single
comments, and the actions with where each has got to.

Pure functions. Comments come only from ``RoundResults`` (published: approved, and the round
had enough answers), so a response is shown only with comments that may be shown; a theme whose
comments are none of those is shown only by name, beside the actions that answer it. Nothing
shown says who wrote a response or an action: an action's owner is the team comms named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.text import local_date
from dialogs.barometer.follow_up_cards import due_words, reply_dates, status_words
from dialogs.barometer.results import PublishedReply, RoundResults
from dialogs.barometer.schedule import month_name
from storage.barometer import ActionStatus, BarometerAction

INTRO = (
    "Every month we ask everyone how their work is going and publish the results. Here is "
    "what the comms team said in answer to your comments, and what has been done about them. "
    "Comments are published without names, and nobody is told who wrote one."
)


def iso(when: datetime | None) -> str | None:
    """A time as open data does: UTC, ISO 8601, ``Z``."""
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def reply_view(reply: PublishedReply, zone: ZoneInfo) -> dict[str, Any]:
    """A response as a page shows it."""
    return {
        "theme": reply.theme,
        "text": reply.text,
        "withdrawn": reply.withdrawn,
        "withdrawn_on": local_date(reply.withdrawn_at, zone) if reply.withdrawn_at else "",
        "edited": reply.edited_at is not None,
        "dates": reply_dates(reply, zone),
    }


def action_view(
    action: BarometerAction, themes: Mapping[str, str], periods: Mapping[str, str], zone: ZoneInfo
) -> dict[str, Any]:
    """An action as the page shows it."""
    answers = []
    for target in action.answers:
        month = month_name(periods[target.round_id]) if target.round_id in periods else "a round"
        name = themes.get(target.reply_id or "")
        answers.append(f"“{name}” ({month})" if name else f"the {month} barometer")
    return {
        "id": action.id,
        "title": action.title,
        "owner": action.owner,
        "status": action.status.label,
        "done": action.status is ActionStatus.DONE,
        "words": status_words(action, zone),
        "due": due_words(action.due) if action.due else "",
        "history": [(c.status.label, local_date(c.at, zone)) for c in action.history],
        "answers": answers,
    }


def _answers(action: BarometerAction, round_id: str, reply_id: str | None) -> bool:
    return any(t.round_id == round_id and t.reply_id == reply_id for t in action.answers)


def said_did_view(
    history: Sequence[RoundResults],
    actions: Sequence[BarometerAction],
    themes: Mapping[str, str],
    zone: ZoneInfo,
) -> dict[str, Any]:
    """The page: rounds newest first, each with its themes, responses and actions (rounds with
    none of these are left out). ``themes`` names every theme by its response's id."""
    periods = {r.round.id: r.round.period for r in history}
    rounds = []
    for results in history:
        round_id = results.round.id
        theme_views = []
        singles = []
        for reply in results.replies:
            comments = [results.comments[i] for i in reply.comments]
            if reply.theme:
                theme_views.append(
                    {
                        "name": reply.theme,
                        "response": reply_view(reply, zone),
                        "comments": comments,
                        "actions": [
                            action_view(a, themes, periods, zone)
                            for a in actions
                            if _answers(a, round_id, reply.id)
                        ],
                    }
                )
            else:
                singles += [{"comment": c, "response": reply_view(reply, zone)} for c in comments]
        shown_themes = {r.id for r in results.replies if r.theme}
        round_actions = [
            action_view(a, themes, periods, zone)
            for a in actions
            if any(
                t.round_id == round_id and (t.reply_id is None or t.reply_id not in shown_themes)
                for t in a.answers
            )
        ]
        if not (theme_views or singles or round_actions):
            continue
        rounds.append(
            {
                "month": month_name(results.round.period),
                "period": results.round.period,
                "id": f"round-{results.round.period}",
                "comments": len(results.comments),
                "answered": results.answered_comments,
                "themes": theme_views,
                "responses": singles,
                "actions": round_actions,
            }
        )
    counts = {status: sum(1 for a in actions if a.status is status) for status in ActionStatus}
    return {
        "heading": "You said, we did",
        "intro": INTRO,
        "rounds": rounds,
        "summary": [(status.label, counts[status]) for status in ActionStatus if counts[status]],
    }


def said_did_json(
    organisation: str,
    history: Sequence[RoundResults],
    actions: Sequence[BarometerAction],
    themes: Mapping[str, str],
) -> dict[str, Any]:
    """The same as open data: per round, its responses (each with the comments it answers)
    and the actions that answer it, with every dated status."""
    rounds = []
    for results in history:
        round_id = results.round.id
        responses = [
            {
                "theme": reply.theme,
                "status": "withdrawn" if reply.withdrawn else "published",
                "text": None if reply.withdrawn else reply.text,
                "written_at": iso(reply.written_at),
                "edited_at": iso(reply.edited_at),
                "withdrawn_at": iso(reply.withdrawn_at),
                "comments": [results.comments[i] for i in reply.comments],
            }
            for reply in results.replies
        ]
        answering = [
            action_json(a, themes)
            for a in actions
            if any(t.round_id == round_id for t in a.answers)
        ]
        if responses or answering:
            rounds.append(
                {
                    "period": results.round.period,
                    "comments": len(results.comments),
                    "comments_answered": results.answered_comments,
                    "responses": responses,
                    "actions": answering,
                }
            )
    return {"organisation": organisation, "title": "You said, we did", "rounds": rounds}


def action_json(action: BarometerAction, themes: Mapping[str, str]) -> dict[str, Any]:
    """An action as open data."""
    return {
        "id": action.id,
        "title": action.title,
        "owner": action.owner or None,
        "status": action.status.value,
        "status_since": iso(action.changed_at),
        "due": action.due.isoformat() if action.due else None,
        "history": [{"status": c.status.value, "at": iso(c.at)} for c in action.history],
        "themes": sorted(
            {themes[t.reply_id] for t in action.answers if t.reply_id and t.reply_id in themes}
        ),
    }
