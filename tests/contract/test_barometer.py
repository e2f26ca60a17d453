"""The barometer store's contract, on SQLite and PostgreSQL (the ``database`` fixture)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from storage.barometer import (
    AnswerOutcome,
    BarometerAnswer,
    BarometerRound,
    RoundGroup,
    RoundQuestion,
    RoundScalePoint,
)
from storage.engine import Database
from storage.people import PersonKey

NOW = datetime(2027, 5, 4, 9, 0, tzinfo=UTC)
ALICE = PersonKey("slack", "T1", "U1")
BOB = PersonKey("slack", "T1", "U2")


def a_round(period: str = "2027-05", round_id: str = "r1", min_group: int = 5) -> BarometerRound:
    return BarometerRound(
        id=round_id,
        period=period,
        opened_at=NOW,
        closes_at=NOW + timedelta(days=10),
        min_group=min_group,
        comment_min=10,
        questions=(
            RoundQuestion(id="nhs", text="To the NHS", short="NHS"),
            RoundQuestion(id="org", text="To us", short="Us"),
        ),
        scale=(
            RoundScalePoint(id="no", label="Disagree"),
            RoundScalePoint(id="yes", label="Agree", agree=True),
        ),
        groups=(RoundGroup(id="a", label="A"), RoundGroup(id="b", label="B")),
    )


def said(
    nhs: str = "yes", org: str = "yes", group: str | None = None, comment: str = ""
) -> BarometerAnswer:
    return BarometerAnswer(values={"nhs": nhs, "org": org}, group=group, comment=comment)


def people(n: int) -> list[PersonKey]:
    return [PersonKey("teams", "t", f"user-{i:03d}") for i in range(n)]


async def answers_now(database: Database) -> dict[str, BarometerAnswer]:
    """What everyone's answer of the open round is now, by token hash: the answers written to
    the response tables, and over them the answers waiting in the pool, opened with the
    database's key. (Tests only: nothing in valuesbot reads the pool but a person's change.)"""
    key = database.answer_key
    assert key is not None
    found: dict[str, dict[str, str]] = defaultdict(dict)
    groups: dict[str, str | None] = {}
    comments: dict[str, str] = {}
    async with database.engine.connect() as connection:
        for question, value, group, token in await connection.execute(
            text("SELECT question, value, group_id, token_hash FROM barometer_responses")
        ):
            found[token][question] = value
            groups[token] = group
        for comment, token in await connection.execute(
            text("SELECT text, token_hash FROM barometer_comments")
        ):
            comments[token] = comment
        answers = {
            token: BarometerAnswer(
                values=values, group=groups[token], comment=comments.get(token, "")
            )
            for token, values in found.items()
        }
        for round_id, entry_id, replaces, sealed in await connection.execute(
            text("SELECT round_id, id, replaces, sealed FROM barometer_pending")
        ):
            pending = key.open(round_id, entry_id, bool(replaces), bytes(sealed))
            answers[pending.token_hash] = pending.answer
    return answers


async def test_a_round_per_month(database: Database) -> None:
    async with database.unit() as stores:
        assert await stores.barometer.open(a_round())
        assert not await stores.barometer.open(a_round(round_id="r2"))
    async with database.unit() as stores:
        current = await stores.barometer.current()
        assert current == a_round()
        assert await stores.barometer.by_period("2027-05") == current
        assert await stores.barometer.by_period("2027-06") is None
        assert await stores.barometer.closed(5) == []


async def test_invitations_answers_and_who_is_waiting(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        assert await stores.barometer.invite("r1", [ALICE, BOB, ALICE]) == 2
        assert await stores.barometer.invite("r1", [BOB]) == 0
        assert await stores.barometer.participation("r1") == (2, 0)
        assert (
            await stores.barometer.answer("r1", ALICE, said(), "h-alice") == AnswerOutcome.RECORDED
        )
        assert (
            await stores.barometer.answer("r1", ALICE, said("no"), "h-again")
            == AnswerOutcome.ALREADY
        )
        # Someone not invited may answer too (they met the bot after the round opened).
        carol = PersonKey("slack", "T1", "U3")
        assert (
            await stores.barometer.answer("r1", carol, said(), "h-carol") == AnswerOutcome.RECORDED
        )
    async with database.unit() as stores:
        assert await stores.barometer.waiting("r1") == [BOB]
        assert await stores.barometer.participation("r1") == (3, 2)
        assert await stores.barometer.has_answered("r1", ALICE)
        assert not await stores.barometer.has_answered("r1", BOB)
        # Two answers wait in the pool: the response tables hold nothing before the close.
        assert (await stores.barometer.tally("r1")).counts == {}
        await stores.barometer.close("r1", NOW)
        tally = await stores.barometer.tally("r1")
        assert tally.respondents == 2
        assert tally.counts == {("nhs", None, "yes"): 2, ("org", None, "yes"): 2}


async def test_a_round_for_those_it_asked_counts_only_them(database: Database) -> None:
    round_ = replace(a_round(), channels=("slack:T1:C0STAFF",), others_may_answer=False)
    async with database.unit() as stores:
        await stores.barometer.open(round_)
        await stores.barometer.invite("r1", [ALICE])
    async with database.unit() as stores:
        assert (await stores.barometer.get("r1")) == round_
        assert await stores.barometer.invited("r1", ALICE)
        assert not await stores.barometer.invited("r1", BOB)
        assert await stores.barometer.answer("r1", BOB, said(), "h-bob") == (
            AnswerOutcome.NOT_ASKED
        )
        assert await stores.barometer.answer("r1", ALICE, said(), "h-alice") == (
            AnswerOutcome.RECORDED
        )
        assert await stores.barometer.answer("r1", ALICE, said(), "h-again") == (
            AnswerOutcome.ALREADY
        )
    async with database.unit() as stores:
        assert await stores.barometer.participation("r1") == (1, 1)
        assert not await stores.barometer.invited("r1", BOB)
        assert not await stores.barometer.holds("r1", "h-bob")


async def test_the_token_replaces_an_answer_and_nothing_else_does(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        await stores.barometer.answer("r1", ALICE, said("yes", "yes", "a", "first"), "h-alice")
        await stores.barometer.answer("r1", BOB, said("no", "no", "b"), "h-bob")
    async with database.unit() as stores:
        assert await stores.barometer.holds("r1", "h-alice")
        assert not await stores.barometer.holds("r1", "h-nobody")
        changed = await stores.barometer.change("r1", "h-alice", said("no", "yes", "b", "second"))
        assert changed == AnswerOutcome.CHANGED
        assert await stores.barometer.change("r1", "h-nobody", said()) == AnswerOutcome.UNKNOWN
    async with database.unit() as stores:
        assert await stores.barometer.participation("r1") == (2, 2)
        await stores.barometer.close("r1", NOW)
        tally = await stores.barometer.tally("r1")
        assert tally.respondents == 2
        assert tally.counts == {
            ("nhs", "b", "no"): 2,
            ("org", "b", "yes"): 1,
            ("org", "b", "no"): 1,
        }
        assert [c.text for c in await stores.barometer.comments("r1")] == ["second"]


async def test_closing_seals_the_round(database: Database) -> None:
    everyone = people(12)
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        await stores.barometer.invite("r1", [*everyone, ALICE])
        for n, person in enumerate(everyone):
            group = "a" if n < 9 else "b"
            await stores.barometer.answer("r1", person, said(group=group, comment=f"c{n}"), f"h{n}")
    async with database.unit() as stores:
        closed = await stores.barometer.close("r1", NOW + timedelta(days=10))
        assert closed is not None
        assert closed.status == "closed"
        assert (closed.invited, closed.answered) == (13, 12)
        assert await stores.barometer.close("r1", NOW) is None
        await stores.barometer.seal("r1", {"a"}, keep_comments=True)
    async with database.unit() as stores:
        assert await stores.barometer.current() is None
        assert [r.id for r in await stores.barometer.closed(5)] == ["r1"]
        assert await stores.barometer.participation("r1") == (0, 0)
        tally = await stores.barometer.tally("r1")
        assert tally.counts == {
            ("nhs", "a", "yes"): 9,
            ("org", "a", "yes"): 9,
            ("nhs", None, "yes"): 3,
            ("org", None, "yes"): 3,
        }
        assert await stores.barometer.answer("r1", ALICE, said(), "h") == AnswerOutcome.CLOSED
        assert await stores.barometer.change("r1", "h0", said()) == AnswerOutcome.CLOSED
        assert not await stores.barometer.holds("r1", "h0")
        assert len(await stores.barometer.comments("r1")) == 12
    async with database.engine.connect() as connection:
        # No response row is left: the round keeps its counts, group "b" (too small) merged
        # into everyone else.
        assert list(await connection.execute(text("SELECT * FROM barometer_responses"))) == []
        counted = await connection.execute(
            text("SELECT question, group_id, value, n FROM barometer_counts")
        )
        assert {(q, g, v): n for q, g, v, n in counted} == {
            ("nhs", "a", "yes"): 9,
            ("org", "a", "yes"): 9,
            ("nhs", None, "yes"): 3,
            ("org", None, "yes"): 3,
        }
        tokens = await connection.execute(
            text("SELECT DISTINCT token_hash FROM barometer_comments")
        )
        assert list(tokens) == [(None,)]


async def test_closing_drops_comments_that_can_never_be_shown(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        await stores.barometer.answer("r1", ALICE, said(comment="hello"), "h1")
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", set(), keep_comments=False)
    async with database.unit() as stores:
        assert await stores.barometer.comments("r1") == []


async def test_reminders_are_counted_once(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        assert await stores.barometer.reminded("r1", 0, 1)
        assert not await stores.barometer.reminded("r1", 0, 1)
        assert await stores.barometer.reminded("r1", 1, 2)
    async with database.unit() as stores:
        current = await stores.barometer.current()
        assert current is not None
        assert current.reminders_sent == 2


async def test_comments_are_moderated(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        await stores.barometer.answer("r1", ALICE, said(comment="good"), "h1")
        await stores.barometer.answer("r1", BOB, said(comment="bad"), "h2")
        await stores.barometer.close("r1", NOW)
        (good,) = [c for c in await stores.barometer.comments("r1") if c.text == "good"]
        assert await stores.barometer.moderate("r1", good.id, "approved")
        assert not await stores.barometer.moderate("r1", "nope", "approved")
    async with database.unit() as stores:
        assert [c.text for c in await stores.barometer.comments("r1", ("approved",))] == ["good"]
        assert [c.text for c in await stores.barometer.comments("r1", ("pending",))] == ["bad"]


async def test_two_clicks_at_once_count_once(database: Database) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())

    async def click(token: str) -> AnswerOutcome:
        async with database.unit() as stores:
            return await stores.barometer.answer("r1", ALICE, said(), token)

    outcomes = await asyncio.gather(click("h1"), click("h2"))
    assert sorted(outcomes) == sorted([AnswerOutcome.RECORDED, AnswerOutcome.ALREADY])
    async with database.unit() as stores:
        assert await stores.barometer.participation("r1") == (1, 1)
        assert await stores.barometer.pending() == 1
        await stores.barometer.close("r1", NOW)
        assert (await stores.barometer.tally("r1")).respondents == 1


async def test_an_erased_person_leaves_the_counts_of_an_open_round_true(
    database: Database,
) -> None:
    carol = PersonKey("slack", "T1", "U3")
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        await stores.barometer.invite("r1", [ALICE, BOB, carol])
        await stores.barometer.answer("r1", ALICE, said(), "h-alice")
        await stores.barometer.answer("r1", BOB, said(), "h-bob")
    async with database.unit() as stores:
        assert await stores.barometer.forget_participant(ALICE) == 1
        assert await stores.barometer.forget_participant(carol) == 1
        assert await stores.barometer.forget_participant(carol) == 0
    async with database.unit() as stores:
        assert await stores.barometer.participation("r1") == (2, 2)
        assert not await stores.barometer.invited("r1", ALICE)
        assert await stores.barometer.waiting("r1") == []
        rows = await stores.session.exec(text("SELECT user_id FROM barometer_participation"))
        users = sorted(r[0] for r in rows)
    assert users[0] == "U2"
    assert users[1].startswith("erased-")
    assert "U1" not in users[1]
