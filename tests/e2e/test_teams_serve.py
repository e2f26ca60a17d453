"""``valuesbot serve`` with Teams, as real processes: a proactive message to a stored
conversation reference reaches the (mock) Bot Connector after the process restarts."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import aiohttp
import pytest

from tests.adapters.teams.conftest import APP_ID, CHANNEL, TENANT, fixture
from tests.e2e.teams_processes import free_port, serving
from tests.mocks.bot_connector import MockBotConnector, card_texts

pytestmark = pytest.mark.slow


def channel_post(service_url: str, text: str, message_id: str) -> dict[str, object]:
    activity = copy.deepcopy(fixture("channel_mention_command"))
    activity["id"] = message_id
    activity["serviceUrl"] = service_url
    activity["text"] = f"<at>valuesbot</at> {text}"
    activity["conversation"]["id"] = f"{CHANNEL};messageid={message_id}"
    return activity


async def test_team_results_reach_the_stored_channel_after_a_restart(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'valuesbot.db'}",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
        # A team check-in closes by itself after about a second; the next process to start
        # closes it and posts the results to the channel on its own initiative.
        "VALUESBOT_TEAM_LENS_HOURS": "0.0003",
    }
    async with MockBotConnector() as connector, aiohttp.ClientSession() as http:
        port = free_port()
        async with serving(tmp_path, port, env, name="first"):
            activity = channel_post(connector.url, "valueslens Winter planning letter", "1001")
            async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as r:
                assert r.status == 202
            await connector.wait_for(lambda c: len(c.posts(CHANNEL)) == 1)
        assert (
            card_texts(connector.cards(CHANNEL)[0])[0] == "Team values lens: Winter planning letter"
        )
        before = len(connector.calls)

        async with serving(tmp_path, port, env, name="second"):
            await connector.wait_for(lambda c: len(c.posts(CHANNEL)) == 2)
        results = connector.posts(CHANNEL)[1]
        assert connector.calls.index(results) >= before  # sent by the restarted process
        assert results.path == f"/v3/conversations/{CHANNEL};messageid=1001/activities"
        assert results.body["conversation"]["tenantId"] == TENANT
        texts = card_texts(results.card)
        assert texts[0] == "Team values lens results: Winter planning letter"
        assert "0 people answered" in texts[1]


async def test_unauthenticated_requests_are_refused_by_the_real_server(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'valuesbot.db'}",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "not-a-real-secret",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT,
    }
    port = free_port()
    activity = fixture("personal_message")
    async with serving(tmp_path, port, env), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/api/messages"
        for headers in ({}, {"Authorization": "Bearer not.a.token"}):
            async with http.post(url, data=json.dumps(activity), headers=headers) as response:
                assert response.status == 401
        async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
    log = (tmp_path / "serve.log").read_text()
    assert "status=401" in log
    assert activity["from"]["id"] not in log  # nothing about who (claims to have) written
