"""The scorecard through the harness: ``/scorecard`` and ``/scorecard <objective>`` after two
closed barometer rounds, an imported staff survey and a stakeholder round; the figures comms
enter; the staff survey file refused whole; the engagement counts; the monthly headline."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bot.app import App, build_app
from bot.clock import ManualClock
from bot.ui import Card
from dialogs.scorecard.figures import FiguresRefused
from dialogs.scorecard.measures import Status
from storage.barometer import ActionStatus, BarometerAnswer
from storage.commitments import Commitment
from storage.people import PersonKey
from storage.values_lens import Checkin, RatingEntry
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.harness import Harness
from tests.scorecard_seed import STAFF_SURVEY, seed_scorecard, stakeholder_round

COMMS = "carol"
PUBLIC = "https://values.example.org"


@pytest.fixture
async def app(sqlite_url: str, clock: ManualClock) -> AsyncIterator[App]:
    built = await build_app(
        make_settings(
            sqlite_url,
            VALUESBOT_COMMS=f"console:{COMMS}",
            VALUESBOT_PUBLIC_URL=PUBLIC,
            VALUESBOT_BAROMETER_RESULTS="console:test:announcements",
        ),
        clock=clock,
        prepare=False,
    )
    yield built
    await built.close()


def field(card: Card, label: str) -> str:
    [value] = [f.value for f in card.fields if f.label == label]
    return value


async def test_the_scorecard_in_chat_after_every_source(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await seed_scorecard(app, clock)

    [summary] = await harness.user_says("/scorecard")
    assert summary.title == "Vision and purpose scorecard"
    assert summary.text.startswith("Our key measures of success will be satisfied patients")
    assert len(summary.fields) == 11
    assert field(summary, "1. Improving patient satisfaction") == (
        "✓ On track (1 on track, 1 no data)"
    )
    assert field(summary, "2. Improving staff satisfaction") == (
        "! Needs attention (2 on track, 2 needs attention)"
    )
    assert field(summary, "3. Preventing people from dying prematurely") == (
        "– No data (1 no data)"
    )
    assert field(summary, "8. Promoting equality and reducing inequalities in health outcomes") == (
        "– No data (2 no data)"
    )
    assert field(summary, "10. Becoming an excellent organisation").startswith("! Needs attention")
    assert f"{PUBLIC}/scorecard" in summary.footer
    assert "No figure is shown from fewer than 5 people" in summary.footer

    [staff] = await harness.user_says("/scorecard 2")
    assert staff.title == "2. Improving staff satisfaction"
    assert field(staff, "Staff who agree their work makes a positive difference to the NHS") == (
        "83% (November 2026) · previous 75% (October 2026) · up 8 points · target 75% or more. "
        "✓ On track: meets its target of 75%. Trend: 75% → 83%."
    )
    assert field(
        staff, "Staff who agree their work makes a positive difference to our organisation"
    ) == (
        "58% (November 2026) · previous 50% (October 2026) · up 8 points · target 75% or more. "
        "! Needs attention: short of its target of 75%. Trend: 50% → 58%."
    )
    assert field(staff, "Staff engagement score (annual staff survey, out of 10)") == (
        "7.1 (2026) · previous 6.8 (2025) · up 0.3 · target 7.0 or more. "
        "✓ On track: meets its target of 7.0. Trend: 6.8 → 7.1."
    )
    assert field(staff, "Staff who would recommend us as a place to work (staff survey)") == (
        "58% (2026) · target 60% or more. ! Needs attention: short of its target of 60%."
    )

    [equality] = await harness.user_says(
        "/scorecard Promoting equality and reducing inequalities in health outcomes"
    )
    assert field(equality, "Staff who say we act fairly on career progression (staff survey)") == (
        "not enough answers (2026) · target 85% or more. – No data: not enough answers."
    )

    [excellent] = await harness.user_says("/scorecard excellent_organisation")
    assert field(
        excellent, "Partners and stakeholders who agree we listen and act on what they say"
    ).startswith("50% (2026 Q4) · target 70% or more. ! Needs attention")
    assert field(
        excellent, "Partners and stakeholders who agree we are open and transparent"
    ).startswith("100% (2026 Q4)")
    assert field(
        excellent, "Partners and stakeholders who agree we work in partnership with them"
    ).startswith("67% (2026 Q4)")
    [patients] = await harness.user_says("/scorecard 1")
    assert field(patients, "Partners and stakeholders who agree we put patients first").startswith(
        "83% (2026 Q4) · target 70% or more. ✓ On track"
    )
    assert field(patients, "Patients with a good overall experience of their GP practice") == (
        "no data yet. – No data: no data yet."
    )


async def test_an_unknown_objective_gets_the_help(harness: Harness) -> None:
    [card] = await harness.user_says("/scorecard 12")
    assert card.text.startswith("I don't know the objective '12'.")
    assert [f.label for f in card.fields] == ["/scorecard", "/scorecard <objective>"]
    [card] = await harness.user_says("/scorecard help", user=COMMS)
    assert "/scorecard set KEY PERIOD VALUE" in [f.label for f in card.fields]


async def test_comms_set_a_figure_and_the_audit_trail_says_who_not_what(
    harness: Harness, app: App
) -> None:
    [refused] = await harness.user_says("/scorecard set gp_experience 2026-11 72", user="alice")
    assert refused.title == "Only the comms team can do this"
    [kept] = await harness.user_says("/scorecard set gp_experience 2026-11 72%", user=COMMS)
    assert kept.title == "Figure kept"
    assert kept.text.startswith(
        "Patients with a good overall experience of their GP practice: 72% for November 2026."
    )
    [wrong] = await harness.user_says("/scorecard set gp_experience 2026-13 172", user=COMMS)
    assert wrong.title == "The figure was not kept"
    assert wrong.text == (
        "Period '2026-13' is not a year (2026), a month (2026-11) or a quarter (2026-Q4); value "
        "'172' is not a percent from 0 to 100."
    )
    [unknown] = await harness.user_says("/scorecard set morale 2026 3", user=COMMS)
    assert "unknown key 'morale'" in unknown.text.lower()
    [short] = await harness.user_says("/scorecard set gp_experience", user=COMMS)
    assert short.title == "A figure needs a key, a period and a value"
    assert await rows(
        app, "SELECT source, key, period, value, respondents FROM scorecard_figures"
    ) == [("manual", "gp_experience", "2026-11", 72.0, None)]
    assert await rows(app, "SELECT actor, action, subject FROM audit_log") == [
        ("console:test:carol", "scorecard.set", "gp_experience 2026-11")
    ]
    [card] = await harness.user_says("/scorecard 1")
    assert field(card, "Patients with a good overall experience of their GP practice").startswith(
        "72% (November 2026)"
    )


async def test_a_malformed_staff_survey_is_refused_whole_with_row_numbers(
    app: App, clock: ManualClock
) -> None:
    assert app.scorecard is not None
    bad = (
        "period,key,value,respondents\n"
        "2026,engagement,7.1,790\n"
        "2026,recommend_work,lots,790\n"
        "2026,morale,5,790\n"
        "2026,engagement,7.2,790\n"
        "26,recommend_care,101,many\n"
    )
    async with app.database.unit() as stores:
        with pytest.raises(FiguresRefused) as refused:
            await app.scorecard.import_staff_survey(stores, bad, "cli:test", clock.now())
    assert refused.value.problems == [
        "row 3: value 'lots' is not a percent from 0 to 100",
        "row 4: unknown key 'morale' (the scorecard's staff survey keys: engagement, "
        "fair_career_progression, recommend_care, recommend_work)",
        "row 5: period 2026 and key engagement are on row 2 already",
        "row 6: period '26' is not a year (2026), a month (2026-11) or a quarter (2026-Q4); "
        "value '101' is not a percent from 0 to 100; respondents 'many' is not a whole number "
        "of 0 or more",
    ]
    assert await rows(app, "SELECT count(*) FROM scorecard_figures") == [(0,)]
    assert await rows(app, "SELECT count(*) FROM audit_log") == [(0,)]
    async with app.database.unit() as stores:
        for text, problem in (
            ("", "the file is empty"),
            ("period,key,value\n2026,engagement,7,3\n", "row 1: the header needs the columns"),
            ("period,key,value,respondents\n", "the file has a header but no figures"),
            ("period,key,value,respondents\n2026,engagement\n", "row 2: 2 cells"),
        ):
            with pytest.raises(FiguresRefused, match=problem):
                await app.scorecard.import_staff_survey(stores, text, "cli:test", clock.now())
        count = await app.scorecard.import_staff_survey(
            stores, "\ufeff" + STAFF_SURVEY, "cli:test", clock.now()
        )
    assert count == 4
    assert await rows(app, "SELECT action, subject FROM audit_log") == [
        ("scorecard.import.staff_survey", "4 figures (2025, 2026)")
    ]


async def test_engagement_counts_are_monthly_aggregates_under_the_minimum(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    """Check-ins and commitments of the last complete months (the clock is in November: the
    last complete month is October); a month with fewer than five people reads "not enough
    answers", an empty one 0."""
    september = clock.now() - timedelta(days=70)  # 21 September 2026
    october = clock.now() - timedelta(days=40)  # 21 October 2026
    async with app.database.unit() as stores:
        for n in range(11):
            when = september if n < 6 else october
            await stores.checkins.add(
                Checkin(
                    id=f"c{n}",
                    owner=PersonKey("console", "test", f"p{n}"),
                    work="Work",
                    action="Act",
                    focus=None,
                    ratings=(
                        RatingEntry(
                            behaviour="inclusive", rating="strongly" if n < 4 else "partly"
                        ),
                    ),
                    started_at=when,
                    completed_at=when,
                )
            )
        for n in range(3):
            await stores.commitments.add(
                Commitment(
                    id=f"m{n}",
                    owner=PersonKey("console", "test", f"p{n}"),
                    text="My contribution is to...",
                    created_at=october,
                )
            )
        # "You said, we did": two actions done in October (one marked done twice), one in
        # September; fewer than five, and shown all the same: no person is behind them.
        done = []
        for n, when in enumerate((september, october, october)):
            action = await stores.follow_up.add_action(
                title=f"Action {n}",
                owner="Estates",
                due=None,
                status=ActionStatus.PLANNED,
                answers=(),
                now=when - timedelta(days=1),
            )
            await stores.follow_up.set_action_status(action.id, ActionStatus.DONE, when)
            done.append(action.id)
        await stores.follow_up.set_action_status(done[2], ActionStatus.IN_PROGRESS, october)
        await stores.follow_up.set_action_status(
            done[2], ActionStatus.DONE, october + timedelta(hours=1)
        )
        # This month is still under way: not counted yet.
        await stores.commitments.add(
            Commitment(
                id="now",
                owner=PersonKey("console", "test", "p9"),
                text="My contribution is to...",
                created_at=clock.now(),
            )
        )
    assert app.scorecard is not None
    async with app.database.unit() as stores:
        card = await app.scorecard.build(stores, clock.now())
    results = {m.measure.key: m for m in card.measures}
    lens = results["lens_checkins"]
    assert len(lens.trend) == 12
    assert [p.period for p in lens.trend][-3:] == ["2026-08", "2026-09", "2026-10"]
    assert [p.value for p in lens.trend][-3:] == [0.0, 6.0, 5.0]
    assert lens.latest_text == "5"
    assert lens.status is Status.NEEDS_ATTENTION  # fewer than the month before, no target
    made = results["commitments_made"]
    assert made.latest_text == "not enough answers"
    assert made.status is Status.NO_DATA
    inclusive = results["lens_inclusive"]
    assert [p.value for p in inclusive.trend][-3:] == [None, pytest.approx(4 / 6 * 100), 0.0]
    actions = results["said_did_actions"]
    assert [p.value for p in actions.trend][-3:] == [0.0, 1.0, 2.0]
    assert actions.latest_text == "2"


async def test_the_monthly_results_card_says_what_moved(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await seed_scorecard(app, clock)
    await harness.deliver_outbox()
    cards = {c.title: c for c in harness.public("announcements")}
    october = cards["Staff barometer results: October 2026"]
    november = cards["Staff barometer results: November 2026"]
    # The two barometer measures have figures (the survey and the stakeholders came later, and
    # nothing of our own activity is counted yet).
    assert october.text.endswith(
        "\n\nScorecard: 1 on track, 1 needs attention, 24 without data. Nothing moved since the "
        "period before."
    )
    assert november.text.endswith(
        "\n\nScorecard: 1 on track, 1 needs attention, 24 without data. Moved most: Staff who "
        "agree their work makes a positive difference to the NHS, up 8 points to 83% (November "
        "2026)."
    )


async def test_stakeholder_rounds_in_chat_for_comms(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    [none] = await harness.user_says("/scorecard stakeholders", user=COMMS)
    assert none.title == "No stakeholder round"
    await stakeholder_round(app, clock, close=False)
    [status] = await harness.user_says("/scorecard stakeholders", user=COMMS)
    assert status.title == "Stakeholder feedback: 2026 Q4"
    assert field(status, "Answered") == "6 of 8 links"
    [refused] = await harness.user_says("/scorecard stakeholders", user="alice")
    assert refused.title == "Only the comms team can do this"


async def answer_round(
    app: App, clock: ManualClock, answers: int, comment: str, period: str = "2027"
) -> None:
    assert app.scorecard is not None
    stakeholders = app.scorecard.stakeholders
    async with app.database.unit() as stores:
        opened = await stakeholders.open(stores, clock.now(), period=period, invites=answers)
    for n, link in enumerate(opened.links):
        values = {q.id: "agree" for q in opened.round.questions}
        async with app.database.unit() as stores:
            await stakeholders.answer(
                stores,
                link.rsplit("/", 1)[1],
                BarometerAnswer(values=values, comment=f"{comment} {n}" if n < 2 else ""),
                clock.now(),
            )
    async with app.database.unit() as stores:
        await stakeholders.close(stores, clock.now())


async def test_comms_moderate_stakeholder_comments_in_chat(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await answer_round(app, clock, 10, "Thanks for listening")
    cards = await harness.user_says("/scorecard stakeholders", user=COMMS)
    assert sorted(c.text for c in cards) == ["Thanks for listening 0", "Thanks for listening 1"]
    assert all(c.title == "Stakeholder comment (2027)" for c in cards)
    first = next(c for c in cards if c.text.endswith("0"))
    [refused] = await harness.click("Approve", user="alice", card=first)
    assert refused.title == "Only the comms team can do this"
    await harness.click("Approve", user=COMMS, card=first)
    [done] = harness.updates(user=COMMS)
    assert done.footer == "✓ Approved: it is published with the results."
    second = next(c for c in cards if c.text.endswith("1"))
    await harness.click("Reject", user=COMMS, card=second)
    actions = sorted(a for (a,) in await rows(app, "SELECT action FROM audit_log"))
    assert actions == [
        "stakeholders.close",
        "stakeholders.comment.approved",
        "stakeholders.comment.rejected",
        "stakeholders.open",
    ]
    [read] = await harness.user_says("/scorecard stakeholders", user=COMMS)
    assert read.text == "Every comment is read."
    assert app.scorecard is not None
    async with app.database.unit() as stores:
        [results] = await app.scorecard.stakeholders.published(stores)
    assert results.comments == ("Thanks for listening 0",)


async def test_comments_of_a_round_below_the_threshold_are_never_kept(
    harness: Harness, app: App, clock: ManualClock
) -> None:
    await answer_round(app, clock, 9, "Only nine of us")
    [card] = await harness.user_says("/scorecard stakeholders", user=COMMS)
    assert card.text == (
        "Comments on the 2027 round are shown only when 10 or more answer, and 9 did, so they "
        "were not kept."
    )
    assert await rows(app, "SELECT count(*) FROM stakeholder_comments") == [(0,)]
    assert app.scorecard is not None
    async with app.database.unit() as stores:
        [results] = await app.scorecard.stakeholders.published(stores)
        problem = await app.scorecard.stakeholders.moderate(
            stores, "any", "approved", "cli:test", clock.now()
        )
    assert results.shown
    assert results.comments == ()
    assert problem.startswith("Comments on the 2027 round are shown only when 10")


async def test_a_round_closes_by_itself_when_its_time_is_up(app: App, clock: ManualClock) -> None:
    await stakeholder_round(app, clock, close=False)
    assert await app.run_schedules("scorecard.tick") != []
    assert await rows(app, "SELECT status FROM stakeholder_rounds") == [("open",)]
    clock.advance(timedelta(days=28, minutes=15))
    await app.run_schedules("scorecard.tick")
    assert await rows(app, "SELECT status, invited, answered FROM stakeholder_rounds") == [
        ("closed", 8, 6)
    ]
    # The housekeeping scrubs what the closing rewrote, then clears its mark.
    assert await rows(app, "SELECT value FROM meta WHERE key = 'barometer_scrub_pending'") == [
        ("stakeholders 2026-Q4",)
    ]
    await app.housekeeping()
    assert await rows(app, "SELECT value FROM meta WHERE key = 'barometer_scrub_pending'") == [
        ("",)
    ]
    assert await rows(app, "SELECT action, subject FROM audit_log WHERE action LIKE '%close'") == [
        ("stakeholders.close", "2026-Q4")
    ]


async def test_a_failing_headline_does_not_stop_the_round_closing(
    harness: Harness, app: App, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(stores: object, now: object) -> str:
        raise RuntimeError("no scorecard today")

    app.barometer.results_notes[:] = [broken]
    await seed_scorecard(app, clock)
    assert await rows(app, "SELECT period, status FROM barometer_rounds ORDER BY period") == [
        ("2026-10", "closed"),
        ("2026-11", "closed"),
    ]
    await harness.deliver_outbox()
    cards = harness.public("announcements")
    assert len(cards) == 2
    assert all("Scorecard:" not in c.text for c in cards)
    assert "barometer results note failed period=2026-11" in caplog.text
    assert "no scorecard today" not in caplog.text.split("Traceback")[0]
