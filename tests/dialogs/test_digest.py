"""The weekly digest: comms schedule it; it goes once per channel and period, at the right
local time across daylight-saving changes, and carries each approved case study once."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.content import load_content
from bot.events import ConversationKind, ConversationRef, Platform
from bot.web import build_web_app
from dialogs.digest import (
    CARD_TEXT_BUDGET,
    Digest,
    Digests,
    DigestStory,
    DigestUsageError,
    digest_cards,
    latest_slot,
    next_slot,
    parse_schedule,
    slot_at,
)
from dialogs.digest import TICK_JOB as DIGEST_TICK
from storage.case_studies import CaseStudy, CaseStudyStatus
from storage.digests import DigestSchedule
from storage.engine import Database
from storage.people import PersonKey
from tests.conftest import make_settings
from tests.dialogs.test_case_studies import TITLE, submit_in_conversation
from tests.dialogs.test_commitments import make_commitment
from tests.dialogs.test_values_lens import rows
from tests.harness import TENANT, Harness

MONDAY_0900 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # GMT: 09:00 in London


async def approved_story(harness: Harness) -> None:
    await submit_in_conversation(harness)
    await harness.deliver_outbox()
    await harness.click("Approve", user="carol", card=harness.last_card(user="carol"))
    await harness.deliver_outbox()


async def tick(app: App) -> list[tuple[str, datetime]]:
    """Let the scheduler run what is due now; the digests that went (or were skipped)."""
    before = {str(i) for (i,) in await rows(app, "SELECT id FROM digest_runs")}
    await app.run_schedules(DIGEST_TICK)
    ran = []
    async with app.database.unit() as stores:
        for (run_id,) in await rows(app, "SELECT id FROM digest_runs"):
            if str(run_id) not in before:
                run = await stores.digests.get_run(str(run_id))
                assert run is not None
                ran.append((run.period, run.claimed_at))
    return sorted(ran)


async def test_only_comms_use_the_digest(harness: Harness) -> None:
    for command in ("/digest list", "/digest schedule #values weekly monday 09:00"):
        refused = (await harness.user_says(command, user="bob"))[-1]
        assert refused.title == "Only comms can do this"
        assert refused.text.startswith("The values digest is for the comms team.")
    help_card = (await harness.user_says("/digest help", user="bob"))[-1]
    assert help_card.title == "Values digest (comms team)"
    assert "/digest" in (await harness.user_says("/values", user="bob"))[-1].plain_text()


async def test_schedule_list_pause_resume_cancel(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    made = (await harness.user_says("/digest schedule #values weekly monday 09:00", user="carol"))[
        -1
    ]
    assert made.title == "Digest scheduled"
    assert made.text == (
        "A values digest goes to #values every Monday at 09:00 (Europe/London). "
        "The next one: Mon 7 Dec at 09:00."
    )
    changed = (
        await harness.user_says(
            "/digest schedule #values weekly fri 4:30pm Europe/Paris if-empty skip", user="carol"
        )
    )[-1]
    assert changed.title == "Digest schedule changed"
    assert "every Friday at 16:30 (Europe/Paris)" in changed.text
    assert await rows(
        app, "SELECT conversation, weekday, hour, minute, if_empty FROM digest_schedules"
    ) == [("values", 4, 16, 30, "skip")]
    clock.advance(timedelta(minutes=1))
    await harness.user_says("/digest schedule here weekly monday 9am", user="carol", channel="news")
    listed = (await harness.user_says("/digest list", user="carol"))[-1]
    assert [f.label for f in listed.fields] == ["1. #values", "2. #news"]
    assert (
        listed.fields[1].value == "every Monday at 09:00 (Europe/London) · next Mon 7 Dec at 09:00"
    )
    paused = (await harness.user_says("/digest pause 2", user="carol"))[-1]
    assert paused.text.startswith("Paused: no digest goes to #news")
    assert "paused" in (await harness.user_says("/digest list", user="carol"))[-1].fields[1].value
    resumed = (await harness.user_says("/digest resume #news", user="carol"))[-1]
    assert resumed.text == "Resumed: the next digest to #news goes Mon 7 Dec at 09:00."
    ask = (await harness.user_says("/digest pause", user="carol"))[-1]
    assert ask.text.startswith("Which channel?")
    gone = (await harness.user_says("/digest cancel #values", user="carol"))[-1]
    assert gone.text.startswith("Cancelled: no more digests to #values.")
    assert await rows(app, "SELECT conversation FROM digest_schedules") == [("news",)]


@pytest.mark.parametrize(
    ("words", "problem"),
    [
        ("#values fortnightly monday 09:00", "Digests are weekly for now"),
        ("#values weekly funday 09:00", '"funday" is not a day of the week.'),
        ("#values weekly monday 25:00", '"25:00" is not a time of day.'),
        ("#values weekly monday noon", '"noon" is not a time'),
        ("#values weekly monday 09:00 Mars/Base", '"Mars/Base" is not a time zone'),
        ("#values weekly", "Write it like this: /digest schedule #channel weekly"),
    ],
)
def test_bad_schedules_are_explained(words: str, problem: str) -> None:
    with pytest.raises(DigestUsageError, match=problem.replace("(", r"\(")):
        parse_schedule(words.split(), timezone="Europe/London", if_empty="message")


async def test_a_channel_the_bot_has_not_seen_is_refused_on_slack(harness: Harness) -> None:
    answer = (
        await harness.user_says(
            "/digest schedule <#C0NEWS|news> weekly monday 09:00",
            user="carol",
            platform=Platform.SLACK,
        )
    )[-1]
    assert answer.text.startswith("I have not been in #news yet. Add me to the channel")
    await harness.user_says("hello", user="dave", channel="C0NEWS", platform=Platform.SLACK)
    made = (
        await harness.user_says(
            "/digest schedule <#C0NEWS|news> weekly monday 09:00",
            user="carol",
            platform=Platform.SLACK,
        )
    )[-1]
    assert made.title == "Digest scheduled"


async def test_an_approved_case_study_is_in_the_next_digest_exactly_once(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await harness.user_says("/digest schedule #values weekly monday 09:00", user="carol")
    await approved_story(harness)
    # Pending and rejected stories are never published.
    await submit_in_conversation(harness, user="bob")
    card = await make_commitment(harness, "listen at every team meeting")
    await harness.click("Share with the values channel", card=card)
    await harness.click("Share it")
    await harness.deliver_outbox()

    clock.set(MONDAY_0900 - timedelta(minutes=1))
    assert await tick(app) == []
    clock.set(MONDAY_0900)
    assert await tick(app) == [("2026-12-07", MONDAY_0900)]
    assert await tick(app) == []
    sent = await harness.deliver_outbox()
    assert [(q.recipient, q.to_person, q.respect_working_hours) for q in sent] == [
        ("values", False, False),
        ("values", False, False),
    ]
    header, stories = (q.card for q in sent)
    assert header.title == "Values digest: week of 7 Dec 2026"
    assert header.text.startswith("This week: 1 story of what good looks like and 1 commitment")
    assert "Behaviour of the week: " in header.text
    assert [(f.label, f.value) for f in header.fields] == [
        (
            "A commitment from Alice",
            "My contribution is to listen at every team meeting "
            "(Listen and learn, Open and transparent)",
        )
    ]
    assert stories.title == "Stories of what good looks like"
    assert stories.text.startswith(f"1. {TITLE}\nWe ran two workshops with patients <!here>")
    assert stories.text.endswith(
        "Shows: Prioritise patients, Listen and learn · Shared by a colleague"
    )
    assert "Bob" not in stories.text
    assert await rows(app, "SELECT count(*) FROM digest_items") == [(1,)]

    # Calling run_digest again for the same period, even after a restart, sends nothing.
    again = await build_app(app.settings, clock=clock, prepare=False)
    try:
        async with again.database.unit() as stores:
            schedule = (await stores.digests.schedules())[0]
            assert await again.digests.due(stores, clock.now()) == []
            assert (
                await again.digests.run_digest(stores, schedule, "2026-12-07", clock.now()) is None
            )
    finally:
        await again.close()
    assert await harness.outbox(status="queued") == []

    # The next week: the story is not repeated; a quiet week sends a short note.
    clock.set(MONDAY_0900 + timedelta(days=7))
    assert await tick(app) == [("2026-12-14", MONDAY_0900 + timedelta(days=7))]
    (quiet,) = await harness.deliver_outbox()
    assert quiet.card.text.startswith("A quiet week: no new stories or shared commitments.")
    assert await rows(app, "SELECT count(*) FROM digest_items") == [(1,)]


async def test_quiet_weeks_can_be_skipped(harness: Harness, app: App, clock: ManualClock) -> None:
    await harness.user_says(
        "/digest schedule #values weekly monday 09:00 if-empty skip", user="carol"
    )
    clock.set(MONDAY_0900)
    assert await tick(app) == [("2026-12-07", MONDAY_0900)]
    assert await harness.outbox() == []
    assert await rows(app, "SELECT period, status FROM digest_runs") == [("2026-12-07", "skipped")]
    assert await tick(app) == []
    listed = (await harness.user_says("/digest list", user="carol"))[-1]
    assert "last 7 Dec 2026: skipped (nothing new)" in listed.fields[0].value


async def test_preview_and_send_now(harness: Harness, app: App, clock: ManualClock) -> None:
    await approved_story(harness)
    preview = await harness.user_says("/digest preview", user="carol")
    assert preview[0].text.startswith("Preview for this channel: only you see this")
    assert preview[1].title == "Values digest: week of 7 Dec 2026"
    assert preview[-1].text.startswith(f"1. {TITLE}")
    assert await harness.outbox(status="queued") == []
    await harness.user_says("/digest schedule #values weekly monday 09:00", user="carol")
    sent = (await harness.user_says("/digest send-now", user="carol"))[-1]
    assert (
        sent.text == "Sending the digest to #values now: 1 story, 0 commitments shared this week."
    )
    assert len(await harness.outbox(status="queued")) == 2
    # The scheduled digest the next Monday does not repeat it.
    clock.set(MONDAY_0900)
    await harness.deliver_outbox()
    await tick(app)
    (quiet,) = await harness.deliver_outbox()
    assert quiet.card.text.startswith("A quiet week")


async def test_the_web_page_holds_the_whole_digest_escaped(harness: Harness, app: App) -> None:
    settings = make_settings(
        app.settings.database_url,
        VALUESBOT_COMMS="console:carol",
        VALUESBOT_PUBLIC_URL="https://values.example.org",
    )
    linked = await build_app(settings, clock=app.clock, prepare=False)
    try:
        people = Harness(linked)
        await approved_story(people)
        await people.user_says("/digest schedule #values weekly monday 09:00", user="carol")
        await people.user_says("/digest send-now", user="carol")
        sent = await people.deliver_outbox()
        footer = sent[-1].card.footer
        assert footer.startswith("Read the whole digest: https://values.example.org/digest/")
        run_id = footer.rsplit("/", 1)[1]
        async with TestClient(TestServer(build_web_app(linked))) as client:
            page = await client.get(f"/digest/{run_id}")
            assert page.status == 200
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert page.headers["Cache-Control"] == "no-store"
            body = await page.text()
            assert ">Patients shaped the discharge letter</a></h3>" in body
            assert "<p>We ran two workshops with patients &lt;!here&gt; &amp; carers</p>" in body
            assert "<script" not in body
            # Nothing is loaded from, or linked to, another site.
            assert not re.search(r"""(src|href|action)=["']?(https?:)?//""", body)
            assert (await client.get("/digest/" + "0" * 32)).status == 404
            assert (await client.get("/digest/not-an-id")).status == 400
    finally:
        await linked.close()


def test_long_digests_are_split_within_budget_and_the_rest_waits() -> None:
    story = DigestStory(
        title="A" * 200, story="word " * 400, difference="more " * 100, behaviours="X", credit="Y"
    )
    digest = Digest(
        week_of="7 Dec 2026",
        behaviour="We listen and learn",
        behaviour_definition="...",
        barometer=None,
        stories=(story,) * 20,
        shared=0,
        commitments=(),
    )
    cards, carried = digest_cards(digest)
    assert len(cards) == 6
    assert all(len(c.text) <= CARD_TEXT_BUDGET for c in cards)
    assert all(len(c.title) <= 150 for c in cards)
    assert carried == 10
    assert cards[-1].footer == "10 more stories next week."
    assert cards[1].title == "Stories of what good looks like (1 of 5)"
    linked, everything = digest_cards(digest, "https://x.example/digest/1")
    assert everything == 20
    assert linked[-1].footer == "Read the whole digest: https://x.example/digest/1"


def schedule(weekday: int = 0, created: datetime = MONDAY_0900) -> DigestSchedule:
    return DigestSchedule(
        id="s1",
        place=ConversationRef(
            platform=Platform.CONSOLE,
            tenant=TENANT,
            conversation="values",
            kind=ConversationKind.CHANNEL,
        ),
        label="#values",
        weekday=weekday,
        hour=9,
        minute=0,
        timezone="Europe/London",
        if_empty="message",
        created_by="carol",
        created_at=created,
        active_since=created,
    )


def test_slots_are_local_wall_clock_times() -> None:
    s = schedule()
    # Clocks go forward on Sun 28 Mar 2027 and back on Sun 31 Oct 2027.
    assert slot_at(s, date(2027, 3, 22)) == datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
    assert slot_at(s, date(2027, 3, 29)) == datetime(2027, 3, 29, 8, 0, tzinfo=UTC)
    assert slot_at(s, date(2027, 10, 25)) == datetime(2027, 10, 25, 8, 0, tzinfo=UTC)
    assert slot_at(s, date(2027, 11, 1)) == datetime(2027, 11, 1, 9, 0, tzinfo=UTC)
    assert latest_slot(s, datetime(2027, 3, 29, 7, 59, tzinfo=UTC)) == (
        date(2027, 3, 22),
        datetime(2027, 3, 22, 9, 0, tzinfo=UTC),
    )
    assert next_slot(s, datetime(2027, 3, 22, 9, 0, tzinfo=UTC)) == datetime(
        2027, 3, 29, 8, 0, tzinfo=UTC
    )
    # A time in the hour that is skipped happens once, just after the gap.
    gap = DigestSchedule(**{**_fields(s), "weekday": 6, "hour": 1, "minute": 30})
    assert slot_at(gap, date(2027, 3, 28)) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)


def _fields(s: DigestSchedule) -> dict[str, object]:
    return {name: getattr(s, name) for name in DigestSchedule.__dataclass_fields__}


async def test_monday_0900_london_fires_once_at_the_right_instant_across_clock_changes(
    app: App, harness: Harness, clock: ManualClock
) -> None:
    fired: dict[str, list[tuple[str, datetime]]] = {"spring": [], "autumn": []}
    seasons = (
        ("spring", datetime(2027, 3, 21, 12, 0, tzinfo=UTC), datetime(2027, 4, 6, tzinfo=UTC)),
        ("autumn", datetime(2027, 10, 20, 12, 0, tzinfo=UTC), datetime(2027, 11, 3, tzinfo=UTC)),
    )
    for season, start, end in seasons:
        clock.set(start)
        await harness.user_says("/digest pause", user="carol")  # last season's, if any
        await harness.user_says(f"/digest schedule #{season} weekly monday 09:00", user="carol")
        # The scheduler ticks every hour here (it would tick every minute); each slot is on
        # the hour, so it fires on the tick at its exact instant.
        while clock.now() < end:
            fired[season] += await tick(app)
            clock.advance(timedelta(hours=1))
    assert fired["spring"] == [
        ("2027-03-22", datetime(2027, 3, 22, 9, 0, tzinfo=UTC)),  # GMT
        ("2027-03-29", datetime(2027, 3, 29, 8, 0, tzinfo=UTC)),  # BST: 09:00 local
        ("2027-04-05", datetime(2027, 4, 5, 8, 0, tzinfo=UTC)),
    ]
    assert fired["autumn"] == [
        ("2027-10-25", datetime(2027, 10, 25, 8, 0, tzinfo=UTC)),  # BST
        ("2027-11-01", datetime(2027, 11, 1, 9, 0, tzinfo=UTC)),  # GMT: 09:00 local
    ]
    # To the minute, and not again after a restart.
    clock.set(datetime(2027, 11, 8, 8, 59, tzinfo=UTC))
    assert await tick(app) == []
    clock.set(datetime(2027, 11, 8, 9, 0, tzinfo=UTC))
    restarted = await build_app(app.settings, clock=clock, prepare=False)
    try:
        assert await tick(restarted) == [("2027-11-08", datetime(2027, 11, 8, 9, 0, tzinfo=UTC))]
        assert await tick(app) == []
        clock.advance(timedelta(minutes=5))
        again = await build_app(app.settings, clock=clock, prepare=False)
        try:
            assert await tick(again) == []
        finally:
            await again.close()
    finally:
        await restarted.close()


async def test_two_instances_running_one_digest_at_once_send_it_once(database: Database) -> None:
    content = load_content()
    digests = Digests(content=content, settings=make_settings(database.url))
    author = PersonKey("console", TENANT, "alice")
    async with database.unit() as stores:
        await stores.digests.save_schedule(schedule(), MONDAY_0900 - timedelta(days=1))
        await stores.case_studies.add(
            CaseStudy(
                id="k1",
                author=author,
                title="A story",
                story="What happened",
                behaviours=("listen",),
                difference="A difference",
                named=False,
                submitted_at=MONDAY_0900 - timedelta(days=2),
            )
        )
        await stores.case_studies.decide(
            "k1", 1, CaseStudyStatus.APPROVED, "carol", None, MONDAY_0900 - timedelta(days=1)
        )

    async with database.unit() as stores:
        (due,) = await digests.due(stores, MONDAY_0900)

    # Both instances found the slot due before either ran it.
    async def instance() -> bool:
        async with database.unit() as stores:
            run = await digests.run_digest(stores, due.schedule, due.period, MONDAY_0900)
            await asyncio.sleep(0.01)
            return run is not None

    assert sorted(await asyncio.gather(instance(), instance())) == [False, True]
    async with database.unit() as stores:
        assert await digests.due(stores, MONDAY_0900) == []
        schedule_now = (await stores.digests.schedules())[0]
        assert await digests.run_digest(stores, schedule_now, "2026-12-07", MONDAY_0900) is None
    async with database.engine.connect() as connection:
        runs = (await connection.execute(text("SELECT period, status FROM digest_runs"))).all()
        items = (await connection.execute(text("SELECT case_study_id FROM digest_items"))).all()
        keys = (await connection.execute(text("SELECT key FROM outbox ORDER BY key"))).all()
    assert [tuple(r) for r in runs] == [("2026-12-07", "queued")]
    assert [tuple(r) for r in items] == [("k1",)]
    assert [k[0] for k in keys] == ["digest:s1:2026-12-07:0", "digest:s1:2026-12-07:1"]


class FixedHeadline:
    """A barometer headline that is always the same (a round published this month)."""

    async def latest(self, stores: object, now: datetime) -> str | None:
        return "82% say their work makes a positive difference (Nov 2026)"


async def test_a_second_send_now_in_a_week_holds_what_the_channel_had(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    app.digests.barometer = FixedHeadline()
    await harness.user_says("/digest schedule #values weekly monday 09:00", user="carol")
    await approved_story(harness)
    card = await make_commitment(harness, "listen at every team meeting")
    await harness.click("Share with the values channel", card=card)
    await harness.click("Share it")
    await harness.deliver_outbox()
    first = (await harness.user_says("/digest send-now", user="carol"))[-1]
    assert first.text == (
        "Sending the digest to #values now: 1 story, 1 commitment shared this week."
    )
    header = (await harness.deliver_outbox())[0].card
    assert header.text.startswith("This week: 1 story of what good looks like and 1 commitment")
    assert "Staff barometer: 82% say" in header.text

    # Wednesday: Bob shares a commitment; comms send the digest again.
    clock.set(datetime(2026, 12, 2, 14, 0, tzinfo=UTC))
    card = await make_commitment(harness, "answer every letter within a week")
    await harness.click("Share with the values channel", card=card, user="alice")
    await harness.click("Share it")
    await harness.deliver_outbox()
    second = (await harness.user_says("/digest send-now", user="carol"))[-1]
    assert second.text == (
        "Sending the digest to #values now: 0 stories, 1 commitment shared since its last "
        "digest (Mon 30 Nov at 09:30). Nothing already posted there is repeated."
    )
    (again,) = await harness.deliver_outbox()  # no story card: no new story
    assert again.card.text.startswith(
        "New since the last digest: 0 stories of what good looks like and 1 commitment shared."
    )
    assert "Staff barometer" not in again.card.text  # already given this week
    assert [f.value for f in again.card.fields] == [
        "My contribution is to answer every letter within a week "
        "(Listen and learn, Open and transparent)"
    ]
    assert await rows(app, "SELECT case_studies, commitments FROM digest_runs") == [
        (1, 1),
        (0, 1),
    ]

    # Nothing new since: nothing is posted, and comms are told why.
    clock.advance(timedelta(hours=1))
    preview = await harness.user_says("/digest preview", user="carol")
    assert preview[0].text.endswith("Nothing is new, so this digest would not be sent.")
    assert preview[1].text.startswith("Nothing new since the last digest: no new stories")
    third = (await harness.user_says("/digest send-now", user="carol"))[-1]
    assert third.text == (
        "Nothing new for #values since its last digest (Wed 2 Dec at 14:00): no new stories "
        "or shared commitments, so nothing was sent."
    )
    assert await harness.outbox(status="queued") == []
    assert await rows(app, "SELECT status FROM digest_runs ORDER BY claimed_at") == [
        ("queued",),
        ("queued",),
        ("skipped",),
    ]

    # The next week's digest carries the barometer headline again.
    clock.set(MONDAY_0900)
    assert await tick(app) == [("2026-12-07", MONDAY_0900)]
    (weekly,) = await harness.deliver_outbox()
    assert weekly.card.text.startswith("A quiet week: no new stories or shared commitments.")
    assert "Staff barometer: 82% say" in weekly.card.text
