"""The outbox worker against a local mock platform API that enforces the platforms' limits.

Real clock, real HTTP on 127.0.0.1, SQLite; the mock's limits are scaled up (200 a second) so
a 2,000-recipient delivery takes seconds, and equal to the bot's own settings, so any request
faster than the limit would have been answered 429.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App, build_app
from bot.delivery import fan_out, to_channel
from bot.events import Platform
from bot.ui import Card
from tests.conftest import make_settings
from tests.delivery.helpers import FAST, deliver_until_done, people
from tests.mocks.platform_api import MockPlatformApi, SlackLikeOutbound, TeamsLikeOutbound

POLL = Card(title="Staff barometer", text="My work is making a positive difference.")


@pytest.fixture
async def mock_api() -> AsyncIterator[MockPlatformApi]:
    api = MockPlatformApi(
        slack_rate=200, slack_channel_rate=20, teams_rate=200, teams_conversation_rate=20
    )
    await api.start()
    yield api
    await api.stop()


async def start(sqlite_url: str, mock_api: MockPlatformApi, **extra: str) -> App:
    app = await build_app(make_settings(sqlite_url, **{**FAST, **extra}), prepare=False)
    app.dispatcher.connect(Platform.SLACK, SlackLikeOutbound(mock_api.url, "T1", timeout=0.5))
    app.dispatcher.connect(Platform.TEAMS, TeamsLikeOutbound(mock_api.url, "tenant-1", timeout=0.5))
    return app


@pytest.fixture
async def app(sqlite_url: str, mock_api: MockPlatformApi) -> AsyncIterator[App]:
    built = await start(sqlite_url, mock_api)
    yield built
    for platform in (Platform.SLACK, Platform.TEAMS):
        outbound = built.dispatcher.outbound(platform)
        assert isinstance(outbound, SlackLikeOutbound | TeamsLikeOutbound)
        await outbound.close()
    await built.close()


def rows(sqlite_url: str, sql: str) -> list[tuple[object, ...]]:
    path = Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))
    with sqlite3.connect(path) as connection:
        return connection.execute(sql).fetchall()


async def queue(app: App, job: str, platform: str, tenant: str, count: int) -> None:
    async with app.database.unit() as stores:
        added = await fan_out(
            stores, job=job, people=people(platform, tenant, count), card=POLL, now=app.clock.now()
        )
    assert added == count


async def test_2000_recipients_each_get_it_once_and_never_faster_than_the_limit(
    app: App, mock_api: MockPlatformApi, sqlite_url: str
) -> None:
    await queue(app, "barometer:2027-05", "slack", "T1", 2000)
    async with app.database.unit() as stores:  # queueing again changes nothing
        assert (
            await fan_out(
                stores,
                job="barometer:2027-05",
                people=people("slack", "T1", 2000),
                card=POLL,
                now=app.clock.now(),
            )
            == 0
        )

    done = await deliver_until_done(app, "barometer:2027-05")

    keys = mock_api.keys()
    assert len(keys) == 2000
    assert set(keys.values()) == {1}
    assert mock_api.throttled == 0
    assert {a.conversation for a in mock_api.accepted} == {f"DU{i:05d}" for i in range(1, 2001)}
    assert (done.sent, done.failed, done.uncertain) == (2000, 0, 0)
    assert rows(sqlite_url, "SELECT status, attempts, COUNT(*) FROM outbox GROUP BY 1, 2") == [
        ("sent", 1, 2000)
    ]
    metrics = app.dispatcher.metrics.registry
    assert metrics.get_sample_value("valuesbot_outbox_sent_total", {"platform": "slack"}) == 2000


async def test_429s_pause_and_slow_the_bucket_and_lose_nothing(
    app: App, mock_api: MockPlatformApi, sqlite_url: str
) -> None:
    # The platform allows far less than the bot believes (15/s against 200/s, so even a slow,
    # busy machine goes over it): it answers 429 with Retry-After.
    mock_api.teams_rate = 15
    await queue(app, "digest:w49", "teams", "tenant-1", 120)

    done = await deliver_until_done(app, "digest:w49")

    assert mock_api.throttled > 0
    keys = mock_api.keys()
    assert len(keys) == 120
    assert set(keys.values()) == {1}
    assert done.sent == 120
    # A 429 is the platform's fault, not the message's: it costs no attempt.
    assert rows(sqlite_url, "SELECT MAX(attempts) FROM outbox") == [(1,)]
    registry = app.dispatcher.metrics.registry
    assert (
        registry.get_sample_value("valuesbot_outbox_rate_limited_total", {"platform": "teams"})
        == mock_api.throttled
    )
    async with app.database.unit() as stores:
        buckets = await stores.delivery.depth()
    assert buckets == {("teams", "sent"): 120}
    assert rows(sqlite_url, "SELECT COUNT(*) FROM rate_buckets WHERE slowed_until > 0") == [(1,)]


async def test_someone_who_left_fails_for_good_with_the_reason(
    app: App, mock_api: MockPlatformApi, sqlite_url: str
) -> None:
    mock_api.unreachable = {"U00002"}
    await queue(app, "barometer:2027-06", "slack", "T1", 3)

    done = await deliver_until_done(app, "barometer:2027-06")

    assert (done.sent, done.failed) == (2, 1)
    assert rows(
        sqlite_url, "SELECT recipient, status, attempts, last_error FROM outbox ORDER BY id"
    ) == [
        ("U00001", "sent", 1, None),
        ("U00002", "failed", 1, "user_not_found"),
        ("U00003", "sent", 1, None),
    ]


async def test_5xx_is_retried_with_backoff_until_it_goes(
    app: App, mock_api: MockPlatformApi, sqlite_url: str
) -> None:
    mock_api.fail_first = {"digest:w50:teams:tenant-1:U00001": 2}
    await queue(app, "digest:w50", "teams", "tenant-1", 2)

    done = await deliver_until_done(app, "digest:w50")

    assert done.sent == 2
    assert mock_api.keys()["digest:w50:teams:tenant-1:U00001"] == 1
    assert rows(sqlite_url, "SELECT recipient, attempts FROM outbox ORDER BY id") == [
        ("U00001", 3),
        ("U00002", 1),
    ]


async def test_a_send_that_keeps_failing_is_given_up_not_retried_forever(
    sqlite_url: str, mock_api: MockPlatformApi
) -> None:
    app = await start(sqlite_url, mock_api, VALUESBOT_DELIVERY_MAX_ATTEMPTS="3")
    try:
        mock_api.fail_first = {"nudge:1:slack:T1:U00001": 100}
        await queue(app, "nudge:1", "slack", "T1", 1)
        done = await deliver_until_done(app, "nudge:1")
    finally:
        for platform in (Platform.SLACK, Platform.TEAMS):
            await app.dispatcher.outbound(platform).close()  # type: ignore[attr-defined]
        await app.close()
    assert done.failed == 1
    assert rows(sqlite_url, "SELECT status, attempts, last_error FROM outbox") == [
        ("failed", 3, "gave up after 3 attempts: TemporarySendError: HTTP 500")
    ]


async def test_a_timeout_after_slack_took_the_message_is_checked_not_resent(
    app: App, mock_api: MockPlatformApi, sqlite_url: str
) -> None:
    key = "barometer:2027-07:slack:T1:U00001"
    mock_api.slow_first = {key: 1.5}  # the answer comes after the client gave up
    await queue(app, "barometer:2027-07", "slack", "T1", 2)

    done = await deliver_until_done(app, "barometer:2027-07")

    assert mock_api.keys() == {key: 1, "barometer:2027-07:slack:T1:U00002": 1}
    assert done.sent == 2
    assert rows(sqlite_url, "SELECT status, message_id IS NULL FROM outbox ORDER BY id") == [
        ("sent", 1),  # known from conversations.history, without its ts
        ("sent", 0),
    ]


async def test_a_timeout_on_teams_is_left_uncertain_never_duplicated(
    app: App, mock_api: MockPlatformApi, sqlite_url: str
) -> None:
    key = "barometer:2027-07:teams:tenant-1:U00001"
    mock_api.slow_first = {key: 1.5}
    await queue(app, "barometer:2027-07", "teams", "tenant-1", 2)

    done = await deliver_until_done(app, "barometer:2027-07")

    assert mock_api.keys()[key] == 1
    assert (done.sent, done.uncertain) == (1, 1)
    ((status, error),) = rows(sqlite_url, "SELECT status, last_error FROM outbox WHERE id = 1")
    assert status == "uncertain"
    assert "teams cannot tell whether it arrived" in str(error)


async def test_posts_to_one_channel_keep_to_the_channel_limit(
    app: App, mock_api: MockPlatformApi
) -> None:
    async with app.database.unit() as stores:
        for i in range(30):
            await stores.outbox.enqueue(
                to_channel(f"digest:{i}", "digest", "slack", "T1", "C-general", POLL),
                app.clock.now(),
            )
    done = await deliver_until_done(app, "digest")

    assert done.sent == 30
    assert mock_api.throttled == 0
    assert sorted(mock_api.keys()) == sorted(f"digest:{i}" for i in range(30))
    registry = app.dispatcher.metrics.registry
    deferred = registry.get_sample_value(
        "valuesbot_outbox_deferred_total", {"platform": "slack", "reason": "conversation"}
    )
    assert deferred is not None
    assert deferred > 0


async def test_stopping_half_way_through_a_batch_gives_the_rest_back_at_once(
    sqlite_url: str, mock_api: MockPlatformApi
) -> None:
    """A worker stopped while it paces a batch (shutdown) finishes the sends under way and puts
    the batch's other messages straight back in the queue, without waiting for its lease."""
    app = await start(sqlite_url, mock_api, VALUESBOT_SLACK_RATE="4")
    try:
        await queue(app, "barometer:2027-07", "slack", "T1", 12)
        batch = asyncio.create_task(app.delivery.deliver_batch("slack"))
        for _ in range(100):  # at 4 a second, two sends within a few seconds
            if len(mock_api.accepted) >= 2:
                break
            await asyncio.sleep(0.05)
        batch.cancel()
        with pytest.raises(asyncio.CancelledError):
            await batch
        statuses = dict(
            rows(sqlite_url, "SELECT status, COUNT(*) FROM outbox GROUP BY status")  # type: ignore[arg-type]
        )
        assert set(statuses) == {"sent", "queued"}
        assert statuses["sent"] == len(mock_api.accepted)
        assert rows(
            sqlite_url,
            "SELECT COUNT(*) FROM outbox WHERE status = 'queued' AND lease_owner IS NULL",
        ) == [(statuses["queued"],)]
    finally:
        outbound = app.dispatcher.outbound(Platform.SLACK)
        assert isinstance(outbound, SlackLikeOutbound)
        await outbound.close()
        await app.close()
