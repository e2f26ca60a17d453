"""The published results on the web: ``GET /barometer`` (HTML), ``.json`` and ``.csv``; and
"You said, we did", ``GET /you-said-we-did`` (HTML) and ``.json`` (views in ``said_did``).

Pure functions from ``RoundResults`` (so the publication rules of ``results`` hold here too):
``results_view`` gathers what the page shows, ``templates/results.html`` shows it in the shared
layout. Charts are inline SVG whose geometry the view computes, with presentation classes from
the one stylesheet and no script; each is hidden from screen readers and followed by a table of
the same numbers, visually hidden, which they read instead.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any
from zoneinfo import ZoneInfo

from bot.content import Content
from bot.pages import NO_STORE, Access, Data, Html, PageRequest, Pages
from dialogs.barometer.cards import answered_line, rule
from dialogs.barometer.follow_up import PAGE_PATH
from dialogs.barometer.results import QuestionResult, RoundResults, change, percent
from dialogs.barometer.said_did import iso, reply_view, said_did_json, said_did_view
from dialogs.barometer.schedule import month_name
from dialogs.barometer.service import Barometer
from storage.barometer import BarometerAction
from storage.stores import Stores

# Published results change when a round closes or a comment is approved: a few minutes is fine.
PUBLIC_CACHE = "public, max-age=300"

BAR_AREA = 300
LABEL_WIDTH = 230
ROW = 30
UTC_ZONE = ZoneInfo("UTC")
INTRO = (
    "Every month we ask everyone whether their work is making a positive difference to the "
    "NHS and to our organisation, and publish the results here for all to see."
)


def _distribution(question: QuestionResult, month: str) -> dict[str, Any]:
    bars = []
    for index, answer in enumerate(question.answers):
        y = index * ROW + 4
        width = round(answer.share * BAR_AREA, 1)
        bars.append(
            {
                "label": answer.point.label,
                "count": answer.count,
                "share": percent(answer.share),
                "kind": "agree" if answer.point.agree else "other",
                "y": y,
                "width": width,
            }
        )
    return {
        "width": LABEL_WIDTH + BAR_AREA + 90,
        "height": ROW * len(question.answers) + 6,
        "label_width": LABEL_WIDTH,
        "bars": bars,
        "rows": [(b["label"], b["count"], b["share"]) for b in bars],
        "caption": f"{question.question.text}: answers in {month}",
    }


def _short_month(period: str) -> str:
    name = month_name(period)
    return f"{name[:3]} {name[-2:]}"


def _trend(points: Sequence[tuple[str, float, int]], text: str) -> dict[str, Any]:
    bar, gap, top, area = 44, 14, 22, 150
    bars = []
    for index, (period, share, respondents) in enumerate(points):
        x = gap + index * (bar + gap)
        height = round(share * area, 1)
        bars.append(
            {
                "x": x,
                "y": top + area - height,
                "height": height,
                "share": f"{share:.4f}",
                "percent": percent(share),
                "short": _short_month(period),
                "month": month_name(period),
                "respondents": respondents,
            }
        )
    return {
        "question": text,
        "width": max(len(points), 1) * (bar + gap) + gap,
        "height": top + area + 24,
        "bar": bar,
        "base": top + area,
        "bars": bars,
        "rows": [(b["month"], b["percent"], b["respondents"]) for b in bars],
        "caption": f"{text}: share who agree by month",
    }


def _comments(results: RoundResults, zone: ZoneInfo) -> list[dict[str, Any]]:
    """Each published comment with the comms team's response under it (or None)."""
    shown = []
    for index, text in enumerate(results.comments):
        reply = results.reply_to(index)
        shown.append({"text": text, "response": reply_view(reply, zone) if reply else None})
    return shown


def _latest(
    results: RoundResults, earlier: Sequence[RoundResults], zone: ZoneInfo
) -> dict[str, Any]:
    round_ = results.round
    month = month_name(round_.period)
    questions = []
    for question in results.questions:
        summary = f"{percent(question.agree_share)} agree"
        moved = change(results, earlier, question.question.id)
        if moved is not None:
            points, before = moved
            rounded = round(points)
            summary += (
                f", no change since {month_name(before.round.period)}"
                if rounded == 0
                else f", {'up' if rounded > 0 else 'down'} {abs(rounded)} points since "
                f"{month_name(before.round.period)}"
            )
        questions.append(
            {
                "text": question.question.text,
                "summary": summary,
                "respondents": question.respondents,
                "chart": _distribution(question, month),
            }
        )
    return {
        "month": month,
        "answered": answered_line(results),
        "shown": results.shown,
        "min_group": round_.min_group,
        "questions": questions,
        "group_heads": [q.question.short for q in results.questions],
        "groups": [
            {
                "label": g.label,
                "respondents": g.respondents,
                "shares": [percent(q.agree_share) for q in g.questions],
            }
            for g in results.groups
        ],
        "groups_withheld": results.groups_withheld,
        "comments": _comments(results, zone),
        "answered_comments": results.answered_comments,
    }


def _trends(history: Sequence[RoundResults]) -> list[dict[str, Any]]:
    shown = [r for r in reversed(history) if r.shown]
    questions = {q.question.id: q.question for r in shown for q in r.questions}
    trends = []
    for question_id, question in questions.items():
        points = [
            (r.round.period, result.agree_share, result.respondents)
            for r in shown
            if (result := r.question(question_id)) is not None
        ]
        trends.append(_trend(points, question.text))
    return trends


def results_view(
    content: Content,
    history: Sequence[RoundResults],
    min_group: int,
    zone: ZoneInfo = UTC_ZONE,
) -> dict[str, Any]:
    """What the results page shows: the latest round, trends, every round's response rate."""
    if history:
        anonymity = rule(history[0].round)
    else:
        anonymity = f"Results are shown only for groups of {min_group} or more people."
    return {
        "heading": f"{content.barometer.title} results",
        "intro": INTRO,
        "anonymity": anonymity,
        "latest": _latest(history[0], history[1:], zone) if history else None,
        "trends": _trends(history),
        "rounds": [
            {
                "month": month_name(r.round.period),
                "answered": r.answered,
                "asked": r.invited,
                "rate": percent(r.response_rate) if r.response_rate is not None else "–",
                "shown": r.shown,
                "min_group": r.round.min_group,
            }
            for r in history
        ],
    }


def _question_json(question: QuestionResult) -> dict[str, Any]:
    return {
        "id": question.question.id,
        "text": question.question.text,
        "respondents": question.respondents,
        "agree_share": round(question.agree_share, 4),
        "answers": [
            {
                "id": a.point.id,
                "label": a.point.label,
                "agree": a.point.agree,
                "count": a.count,
                "share": round(a.share, 4),
            }
            for a in question.answers
        ],
    }


def render_json(content: Content, history: Sequence[RoundResults]) -> dict[str, Any]:
    """Every closed round as open data (newest first), under the same rules as the page."""
    rounds = []
    for results in history:
        round_ = results.round
        entry: dict[str, Any] = {
            "period": round_.period,
            "opened_at": iso(round_.opened_at),
            "closed_at": iso(round_.closed_at),
            "min_group": round_.min_group,
            "comment_min": round_.comment_min,
            "asked": results.invited,
            "answered": results.answered,
            "response_rate": None
            if results.response_rate is None
            else round(results.response_rate, 4),
            "shown": results.shown,
            "questions": [_question_json(q) for q in results.questions],
            "groups": [
                {
                    "id": g.group.id if g.group else None,
                    "label": g.label,
                    "respondents": g.respondents,
                    "questions": [_question_json(q) for q in g.questions],
                }
                for g in results.groups
            ],
            "groups_withheld": results.groups_withheld,
            "comments": list(results.comments),
            "comments_answered": results.answered_comments,
            "responses": [
                {
                    "theme": reply.theme,
                    "status": "withdrawn" if reply.withdrawn else "published",
                    "text": None if reply.withdrawn else reply.text,
                    "written_at": iso(reply.written_at),
                    "edited_at": iso(reply.edited_at),
                    "withdrawn_at": iso(reply.withdrawn_at),
                    "comments": list(reply.comments),
                }
                for reply in results.replies
            ],
        }
        if not results.shown:
            entry["note"] = f"Fewer than {round_.min_group} people answered: no results shown."
        rounds.append(entry)
    return {
        "organisation": content.organisation,
        "title": content.barometer.title,
        "rounds": rounds,
    }


CSV_COLUMNS = (
    "period",
    "question_id",
    "question",
    "group_id",
    "group",
    "answer_id",
    "answer",
    "count",
    "share",
    "respondents",
    # A published comment is a row of its own (question_id "comment"), with the comms team's
    # response to it; counts rows leave these empty.
    "comment",
    "theme",
    "response",
    "response_status",
    "responded_on",
    "edited_on",
)


def _cell(value: object) -> str:
    text = str(value)
    # A spreadsheet would run a cell starting with these as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(history: Sequence[RoundResults]) -> str:
    """One row per round, question, group (or "all") and answer: the published counts; then
    one row per published comment, with the comms team's response to it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for results in history:
        if not results.shown:
            continue
        period = results.round.period
        sets: list[tuple[str, str, Sequence[QuestionResult]]] = [
            ("all", "Everyone", results.questions)
        ]
        sets += [(g.group.id if g.group else "other", g.label, g.questions) for g in results.groups]
        for group_id, group_label, questions in sets:
            for question in questions:
                for answer in question.answers:
                    writer.writerow(
                        [
                            _cell(v)
                            for v in (
                                period,
                                question.question.id,
                                question.question.text,
                                group_id,
                                group_label,
                                answer.point.id,
                                answer.point.label,
                                answer.count,
                                f"{answer.share:.4f}",
                                question.respondents,
                                *[""] * 6,
                            )
                        ]
                    )
        for index, comment in enumerate(results.comments):
            reply = results.reply_to(index)
            response: tuple[object, ...] = ("",) * 5
            if reply is not None:
                response = (
                    reply.theme or "",
                    reply.text,
                    "withdrawn" if reply.withdrawn else "published",
                    reply.written_at.date().isoformat(),
                    reply.edited_at.date().isoformat() if reply.edited_at else "",
                )
            cells = (period, "comment", *[""] * 8, comment, *response)
            writer.writerow([_cell(v) for v in cells])
    return out.getvalue()


class BarometerPages:
    """``/barometer``, ``.json`` and ``.csv``, ``/you-said-we-did`` and ``.json``: published
    for all to see."""

    def __init__(self, *, content: Content, min_group: int, barometer: Barometer) -> None:
        self.content = content
        self.min_group = min_group
        self.barometer = barometer

    def pages(self) -> Pages:
        """The routes of the results pages."""
        pages = Pages("barometer", "dialogs.barometer")
        for path, handler in (
            ("/barometer", self.page),
            ("/barometer.json", self.json),
            ("/barometer.csv", self.csv),
        ):
            pages.add(path, handler, access=Access.PUBLISHED, cache=PUBLIC_CACHE)
        # A response or an action withdrawn or changed shows on the next request.
        pages.add(PAGE_PATH, self.said_did, access=Access.PUBLISHED, cache=NO_STORE)
        pages.add(PAGE_PATH + ".json", self.said_did_json, access=Access.PUBLISHED, cache=NO_STORE)
        pages.link(self.content.barometer.title, "/barometer", order=60)
        pages.link("You said, we did", PAGE_PATH, order=61)
        return pages

    async def page(self, request: PageRequest, stores: Stores) -> Html:
        """The published results as an HTML page."""
        history = await self.barometer.published(stores)
        view = results_view(self.content, history, self.min_group, self.barometer.settings.zone)
        return Html(template="barometer/results.html", title=view["heading"], context=view)

    async def _said_did(
        self, stores: Stores
    ) -> tuple[list[RoundResults], list[BarometerAction], dict[str, str]]:
        history = await self.barometer.published(stores)
        actions = await stores.follow_up.actions()
        themes: dict[str, str] = {}
        for results in history:
            for reply in await stores.follow_up.replies(results.round.id):
                if reply.theme:
                    themes[reply.id] = reply.theme
        return history, actions, themes

    async def said_did(self, request: PageRequest, stores: Stores) -> Html:
        """You said, we did: responses, themes and actions, round by round."""
        history, actions, themes = await self._said_did(stores)
        view = said_did_view(history, actions, themes, self.barometer.settings.zone)
        return Html(template="barometer/you_said_we_did.html", title=view["heading"], context=view)

    async def said_did_json(self, request: PageRequest, stores: Stores) -> Data:
        """You said, we did as JSON (open data)."""
        history, actions, themes = await self._said_did(stores)
        return Data(
            body=json.dumps(said_did_json(self.content.organisation, history, actions, themes)),
            content_type="application/json",
            open_data=True,
        )

    async def json(self, request: PageRequest, stores: Stores) -> Data:
        """The published results as JSON (open data)."""
        history = await self.barometer.published(stores)
        return Data(
            body=json.dumps(render_json(self.content, history)),
            content_type="application/json",
            open_data=True,
        )

    async def csv(self, request: PageRequest, stores: Stores) -> Data:
        """The published results as CSV (open data)."""
        history = await self.barometer.published(stores)
        return Data(
            body=render_csv(history),
            content_type="text/csv",
            filename="barometer.csv",
            open_data=True,
        )
