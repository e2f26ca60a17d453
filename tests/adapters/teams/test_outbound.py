"""Sending to Teams: proactive posts to stored references, the core's send errors, retries of
replies, answering before the work is done, and card updates."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.teams.app import TEAMS_KEY, TeamsOutbound, retry_after, send_error
from bot.app import build_app
from bot.clock import ManualClock
from bot.events import ConversationKind, ConversationRef, Platform
from bot.outbound import RateLimited, RecipientUnreachable, SendError, TemporarySendError
from bot.ui import Card
from storage.people import PersonKey
from tests.adapters.teams.conftest import (
    ALICE,
    ANONYMOUS,
    BOB,
    CHANNEL,
    TENANT,
    TeamsWorld,
    start_world,
)
from tests.conftest import make_settings
from tests.mocks.bot_connector import MockBotConnector, card_texts

NOTICE = Card(title="Staff barometer", text="This month's barometer is open.")


def outbound(world: TeamsWorld) -> TeamsOutbound:
    return world.bot.outbound


def person(who: str) -> PersonKey:
    return PersonKey("teams", TENANT, who)


async def test_a_post_to_a_channel_met_at_install_uses_the_stored_reference(
    teams: TeamsWorld,
) -> None:
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    place = ConversationRef(
        platform=Platform.TEAMS, tenant=TENANT, conversation=CHANNEL, kind=ConversationKind.CHANNEL
    )
    sent = await outbound(teams).post(place, NOTICE)
    (call,) = teams.connector.posts()
    assert call.path == f"/v3/conversations/{CHANNEL}/activities"
    assert sent is not None
    assert sent.id == call.answered_id
    assert card_texts(call.card)[:2] == ["Staff barometer", "This month's barometer is open."]
    assert call.body["from"]["id"] == "28:0d7f3a4e-6c1b-4f8e-9a2d-5b6c7d8e9f01"
    assert call.body["conversation"]["tenantId"] == TENANT


async def test_sending_to_someone_never_met_fails_clearly(teams: TeamsWorld) -> None:
    with pytest.raises(RecipientUnreachable, match="never met"):
        await outbound(teams).post_direct(person("29:stranger"), NOTICE)
    nowhere = ConversationRef(
        platform=Platform.TEAMS, tenant=TENANT, conversation="19:unknown@thread.tacv2"
    )
    with pytest.raises(RecipientUnreachable, match="never met"):
        await outbound(teams).post(nowhere, NOTICE)
    assert teams.connector.calls == []


async def test_a_direct_post_goes_to_the_personal_chat(teams: TeamsWorld) -> None:
    await teams.installs(ALICE)
    await outbound(teams).post_direct(person(ALICE.id), NOTICE)
    assert teams.last(ALICE.direct).startswith("Staff barometer")
    assert teams.connector.created() == []


async def test_proactive_posts_share_one_kept_connection_until_the_bot_stops(
    teams: TeamsWorld,
) -> None:
    """Each proactive message is a turn of the SDK's, which used to open (and close) an HTTP
    connection of its own: a fan-out to thousands made as many connections."""
    await teams.installs(ALICE)
    await teams.installs(BOB)
    teams.connector.calls.clear()
    for _ in range(3):
        await outbound(teams).post_direct(person(ALICE.id), NOTICE)
        await outbound(teams).post_direct(person(BOB.id), NOTICE)
    posts = teams.connector.posts()
    assert [c.conversation for c in posts] == [ALICE.direct, BOB.direct] * 3
    assert len({c.peer for c in posts}) == 1
    clients = teams.bot.connector.clients
    assert clients is not None
    assert clients.open_sessions == 1
    await teams.bot.close(grace=1)
    assert clients.open_sessions == 0


async def test_someone_met_only_in_a_channel_gets_a_chat_opened(teams: TeamsWorld) -> None:
    await teams.says("values", person=BOB, channel=CHANNEL)  # a private answer: a chat opens
    await outbound(teams).post_direct(person(BOB.id), NOTICE)  # and is remembered
    (created,) = teams.connector.created()
    assert created.body["members"] == [{"id": BOB.id}]
    assert created.body["bot"]["id"] == "28:0d7f3a4e-6c1b-4f8e-9a2d-5b6c7d8e9f01"
    assert created.body["tenantId"] == TENANT
    assert teams.last(f"a:mock-direct-{BOB.id}").startswith("Staff barometer")


async def test_a_chat_teams_will_not_open_is_unreachable(teams: TeamsWorld) -> None:
    teams.connector.refuse_chats_with(BOB.id)
    await teams.says("values", person=BOB, channel=CHANNEL)
    assert teams.last(CHANNEL).startswith("Bob Jones, I have an answer for you alone")
    with pytest.raises(RecipientUnreachable):
        await outbound(teams).post_direct(person(BOB.id), NOTICE)


@pytest.mark.parametrize(
    ("status", "retry", "kind"),
    [
        (429, 2.5, RateLimited),
        (500, None, TemporarySendError),
        (502, None, TemporarySendError),
        (503, None, TemporarySendError),
        (404, None, RecipientUnreachable),
        (403, None, RecipientUnreachable),
        (400, None, SendError),
    ],
)
async def test_connector_answers_become_the_cores_send_errors(
    teams: TeamsWorld, status: int, retry: float | None, kind: type[SendError]
) -> None:
    await teams.installs(ALICE)
    teams.connector.fail(status, retry_after=retry)
    with pytest.raises(kind) as raised:
        await outbound(teams).post_direct(person(ALICE.id), NOTICE)
    assert type(raised.value) is kind
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == 2.5


async def test_a_conversation_that_is_gone_is_unreachable(teams: TeamsWorld) -> None:
    await teams.installs(ALICE)
    teams.connector.gone(ALICE.direct)
    with pytest.raises(RecipientUnreachable, match="not found"):
        await outbound(teams).post_direct(person(ALICE.id), NOTICE)


async def test_a_connector_that_does_not_answer_is_temporary(teams: TeamsWorld) -> None:
    await teams.installs(ALICE)
    await teams.connector.close()
    with pytest.raises(TemporarySendError, match="unreachable") as raised:
        await outbound(teams).post_direct(person(ALICE.id), NOTICE)
    assert raised.value.maybe_sent is False  # refused: the request never left


async def test_a_send_that_times_out_may_have_arrived(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> None:
    settings = make_settings(sqlite_url, **ANONYMOUS, VALUESBOT_SEND_TIMEOUT="0.5")
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    try:
        await world.installs(ALICE)
        connector.stall(ALICE.direct)
        with pytest.raises(TemporarySendError, match="no answer") as raised:
            await outbound(world).post_direct(person(ALICE.id), NOTICE, key="k-1")
        # Teams had it: the outbox must ask before sending again (docs/delivery.md).
        assert raised.value.maybe_sent is True
        assert connector.keys() == ["k-1"]
        assert await outbound(world).was_sent("k-1", person(ALICE.id), clock.now()) is None
    finally:
        connector.release()
        await world.client.close()
        await app.close()


async def test_a_reply_whose_answer_never_came_is_not_sent_twice(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> None:
    settings = make_settings(sqlite_url, **ANONYMOUS, VALUESBOT_SEND_TIMEOUT="0.5")
    app = await build_app(settings, clock=clock, prepare=False)
    world = await start_world(app, connector)
    try:
        connector.stall(ALICE.direct)
        await world.says("values")
        # Teams took the help card but its answer was lost: no second copy, no apology.
        (help_card,) = connector.posts(ALICE.direct)
        assert "values bot" in "\n".join(card_texts(help_card.card))
    finally:
        connector.release()
        await world.client.close()
        await app.close()


async def test_proactive_messages_carry_their_outbox_key(teams: TeamsWorld) -> None:
    await teams.installs(ALICE)
    await teams.send(teams.activity("channel_install", channel=CHANNEL))
    await outbound(teams).post_direct(person(ALICE.id), NOTICE, key="barometer:2026-12:a")
    place = ConversationRef(
        platform=Platform.TEAMS, tenant=TENANT, conversation=CHANNEL, kind=ConversationKind.CHANNEL
    )
    await outbound(teams).post(place, NOTICE, key="digest:s1:2026-12-07:0")
    greeting, direct, channel = teams.connector.posts()
    assert "channelData" not in greeting.body  # a reply has no outbox key
    assert direct.body["channelData"] == {"valuesbotOutboxKey": "barometer:2026-12:a"}
    assert channel.body["channelData"] == {"valuesbotOutboxKey": "digest:s1:2026-12-07:0"}
    assert teams.connector.keys() == ["barometer:2026-12:a", "digest:s1:2026-12-07:0"]


def test_retry_after_headers() -> None:
    assert retry_after({"Retry-After": "7"}) == 7.0
    assert retry_after({"Retry-After": "0.5"}) == 0.5
    assert retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0
    assert retry_after({"Retry-After": "soon"}) == 1.0
    assert retry_after({}) == 1.0
    assert isinstance(send_error(401), TemporarySendError)


async def test_a_throttled_reply_is_sent_again_after_the_wait_teams_asks_for(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    app = await build_app(make_settings(sqlite_url, **ANONYMOUS), clock=clock, prepare=False)
    world = await start_world(app, connector, sleep=sleep)
    try:
        await world.installs(ALICE)  # met: nothing left to ask Teams about her
        before = len(connector.calls)
        connector.fail(429, retry_after=3)
        connector.fail(503)
        await world.says("values")
        assert waits == [3.0, 2.0]
        assert "values bot" in world.last(ALICE.direct)
        assert [c.status for c in connector.calls[before:]] == [429, 503, 201]
    finally:
        await world.client.close()
        await app.close()


async def test_the_request_is_answered_before_the_reply_is_sent(teams: TeamsWorld) -> None:
    teams.connector.hold()
    response = await teams.post(teams.activity("personal_message", text="values"))
    # Teams has its answer while the reply is still held at the connector.
    assert response.status == 202
    assert teams.connector.calls == []
    teams.connector.release()
    await teams.bot.settled()
    assert "values bot" in teams.last(ALICE.direct)


async def test_an_action_execute_gets_its_invoke_answer_at_once(teams: TeamsWorld) -> None:
    teams.connector.hold()
    response = await teams.post(teams.activity("adaptive_card_action_invoke"))
    assert response.status == 200
    assert (await response.json())["statusCode"] == 200
    teams.connector.release()
    await teams.bot.settled()
    assert "That check-in is not one of yours" in teams.last(ALICE.direct)


async def test_a_card_teams_will_not_update_is_posted_again(teams: TeamsWorld) -> None:
    await teams.says("valueslens Budget paper")
    teams.connector.fail(404)  # the update of the answered card
    await teams.clicks("Strongly")
    texts = teams.texts(ALICE.direct)
    assert texts[-2] == "We prioritise patients in every decision we take\n✓ Strongly"
    assert texts[-1].startswith("We listen and learn")


async def test_the_mock_connector_enforces_teams_rate_limits() -> None:
    now = [100.0]
    async with MockBotConnector(limits=True, clock=lambda: now[0]) as connector:
        from aiohttp import ClientSession

        body = {"type": "message", "conversation": {"tenantId": "t1"}}
        async with ClientSession() as http:
            statuses = []
            for _ in range(8):
                async with http.post(
                    f"{connector.url}v3/conversations/c1/activities", json=body
                ) as r:
                    statuses.append((r.status, r.headers.get("Retry-After")))
            assert statuses[:7] == [(201, None)] * 7
            assert statuses[7] == (429, "1")
            now[0] += 1.0  # a new second: 50 more for the tenant, 7 per conversation
            for n in range(50):
                async with http.post(
                    f"{connector.url}v3/conversations/c{n + 2}/activities", json=body
                ) as r:
                    assert r.status == 201
            async with http.post(f"{connector.url}v3/conversations/c99/activities", json=body) as r:
                assert r.status == 429
                assert r.headers["Retry-After"] == "1"


async def test_a_proactive_post_reaches_a_stored_reference_after_a_restart(
    tmp_path: Path, clock: ManualClock, connector: MockBotConnector
) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", **ANONYMOUS)
    first = await build_app(settings, clock=clock)
    world = await start_world(first, connector)
    await world.installs(ALICE)
    await world.send(world.activity("channel_install", channel=CHANNEL))
    await world.client.close()
    await first.close()
    before = len(connector.posts())

    again = await build_app(settings, clock=clock)
    restarted = await start_world(again, connector)
    try:
        bot = restarted.client.server.app[TEAMS_KEY]
        await bot.outbound.post_direct(person(ALICE.id), NOTICE)
        channel = ConversationRef(
            platform=Platform.TEAMS,
            tenant=TENANT,
            conversation=CHANNEL,
            kind=ConversationKind.CHANNEL,
        )
        await bot.outbound.post(channel, NOTICE)
        new = connector.posts()[before:]
        assert [c.conversation for c in new] == [ALICE.direct, CHANNEL]
        assert all(card_texts(c.card)[0] == "Staff barometer" for c in new)
    finally:
        await restarted.client.close()
        await again.close()


async def test_shutting_down_lets_turns_under_way_finish(teams: TeamsWorld) -> None:
    teams.connector.hold()
    await teams.post(teams.activity("personal_message", text="values"))
    closing = asyncio.create_task(teams.bot.close(grace=30))
    await asyncio.sleep(0)
    teams.connector.release()
    await closing
    assert "values bot" in teams.last(ALICE.direct)
