"""You said, we did: the store of responses, themes and actions, and how a closed round's
comment is found by its author's token, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

from storage.barometer import ActionStatus, ActionTarget, AnswerKey
from storage.common import Period
from storage.engine import Database
from tests.contract.test_barometer import NOW, a_round, people, said

LATER = NOW + timedelta(days=20)


async def closed_round_with_comments(database: Database, count: int = 12) -> list[str]:
    """A round where ``count`` people answered, each with a comment, closed and sealed; the
    token hashes of their answers."""
    tokens = [f"token-hash-{n:02d}" for n in range(count)]
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        for person, token in zip(people(count), tokens, strict=True):
            await stores.barometer.answer("r1", person, said(comment=f"said {token}"), token)
    async with database.unit() as stores:
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", set(), keep_comments=True)
    return tokens


async def test_the_author_finds_their_comment_by_their_token_once_the_round_closed(
    database: Database,
) -> None:
    async with database.unit() as stores:
        await stores.barometer.open(a_round())
        for n, person in enumerate(people(12)):
            await stores.barometer.answer("r1", person, said(comment=f"c{n}"), f"hash-{n:02d}")
        # While the round is open, nothing is found this way (comments are read after close).
        assert await stores.barometer.comment_by_token("r1", "hash-03") is None
    async with database.unit() as stores:
        await stores.barometer.close("r1", NOW)
        await stores.barometer.seal("r1", set(), keep_comments=True)
    async with database.unit() as stores:
        mine = await stores.barometer.comment_by_token("r1", "hash-03")
        assert mine is not None
        assert (mine.text, mine.status) == ("c3", "pending")
        assert await stores.barometer.comment_by_token("r1", "hash-99") is None
        assert await stores.barometer.comment_by_token("r2", "hash-03") is None
    # Another key finds nothing: the mark is made with the answer key.
    other = Database(database.url, answer_key=AnswerKey.from_text("x" * 40))
    try:
        async with other.unit() as stores:
            assert await stores.barometer.comment_by_token("r1", "hash-03") is None
    finally:
        await other.dispose()


async def test_a_response_to_one_comment_then_edited_then_withdrawn(database: Database) -> None:
    await closed_round_with_comments(database)
    async with database.unit() as stores:
        first = (await stores.barometer.comments("r1"))[0]
        reply = await stores.follow_up.add_reply("r1", "We hear you", NOW)
        assert reply is not None
        await stores.follow_up.attach("r1", reply.id, [first.id])
    async with database.unit() as stores:
        found = await stores.follow_up.reply(reply.id)
        assert found is not None
        assert (found.text, found.theme, found.comments) == ("We hear you", None, (first.id,))
        assert (found.written_at, found.edited_at, found.withdrawn_at) == (NOW, None, None)
        # The same text again is no edit; another text is, dated.
        assert await stores.follow_up.edit_reply(reply.id, "We hear you", LATER)
        assert (await stores.follow_up.reply(reply.id)).edited_at is None  # type: ignore[union-attr]
        assert await stores.follow_up.edit_reply(reply.id, "We hear you, and act", LATER)
        edited = await stores.follow_up.reply(reply.id)
        assert edited is not None
        assert (edited.text, edited.written_at, edited.edited_at) == (
            "We hear you, and act",
            NOW,
            LATER,
        )
        assert await stores.follow_up.withdraw_reply(reply.id, LATER)
        assert not await stores.follow_up.withdraw_reply(reply.id, LATER)  # once
        gone = await stores.follow_up.reply(reply.id)
        assert gone is not None
        assert gone.withdrawn
        assert gone.comments == (first.id,)
        # Written again, it is published again.
        assert await stores.follow_up.edit_reply(reply.id, "Back", LATER + timedelta(days=1))
        back = await stores.follow_up.reply(reply.id)
        assert back is not None
        assert (back.withdrawn, back.text) == (False, "Back")
        assert not await stores.follow_up.edit_reply("nope", "x", LATER)


async def test_a_theme_answers_several_comments_and_a_comment_has_one_response(
    database: Database,
) -> None:
    await closed_round_with_comments(database)
    async with database.unit() as stores:
        comments = [c.id for c in await stores.barometer.comments("r1")]
        theme = await stores.follow_up.add_reply(
            "r1", "Workload: here is the plan", NOW, "Workload"
        )
        assert theme is not None
        await stores.follow_up.attach("r1", theme.id, comments[:3])
        # The theme's name is the round's one theme of that name.
        assert await stores.follow_up.add_reply("r1", "again", NOW, "Workload") is None
        single = await stores.follow_up.add_reply("r1", "Just this one", NOW)
        assert single is not None
        # A comment answered on its own leaves the theme.
        await stores.follow_up.attach("r1", single.id, [comments[2]])
    async with database.unit() as stores:
        replies = await stores.follow_up.replies("r1")
        by_id = {r.id: r for r in replies}
        assert by_id[theme.id].comments == tuple(sorted(comments[:2]))
        assert by_id[theme.id].theme == "Workload"
        assert by_id[single.id].comments == (comments[2],)
        assert await stores.follow_up.replies("r2") == []


async def test_actions_keep_their_status_history(database: Database) -> None:
    await closed_round_with_comments(database)
    async with database.unit() as stores:
        theme = await stores.follow_up.add_reply("r1", "On it", NOW, "Meetings")
        assert theme is not None
        action = await stores.follow_up.add_action(
            title="Meeting-free Wednesday afternoons",
            owner="Corporate operations",
            due=date(2027, 7, 1),
            status=ActionStatus.PLANNED,
            answers=[ActionTarget(round_id="r1", reply_id=theme.id), ActionTarget(round_id="r1")],
            now=NOW,
        )
        other = await stores.follow_up.add_action(
            title="Second", owner="", due=None, status=ActionStatus.PLANNED, answers=[], now=NOW
        )
    assert other.id > action.id
    assert action.status is ActionStatus.PLANNED
    assert action.answers == (
        ActionTarget(round_id="r1"),
        ActionTarget(round_id="r1", reply_id=theme.id),
    )
    steps = [
        (NOW + timedelta(days=1), ActionStatus.IN_PROGRESS),
        (NOW + timedelta(days=2), ActionStatus.IN_PROGRESS),  # no change: not recorded
        (NOW + timedelta(days=9), ActionStatus.DONE),
    ]
    for when, status in steps:
        async with database.unit() as stores:
            moved = await stores.follow_up.set_action_status(action.id, status, when)
            assert moved is not None
            assert moved.status is status
    async with database.unit() as stores:
        done = await stores.follow_up.action(action.id)
        assert done is not None
        assert [(c.status, c.at) for c in done.history] == [
            (ActionStatus.PLANNED, NOW),
            (ActionStatus.IN_PROGRESS, NOW + timedelta(days=1)),
            (ActionStatus.DONE, NOW + timedelta(days=9)),
        ]
        assert done.changed_at == NOW + timedelta(days=9)
        assert (done.title, done.owner, done.due) == (
            "Meeting-free Wednesday afternoons",
            "Corporate operations",
            date(2027, 7, 1),
        )
        assert [a.id for a in await stores.follow_up.actions()] == [other.id, action.id]
        # Finished between two dates: done in that window and done still.
        assert [
            a.id for a in await stores.follow_up.finished_between(NOW, NOW + timedelta(days=9))
        ] == [action.id]
        assert await stores.follow_up.finished_between(NOW + timedelta(days=9), LATER) == []
        assert await stores.follow_up.set_action_status(999, ActionStatus.DONE, LATER) is None
        await stores.follow_up.set_action_status(action.id, ActionStatus.DROPPED, LATER)
        assert await stores.follow_up.finished_between(NOW, LATER) == []


async def test_responses_and_actions_are_counted_by_period_for_the_scorecard(
    database: Database,
) -> None:
    months = [
        Period(name=name, start=NOW + timedelta(days=30 * n), end=NOW + timedelta(days=30 * n + 30))
        for n, name in enumerate(("m1", "m2"))
    ]
    await closed_round_with_comments(database)
    round_id = "r1"
    async with database.unit() as stores:
        kept = await stores.follow_up.add_reply(round_id, "We hear you", NOW + timedelta(days=1))
        gone = await stores.follow_up.add_reply(
            round_id, "Withdrawn", NOW + timedelta(days=2), theme="t"
        )
        late = await stores.follow_up.add_reply(
            round_id, "Later", NOW + timedelta(days=31), theme="u"
        )
        assert kept is not None
        assert gone is not None
        assert late is not None
        await stores.follow_up.withdraw_reply(gone.id, NOW + timedelta(days=3))
        action = await stores.follow_up.add_action(
            title="Fix the rota",
            owner="Estates",
            due=None,
            status=ActionStatus.PLANNED,
            answers=(),
            now=NOW,
        )
        for days, status in ((5, ActionStatus.DONE), (6, ActionStatus.IN_PROGRESS)):
            await stores.follow_up.set_action_status(action.id, status, NOW + timedelta(days=days))
        await stores.follow_up.set_action_status(
            action.id, ActionStatus.DONE, NOW + timedelta(days=7)
        )
    async with database.unit() as stores:
        assert await stores.follow_up.activity("responses", months) == {"m1": 1, "m2": 1}
        # Marked done twice in the month: one action done.
        assert await stores.follow_up.activity("actions", months) == {"m1": 1}
