"""A scorecard with figures from every kind of source, for the dialog, adapter and page tests:
two closed barometer rounds, an imported staff survey and a closed stakeholder round with six
answers. The figures each test expects are listed here with how they come about."""

from __future__ import annotations

import secrets
from datetime import timedelta

from bot.app import App
from bot.clock import ManualClock
from dialogs.barometer.service import token_hash
from storage.barometer import BarometerAnswer
from storage.people import PersonKey

# Two barometer rounds of 12 people each.
# October: The NHS 9 of 12 agree (75%), our organisation 6 of 12 (50%).
# November: The NHS 10 of 12 (83%), our organisation 7 of 12 (58%).
BAROMETER = {"2026-10": (9, 6), "2026-11": (10, 7)}

# The staff survey: engagement 6.8 then 7.1 (target 7: on track), recommending us as a place
# to work 58% (target 60: needs attention), fair career progression from 3 people only (not
# enough answers: withheld everywhere).
STAFF_SURVEY = (
    "period,key,value,respondents\r\n"
    "2025,engagement,6.8,812\r\n"
    "2026,engagement,7.1,790\r\n"
    "2026,recommend_work,58,790\r\n"
    "2026,fair_career_progression,90,3\r\n"
)

# A stakeholder round (2026-Q4) of 8 links, 6 answered: patients first 5 of 6 (83%), listens
# 3 of 6 (50%), open 6 of 6 (100%), partnership 4 of 6 (67%).
STAKEHOLDER_ANSWERS = [
    {"patients": "agree", "listen": "agree", "open": "agree", "partnership": "agree"},
    {"patients": "strongly_agree", "listen": "agree", "open": "agree", "partnership": "agree"},
    {"patients": "agree", "listen": "agree", "open": "strongly_agree", "partnership": "agree"},
    {"patients": "agree", "listen": "disagree", "open": "agree", "partnership": "agree"},
    {"patients": "agree", "listen": "neutral", "open": "agree", "partnership": "disagree"},
    {"patients": "disagree", "listen": "disagree", "open": "agree", "partnership": "neutral"},
]


async def barometer_rounds(app: App, clock: ManualClock) -> None:
    """Two closed barometer rounds (October and November 2026)."""
    for period, (nhs, organisation) in BAROMETER.items():
        # Rounds are ordered by when they opened.
        clock.advance(timedelta(minutes=10))
        async with app.database.unit() as stores:
            opened = await app.barometer.open_round(
                stores, clock.now(), period=period, closes_at=clock.now() + timedelta(days=1)
            )
            for n in range(12):
                answer = BarometerAnswer(
                    values={
                        "nhs": "agree" if n < nhs else "disagree",
                        "organisation": "strongly_agree" if n < organisation else "neutral",
                    }
                )
                person = PersonKey("console", "test", f"staff-{period}-{n:02d}")
                await stores.barometer.answer(
                    opened.round.id, person, answer, token_hash(secrets.token_urlsafe(24))
                )
            await app.barometer.close_round(stores, clock.now())


async def staff_survey(app: App, clock: ManualClock) -> int:
    """The staff survey imported from its CSV file."""
    assert app.scorecard is not None
    async with app.database.unit() as stores:
        return await app.scorecard.import_staff_survey(
            stores, STAFF_SURVEY, "cli:test", clock.now()
        )


async def stakeholder_round(app: App, clock: ManualClock, *, close: bool = True) -> list[str]:
    """A stakeholder round of 8 links, 6 of them answered, closed (unless ``close`` is
    False); the links."""
    assert app.scorecard is not None
    stakeholders = app.scorecard.stakeholders
    async with app.database.unit() as stores:
        opened = await stakeholders.open(stores, clock.now(), period="2026-Q4", invites=8)
    links = list(opened.links)
    for link, values in zip(links, STAKEHOLDER_ANSWERS, strict=False):
        async with app.database.unit() as stores:
            checked = await stakeholders.answer(
                stores,
                link.rsplit("/", 1)[1],
                BarometerAnswer(values=values, group="provider", comment=""),
                clock.now(),
            )
            assert checked.state == "ok"
    if close:
        async with app.database.unit() as stores:
            await stakeholders.close(stores, clock.now())
    return links


async def seed_scorecard(app: App, clock: ManualClock) -> None:
    """Every source with figures."""
    await barometer_rounds(app, clock)
    await staff_survey(app, clock)
    await stakeholder_round(app, clock)
