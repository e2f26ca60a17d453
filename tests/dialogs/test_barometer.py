"""The monthly staff barometer through the harness: a whole round, from opening to the
published page, with the anonymity rules checked where people would see them."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.events import Actor, ConversationRef, Platform
from bot.ui import Card
from bot.web import build_web_app
from dialogs.barometer import cards
from dialogs.barometer.service import TICK_JOB
from storage.barometer import BarometerComment
from storage.stores import Stores
from tests.conftest import make_settings
from tests.contract.test_barometer import answers_now
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness, where

PEOPLE = [f"p{n:02d}" for n in range(50)]
COMMS = "comms"
RESULTS = "announcements"
PERIOD = "2026-11"  # the harness clock starts on Monday 30 November 2026
JOB = f"barometer:{PERIOD}"


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


async def nhs_counts(app: App) -> dict[str, int]:
    """How many give each answer to the NHS question now, waiting answers included (opened
    with the key: tests only)."""
    return dict(Counter(a.values["nhs"] for a in (await answers_now(app.database)).values()))


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
    assert "Only whoever holds the token in this message can: keep it to yourself." in thanks.text
    assert "Results are shown only for groups of 5 or more people" in thanks.footer
    # p00 wrote a comment: the card will show the comms team's response to it, later.
    assert [c.label for c in thanks.choices] == [
        "Change my answer",
        "See the response to my comment",
    ]
    assert "I do not know which comment is yours" in thanks.text
    no_comment = harness.updates(user="p20")[-1]
    assert [c.label for c in no_comment.choices] == ["Change my answer"]
    assert len(harness.updates(user="p00")) == 1  # the retry was not handled again

    # A second, separate click on the original card counts once too.
    double = await answer(harness, "p02", answers("disagree", "disagree"))
    assert "You have already answered" in double[-1].text
    assert await rows(app, "SELECT count(*) FROM barometer_participation WHERE answered") == [(30,)]
    everyone = await answers_now(app.database)
    assert len(everyone) == 30
    assert all(set(a.values) == {"nhs", "organisation"} for a in everyone.values())
    # Answers wait, sealed, until a batch of six of them is written together.
    ((written,),) = await rows(app, "SELECT count(DISTINCT token_hash) FROM barometer_responses")
    assert written % 6 == 0
    assert await rows(app, "SELECT count(*) FROM barometer_pending") == [(30 - written,)]

    # p01 changes their mind through the card where they answered (p01 gave agree/agree).
    before = await nhs_counts(app)
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
    after = await nhs_counts(app)
    assert after == {**before, "agree": before["agree"] - 1, "disagree": 1}
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
    assert refused[-1].text.startswith("Only whoever holds the token in the message where you")
    assert await nhs_counts(app) == after

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

    # Nobody reads comments while the round is open, comms included.
    early = await harness.user_says("/barometer comments", user=COMMS)
    assert early[-1].title == "No comments to read yet"
    assert "read once it closes" in early[-1].text

    # Comms closes the round: results queued to the results channel, shown to comms.
    clock.advance(timedelta(days=1))
    closed = await harness.user_says("/barometer close", user=COMMS)
    card = closed[-1]
    assert card.title == "Staff barometer results: November 2026"
    assert "30 of 51 people answered (59%)" in card.text
    assert "The results are queued for 1 results channel." in card.text
    # Eleven comments wait (p01's went when they changed their answer).
    assert "11 comments wait for the comms team to read: /barometer comments." in card.text
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

    # Comms read the comments once the round has closed (ten or more answered), ten at a
    # time; one approved, one rejected.
    pending = await harness.user_says("/barometer comments", user=COMMS)
    assert len(pending) == 11
    assert pending[10].text.startswith("1 more")
    await harness.click("Approve", user=COMMS, card=pending[0])
    await harness.click("Reject", user=COMMS, card=pending[1])
    approved_text, rejected_text = pending[0].text, pending[1].text
    not_comms = await harness.click("Approve", user="p05", card=pending[2])
    assert not_comms[-1].title == "Only the comms team can do this"
    results = await harness.user_says("/barometer results", user="p40")
    assert {f.value for f in results[-1].fields if f.label == "Comment"} == {approved_text}

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
    # The published comment is a row of its own, after the counts.
    assert [(line["comment"], line["response"]) for line in lines[-1:]] == [(approved_text, "")]
    lines = [line for line in lines if line["question_id"] != "comment"]
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
    assert await rows(app, "SELECT count(*) FROM barometer_responses") == [(0,)]
    assert await rows(app, "SELECT DISTINCT group_id FROM barometer_counts ORDER BY 1") == [
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
    # Answers and comments of a round too small to show are deleted when it closes: it keeps
    # only its counts of asked and answered.
    assert await rows(app, "SELECT count(*) FROM barometer_comments") == [(0,)]
    assert await rows(app, "SELECT count(*) FROM barometer_responses") == [(0,)]
    assert await rows(app, "SELECT count(*) FROM barometer_counts") == [(0,)]
    assert await rows(app, "SELECT invited, answered FROM barometer_rounds") == [(11, 4)]


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


async def test_one_person_reminded_is_counted_as_one(harness: Harness) -> None:
    await meet(harness, ["p01", COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    card = (await harness.inbox(COMMS, JOB))[0]
    await harness.click("Send my answers", user=COMMS, card=card, inputs=answers("agree", "agree"))
    reminded = await harness.user_says("/barometer remind", user=COMMS)
    assert reminded[-1].text == (
        "1 person who has not answered will be reminded in their working hours."
    )


async def test_an_unknown_word_is_not_echoed_back_whole(harness: Harness) -> None:
    pasted = "lorem ipsum dolor " * 300  # about 5,000 characters
    said = await harness.user_says(f"/barometer {pasted}", user="p01")
    text = said[-1].text
    assert text.startswith("I don't know 'lorem ipsum dolor lorem ipsum dolor lor…'.")
    assert len(text) < 400
    assert "/barometer results" in said[-1].plain_text()  # the help follows


async def comment_of(app: App) -> tuple[Card, str]:
    """A comment card as the comms team would see it, for a comment in the database (as a
    click carrying its id would name it), and the comment's id."""
    ((comment_id, round_id),) = await rows(
        app, "SELECT id, round_id FROM barometer_comments ORDER BY id LIMIT 1"
    )
    async with app.database.unit() as stores:
        round_ = await stores.barometer.get(str(round_id))
    assert round_ is not None
    comment = BarometerComment(id=str(comment_id), round_id=round_.id, text="?")
    return cards.comment_card(round_, comment), str(comment_id)


async def status_of(app: App, comment_id: str) -> list[tuple[object, ...]]:
    return await rows(app, f"SELECT status FROM barometer_comments WHERE id = '{comment_id}'")


async def test_a_click_cannot_read_or_approve_a_comment_below_the_minimum(
    sqlite_url: str, clock: ManualClock
) -> None:
    built = await build_app(
        make_settings(sqlite_url, VALUESBOT_COMMS=f"console:{COMMS}", VALUESBOT_COMMENT_MIN="20"),
        clock=clock,
        prepare=False,
    )
    try:
        harness = Harness(built)
        await meet(harness, [*PEOPLE[:12], COMMS])
        await harness.user_says("/barometer open", user=COMMS)
        for n, person in enumerate(PEOPLE[:12]):
            await answer(harness, person, answers("agree", "agree", comment=f"secret {n}"))
        card, comment_id = await comment_of(built)

        # Twelve answered, fewer than twenty: the listing refuses, and so does a click carrying
        # a comment's id, which neither shows the comment nor changes it.
        listed = await harness.user_says("/barometer comments", user=COMMS)
        assert "secret" not in " ".join(c.plain_text() for c in listed)
        for label in ("Approve", "Reject"):
            refused = await harness.click(label, user=COMMS, card=card)
            assert refused[-1].title == "Comments cannot be read yet"
            assert "secret" not in refused[-1].plain_text()
            assert harness.updates(user=COMMS) == []
            assert await status_of(built, comment_id) == [("pending",)]
        async with built.database.unit() as stores:
            problem = await built.barometer.moderate_by_id(
                stores, comment_id, "approved", now=built.clock.now()
            )
        assert "No round has closed yet" in problem
        assert await status_of(built, comment_id) == [("pending",)]

        # Closed with twelve answers: still below the minimum, whichever way comms ask.
        await harness.user_says("/barometer close", user=COMMS)
        refused = await harness.click("Approve", user=COMMS, card=card)
        assert refused[-1].title == "Comments cannot be read yet"
        assert "shown only when 20 or more people answer, and 12 did" in refused[-1].text
        async with built.database.unit() as stores:
            problem = await built.barometer.moderate_by_id(
                stores, comment_id, "approved", now=built.clock.now()
            )
        assert "shown only when 20 or more people answer" in problem
        listed = await harness.user_says("/barometer comments", user=COMMS)
        assert listed[-1].title == "No comments to read"
        assert await rows(built, "SELECT count(*) FROM barometer_comments") == [(0,)]
    finally:
        await built.close()


async def test_comments_are_read_only_once_the_round_has_closed(harness: Harness, app: App) -> None:
    await meet(harness, [*PEOPLE[:12], COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    for n, person in enumerate(PEOPLE[:12]):
        await answer(harness, person, answers("agree", "agree", comment=f"comment {n}"))
    card, comment_id = await comment_of(app)

    # Twelve answered (the minimum is ten), but the round is open: nobody reads them yet.
    refused = await harness.click("Approve", user=COMMS, card=card)
    assert refused[-1].title == "Comments cannot be read yet"
    assert "read once it closes" in refused[-1].text
    assert await status_of(app, comment_id) == [("pending",)]

    await harness.user_says("/barometer close", user=COMMS)
    await harness.click("Approve", user=COMMS, card=card)
    assert harness.updates(user=COMMS)[-1].footer.startswith("✓ Approved")
    assert await status_of(app, comment_id) == [("approved",)]


class Members:
    """A channel directory that lists the same people for every channel."""

    def __init__(self, people: list[str]) -> None:
        self.people = people

    async def members(self, place: ConversationRef, stores: Stores) -> list[str]:
        return self.people


@pytest.mark.parametrize("open_to_all", [False, True])
async def test_a_round_sent_to_channels_is_for_their_members_unless_open_to_all(
    sqlite_url: str, clock: ManualClock, open_to_all: bool
) -> None:
    extra = {"VALUESBOT_BAROMETER_OPEN_TO_ALL": "true"} if open_to_all else {}
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS=f"console:{COMMS}",
            VALUESBOT_BAROMETER_CHANNELS="console:test:team-x,console:test:team-y",
            **extra,
        ),
        clock=clock,
        prepare=False,
        directories={Platform.CONSOLE: Members(PEOPLE[:3])},
    )
    try:
        harness = Harness(built)
        opened = await harness.user_says("/barometer open", user=COMMS)
        assert "queued for 3 people" in opened[-1].text
        await answer(harness, PEOPLE[0], answers("agree", "agree"))
        asked = await harness.user_says("/barometer", user="outsider")
        home = await built.home_cards(where("outsider", None), Actor(id="outsider"))
        offered = [c.label for card in home for c in card.choices]
        assert ("Answer now" in offered) is open_to_all
        if open_to_all:
            assert asked[-1].choices[0].label == "Send my answers"
            await harness.click(
                "Send my answers", user="outsider", card=asked[-1], inputs=answers("agree", "agree")
            )
            assert "Your answer is recorded." in harness.updates(user="outsider")[-1].text
            counted = "2 of 4 (50%)"
        else:
            assert asked[-1].title == "Staff barometer: November 2026: for the people it asked"
            assert "sent to the members of team-x and team-y when it opened" in asked[-1].text
            # Nor does a card that reached them some other way count them.
            card = (await harness.inbox(PEOPLE[1], JOB))[0]
            said = await harness.click(
                "Send my answers", user="outsider", card=card, inputs=answers("agree", "agree")
            )
            assert said[-1].title == asked[-1].title
            assert harness.updates(user="outsider") == []
            counted = "1 of 3 (33%)"
        status = await harness.user_says("/barometer status", user=COMMS)
        assert {f.label: f.value for f in status[-1].fields}["Answered"] == counted
    finally:
        await built.close()
