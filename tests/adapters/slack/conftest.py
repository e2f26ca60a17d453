"""A running valuesbot with Slack mounted, a local mock Slack Web API, and people to play."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer

from adapters import channel_directories, web_mounts
from adapters.slack.app import SLACK_KEY
from bot.app import build_app
from bot.clock import ManualClock
from bot.web import build_web_app
from tests.adapters.slack.workspace import SlackWorkspace
from tests.conftest import make_settings
from tests.mocks.slack_api import MockSlackApi

SECRET = "8f742231b10e8888abcd99test5ecret"
BOT_TOKEN = "xoxb-1-test-token"


@pytest.fixture
async def slack_api() -> AsyncIterator[MockSlackApi]:
    """The mock Slack Web API."""
    async with MockSlackApi() as api:
        yield api


class Waits:
    """What the adapter was told to wait (rate limits), recorded instead of slept."""

    def __init__(self) -> None:
        self.seconds: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


@pytest.fixture
def waits() -> Waits:
    """The rate-limit waits of the adapter."""
    return Waits()


# The delivery worker paces sends by the wall clock: tests scale the documented rates up so a
# delivery to fifty people takes a moment.
FAST_DELIVERY = {
    "VALUESBOT_SLACK_RATE": "500",
    "VALUESBOT_SLACK_CONVERSATION_RATE": "50",
    "VALUESBOT_DELIVERY_CONCURRENCY": "16",
}


@pytest.fixture
def slack_env() -> dict[str, str]:
    """Settings a test module adds to the Slack fixture's (override it in the module)."""
    return {}


@pytest.fixture
async def slack(
    sqlite_url: str,
    clock: ManualClock,
    slack_api: MockSlackApi,
    waits: Waits,
    slack_env: dict[str, str],
) -> AsyncIterator[SlackWorkspace]:
    """valuesbot serving Slack over HTTP (one bot token), and a workspace to talk to it."""
    settings = make_settings(
        sqlite_url,
        SLACK_BOT_TOKEN=BOT_TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=slack_api.api_url,
        **{"VALUESBOT_ADMINS": "slack:UADMIN", **FAST_DELIVERY, **slack_env},
    )
    slack_api.wall = lambda: clock.now().timestamp()  # message ts on the test's clock
    app = await build_app(
        settings, clock=clock, prepare=False, directories=channel_directories(settings)
    )
    web_app = build_web_app(app, web_mounts(settings))
    adapter = web_app[SLACK_KEY]
    adapter.sleep = waits
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    try:
        yield SlackWorkspace(
            client=client, api=slack_api, adapter=adapter, app=app, clock=clock, secret=SECRET
        )
    finally:
        await client.close()
        await app.close()
