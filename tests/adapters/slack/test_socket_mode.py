"""Socket Mode: the same bolt app over a WebSocket the bot opens, for networks with no way in."""

from __future__ import annotations

from aiohttp.test_utils import TestClient, TestServer

from adapters import web_mounts
from adapters.slack.app import SLACK_KEY
from bot.app import build_app
from bot.clock import ManualClock
from bot.web import build_web_app
from tests.adapters.slack.workspace import fixture
from tests.conftest import make_settings
from tests.mocks.slack_api import MockSlackApi


async def test_a_command_over_socket_mode(
    sqlite_url: str, clock: ManualClock, slack_api: MockSlackApi
) -> None:
    settings = make_settings(
        sqlite_url,
        SLACK_BOT_TOKEN="xoxb-1-test-token",
        SLACK_APP_TOKEN="xapp-1-test-token",
        SLACK_API_URL=slack_api.api_url,
    )
    app = await build_app(settings, clock=clock, prepare=False)
    web_app = build_web_app(app, web_mounts(settings))
    adapter = web_app[SLACK_KEY]
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()  # connects over Socket Mode on start-up
    try:
        [opened] = slack_api.calls_to("apps.connections.open")
        assert opened.token == "xapp-1-test-token"
        command = fixture("slash_command.json")
        command.update(
            team_id="T1",
            channel_id="D0ALICE",
            channel_name="directmessage",
            user_id="U0ALICE",
            text="Winter planning letter",
            response_url=slack_api.response_url(channel="D0ALICE", user="U0ALICE"),
        )
        await slack_api.socket_send(
            {
                "envelope_id": "env-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": command,
            }
        )
        ack = await slack_api.socket_ack("env-1")
        assert ack == {"envelope_id": "env-1"}
        await adapter.drain()
        [question] = slack_api.calls_to("chat.postMessage")
        assert question.params["channel"] == "D0ALICE"
        assert "Question 2 of 8" in question.text()
        # Nothing may come in over HTTP without a signing secret.
        assert (await client.post("/slack/events", data=b"x")).status == 401
    finally:
        await client.close()
        await app.close()
