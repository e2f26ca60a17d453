"""The scorecard on the web over HTTP: ``/scorecard`` with its charts and the tables of the same
numbers, ``.json`` and ``.csv`` with the same figures (a withheld one in neither); and the
stakeholder form: shown, sent once, refused when used, expired, unknown, replayed or not made
by the form, and sent back with an error summary when something is missing."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.clock import ManualClock
from bot.web import build_web_app
from tests.dialogs.test_scorecard import answer_round
from tests.dialogs.test_scorecard import app as app  # the scorecard's app fixture
from tests.dialogs.test_values_lens import rows
from tests.scorecard_seed import seed_scorecard, stakeholder_round

FORM_TOKEN = re.compile(r'name="form_token" value="([0-9a-f]{64})"')


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(build_web_app(app))) as client:
        yield client


def measures(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["key"]: m for o in data["objectives"] for m in o["measures"]}


async def test_the_scorecard_page_json_and_csv_show_the_same_figures(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    await seed_scorecard(app, clock)
    page = await client.get("/scorecard")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "public, max-age=300"
    assert "script-src" not in page.headers["Content-Security-Policy"]
    html = await page.text()
    assert "<script" not in html
    assert "<h1>Vision and purpose scorecard</h1>" in html
    # A chart for every measure with periods: the nine seeded, the seven counts of our own
    # activity and the "You said, we did" actions (twelve months each).
    assert html.count('<svg class="chart trend"') == 17
    assert 'aria-hidden="true"' in html
    # The screen-reader table of the NHS measure holds its two rounds.
    nhs = html.split('id="barometer_nhs"')[1].split("</figure>")[0]
    assert '<td class="nhsuk-table__cell nhsuk-table__cell--numeric">75%</td>' in nhs
    assert '<td class="nhsuk-table__cell nhsuk-table__cell--numeric">83%</td>' in nhs
    assert nhs.count('<rect class="bar agree"') == 2
    assert '<line class="target"' in nhs
    fair = html.split('id="fair_career_progression"')[1].split("</figure>")[0]
    assert "not enough answers" in fair
    assert "<rect" not in fair  # no bar for a withheld figure
    assert "90%" not in fair

    data = await (await client.get("/scorecard.json")).json()
    found = measures(data)
    assert data["min_group"] == 5
    assert found["barometer_nhs"]["latest"] == {
        "period": "2026-11",
        "value": 83.3333,
        "respondents": 12,
    }
    assert found["barometer_nhs"]["previous"] == {
        "period": "2026-10",
        "value": 75.0,
        "respondents": 12,
    }
    assert found["barometer_nhs"]["status"] == "on track"
    assert found["barometer_organisation"]["status"] == "needs attention"
    assert found["staff_engagement"]["trend"] == [
        {"period": "2025", "value": 6.8, "respondents": 812},
        {"period": "2026", "value": 7.1, "respondents": 790},
    ]
    assert found["partners_patients_first"]["latest"] == {
        "period": "2026-Q4",
        "value": 83.3333,
        "respondents": 6,
    }
    # Below the minimum: a note, no figure.
    assert found["fair_career_progression"]["latest"] == {
        "period": "2026",
        "note": "not enough answers",
    }
    assert found["fair_career_progression"]["status"] == "no data"
    assert "90" not in str(found["fair_career_progression"])
    assert found["gp_experience"]["latest"] is None

    table = await client.get("/scorecard.csv")
    assert table.headers["Content-Type"].startswith("text/csv")
    assert table.headers["Access-Control-Allow-Origin"] == "*"
    lines = list(csv.DictReader(io.StringIO(await table.text())))
    fair_rows = [r for r in lines if r["measure"] == "fair_career_progression"]
    assert fair_rows == [
        {
            "objective": "equality",
            "objective_title": "Promoting equality and reducing inequalities in health outcomes",
            "measure": "fair_career_progression",
            "measure_name": "Staff who say we act fairly on career progression (staff survey)",
            "unit": "percent",
            "direction": "higher",
            "target": "85.0",
            "source": "staff_survey",
            "status": "no data",
            "period": "2026",
            "value": "",
            "respondents": "",
            "note": "not enough answers",
        }
    ]
    nhs_rows = [(r["period"], r["value"]) for r in lines if r["measure"] == "barometer_nhs"]
    assert nhs_rows == [("2026-10", "75.0"), ("2026-11", "83.3333")]


async def test_an_empty_scorecard_is_a_page_too(client: TestClient[Any, Any]) -> None:
    page = await client.get("/scorecard")
    assert page.status == 200
    assert "no data yet" in await page.text()
    data = await (await client.get("/scorecard.json")).json()
    assert {o["status"] for o in data["objectives"]} == {"no data"}


async def _form(client: TestClient[Any, Any], link: str) -> tuple[int, str, str]:
    path = link.removeprefix("https://values.example.org")
    shown = await client.get(path)
    html = await shown.text()
    found = FORM_TOKEN.search(html)
    return shown.status, html, found[1] if found else ""


ALL_AGREE = {
    "q_patients": "agree",
    "q_listen": "agree",
    "q_open": "strongly_agree",
    "q_partnership": "neutral",
}


async def test_the_form_is_sent_once(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    links = await stakeholder_round(app, clock, close=False)
    link = links[7]  # one not answered yet
    path = link.removeprefix("https://values.example.org")
    status, html, token = await _form(client, link)
    assert status == 200
    assert token
    assert "<script" not in html
    # Each question is a fieldset whose legend is the question, a radio per point of the scale.
    assert html.count("<fieldset") == 5
    assert "NHS England puts patients first in the decisions it takes" in html
    assert html.count('type="radio"') == 4 * 5 + 6
    assert '<textarea class="nhsuk-textarea" id="comment" name="comment"' in html
    sent = await client.post(
        path,
        data={
            **ALL_AGREE,
            "organisation": "provider",
            "comment": "<b>Good</b>",
            "form_token": token,
        },
    )
    assert sent.status == 200
    assert "Thank you" in await sent.text()
    assert await rows(app, "SELECT count(*) FROM stakeholder_pending") == [(7,)]
    # The same post again (a replay, a second click): refused, nothing kept.
    again = await client.post(path, data={**ALL_AGREE, "form_token": token})
    assert again.status == 410
    assert "This link has been used" in await again.text()
    assert (await client.get(path)).status == 410
    assert await rows(app, "SELECT count(*) FROM stakeholder_pending") == [(7,)]
    assert await rows(app, "SELECT count(*) FROM stakeholder_links WHERE used") == [(7,)]


async def test_the_form_refuses_what_it_did_not_make_and_says_what_is_missing(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    links = await stakeholder_round(app, clock, close=False)
    link = links[6]
    path = link.removeprefix("https://values.example.org")
    _, _, token = await _form(client, link)
    # No form token, or another link's: refused, and the link is not spent.
    for forged in (
        {},
        {"form_token": "0" * 64},
        {"form_token": (await _form(client, links[7]))[2]},
    ):
        refused = await client.post(path, data={**ALL_AGREE, **forged})
        assert refused.status == 400
        assert "This form cannot be sent" in await refused.text()
    # Something missing: the form again, with an error summary linking to each field, and
    # what was given kept.
    missing = await client.post(
        path, data={"q_patients": "agree", "comment": "x" * 1001, "form_token": token}
    )
    assert missing.status == 400
    html = await missing.text()
    assert "There is a problem" in html
    assert 'href="#q_listen"' in html
    assert 'href="#comment"' in html
    assert 'id="q_patients" name="q_patients" type="radio" value="strongly_disagree"' in html
    assert 'value="agree" checked' in html
    assert "Keep your comment to 1000 characters or fewer (it has 1001)" in html
    assert await rows(app, "SELECT count(*) FROM stakeholder_links WHERE used") == [(6,)]
    ok = await client.post(path, data={**ALL_AGREE, "form_token": token})
    assert ok.status == 200


async def test_unknown_expired_and_closed_links_are_refused_with_a_page(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    links = await stakeholder_round(app, clock, close=False)
    for path, status, words in (
        ("/feedback/" + "A" * 32, 404, "This link is not one of ours"),
        ("/feedback/short", 404, "This link is not one of ours"),
        ("/feedback/" + "%3Cscript%3E" * 3, 404, "This link is not one of ours"),
    ):
        answer = await client.get(path)
        assert answer.status == status
        assert words in await answer.text()
        assert answer.headers["Cache-Control"] == "no-store"
        posted = await client.post(path, data=ALL_AGREE)
        assert posted.status == status
    clock.advance(timedelta(days=29))
    path = links[7].removeprefix("https://values.example.org")
    expired = await client.get(path)
    assert expired.status == 410
    assert "This feedback round has closed" in await expired.text()
    async with app.database.unit() as stores:
        assert app.scorecard is not None
        await app.scorecard.stakeholders.close_due(stores, clock.now())
    closed = await client.post(path, data=ALL_AGREE)
    assert closed.status == 410
    assert "This feedback round has closed" in await closed.text()


async def test_two_posts_at_once_spend_a_link_once(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    links = await stakeholder_round(app, clock, close=False)
    path = links[7].removeprefix("https://values.example.org")
    _, _, token = await _form(client, links[7])
    answers = await asyncio.gather(
        *(client.post(path, data={**ALL_AGREE, "form_token": token}) for _ in range(2))
    )
    assert sorted(a.status for a in answers) == [200, 410]
    assert await rows(app, "SELECT count(*) FROM stakeholder_pending") == [(7,)]


async def test_approved_comments_of_partners_are_published_escaped(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    await answer_round(app, clock, 10, '<img src=x onerror="alert(1)">')
    assert app.scorecard is not None
    async with app.database.unit() as stores:
        round_, waiting, _ = await app.scorecard.stakeholders.waiting_comments(stores)
        assert round_ is not None
        approved = next(c for c in waiting if c.text.endswith(" 0"))
        assert not await app.scorecard.stakeholders.moderate(
            stores, approved.id, "approved", "cli:test", clock.now()
        )
    html = await (await client.get("/scorecard")).text()
    assert "In the 2027 round, 10 of the 10 partners and stakeholders we asked answered." in html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt; 0" in html
    assert "<img" not in html
    assert "alert(1)&#34;&gt; 1" not in html  # not approved: never shown
    data = await (await client.get("/scorecard.json")).json()
    assert data["stakeholders"] == {
        "period": "2027",
        "asked": 10,
        "answered": 10,
        "shown": True,
        "comments": ['<img src=x onerror="alert(1)"> 0'],
    }


async def test_comments_of_a_round_below_the_threshold_are_never_published(
    app: App, clock: ManualClock, client: TestClient[Any, Any]
) -> None:
    await answer_round(app, clock, 9, "Nine of us")
    html = await (await client.get("/scorecard")).text()
    assert "In the 2027 round, 9 of the 9 partners" in html
    assert "Nine of us" not in html
    assert "Comments are published when 10 or more answer" in html
    data = await (await client.get("/scorecard.json")).json()
    assert data["stakeholders"]["comments"] == []
