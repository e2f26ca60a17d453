"""When the outbox gives up on a message for good: a WARNING line (job, key, reason, never the
card), and a ``DeliveryFailed`` event, once, to the feature that registered the job's prefix,
or else comms are told about a channel post. Against the local mock platform API, real clock,
SQLite."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from bot.app import App, build_app, delivery_config
from bot.delivery import fan_out, to_channel
from bot.delivery.worker import DeliveryMetrics, DeliveryWorker
from bot.events import DeliveryFailed, Failure, Platform
from bot.turn import Turn
from bot.ui import Card
from tests.conftest import make_settings
from tests.delivery.helpers import FAST, deliver_until_done, people
from tests.delivery.test_sending import rows
from tests.mocks.platform_api import MockPlatformApi, SlackLikeOutbound, TeamsLikeOutbound

SECRET = "Our private quarterly figures"
REPORT = Card(title="Quarterly report", text=SECRET)


@pytest.fixture
async def mock_api() -> AsyncIterator[MockPlatformApi]:
    api = MockPlatformApi(
        slack_rate=200, slack_channel_rate=20, teams_rate=200, teams_conversation_rate=20
    )
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="valuesbot")
    return caplog


@pytest.fixture
async def started(sqlite_url: str, mock_api: MockPlatformApi) -> AsyncIterator[list[App]]:
    apps: list[App] = []
    yield apps
    for app in apps:
        for platform in (Platform.SLACK, Platform.TEAMS):
            await app.dispatcher.outbound(platform).close()  # type: ignore[attr-defined]
        await app.close()


async def start(
    started: list[App], sqlite_url: str, mock_api: MockPlatformApi, **extra: str
) -> App:
    app = await build_app(make_settings(sqlite_url, **{**FAST, **extra}), prepare=False)
    app.dispatcher.connect(Platform.SLACK, SlackLikeOutbound(mock_api.url, "T1", timeout=0.5))
    app.dispatcher.connect(Platform.TEAMS, TeamsLikeOutbound(mock_api.url, "tenant-1", timeout=0.5))
    started.append(app)
    return app


def undelivered(logs: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in logs.records
        if r.levelno == logging.WARNING and "undelivered for good" in r.getMessage()
    ]


async def test_a_channel_post_nobody_reacts_to_is_reported_to_comms(
    started: list[App],
    sqlite_url: str,
    mock_api: MockPlatformApi,
    logs: pytest.LogCaptureFixture,
) -> None:
    app = await start(started, sqlite_url, mock_api, VALUESBOT_COMMS="teams:29:comms,slack:U9")
    mock_api.unreachable = {"19:gone", "U00002"}
    async with app.database.unit() as stores:
        await stores.outbox.enqueue(
            to_channel("report:1:post", "report:1", "teams", "tenant-1", "19:gone", REPORT),
            app.clock.now(),
        )
        await fan_out(
            stores,
            job="report:1:people",
            people=people("slack", "T1", 2),
            card=REPORT,
            now=app.clock.now(),
            respect_working_hours=False,
        )
    await deliver_until_done(app, "report:1")
    await deliver_until_done(app, "report:1:people")
    await deliver_until_done(app, "undelivered")

    notice = "report:1:post:undelivered:teams:tenant-1:29:comms"
    assert rows(sqlite_url, "SELECT key, status, last_error FROM outbox ORDER BY id") == [
        ("report:1:post", "failed", "ConversationNotFound"),
        ("report:1:people:slack:T1:U00001", "sent", None),
        ("report:1:people:slack:T1:U00002", "failed", "user_not_found"),
        (notice, "sent", None),  # comms of the channel's platform only; nobody for a person
    ]
    [told] = [a for a in mock_api.accepted if a.key == notice]
    assert told.conversation == "a:29:comms"
    assert told.text == (
        "A message could not be posted\n"
        "I could not post a message of report:1 in the channel 19:gone: I am not a member of "
        "it, or it was archived or deleted.\n\n"
        "Add valuesbot to the channel 19:gone; then whoever runs valuesbot can send it again "
        "with valuesbot deliveries requeue report:1 --failed.\n"
        "Reason: ConversationNotFound"
    )
    assert sorted(undelivered(logs)) == [
        "outbox message undelivered for good id=1 job=report:1 key=report:1:post "
        "platform=teams failure=unreachable reason=ConversationNotFound",
        "outbox message undelivered for good id=3 job=report:1:people "
        "key=report:1:people:slack:T1:U00002 platform=slack failure=unreachable "
        "reason=user_not_found",
    ]
    assert SECRET not in "\n".join(r.getMessage() for r in logs.records)

    # Nothing more happens on later rounds.
    await app.delivery.drain()
    assert len(rows(sqlite_url, "SELECT id FROM outbox")) == 4


async def test_a_post_given_up_after_its_attempts_is_reported_too(
    started: list[App], sqlite_url: str, mock_api: MockPlatformApi
) -> None:
    app = await start(
        started,
        sqlite_url,
        mock_api,
        VALUESBOT_DELIVERY_MAX_ATTEMPTS="2",
        VALUESBOT_COMMS="slack:U0COMMS",
    )
    mock_api.fail_first = {"report:2:post": 100}
    async with app.database.unit() as stores:
        await stores.outbox.enqueue(
            to_channel("report:2:post", "report:2", "slack", "T1", "C0REPORTS", REPORT),
            app.clock.now(),
        )
    await deliver_until_done(app, "report:2")
    await deliver_until_done(app, "undelivered")

    reason = "gave up after 2 attempts: TemporarySendError: HTTP 500"
    assert rows(sqlite_url, "SELECT key, status, last_error FROM outbox ORDER BY id") == [
        ("report:2:post", "failed", reason),
        ("report:2:post:undelivered:slack:T1:U0COMMS", "sent", None),
    ]
    [told] = [a for a in mock_api.accepted if a.conversation == "DU0COMMS"]
    assert told.text.splitlines()[1] == (
        "I could not post a message of report:2 in the channel C0REPORTS: the platform kept "
        "failing, so I gave up."
    )
    assert told.text.splitlines()[-1] == f"Reason: {reason}"


async def test_two_instances_react_once_to_each_failure(
    started: list[App], sqlite_url: str, mock_api: MockPlatformApi
) -> None:
    app = await start(started, sqlite_url, mock_api)
    seen: list[DeliveryFailed] = []

    async def counted(turn: Turn[DeliveryFailed]) -> None:
        seen.append(turn.event)

    app.dispatcher.router.undelivered("report:", counted)
    channels = [f"19:gone-{n}" for n in range(24)]
    mock_api.unreachable = set(channels)
    async with app.database.unit() as stores:
        for n, channel in enumerate(channels):
            await stores.outbox.enqueue(
                to_channel(f"report:3:{n}", "report:3", "teams", "tenant-1", channel, REPORT),
                app.clock.now(),
            )
    # A second instance: its own worker on the same database and platforms.
    other = DeliveryWorker(
        database=app.database,
        dispatcher=app.dispatcher,
        clock=app.clock,
        config=delivery_config(app.settings),
        metrics=DeliveryMetrics(CollectorRegistry()),
        instance="second-instance",
    )
    await asyncio.gather(app.delivery.drain(), other.drain())

    assert Counter(e.key for e in seen) == {f"report:3:{n}": 1 for n in range(24)}
    assert {(e.failure, e.reason, e.to_person, e.job) for e in seen} == {
        (Failure.UNREACHABLE, "ConversationNotFound", False, "report:3")
    }
    assert {e.conversation.conversation for e in seen} == set(channels)
    assert rows(
        sqlite_url, "SELECT COUNT(*) FROM processed_events WHERE event_id LIKE 'undelivered:%'"
    ) == [(24,)]
    assert rows(sqlite_url, "SELECT status, COUNT(*) FROM outbox GROUP BY status") == [
        ("failed", 24)
    ]
