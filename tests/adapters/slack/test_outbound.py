"""Sending to Slack: what the Web API receives, and Slack's failures as the core's SendErrors."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from adapters.slack.app import web_api
from bot.clock import ManualClock
from bot.events import ConversationKind, ConversationRef, Platform
from bot.outbound import RateLimited, RecipientUnreachable, SendError, TemporarySendError
from bot.ui import Card
from storage.people import PersonKey
from tests.adapters.slack.conftest import Waits
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.mocks.slack_api import Message, MockSlackApi

CHANNEL = ConversationRef(
    platform=Platform.SLACK, tenant="T1", conversation="C0TEAM", kind=ConversationKind.CHANNEL
)
ALICE = PersonKey("slack", "T1", "U0ALICE")
CARD = Card(title="Barometer", text="My work is making a positive difference & <!here>")


async def test_post_sends_the_card_to_the_channel(slack: SlackWorkspace) -> None:
    sent = await slack.adapter.outbound.post(CHANNEL, CARD)
    [call] = slack.api.calls_to("chat.postMessage")
    assert call.params["channel"] == "C0TEAM"
    assert call.params["text"] == "Barometer"
    assert call.params["blocks"][0]["text"]["text"] == "Barometer"
    assert "positive difference &amp; &lt;!here&gt;" in call.text()
    assert call.token == "xoxb-1-test-token"
    assert sent is not None
    assert sent.id == slack.api.last("C0TEAM").ts


@pytest.mark.parametrize(
    ("status", "error", "headers", "kind", "detail"),
    [
        (429, "ratelimited", {"Retry-After": "7"}, RateLimited, 7.0),
        (500, "internal_error", {}, TemporarySendError, None),
        (503, "service_unavailable", {}, TemporarySendError, None),
        (200, "channel_not_found", {}, RecipientUnreachable, "channel_not_found"),
        (200, "is_archived", {}, RecipientUnreachable, "is_archived"),
        (200, "not_in_channel", {}, RecipientUnreachable, "not_in_channel"),
        (200, "account_inactive", {}, RecipientUnreachable, "account_inactive"),
        # The bot may not post in that channel: for good, until a person changes something.
        *(
            (200, code, {}, RecipientUnreachable, code)
            for code in (
                "no_permission",
                "ekm_access_denied",
                "restricted_action_read_only_channel",
                "restricted_action_thread_only_channel",
                "restricted_action_non_threadable_channel",
                "token_revoked",
            )
        ),
        (200, "invalid_blocks", {}, SendError, None),
    ],
)
async def test_failures_become_send_errors(
    slack: SlackWorkspace,
    status: int,
    error: str,
    headers: dict[str, str],
    kind: type[SendError],
    detail: object,
) -> None:
    slack.api.fail("chat.postMessage", error, status=status, headers=headers)
    with pytest.raises(kind) as raised:
        await slack.adapter.outbound.post(CHANNEL, CARD)
    assert type(raised.value) is kind
    if isinstance(raised.value, RateLimited):
        assert raised.value.retry_after == detail
    if isinstance(raised.value, RecipientUnreachable):
        assert raised.value.reason == detail
    assert slack.api.channel("C0TEAM") == []


async def test_a_rate_limited_workspace_says_when_to_come_back(slack: SlackWorkspace) -> None:
    now = [100.0]
    slack.api.clock = lambda: now[0]
    slack.api.limit(per_channel=1, window=1.0, retry_after=1)
    await slack.adapter.outbound.post(CHANNEL, CARD)
    with pytest.raises(RateLimited) as limited:
        await slack.adapter.outbound.post(CHANNEL, CARD)
    assert limited.value.retry_after == 1.0
    other = ConversationRef(
        platform=Platform.SLACK, tenant="T1", conversation="C0OTHER", kind=ConversationKind.CHANNEL
    )
    await slack.adapter.outbound.post(other, CARD)  # another channel is not limited
    now[0] += 1.0
    await slack.adapter.outbound.post(CHANNEL, CARD)
    assert len(slack.api.channel("C0TEAM")) == 2


async def test_an_unreachable_server_is_a_temporary_failure(slack: SlackWorkspace) -> None:
    await slack.api.close()
    with pytest.raises(TemporarySendError):
        await slack.adapter.outbound.post(CHANNEL, CARD)


async def test_post_direct_opens_the_conversation_when_none_is_known(
    slack: SlackWorkspace,
) -> None:
    await slack.adapter.outbound.post_direct(ALICE, CARD)
    assert slack.api.methods() == ["conversations.open", "chat.postMessage"]
    assert slack.api.calls[0].params["users"] == "U0ALICE"
    assert slack.api.calls[1].params["channel"] == "D0ALICE"


async def test_post_direct_uses_the_known_conversation(slack: SlackWorkspace) -> None:
    await slack.says("hello", user="U0ALICE")
    before = len(slack.api.calls)
    await slack.adapter.outbound.post_direct(ALICE, CARD)
    assert slack.api.methods()[before:] == ["chat.postMessage"]
    assert slack.api.calls[-1].params["channel"] == direct("U0ALICE")


async def test_post_direct_to_someone_who_has_left(slack: SlackWorkspace) -> None:
    slack.api.fail("conversations.open", "user_not_found")
    with pytest.raises(RecipientUnreachable) as raised:
        await slack.adapter.outbound.post_direct(ALICE, CARD)
    assert raised.value.reason == "user_not_found"


async def test_a_reply_waits_out_a_rate_limit_once(slack: SlackWorkspace, waits: Waits) -> None:
    slack.api.fail("chat.postMessage", "ratelimited", status=429, headers={"Retry-After": "3"})
    await slack.command("Winter planning letter", user="U0ALICE", channel=direct("U0ALICE"))
    assert waits.seconds == [3.0]
    assert slack.api.methods().count("chat.postMessage") == 2
    assert "Question 2 of 8" in slack.api.last(direct("U0ALICE")).text_all()


async def test_where_the_bot_is_not_a_member_the_response_url_answers(
    slack: SlackWorkspace,
) -> None:
    slack.api.fail("chat.postEphemeral", "not_in_channel")
    await slack.command("history", user="U0ALICE", channel="C0NOTIN")
    [answer] = slack.api.calls_to("response_url")
    assert answer.params["response_type"] == "ephemeral"
    assert "Your values lens check-ins" in answer.text()
    assert "Your values lens check-ins" in slack.api.ephemeral("C0NOTIN", "U0ALICE")[0].text_all()


async def test_the_mock_limits_a_whole_workspace(slack_api: MockSlackApi) -> None:
    """The mock's workspace budget, which delivery and benchmarks rely on."""
    now = [0.0]
    slack_api.clock = lambda: now[0]
    slack_api.limit(per_workspace=2, window=60.0, retry_after=5)
    outbound_calls = []
    async with aiohttp.ClientSession() as http:
        for channel in ("C1", "C2", "C3"):
            async with http.post(
                slack_api.api_url + "chat.postMessage",
                json={"channel": channel, "text": "hi"},
                headers={"Authorization": "Bearer xoxb-a"},
            ) as answer:
                outbound_calls.append((answer.status, answer.headers.get("Retry-After")))
    assert outbound_calls == [(200, None), (200, None), (429, "60")]


# Outbox keys: sent as message metadata, read back after a crash (docs/delivery.md)

KEY = "barometer:2026-11:slack:T1:U0ALICE"


async def test_a_proactive_message_carries_its_outbox_key(slack: SlackWorkspace) -> None:
    await slack.adapter.outbound.post_direct(ALICE, CARD, key=KEY)
    await slack.adapter.outbound.post(CHANNEL, CARD)  # a reply-like post: no key, no metadata
    first, second = slack.api.calls_to("chat.postMessage")
    assert first.params["metadata"] == {
        "event_type": "valuesbot_outbox",
        "event_payload": {"key": KEY},
    }
    assert "metadata" not in second.params
    assert slack.api.keys() == {KEY: 1}


async def test_was_sent_finds_the_key_in_the_persons_direct_conversation(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    since = clock.now() - timedelta(minutes=2)
    outbound = slack.adapter.outbound
    assert await outbound.was_sent(KEY, ALICE, since) is False  # nothing there yet
    await outbound.post_direct(ALICE, CARD, key=KEY)
    assert await outbound.was_sent(KEY, ALICE, since) is True
    assert await outbound.was_sent("barometer:2026-11:slack:T1:U0BOB", ALICE, since) is False
    # Sent before ``since``: not the message asked about.
    assert await outbound.was_sent(KEY, ALICE, clock.now() + timedelta(seconds=1)) is False
    history = slack.api.calls_to("conversations.history")[-1].params
    assert history["channel"] == "D0ALICE"
    assert history["include_all_metadata"] is True
    assert history["limit"] == 200
    assert slack.api.calls_to("conversations.open")[-1].params["users"] == "U0ALICE"


async def test_was_sent_pages_through_a_busy_channel(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    since = clock.now() - timedelta(minutes=2)
    outbound = slack.adapter.outbound
    await outbound.post(CHANNEL, CARD, key="digest:1:2026-11-30:0")
    for _ in range(450):  # newer messages push the keyed one to the third page
        await outbound.post(CHANNEL, CARD)
    assert await outbound.was_sent("digest:1:2026-11-30:0", CHANNEL, since) is True
    pages = slack.api.calls_to("conversations.history")
    assert [p.params.get("cursor") for p in pages] == [None, "page:200", "page:400"]
    assert await outbound.was_sent("digest:1:2026-11-30:1", CHANNEL, since) is False


async def test_was_sent_trusts_only_messages_of_this_bot(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    since = clock.now() - timedelta(minutes=2)
    await slack.adapter.outbound.post(CHANNEL, CARD)
    [ours] = slack.api.channel("C0TEAM")
    # Another app's message with our key in its metadata proves nothing.
    metadata = {"event_type": "valuesbot_outbox", "event_payload": {"key": KEY}}
    forged = Message("C0TEAM", ours.ts + "1", "hi", [], metadata=metadata, author=("U9", "B9"))
    slack.api.messages["C0TEAM"].append(forged)
    assert await slack.adapter.outbound.was_sent(KEY, CHANNEL, since) is False


@pytest.mark.parametrize(
    ("status", "error", "headers", "answer"),
    [
        (429, "ratelimited", {"Retry-After": "9"}, RateLimited),
        (500, "internal_error", {}, TemporarySendError),
        (200, "missing_scope", {}, None),  # installed before the history scopes: cannot tell
        (200, "not_in_channel", {}, False),  # removed since: a resend would be refused too
    ],
)
async def test_was_sent_when_slack_will_not_say(
    slack: SlackWorkspace,
    clock: ManualClock,
    status: int,
    error: str,
    headers: dict[str, str],
    answer: object,
) -> None:
    await slack.adapter.outbound.post(CHANNEL, CARD, key=KEY)
    slack.api.fail("conversations.history", error, status=status, headers=headers)
    since = clock.now() - timedelta(minutes=2)
    if isinstance(answer, type):
        with pytest.raises(answer) as raised:
            await slack.adapter.outbound.was_sent(KEY, CHANNEL, since)
        if isinstance(raised.value, RateLimited):
            assert raised.value.retry_after == 9.0
    else:
        assert await slack.adapter.outbound.was_sent(KEY, CHANNEL, since) is answer


async def test_a_lost_answer_may_have_been_sent_but_a_refused_connection_was_not(
    slack: SlackWorkspace,
) -> None:
    slow = web.Application()

    async def hang(request: web.Request) -> web.Response:
        await request.read()
        assert request.transport is not None
        request.transport.close()  # the request arrived; the connection drops unanswered
        return web.Response()

    slow.router.add_post("/api/{method}", hang)
    server = TestServer(slow, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/api/"))
    try:
        with pytest.raises(TemporarySendError) as dropped:
            await web_api(url, None, "xoxb-1", "chat.postMessage")
        assert dropped.value.maybe_sent is True
    finally:
        await server.close()
    with pytest.raises(TemporarySendError) as refused:  # nobody listens there any more
        await web_api(url, None, "xoxb-1", "chat.postMessage")
    assert refused.value.maybe_sent is False


async def test_was_sent_looks_in_the_thread_for_a_reply_in_a_thread(
    slack: SlackWorkspace, clock: ManualClock
) -> None:
    since = clock.now() - timedelta(minutes=2)
    outbound = slack.adapter.outbound
    parent = await outbound.post(CHANNEL, CARD)
    assert parent is not None
    thread = replace(CHANNEL, thread=parent.id)
    key = "lens-team:results:t1"
    await outbound.post(thread, CARD, key=key)
    assert slack.api.calls_to("chat.postMessage")[-1].params["thread_ts"] == parent.id
    assert await outbound.was_sent(key, thread, since) is True
    [asked] = slack.api.calls_to("conversations.replies")
    assert (asked.params["channel"], asked.params["ts"]) == ("C0TEAM", parent.id)
    # The channel's own history does not hold replies in threads.
    assert await outbound.was_sent(key, CHANNEL, since) is False
