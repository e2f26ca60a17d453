"""A minimal Bolt for Python app, for comparison: the ``/values`` slash command acknowledged and
answered with one message, as Bolt's own getting-started sample writes a command handler
(``ack()``, then ``say()``: ``chat.postMessage`` to the channel the command came from).

It runs on Bolt's own aiohttp server (``AsyncApp.web_app``), with a ``GET /healthz`` added so the
benchmarks can wait for it like for ``valuesbot serve``::

    SLACK_BOT_TOKEN=... SLACK_SIGNING_SECRET=... SLACK_API_URL=http://127.0.0.1:PORT/api/ \\
        .venv/bin/python -m bench.peers.bolt_help --port 3000
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_sdk.web.async_client import AsyncWebClient

HELP = (
    "valuesbot helps you live the organisation's vision and values: /valueslens, /barometer, "
    "/commitment, /casestudy."
)


def build(token: str, secret: str, api_url: str) -> AsyncApp:
    """The app: one command handler, nothing else."""
    app = AsyncApp(
        token=token,
        signing_secret=secret,
        client=AsyncWebClient(token=token, base_url=api_url),
    )

    @app.command("/values")
    async def values(ack: AsyncAck, say: AsyncSay, command: dict[str, Any]) -> None:
        await ack()
        await say(HELP)

    return app


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    options = argparse.ArgumentParser(description="A minimal Bolt app answering /values.")
    options.add_argument("--port", type=int, default=3000)
    args = options.parse_args()
    app = build(
        os.environ["SLACK_BOT_TOKEN"],
        os.environ["SLACK_SIGNING_SECRET"],
        os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
    )
    server = app.web_app(path="/slack/events", port=args.port)
    server.router.add_get("/healthz", healthz)
    web.run_app(server, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
