"""``valuesbot serve`` with Teams, as real processes: a proactive message to a stored
conversation reference reaches the (mock) Bot Connector after the process restarts, and a
delivery cut off by SIGKILL mid-call ends with everyone reached once (the cut-off message
"uncertain", not sent again)."""

from __future__ import annotations

import asyncio
import copy
import json
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from bot.delivery import fan_out
from bot.ui import Card
from storage.engine import Database
from storage.people import PersonKey
from tests.adapters.teams.conftest import APP_ID, CHANNEL, TENANT, fixture, staff
from tests.delivery.helpers import FAST
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


async def until(check: Callable[[], bool], what: str, limit: float = 120) -> None:
    """Wait (bounded) until ``check()`` is true."""
    deadline = asyncio.get_running_loop().time() + limit
    while not await asyncio.to_thread(check):
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


def outbox(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as connection:
        found = connection.execute("SELECT recipient, status FROM outbox").fetchall()
    return {str(recipient): str(status) for recipient, status in found}


async def test_a_send_cut_off_by_a_crash_is_uncertain_and_never_sent_twice(
    tmp_path: Path,
) -> None:
    path = tmp_path / "valuesbot.db"
    env = {
        **FAST,
        "DATABASE_URL": f"sqlite:///{path}",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
        "VALUESBOT_SEND_TIMEOUT": "5",
    }
    people = staff(5)
    stuck = people[2]
    job = "barometer:2027-02"
    async with MockBotConnector() as connector, aiohttp.ClientSession() as http:
        port = free_port()
        async with serving(tmp_path, port, env, name="first") as process:
            for person in people:  # each adds the app: Teams tells the bot silently
                activity = copy.deepcopy(fixture("installation_update_add"))
                activity.update(id=f"f:{person.aad}", serviceUrl=connector.url)
                activity["from"] = {"id": person.id, "name": person.name}
                activity["conversation"] = {
                    "conversationType": "personal",
                    "tenantId": TENANT,
                    "id": person.direct,
                }
                async with http.post(f"http://127.0.0.1:{port}/api/messages", json=activity) as r:
                    assert r.status == 202
            await until(lambda: _people(path) == 5, "the bot to remember everyone")
            connector.stall(stuck.direct)  # Teams takes it; its answer never comes back
            database = Database(f"sqlite+aiosqlite:///{path}")
            try:
                async with database.unit() as stores:
                    await fan_out(
                        stores,
                        job=job,
                        people=[PersonKey("teams", TENANT, p.id) for p in people],
                        card=Card(title="Staff barometer", text="How is it going?"),
                        now=datetime.now(UTC),
                    )
            finally:
                await database.dispose()
            sent = {p.id: "sent" for p in people if p is not stuck}
            await until(
                lambda: (
                    outbox(path) == {**sent, stuck.id: "sending"} and len(connector.keys()) == 5
                ),
                "four sent and the fifth taken by Teams, unanswered",
            )
            process.kill()  # mid-call: the bot never learns whether Teams took it
            await process.wait()

        async with serving(tmp_path, port, env, name="second"):
            # Its lease runs out; the restarted worker asks Teams, which cannot tell.
            await until(lambda: outbox(path)[stuck.id] == "uncertain", "the send to be settled")
        assert outbox(path) == {**sent, stuck.id: "uncertain"}
        # Everyone has the message exactly once: the one that may or may not have arrived
        # (it had) was not sent again.
        assert sorted(connector.keys()) == sorted(f"{job}:teams:{TENANT}:{p.id}" for p in people)
        assert len(connector.posts(stuck.direct)) == 1


def _people(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        ((count,),) = connection.execute("SELECT COUNT(*) FROM people").fetchall()
    return int(count)
