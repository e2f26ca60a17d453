"""The answer burst's load and its peer: people arriving at their own pace whatever the answers
(an open loop), the minimal Bolt app turning a clicked card into its thanks, and the table's rows
that set the two side by side."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bench import report
from bench.answers import result_name
from bench.clients import SLACK_SECRET, SLACK_TOKEN, TEAM, Pace, _blast, signed
from bench.peers.bolt_help import THANKS, build
from tests.adapters.slack.workspace import click_payload
from tests.mocks.slack_api import Message, MockSlackApi


def test_paced_people_come_in_turn_across_the_workers() -> None:
    # Two workers share 10 a second: the first takes people 0, 2, 4...; the second 1, 3, 5...
    first, second = Pace(10, 1000.0, 0, 2), Pace(10, 1000.0, 1, 2)
    assert [first.due(n) for n in range(3)] == [1000.0, 1000.2, 1000.4]
    assert [second.due(n) for n in range(3)] == [1000.1, 1000.3, 1000.5]


def test_each_run_has_a_result_of_its_own() -> None:
    assert result_name("valuesbot", 0.0) == "answers"
    assert result_name("bolt", 0.0) == "answers-bolt"
    assert result_name("valuesbot", 50.0) == "answers-rate50"
    assert result_name("bolt", 12.5) == "answers-bolt-rate12.5"


@pytest.fixture
async def answers_when_all_have_come() -> AsyncIterator[tuple[str, list[str]]]:
    """A bot that answers no one until five people have asked (500 after 5 s): a load that
    waits for each answer before the next person never gets one."""
    arrived: list[str] = []
    everyone = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        arrived.append(await request.text())
        if len(arrived) == 5:
            everyone.set()
        try:
            await asyncio.wait_for(everyone.wait(), 5)
        except TimeoutError:
            return web.Response(status=500)
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("/slack/events")), arrived


async def test_paced_people_do_not_wait_for_the_answers_of_those_before_them(
    answers_when_all_have_come: tuple[str, list[str]],
) -> None:
    url, arrived = answers_when_all_have_come
    people = [[("answer click", f"person={n}", {})] for n in range(5)]
    result = await _blast(url, people, 1, Pace(100, time.time()))
    assert result["errors"] == {}
    assert len(result["seconds"]["answer click"]) == 5
    assert sorted(arrived) == [f"person={n}" for n in range(5)]
    assert result["first_sent"] == sorted(result["first_sent"])  # in their turn


async def test_the_minimal_bolt_app_turns_the_clicked_card_into_its_thanks() -> None:
    async with MockSlackApi() as api:
        card = Message(
            channel="D0P00001",
            ts="1765000000.000100",
            text="The monthly barometer",
            blocks=[
                {
                    "type": "actions",
                    "block_id": "send",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "barometer_answer",
                            "text": {"type": "plain_text", "text": "Send my answers"},
                            "value": "round=r1",
                        }
                    ],
                }
            ],
        )
        api.messages["D0P00001"] = [card]
        app = build(SLACK_TOKEN, SLACK_SECRET, api.api_url, thanks=True)
        payload = click_payload(
            api, TEAM, "U0P00001", card, "Send my answers", None, "1765000001.000001"
        )
        body = urlencode({"payload": json.dumps(payload)}).encode()
        async with TestServer(app.web_app(path="/slack/events"), host="127.0.0.1") as server:
            async with aiohttp.ClientSession() as http:
                answered = await http.post(
                    server.make_url("/slack/events"), data=body, headers=signed(body, {})
                )
                assert answered.status == 200
            for _ in range(100):
                if card.updates:
                    break
                await asyncio.sleep(0.02)
        (update,) = [c for c in api.calls if c.method == "chat.update"]
        assert update.params["channel"] == "D0P00001"
        assert update.params["ts"] == "1765000000.000100"
        assert card.updates == 1
        assert card.text == THANKS


def write(folder: Path, name: str, options: dict[str, object], thanks_p99: float) -> None:
    figures = {
        "thanks_visible": {"p50_ms": thanks_p99 / 2, "p99_ms": thanks_p99},
        "answers_per_second": 600.0,
        "latency": {"all": {"p99_ms": 380.0}},
    }
    document = {"options": {"people": 6500, "clients": 200, **options}, "figures": figures}
    (folder / f"{name}.json").write_text(json.dumps(document), encoding="utf-8")


def test_the_table_sets_each_rate_beside_the_bolt_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "answers-bolt-sqlite", {}, 1530)
    write(tmp_path, "answers-sqlite", {}, 31000)
    write(tmp_path, "answers-rate50-sqlite", {"rate": 50}, 120)
    write(tmp_path, "answers-rate50-postgresql", {"rate": 50}, 140)
    write(tmp_path, "answers-bolt-rate50-sqlite", {"rate": 50}, 20)
    write(tmp_path, "answers-bolt-rate200-sqlite", {"rate": 200}, 30)
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    burst, at_50, at_200 = list(report.bolt_burst_rows())
    assert "Bolt: **p99 1,530 ms (p50 765)**" in burst[2]
    assert "valuesbot sqlite: **p99 31,000 ms (p50 15,500)**" in burst[2]
    assert "at 50 a second" in at_50[0]
    assert at_50[2] == (
        "valuesbot sqlite: **p99 120 ms (p50 60)**; valuesbot postgresql: **p99 140 ms "
        "(p50 70)**; Bolt: **p99 20 ms (p50 10)**"
    )
    assert "at 200 a second" in at_200[0]
    assert at_200[2] == "Bolt: **p99 30 ms (p50 15)**"
