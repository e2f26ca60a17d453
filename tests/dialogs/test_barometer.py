"""The monthly staff barometer through the harness: a whole round, from opening to the
published page, with the anonymity rules checked where people would see them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.ui import Card
from bot.web import build_web_app
from dialogs.barometer.service import TICK_JOB
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness

PEOPLE = [f"p{n:02d}" for n in range(50)]
COMMS = "comms"
RESULTS = "announcements"
PERIOD = "2026-11"  # the harness clock starts on Monday 30 November 2026
JOB = f"barometer:{PERIOD}"
NHS_COUNTS = (
    "SELECT value, count(*) FROM barometer_responses WHERE question = 'nhs' GROUP BY value "
    "ORDER BY 1"
)


@pytest.fixture
async def app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS=f"console:{COMMS}",
            VALUESBOT_BAROMETER_RESULTS=f"console:test:{RESULTS}",
            VALUESBOT_PUBLIC_URL="https://values.example.org",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


async def meet(harness: Harness, people: list[str]) -> None:
    """The bot meets everyone (they asked for help once)."""
    for person in people:
        await harness.user_says("/values", user=person)


def answers(nhs: str, organisation: str, group: str = "", comment: str = "") -> dict[str, str]:
    given = {"q_nhs": nhs, "q_organisation": organisation}
    if group:
        given["group"] = group
    if comment:
        given["comment"] = comment
    return given


async def answer(harness: Harness, user: str, given: dict[str, str], **extra: Any) -> list[Card]:
    card = (await harness.inbox(user, JOB))[0]
    return await harness.click("Send my answers", user=user, card=card, inputs=given, **extra)


async def published(app: App) -> tuple[str, dict[str, Any], str]:
    async with TestClient(TestServer(build_web_app(app))) as client:
        page = await client.get("/barometer")
        assert page.status == 200
        assert "style-src 'self';" in page.headers["Content-Security-Policy"]
        assert "script-src" not in page.headers["Content-Security-Policy"]
        data = await client.get("/barometer.json")
        assert data.status == 200
        table = await client.get("/barometer.csv")
        assert table.status == 200
        assert table.headers["Content-Type"].startswith("text/csv")
        return await page.text(), await data.json(), await table.text()


async def test_a_whole_round(harness: Harness, app: App, clock: ManualClock) -> None:
    await meet(harness, [*PEOPLE, COMMS])

    # Comms opens the round: one outbox message per person the bot knows, the same card.
    opened = await harness.user_says("/barometer open", user=COMMS)
    assert opened[-1].title == "Opened: Staff barometer: November 2026"
    assert "queued for 51 people" in opened[-1].text
    queued = await harness.outbox(JOB)
    assert sorted(q.recipient for q in queued) == sorted([*PEOPLE, COMMS])
    assert {q.key for q in queued} == {
        f"barometer:{PERIOD}:console:test:{p}" for p in [*PEOPLE, COMMS]
    }
    card = queued[0].card
    assert all(q.card == card and q.to_person for q in queued)
    assert [i.label for i in card.inputs][:2] == [
        "My work is making a positive difference to the NHS",
        "My work is making a positive difference to our organisation",
    ]
    assert [o.label for o in card.inputs[0].options] == [  # type: ignore[union-attr]
        "Strongly disagree",
        "Disagree",
        "Neither agree nor disagree",
        "Agree",
        "Strongly agree",
    ]
    assert "Results are shown only for groups of 5 or more people" in card.footer
    assert "Open until Thu 10 Dec at 09:30" in card.text

    # Opening twice changes nothing.
    again = await harness.user_says("/barometer open", user=COMMS)
    assert again[-1].title == "A round is already open"
    assert len(await harness.outbox(JOB)) == 51

    # Thirty people answer; p00's click reaches the bot twice (a platform retry).
    for n, person in enumerate(PEOPLE[:30]):
        group = "area" if n < 20 else ("regional" if n < 24 else "national")
        nhs = (
            "strongly_disagree" if group == "regional" else ("agree" if n % 3 else "strongly_agree")
        )
        given = answers(
            nhs, "agree" if n % 2 else "neutral", group, f"comment {n}" if n < 12 else ""
        )
        if person == "p00":
            await answer(harness, person, given, event_id="click-p00")
            await answer(harness, person, given, event_id="click-p00")
        else:
            await answer(harness, person, given)
    thanks = harness.updates(user="p00")[-1]
    assert thanks.title == "Thank you: Staff barometer: November 2026"
    assert "Your answer is recorded." in thanks.text
    assert "Results are shown only for groups of 5 or more people" in thanks.footer
    assert [c.label for c in thanks.choices] == ["Change my answer"]
    assert len(harness.updates(user="p00")) == 1  # the retry was not handled again

    # A second, separate click on the original card counts once too.
    double = await answer(harness, "p02", answers("disagree", "disagree"))
    assert "You have already answered" in double[-1].text
    assert await rows(app, "SELECT count(*) FROM barometer_participation WHERE answered") == [(30,)]
    assert await rows(
        app, "SELECT question, count(*) FROM barometer_responses GROUP BY question ORDER BY 1"
    ) == [("nhs", 30), ("organisation", 30)]

    # p01 changes their mind through the card where they answered (p01 gave agree/agree).
    before = await rows(app, NHS_COUNTS)
    changing = await harness.click(
        "Change my answer", user="p01", card=harness.updates(user="p01")[-1]
    )
    form = harness.updates(user="p01")[-1]  # the answered card itself changes
    assert changing == [form]
    assert "your new answer replaces the one you gave" in form.text
    assert all(getattr(i, "initial", None) in (None, "") for i in form.inputs)  # never shown
    await harness.click(
        "Send my new answer", user="p01", card=form, inputs=answers("disagree", "agree", "area")
    )
    assert "Your new answer replaced your earlier one." in harness.updates(user="p01")[-1].text
    after = await rows(app, NHS_COUNTS)
    assert dict(after) == {**dict(before), "agree": dict(before)["agree"] - 1, "disagree": 1}
    assert await rows(app, "SELECT count(*) FROM barometer_participation WHERE answered") == [(30,)]

    # Without the card's token nothing changes: someone else's forged change is refused.
    forged = {**form.hidden, "token": "not-the-token"}
    refused = await harness.click(
        "Send my new answer",
        user="p03",
        card=Card(title="x", choices=form.choices, inputs=form.inputs, hidden=forged),
        inputs=answers("strongly_disagree", "strongly_disagree"),
    )
    assert refused[-1].title == "This card cannot change an answer"
    assert await rows(app, NHS_COUNTS) == after

    # Status for comms: response rate only.
    status = await harness.user_says("/barometer status", user=COMMS)
    assert {f.label: f.value for f in status[-1].fields}["Answered"] == "30 of 51 (59%)"

    # A reminder goes only to the 21 who have not answered, and says what the bot knows.
    reminded = await harness.user_says("/barometer remind", user=COMMS)
    assert reminded[-1].title == "Reminder 1 of 2 queued"
    reminders = await harness.outbox(f"{JOB}:reminder1")
    assert sorted(q.recipient for q in reminders) == sorted([*PEOPLE[30:], COMMS])
    text = reminders[0].card.text
    assert "You have not answered" in text
    assert "I never know what anyone answered" in text
    await harness.user_says("/barometer remind", user=COMMS)
    third = await harness.user_says("/barometer remind", user=COMMS)
    assert third[-1].title == "No more reminders"
    assert len(await harness.outbox(f"{JOB}:reminder2")) == 21

    # Comments are read by comms once ten have answered; one approved, one rejected.
    pending = await harness.user_says("/barometer comments", user=COMMS)
    # Eleven wait (p01's went when they changed their answer), ten are shown at a time.
    assert len(pending) == 11
    assert pending[10].text.startswith("1 more")
    await harness.click("Approve", user=COMMS, card=pending[0])
    await harness.click("Reject", user=COMMS, card=pending[1])
    approved_text, rejected_text = pending[0].text, pending[1].text
    not_comms = await harness.click("Approve", user="p05", card=pending[2])
    assert not_comms[-1].title == "Only the comms team can do this"

    # Comms closes the round: results queued to the results channel, shown to comms.
    clock.advance(timedelta(days=1))
    closed = await harness.user_says("/barometer close", user=COMMS)
    card = closed[-1]
    assert card.title == "Staff barometer results: November 2026"
    assert "30 of 51 people answered (59%)" in card.text
    assert "The results are queued for 1 results channel." in card.text
    posted = await harness.outbox(f"{JOB}:results")
    assert [(q.recipient, q.to_person) for q in posted] == [(RESULTS, False)]
    bars = {b.label: b.caption for b in posted[0].card.bars}
    assert bars["The NHS: Strongly disagree"] == "4 (13%)"
    fields = {f.label: f.value for f in posted[0].card.fields}
    assert fields["My work is making a positive difference to the NHS"] == "83% agree"
    assert "An area team (20)" in fields
    assert "Groups not shown" in fields
    assert not any("regional" in f.lower() or "national" in f.lower() for f in fields)

    # Answering after the close is refused; everyone sees the results with /barometer.
    late = await answer(harness, "p40", answers("agree", "agree"))
    assert late[-1].title == "Staff barometer: this round has closed"
    mine = await harness.user_says("/barometer", user="p40")
    assert mine[-1].title == "Staff barometer results: November 2026"

    page, data, table = await published(app)
    assert "My work is making a positive difference to the NHS" in page
    assert "30 of 51 people answered (59%)" in page
    assert approved_text in page
    assert rejected_text not in page
    (latest,) = data["rounds"]
    assert latest["answered"] == 30
    assert latest["asked"] == 51
    assert latest["shown"]
    assert [q["respondents"] for q in latest["questions"]] == [30, 30]
    assert latest["comments"] == [approved_text]
    assert [g["id"] for g in latest["groups"]] == ["area", None]
    lines = list(csv.DictReader(io.StringIO(table)))
    assert {line["group_id"] for line in lines} == {"all", "area", "other"}
    assert (
        sum(
            int(line["count"])
            for line in lines
            if line["group_id"] == "all" and line["question_id"] == "nhs"
        )
        == 30
    )


async def test_a_group_of_four_is_never_shown_nor_deducible(harness: Harness, app: App) -> None:
    """Regional (4 people) is below the threshold; showing national (6) and the total would
    let regional be worked out by subtraction, so national is withheld as well, everywhere."""
    await meet(harness, [*PEOPLE[:30], COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    for n, person in enumerate(PEOPLE[:30]):
        group = "area" if n < 20 else ("regional" if n < 24 else "national")
        nhs = "strongly_disagree" if group == "regional" else "agree"
        await answer(harness, person, answers(nhs, "agree", group))
    closed = await harness.user_says("/barometer close", user=COMMS)
    chat = [
        c.plain_text()
        for c in [closed[-1], *(await harness.user_says("/barometer results", user="p00"))]
    ]
    page, data, table = await published(app)
    for shown in [*chat, page, table, repr(data)]:
        assert "regional" not in shown.lower()
        assert "national" not in shown.lower()
    groups = data["rounds"][0]["groups"]
    assert [(g["id"], g["respondents"]) for g in groups] == [("area", 20), (None, 10)]
    assert data["rounds"][0]["groups_withheld"] is True
    # What the page shows adds up, and the remainder mixes the two small groups.
    everyone = {a["id"]: a["count"] for a in data["rounds"][0]["questions"][0]["answers"]}
    area = {a["id"]: a["count"] for a in groups[0]["questions"][0]["answers"]}
    rest = {a["id"]: a["count"] for a in groups[1]["questions"][0]["answers"]}
    assert {k: area[k] + rest[k] for k in everyone} == everyone
    assert rest["strongly_disagree"] == 4
    assert rest["agree"] == 6
    # And the database no longer holds the small groups at all.
    assert await rows(app, "SELECT DISTINCT group_id FROM barometer_responses ORDER BY 1") == [
        (None,),
        ("area",),
    ]


async def test_a_round_below_the_threshold_shows_no_numbers(harness: Harness, app: App) -> None:
    await meet(harness, [*PEOPLE[:10], COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    for person in PEOPLE[:4]:
        await answer(harness, person, answers("agree", "agree", "area", "a comment"))
    closed = await harness.user_says("/barometer close", user=COMMS)
    assert "Results are shown only when at least 5 people answer" in closed[-1].text
    assert not closed[-1].bars
    assert not closed[-1].fields
    page, data, table = await published(app)
    assert data["rounds"][0]["shown"] is False
    assert data["rounds"][0]["questions"] == []
    assert data["rounds"][0]["comments"] == []
    assert table.strip().count("\n") == 0  # the header only
    assert "Fewer than 5 people answered" in page
    # Comments of a round too small for them are deleted when it closes.
    assert await rows(app, "SELECT count(*) FROM barometer_comments") == [(0,)]


async def test_only_comms_run_the_round(harness: Harness) -> None:
    for word in ("open", "close", "status", "preview", "remind", "comments"):
        said = await harness.user_says(f"/barometer {word}", user="p01")
        assert said[-1].title == "Only the comms team can do this"
    assert await harness.outbox() == []
    helped = await harness.user_says("/barometer help", user="p01")
    assert "/barometer open" not in helped[-1].plain_text()
    helped = await harness.user_says("/barometer help", user=COMMS)
    assert "/barometer open" in helped[-1].plain_text()


async def test_preview_records_nothing(harness: Harness, app: App) -> None:
    shown = await harness.user_says("/barometer preview", user=COMMS)
    assert shown[-1].title == "Preview: Staff barometer: November 2026"
    said = await harness.click(
        "Send my answers", user=COMMS, card=shown[-1], inputs=answers("agree", "agree")
    )
    assert said[-1].title == "This was a preview"
    assert await rows(app, "SELECT count(*) FROM barometer_rounds") == [(0,)]


async def test_everyone_answers_from_the_command_too(harness: Harness, app: App) -> None:
    await meet(harness, [COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    card = (await harness.user_says("/barometer", user="newcomer"))[-1]
    assert card.choices[0].label == "Send my answers"
    missing = await harness.click(
        "Send my answers", user="newcomer", card=card, inputs={"q_nhs": "agree"}
    )
    assert "Please answer every question (still to answer: Our organisation)" in missing[-1].text
    await harness.click(
        "Send my answers", user="newcomer", card=card, inputs=answers("agree", "agree")
    )
    again = await harness.user_says("/barometer", user="newcomer")
    assert "You have already answered this round" in again[-1].text


async def test_the_timetable_opens_reminds_and_closes_by_itself(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await meet(harness, PEOPLE[:6])
    await app.run_schedules(
        TICK_JOB
    )  # Monday 30 November: November's round would have closed by now
    assert await rows(app, "SELECT count(*) FROM barometer_rounds") == [(0,)]
    clock.advance(timedelta(days=1, minutes=30))  # Tuesday 1 December, 10:00 London
    await app.run_schedules(TICK_JOB)
    assert await rows(app, "SELECT period, status FROM barometer_rounds") == [("2026-12", "open")]
    assert len(await harness.outbox("barometer:2026-12")) == 6
    await answer_round(harness, "2026-12", PEOPLE[:5])
    clock.advance(timedelta(days=3))  # Friday 4 December: the first reminder
    await app.run_schedules(TICK_JOB)
    await app.run_schedules(TICK_JOB)
    assert [q.recipient for q in await harness.outbox("barometer:2026-12:reminder1")] == [PEOPLE[5]]
    clock.advance(timedelta(days=7))  # Friday 11 December, after 10:00: closed
    await app.run_schedules(TICK_JOB)
    assert await rows(app, "SELECT status FROM barometer_rounds") == [("closed",)]
    assert await rows(app, "SELECT count(*) FROM barometer_participation") == [(0,)]
    # The physical traces of the deleted rows are scrubbed after the close commits.
    assert await rows(app, "SELECT value FROM meta WHERE key = 'barometer_scrub_pending'") == [
        ("2026-12",)
    ]
    await app.housekeeping()
    assert await rows(app, "SELECT value FROM meta WHERE key = 'barometer_scrub_pending'") == [
        ("",)
    ]


async def answer_round(harness: Harness, period: str, people: list[str]) -> None:
    for person in people:
        card = (await harness.inbox(person, f"barometer:{period}"))[0]
        await harness.click(
            "Send my answers", user=person, card=card, inputs=answers("agree", "agree")
        )
