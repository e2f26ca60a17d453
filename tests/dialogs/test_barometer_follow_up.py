"""You said, we did, through the harness: the comms team respond to a closed round's comments
(one by one and by theme), authors read the response to their own comment from their own card
and nobody else can, actions move from planned to done, and the results page, its JSON and CSV
and ``/you-said-we-did`` show it all, escaped."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlmodel import SQLModel

from bot.app import App
from bot.clock import ManualClock
from bot.ui import Card
from bot.web import build_web_app
from dialogs.barometer.follow_up_cards import Finished, we_did_line
from dialogs.barometer.typed import UsageProblem, parse_due, typed
from dialogs.digest import TICK_JOB as DIGEST_TICK
from tests.dialogs.test_barometer import COMMS, PEOPLE, answer, answers, meet
from tests.dialogs.test_barometer import app as app  # the barometer app fixture
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness

SEE = "See the response to my comment"
HOSTILE = '<script>alert(1)</script> & "quotes"'


def said_by(n: int) -> str:
    """What person n wrote."""
    if n == 0:
        return HOSTILE
    if n == 1:
        return '=HYPERLINK("http://evil")'
    return f"comment {n}: more time for learning"


async def closed_round(harness: Harness, clock: ManualClock, people: int = 12) -> None:
    """A round where ``people`` answered, each with a comment; closed; every comment read
    (person 11's rejected, the rest approved)."""
    await meet(harness, [*PEOPLE[:people], COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    for n, person in enumerate(PEOPLE[:people]):
        await answer(harness, person, answers("agree", "agree", comment=said_by(n)))
    clock.advance(timedelta(days=1))
    await harness.user_says("/barometer close", user=COMMS)
    while True:
        listed = await harness.user_says("/barometer comments", user=COMMS)
        waiting = [c for c in listed if c.choices]
        if not waiting:
            break
        for card in waiting:
            label = "Reject" if card.text == said_by(people - 1) else "Approve"
            await harness.click(label, user=COMMS, card=card)


async def comment_ids(app: App) -> dict[str, str]:
    """Each comment's id by its text (what a comms card shows as its id)."""
    return {str(t): str(i) for i, t in await rows(app, "SELECT id, text FROM barometer_comments")}


async def fetch(app: App, path: str) -> tuple[int, str, dict[str, str]]:
    async with TestClient(TestServer(build_web_app(app))) as client:
        response = await client.get(path)
        return response.status, await response.text(), dict(response.headers)


async def every_row(app: App) -> dict[str, list[str]]:
    """Every row of every table (a copy of the database)."""
    return {
        table.name: sorted(map(repr, await rows(app, f"SELECT * FROM {table.name}")))
        for table in SQLModel.metadata.sorted_tables
    }


def thanks(harness: Harness, person: str) -> Card:
    return harness.updates(user=person)[-1]


async def test_comms_respond_authors_read_theirs_and_actions_are_done(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await closed_round(harness, clock)
    ids = await comment_ids(app)
    said = {n: said_by(n) for n in range(12)}

    # Before any response, an author's own card says there is none yet, and why it cannot
    # tell them when there is.
    before = await harness.click(SEE, user=PEOPLE[2], card=thanks(harness, PEOPLE[2]))
    assert before == [thanks(harness, PEOPLE[2])]  # the card itself changed
    assert "There is no response to your comment on the November 2026 barometer yet." in (
        before[0].text
    )
    assert "I do not know which comment is yours" in before[0].footer

    # Comms list the published comments (the rejected one is not among them), each a form.
    listed = await harness.user_says("/barometer respond", user=COMMS)
    forms = [c for c in listed if c.inputs]
    assert len(forms) == 10
    assert listed[-1].text == "1 more: /barometer respond 2"
    more = await harness.user_says("/barometer respond 2", user=COMMS)
    forms += more
    assert [len(c.inputs) for c in more] == [2]
    assert said[11] not in " ".join(c.text for c in [*listed, *more])
    assert sorted(c.text for c in forms) == sorted(said[n] for n in range(11))
    assert {f.label for f in forms[0].fields} == {"Comment id"}
    form = next(c for c in forms if c.text == said[0])
    assert [i.name for i in form.inputs] == ["response", "theme"]

    # One comment answered from its card.
    await harness.click(
        "Publish response",
        user=COMMS,
        card=form,
        inputs={"response": "Thank you: <b>we</b> hear you & will act"},
    )
    done = harness.updates(user=COMMS)[-1]
    assert done.footer.startswith("✓ Published")
    assert [c.label for c in done.choices] == ["Publish changes", "Withdraw response"]

    # One typed, by the first characters of its id; then two under a theme, in one line.
    typed = await harness.user_says(
        f"/barometer respond {ids[said[2]][:6]} We are adding learning time.", user=COMMS
    )
    assert typed[-1].title == "Response published"
    assert "https://values.example.org/you-said-we-did" in typed[-1].text
    themed = await harness.user_says(
        f'/barometer respond {ids[said[3]][:6]} {ids[said[4]][:8]} --theme "Learning time" '
        "Protected learning time starts in January.",
        user=COMMS,
    )
    assert themed[-1].title == "Response published"
    assert "the theme “Learning time” (2 comments)" in themed[-1].text
    # A comment joins the theme (its name in any case and quotes) without a new text.
    joined = await harness.user_says(
        f"/barometer respond {ids[said[5]][:6]} --theme 'learning time'", user=COMMS
    )
    assert "the theme “Learning time” (3 comments)" in joined[-1].text
    # The rejected comment, someone else, a comment id that is not one: refused.
    refused = await harness.user_says(f"/barometer respond {ids[said[11]][:6]} No.", user=COMMS)
    assert "is not published" in refused[-1].text
    refused = await harness.user_says(f"/barometer respond {ids[said[6]][:6]} Hi", user="p30")
    assert refused[-1].title == "Only the comms team can do this"
    refused = await harness.click(
        "Publish response", user="p30", card=form, inputs={"response": "x"}
    )
    assert refused[-1].title == "Only the comms team can do this"
    refused = await harness.user_says("/barometer respond ffff1234 Hello", user=COMMS)
    assert "There is no comment ffff1234" in refused[-1].text
    refused = await harness.user_says(
        f"/barometer respond {ids[said[6]][:6]} {'x' * 1001}", user=COMMS
    )
    assert "under 1,000 characters" in refused[-1].text
    formula = await harness.user_says(
        f"/barometer respond {ids[said[7]][:6]} =1+2 is what we will do", user=COMMS
    )
    assert formula[-1].title == "Response published"
    several = await harness.user_says(
        f"/barometer respond {ids[said[6]][:6]} {ids[said[7]][:6]} One for both", user=COMMS
    )
    assert "give them a theme" in several[-1].text
    # Nothing refused was written: four responses (one, two typed, the theme).
    assert await rows(app, "SELECT count(*) FROM barometer_replies") == [(4,)]

    # An edit shows as edited; a withdrawal shows as withdrawn, without its text.
    clock.advance(timedelta(days=1))
    await harness.user_says(
        f"/barometer respond {ids[said[2]][:6]} We are adding learning time, from January.",
        user=COMMS,
    )
    await harness.user_says(f"/barometer respond {ids[said[6]][:6]} To withdraw", user=COMMS)
    withdrawn = await harness.user_says(f"/barometer withdraw {ids[said[6]][:6]}", user=COMMS)
    assert withdrawn[-1].title == "Response withdrawn"

    # Authors read the response to their own comment, on their own card.
    before_click = await every_row(app)
    mine = await harness.click(SEE, user=PEOPLE[0], card=thanks(harness, PEOPLE[0]))
    # Reading it writes nothing but when the author and their chat were last seen, and the
    # handled event's id (kept a day, for retries).
    after_click = await every_row(app)
    assert [t for t in after_click if after_click[t] != before_click[t]] == [
        "conversations",
        "people",
        "processed_events",
    ]
    assert mine == [thanks(harness, PEOPLE[0])]
    assert {f.label: f.value for f in mine[0].fields} == {
        "Their response": "Thank you: <b>we</b> hear you & will act"
    }
    assert said[0] not in mine[0].plain_text()  # the comment itself never goes in a message
    themed_card = (await harness.click(SEE, user=PEOPLE[3], card=thanks(harness, PEOPLE[3])))[0]
    assert "under the theme “Learning time”" in themed_card.text
    assert themed_card.fields[0].value == "Protected learning time starts in January."
    edited = (await harness.click(SEE, user=PEOPLE[2], card=thanks(harness, PEOPLE[2])))[0]
    assert edited.fields[0].value == "We are adding learning time, from January."
    assert "Written 1 Dec 2026, edited 2 Dec 2026" in edited.footer
    gone = (await harness.click(SEE, user=PEOPLE[6], card=thanks(harness, PEOPLE[6])))[0]
    assert "The response to your comment was withdrawn on 2 Dec 2026." in gone.text
    rejected = (await harness.click(SEE, user=PEOPLE[11], card=thanks(harness, PEOPLE[11])))[0]
    assert "Your comment was not published" in rejected.text

    # Someone else's click on that card (its token copied, say) shows them nothing: no card
    # changes, and what they see holds no response.
    updates = len(harness.updates(user="p40"))
    stolen = await harness.click(SEE, user="p40", card=thanks(harness, PEOPLE[0]))
    assert [c.title for c in stolen] == ["Nothing to show"]
    assert "Thank you" not in stolen[0].plain_text()
    assert len(harness.updates(user="p40")) == updates
    forged = Card(
        title="x",
        choices=thanks(harness, PEOPLE[0]).choices,
        hidden={**thanks(harness, PEOPLE[0]).hidden, "holder": "0" * 64},
    )
    assert [c.title for c in await harness.click(SEE, user=PEOPLE[0], card=forged)] == [
        "Nothing to show"
    ]

    # The results card says how many comments have a response, and where to read them.
    results = await harness.user_says("/barometer results", user="p40")
    assert {f.label: f.value for f in results[-1].fields}["Responses to comments"] == (
        "6 of 11 comments answered by the comms team: https://values.example.org/you-said-we-did"
    )
    # Everyone sees the responses in chat too.
    public = await harness.user_says("/barometer responses", user="p40")
    fields = [(f.label, f.value) for f in public[-1].fields]
    assert ("We said", "Thank you: <b>we</b> hear you & will act") in fields
    [(_, theme_said)] = [f for f in fields if f[0] == "Theme: Learning time"]
    assert sorted(theme_said.split(" · ")) == [said[3], said[4], said[5]]
    assert "6 of 11 comments have a response." in public[-1].text

    # An action answers the theme: planned, in progress, done; each change dated.
    added = await harness.user_says(
        '/barometer actions add "Protected <learning> time" --theme "Learning time" '
        '--owner "People team" --due 2027-01-31',
        user=COMMS,
    )
    action = added[-1]
    assert action.title == "Action 1: Protected <learning> time"
    fields_of = {f.label: f.value for f in action.fields}
    assert fields_of["Status"] == "Planned (2 Dec 2026), due 31 Jan 2027"
    assert fields_of["Answers"] == "“Learning time” (November 2026)"
    huge = await harness.user_says("/barometer actions 99999999999999999999999 done", user=COMMS)
    assert huge[-1].text == "There is no action 99999999999…."
    refused = await harness.user_says('/barometer actions add "Mine"', user="p40")
    assert refused[-1].title == "Only the comms team can do this"
    clock.advance(timedelta(days=3))
    await harness.click("In progress", user=COMMS, card=action)
    assert "In progress since 5 Dec 2026" in harness.updates(user=COMMS)[-1].footer
    clock.advance(timedelta(days=10))
    done_now = await harness.user_says("/barometer actions 1 done", user=COMMS)
    assert {f.label: f.value for f in done_now[-1].fields}["Status"] == "Done (15 Dec 2026)"
    # A second, for the round as a whole, from the form.
    listed = await harness.user_says("/barometer actions", user=COMMS)
    form = listed[-1]
    assert form.title == "Add an action: you said, we did"
    await harness.click(
        "Add the action", user=COMMS, card=form, inputs={"title": "Share the results at all-staff"}
    )
    everyone = await harness.user_says("/barometer actions", user="p40")
    assert [c.title for c in everyone] == ["You said, we did: actions"]
    assert [f.label for f in everyone[0].fields] == [
        "2. Share the results at all-staff",
        "1. Protected <learning> time",
    ]
    assert await rows(
        app, "SELECT action_id, status FROM barometer_action_changes ORDER BY id"
    ) == [(1, "planned"), (1, "in_progress"), (1, "done"), (2, "planned")]
    # Every response, withdrawal and action is in the audit trail: who, and which round and
    # which response or action; never the words. (Entries of one moment of the test's clock
    # come in any order.)
    trail = await rows(app, "SELECT actor, action, subject FROM audit_log")
    comms = f"console:test:{COMMS}"
    said_did = ("barometer.respond", "barometer.withdraw", "barometer.action")
    assert sorted((a, b) for a, b, _ in trail if b.startswith(said_did)) == [
        (comms, "barometer.action"),
        (comms, "barometer.action"),
        (comms, "barometer.action.done"),
        (comms, "barometer.action.in_progress"),
    ] + [(comms, "barometer.respond")] * 7 + [(comms, "barometer.withdraw")]
    assert all("learning" not in subject.lower() for _, _, subject in trail)

    # The results page: each published comment with its response under it, escaped.
    status, page, headers = await fetch(app, "/barometer")
    assert status == 200
    assert "script-src" not in headers["Content-Security-Policy"]
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Thank you: &lt;b&gt;we&lt;/b&gt; hear you &amp; will act" in page
    assert "Response (theme: Learning time):" in page
    assert "The response to this comment was withdrawn" in page
    assert "edited 2 Dec 2026" in page
    assert "6 of 11 comments have a response" in page
    status, data, _ = await fetch(app, "/barometer.json")
    (latest,) = json.loads(data)["rounds"]
    assert latest["comments_answered"] == 6
    by_theme = {r["theme"]: r for r in latest["responses"]}
    theme = by_theme["Learning time"]
    assert sorted(latest["comments"][i] for i in theme["comments"]) == sorted(
        [said[3], said[4], said[5]]
    )
    assert [r["status"] for r in latest["responses"]].count("withdrawn") == 1
    status, table, _ = await fetch(app, "/barometer.csv")
    lines = [
        line for line in csv.DictReader(io.StringIO(table)) if line["question_id"] == "comment"
    ]
    assert len(lines) == 11
    by_comment = {line["comment"]: line for line in lines}
    assert by_comment["'" + said[1]]["response"] == ""  # a formula made inert
    assert by_comment[said[0]]["response"] == "Thank you: <b>we</b> hear you & will act"
    assert by_comment[said[3]]["theme"] == "Learning time"
    assert by_comment[said[2]]["edited_on"] == "2026-12-02"
    assert by_comment[said[7]]["response"] == "'=1+2 is what we will do"  # inert

    # You said, we did: per round, the theme with its comments, response and action.
    status, page, headers = await fetch(app, "/you-said-we-did")
    assert status == 200
    assert headers["Cache-Control"] == "no-store"
    assert '<h2 id="round-2026-11">November 2026</h2>' in page
    assert "Theme: Learning time" in page
    assert "Protected &lt;learning&gt; time" in page
    assert "Done (15 Dec 2026)" in page
    assert "Owner: People team" in page
    assert "Share the results at all-staff" in page
    assert "<learning>" not in page
    status, data, _ = await fetch(app, "/you-said-we-did.json")
    said_did: dict[str, Any] = json.loads(data)
    (round_,) = said_did["rounds"]
    assert round_["period"] == "2026-11"
    assert [a["status"] for a in round_["actions"]] == ["planned", "done"]
    done_action = round_["actions"][1]
    assert done_action["themes"] == ["Learning time"]
    assert [h["status"] for h in done_action["history"]] == ["planned", "in_progress", "done"]
    assert done_action["history"][-1]["at"] == "2026-12-15T09:30:00Z"

    # Nothing in the database ties a person to a comment or a response: the tables that name
    # people hold no comment id, response id, comment text or mark.
    marks = [str(m) for (m,) in await rows(app, "SELECT token_mark FROM barometer_comments")]
    secrets = [*ids.values(), *marks, *said.values()]
    secrets += [str(i) for (i,) in await rows(app, "SELECT id FROM barometer_replies")]
    naming = ["people", "conversations", "dialog_states", "outbox", "console_posts", "meta"]
    for table in naming:
        for row in await rows(app, f"SELECT * FROM {table}"):
            assert not any(s in str(v) for v in row for s in secrets), table


async def test_an_action_done_is_said_in_the_next_digest_and_the_next_results(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await closed_round(harness, clock)
    ids = await comment_ids(app)
    await harness.user_says(
        f'/barometer respond {ids[said_by(3)][:6]} {ids[said_by(4)][:6]} --theme "Meetings" '
        "We will cut them.",
        user=COMMS,
    )
    action = (
        await harness.user_says(
            '/barometer actions add "Meeting-free Wednesday afternoons" --theme Meetings',
            user=COMMS,
        )
    )[-1]
    await harness.user_says("/barometer actions add Something else", user=COMMS)
    await harness.user_says("/digest schedule #values weekly monday 09:00", user=COMMS)

    # A digest now: nothing is done yet, so no line.
    await harness.user_says("/digest send-now #values", user=COMMS)
    sent = await harness.deliver_outbox()
    digest = [q.card for q in sent if q.job.startswith("digest:")]
    assert digest
    assert not any("we did" in c.plain_text() for c in digest)

    # Done on Thursday: next Monday's digest says so, in one line, and only that once.
    clock.advance(timedelta(days=2))
    await harness.click("Done", user=COMMS, card=action)
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    await app.run_schedules(DIGEST_TICK)
    sent = [q.card for q in await harness.deliver_outbox() if q.job.startswith("digest:")]
    text = "\n".join(c.text for c in sent)
    line = "You said “Meetings” (November 2026), we did “Meeting-free Wednesday afternoons”."
    assert line in text.split("\n\n")
    assert "Something else" not in text  # still planned
    # The digest's web page carries it too.
    ((run_id,),) = await rows(app, "SELECT id FROM digest_runs ORDER BY claimed_at DESC LIMIT 1")
    status, page, _ = await fetch(app, f"/digest/{run_id}")
    assert status == 200
    assert "Meeting-free Wednesday afternoons" in page
    clock.advance(timedelta(days=7))
    await app.run_schedules(DIGEST_TICK)
    later = [q.card for q in await harness.deliver_outbox() if q.job.startswith("digest:")]
    assert later
    assert not any("we did" in c.plain_text() for c in later)

    # December's round closes: its results card says what was done since November's.
    await harness.user_says("/barometer open", user=COMMS)
    for person in PEOPLE[:6]:
        card = (await harness.inbox(person, "barometer:2026-12"))[0]
        await harness.click(
            "Send my answers", user=person, card=card, inputs=answers("agree", "agree")
        )
    closed = await harness.user_says("/barometer close", user=COMMS)
    posted = [q.card for q in await harness.outbox("barometer:2026-12:results")]
    for card in (closed[-1], *posted):
        fields = {f.label: f.value for f in card.fields}
        assert fields["You said, we did"] == line
    results = await harness.user_says("/barometer results", user="p40")
    assert {f.label: f.value for f in results[-1].fields}["You said, we did"] == line


def test_typed_words_keep_apostrophes_and_read_quotes_and_options() -> None:
    given = typed("""3fa2c1 --theme “Work load” We're on it: 'really' "all of us" --owner Ops""")
    assert given.options == {"theme": "Work load", "owner": "Ops"}
    assert given.words == ["3fa2c1", "We're", "on", "it:", "really", "all of us"]
    assert typed("--theme 'Learning time' x").options == {"theme": "Learning time"}
    with pytest.raises(UsageProblem, match="--colour"):
        typed("--colour red")
    with pytest.raises(UsageProblem, match="--theme needs a value"):
        typed("abc --theme")
    assert parse_due("31 Jan 2027") == parse_due("2027-01-31") == parse_due("31/01/2027")
    with pytest.raises(UsageProblem, match="type it as 2027-01-31"):
        parse_due("next Tuesday")


def test_the_we_did_line_names_two_and_counts_the_rest() -> None:
    finished = [
        Finished(title="Fewer meetings", theme="Meetings", period="2026-11"),
        Finished(title="Results at all-staff", theme=None, period="2026-12"),
        Finished(title="Third", theme=None, period="2026-12"),
    ]
    assert we_did_line([], None) is None
    assert we_did_line(finished[:1], None) == (
        "You said “Meetings” (November 2026), we did “Fewer meetings”."
    )
    assert we_did_line(finished, "https://x.org/you-said-we-did") == (
        "You said “Meetings” (November 2026), we did “Fewer meetings”; you said it in the "
        "December 2026 barometer, we did “Results at all-staff”. And 1 more: "
        "https://x.org/you-said-we-did"
    )


async def test_no_response_to_a_round_whose_comments_are_not_shown(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    """Six answered, fewer than the ten comments need: nothing to respond to, whichever way."""
    await meet(harness, [*PEOPLE[:6], COMMS])
    await harness.user_says("/barometer open", user=COMMS)
    for n, person in enumerate(PEOPLE[:6]):
        await answer(harness, person, answers("agree", "agree", comment=said_by(n)))
    clock.advance(timedelta(days=1))
    await harness.user_says("/barometer close", user=COMMS)
    listed = await harness.user_says("/barometer respond", user=COMMS)
    assert "shown only when 10 or more people answer, and 6 did" in listed[-1].text
    typed_one = await harness.user_says("/barometer respond abcd1234 Hello", user=COMMS)
    assert "shown only when 10 or more people answer" in typed_one[-1].text
    assert await rows(app, "SELECT count(*) FROM barometer_replies") == [(0,)]
    # The author's card: there is no comment of theirs to answer (it was not kept).
    card = (await harness.click(SEE, user=PEOPLE[1], card=thanks(harness, PEOPLE[1])))[0]
    assert "There is no comment of yours in the November 2026 round" in card.text
    # Actions may still answer the round: they are the comms team's words.
    added = await harness.user_says('/barometer actions add "Ask again, better"', user=COMMS)
    assert added[-1].title == "Action 1: Ask again, better"
