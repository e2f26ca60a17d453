"""The project's mock Slack Web API or mock Bot Connector, in a process of its own.

A benchmark runs the mock apart from its own event loop, so the mock answers on its own core
and enforces its rate limits on real time whatever the driver is doing:

    python -m bench.mock_platform slack --per-workspace 50 --per-channel 1
    python -m bench.mock_platform teams --limits

It prints one line of JSON when it listens (``{"url": ..., "control": ...}``) and serves, on the
``control`` URL, ``GET /summary``: what it received, summed up (accepted posts per outbox key,
the times of the accepted posts and of the 429s answered, accepted posts per conversation), and
``GET /count``: how many posts it has accepted so far (cheap enough to poll). It stops on
SIGTERM or when stdin closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import sys
from collections import Counter
from typing import Any

from aiohttp import web

from tests.mocks.bot_connector import MockBotConnector
from tests.mocks.slack_api import MockSlackApi


def slack_summary(slack: MockSlackApi) -> dict[str, Any]:
    """Accepted ``chat.postMessage`` calls by outbox key (message metadata) and by channel,
    429s, times."""
    keys: Counter[str] = Counter()
    channels: Counter[str] = Counter()
    times: list[float] = []
    limited: list[float] = []
    for call in slack.calls:
        if call.method != "chat.postMessage":
            continue
        if call.status == 429:
            limited.append(call.at)
            continue
        if call.status != 200:
            continue
        metadata = call.params.get("metadata")
        payload = metadata.get("event_payload") if isinstance(metadata, dict) else None
        key = payload.get("key") if isinstance(payload, dict) else None
        keys[str(key)] += 1
        channels[str(call.params.get("channel"))] += 1
        times.append(call.at)
    other = Counter(c.method for c in slack.calls if c.method != "chat.postMessage")
    return {
        "keys": dict(keys),
        "conversations": dict(channels),
        "times": times,
        "rate_limited": limited,
        "other": dict(other),
    }


def teams_summary(connector: MockBotConnector) -> dict[str, Any]:
    """Accepted posts by outbox key (``channelData``) and by conversation, 429s, times."""
    keys: Counter[str] = Counter()
    conversations: Counter[str] = Counter()
    times: list[float] = []
    limited: list[float] = []
    other: Counter[str] = Counter()
    for call in connector.calls:
        if call.status == 429:
            limited.append(call.at)
            continue
        if call.method != "POST" or call.conversation is None or call.status >= 300:
            other[f"{call.method} {call.status}"] += 1
            continue
        data = call.body.get("channelData") if isinstance(call.body, dict) else None
        key = data.get("valuesbotOutboxKey") if isinstance(data, dict) else None
        keys[str(key)] += 1
        conversations[call.conversation] += 1
        times.append(call.at)
    return {
        "keys": dict(keys),
        "conversations": dict(conversations),
        "times": times,
        "rate_limited": limited,
        "other": dict(other),
    }


async def serve(args: argparse.Namespace) -> None:
    mock: MockSlackApi | MockBotConnector
    if args.platform == "slack":
        slack = MockSlackApi(team=args.team)
        if args.per_workspace or args.per_channel:
            slack.limit(
                methods={"chat.postMessage"},
                per_channel=args.per_channel or None,
                per_workspace=args.per_workspace or None,
            )
        await slack.start()
        url = slack.api_url
        mock = slack
    else:
        connector = MockBotConnector(
            limits=args.limits,
            per_tenant=args.per_tenant,
            per_conversation=args.per_conversation,
        )
        url = await connector.start()
        mock = connector

    async def summary(_: web.Request) -> web.Response:
        if isinstance(mock, MockSlackApi):
            return web.json_response(slack_summary(mock))
        return web.json_response(teams_summary(mock))

    async def count(_: web.Request) -> web.Response:
        if isinstance(mock, MockSlackApi):
            accepted = sum(
                1 for c in mock.calls if c.method == "chat.postMessage" and c.status == 200
            )
        else:
            accepted = sum(
                1
                for c in mock.calls
                if c.method == "POST" and c.conversation is not None and c.status < 300
            )
        return web.json_response({"accepted": accepted})

    control = web.Application()
    control.router.add_get("/summary", summary)
    control.router.add_get("/count", count)
    runner = web.AppRunner(control, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(json.dumps({"url": url, "control": f"http://127.0.0.1:{port}"}), flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_reader(sys.stdin.fileno(), lambda: stop.set() if not sys.stdin.read(1) else None)
    await stop.wait()
    await runner.cleanup()
    await mock.close()


def main() -> None:
    # The platform's servers do not share the bot's CPU: on a busy machine, a mock that waits
    # for the CPU counts requests that arrived apart as if they came together (a burst over the
    # limit). A higher priority, where allowed (root), keeps its clock close to arrival.
    with contextlib.suppress(OSError):
        os.nice(-10)
    # For the same reason, no garbage collection pauses: the mock keeps every call it received
    # (thousands of messages with their blocks), and a full collection over them stopped it for
    # long enough that the requests queued meanwhile were counted as one burst.
    gc.disable()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("platform", choices=["slack", "teams"])
    parser.add_argument("--team", default="T0BENCH", help="Slack workspace id")
    parser.add_argument("--per-workspace", type=int, default=0, help="Slack: posts/s per token")
    parser.add_argument("--per-channel", type=int, default=0, help="Slack: posts/s per channel")
    parser.add_argument("--limits", action="store_true", help="Teams: enforce the rate limits")
    parser.add_argument("--per-tenant", type=int, default=50, help="Teams: requests/s per tenant")
    parser.add_argument(
        "--per-conversation", type=int, default=7, help="Teams: requests/s per conversation"
    )
    asyncio.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
