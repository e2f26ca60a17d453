"""The published results on the web: ``GET /barometer`` (HTML), ``.json`` and ``.csv``.

Pure functions from ``RoundResults`` (so the publication rules of ``results`` hold here too).
The page needs nothing from outside: one inline style sheet, allowed by its hash in the
Content-Security-Policy, and charts drawn as inline SVG with presentation attributes; no
script at all. Every chart is hidden from screen readers and followed by a table of the same
numbers, visually hidden, which they read instead. All text is escaped.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import Any

from bot.content import Content
from dialogs.barometer.cards import answered_line, rule
from dialogs.barometer.results import QuestionResult, RoundResults, change, percent
from dialogs.barometer.schedule import month_name

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;margin:0;color:#212b32;
background:#f0f4f5;line-height:1.5}
main{max-width:52rem;margin:0 auto;padding:1.5rem}
h1{font-size:2rem;margin:.5rem 0}
h2{font-size:1.5rem;margin-top:2rem;border-top:1px solid #d8dde0;padding-top:1rem}
h3{font-size:1.15rem;margin-bottom:.25rem}
.lede{font-size:1.1rem}
.rule{background:#fff;border-left:6px solid #005eb8;padding:.75rem 1rem}
figure{margin:.5rem 0 1rem}
svg{display:block;max-width:100%;height:auto}
svg text{fill:#212b32;font-size:13px}
svg .agree{fill:#005eb8}
svg .other{fill:#768692}
svg .axis{stroke:#aeb7bd}
table{border-collapse:collapse;margin:.5rem 0 1rem;background:#fff}
th,td{border:1px solid #d8dde0;padding:.3rem .6rem;text-align:left}
td.n{text-align:right}
.sr-only{position:absolute;width:1px;height:1px;padding:0;margin:-1px;overflow:hidden;
clip:rect(0,0,0,0);white-space:nowrap;border:0}
blockquote{background:#fff;margin:.5rem 0;padding:.5rem 1rem;border-left:4px solid #aeb7bd}
footer{margin-top:2rem;font-size:.9rem}
""".strip()

STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{STYLE_HASH}'; img-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

BAR_AREA = 300
LABEL_WIDTH = 230
ROW = 30


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _distribution_chart(question: QuestionResult) -> str:
    height = ROW * len(question.answers) + 6
    rows = []
    for index, answer in enumerate(question.answers):
        y = index * ROW + 4
        width = round(answer.share * BAR_AREA, 1)
        kind = "agree" if answer.point.agree else "other"
        rows.append(
            f'<text x="0" y="{y + 15}">{_e(answer.point.label)}</text>'
            f'<rect class="bar {kind}" x="{LABEL_WIDTH}" y="{y}" width="{width}" height="20" '
            f'data-count="{answer.count}"></rect>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 15}">'
            f"{answer.count} ({percent(answer.share)})</text>"
        )
    return (
        f'<svg class="chart distribution" viewBox="0 0 {LABEL_WIDTH + BAR_AREA + 90} {height}" '
        f'width="{LABEL_WIDTH + BAR_AREA + 90}" height="{height}" aria-hidden="true" '
        f'focusable="false">{"".join(rows)}</svg>'
    )


def _distribution_table(question: QuestionResult, caption: str) -> str:
    rows = "".join(
        f'<tr><th scope="row">{_e(a.point.label)}</th><td class="n">{a.count}</td>'
        f'<td class="n">{percent(a.share)}</td></tr>'
        for a in question.answers
    )
    return (
        f'<div class="sr-only"><table class="numbers"><caption>{_e(caption)}</caption><thead>'
        '<tr><th scope="col">Answer</th><th scope="col">People</th><th scope="col">Share</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _trend_chart(points: Sequence[tuple[str, float, int]]) -> str:
    bar, gap, top, area = 44, 14, 22, 150
    width = max(len(points), 1) * (bar + gap) + gap
    parts = [f'<line class="axis" x1="0" y1="{top + area}" x2="{width}" y2="{top + area}"></line>']
    for index, (period, share, _) in enumerate(points):
        x = gap + index * (bar + gap)
        height = round(share * area, 1)
        y = top + area - height
        parts.append(
            f'<rect class="bar agree" x="{x}" y="{y}" width="{bar}" height="{height}" '
            f'data-share="{share:.4f}"></rect>'
            f'<text x="{x}" y="{y - 5}">{percent(share)}</text>'
            f'<text x="{x}" y="{top + area + 16}">{_e(_short_month(period))}</text>'
        )
    return (
        f'<svg class="chart trend" viewBox="0 0 {width} {top + area + 24}" width="{width}" '
        f'height="{top + area + 24}" aria-hidden="true" focusable="false">{"".join(parts)}</svg>'
    )


def _short_month(period: str) -> str:
    name = month_name(period)
    return f"{name[:3]} {name[-2:]}"


def _trend_table(points: Sequence[tuple[str, float, int]], caption: str) -> str:
    rows = "".join(
        f'<tr><th scope="row">{_e(month_name(p))}</th><td class="n">{percent(s)}</td>'
        f'<td class="n">{n}</td></tr>'
        for p, s, n in points
    )
    return (
        f'<div class="sr-only"><table class="numbers"><caption>{_e(caption)}</caption><thead>'
        '<tr><th scope="col">Month</th><th scope="col">Agree</th><th scope="col">People who '
        f"answered</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _latest(results: RoundResults, earlier: Sequence[RoundResults]) -> str:
    round_ = results.round
    month = month_name(round_.period)
    parts = [
        f'<section aria-labelledby="latest"><h2 id="latest">Latest results: {_e(month)}</h2>',
        f"<p>{_e(answered_line(results))}.</p>",
    ]
    if not results.shown:
        parts.append(
            f"<p>Fewer than {round_.min_group} people answered, so no results are shown for "
            "this round.</p></section>"
        )
        return "".join(parts)
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
        parts.append(
            f"<h3>{_e(question.question.text)}</h3><p>{_e(summary)} "
            f"({question.respondents} answered).</p><figure>{_distribution_chart(question)}"
            + _distribution_table(question, f"{question.question.text}: answers in {month}")
            + "</figure>"
        )
    if results.groups:
        heads = "".join(
            f'<th scope="col">{_e(q.question.short)}: agree</th>' for q in results.questions
        )
        rows = "".join(
            f'<tr><th scope="row">{_e(g.label)}</th><td class="n">{g.respondents}</td>'
            + "".join(f'<td class="n">{percent(q.agree_share)}</td>' for q in g.questions)
            + "</tr>"
            for g in results.groups
        )
        parts.append(
            f'<h3>By group</h3><table class="groups"><caption>Share who agree, by group, '
            f'{_e(month)}</caption><thead><tr><th scope="col">Group</th>'
            f'<th scope="col">People</th>{heads}</tr></thead><tbody>{rows}</tbody></table>'
        )
    if results.groups_withheld:
        parts.append(
            f"<p>Some groups are not shown: those where fewer than {round_.min_group} people "
            "answered, and any group that would let their answers be worked out from the "
            "others.</p>"
        )
    if results.comments:
        parts.append("<h3>Comments</h3>")
        parts += [f"<blockquote><p>{_e(c)}</p></blockquote>" for c in results.comments]
    parts.append("</section>")
    return "".join(parts)


def _trends(history: Sequence[RoundResults]) -> str:
    shown = [r for r in reversed(history) if r.shown]
    if not shown:
        return ""
    parts = ['<section aria-labelledby="trend"><h2 id="trend">Over time</h2>']
    questions = {q.question.id: q.question for r in shown for q in r.questions}
    for question_id, question in questions.items():
        points = [
            (r.round.period, result.agree_share, result.respondents)
            for r in shown
            if (result := r.question(question_id)) is not None
        ]
        parts.append(
            f"<h3>{_e(question.text)}</h3><p>The share who agree, month by month.</p>"
            f"<figure>{_trend_chart(points)}"
            + _trend_table(points, f"{question.text}: share who agree by month")
            + "</figure>"
        )
    parts.append("</section>")
    return "".join(parts)


def _rounds(history: Sequence[RoundResults]) -> str:
    rows = "".join(
        f'<tr><th scope="row">{_e(month_name(r.round.period))}</th>'
        f'<td class="n">{r.answered}</td><td class="n">{r.invited}</td>'
        f'<td class="n">{percent(r.response_rate) if r.response_rate is not None else "–"}</td>'
        f"<td>{'shown' if r.shown else f'not shown: fewer than {r.round.min_group} answered'}"
        "</td></tr>"
        for r in history
    )
    return (
        '<section aria-labelledby="rounds"><h2 id="rounds">Every round</h2><table>'
        '<caption>Response rate by month</caption><thead><tr><th scope="col">Month</th>'
        '<th scope="col">Answered</th><th scope="col">Asked</th><th scope="col">Response '
        f'rate</th><th scope="col">Results</th></tr></thead><tbody>{rows}</tbody></table>'
        "</section>"
    )


def render_page(content: Content, history: Sequence[RoundResults], min_group: int) -> str:
    """The results page: the latest round, trends, every round's response rate."""
    text = content.barometer
    title = f"{text.title} results · {content.organisation}"
    intro = (
        "Every month we ask everyone whether their work is making a positive difference to the "
        "NHS and to our organisation, and publish the results here for all to see."
    )
    if history:
        body = _latest(history[0], history[1:]) + _trends(history) + _rounds(history)
        anonymity = rule(history[0].round)
    else:
        body = "<p>No round has closed yet. Results appear here when the first one closes.</p>"
        anonymity = f"Results are shown only for groups of {min_group} or more people."
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body><main>"
        f'<h1>{_e(text.title)} results</h1><p class="lede">{_e(intro)}</p>'
        f'<p class="rule">Answers are anonymous: they are stored apart from names. '
        f"{_e(anonymity)}</p>{body}"
        '<footer><p>Open data: <a href="barometer.json">JSON</a> · '
        '<a href="barometer.csv">CSV</a>.</p></footer></main></body></html>'
    )


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


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
            "opened_at": _iso(round_.opened_at),
            "closed_at": _iso(round_.closed_at),
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
)


def _cell(value: object) -> str:
    text = str(value)
    # A spreadsheet would run a cell starting with these as a formula.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(history: Sequence[RoundResults]) -> str:
    """One row per round, question, group (or "all") and answer: the published counts only."""
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
                            )
                        ]
                    )
    return out.getvalue()
