"""A minimal Bolt for Python app, for comparison: the ``/values`` slash command acknowledged and
answered with one message, as Bolt's own getting-started sample writes a command handler
(``ack()``, then ``say()``: ``chat.postMessage`` to the channel the command came from). With
``--thanks`` it also answers a click on any button of a message (the answer burst's "Send my
answers" on the poll card) as Bolt's samples answer a button: ``ack()``, then ``chat.update`` of
the message clicked, here into a one-line thanks; nothing is stored.

It runs on Bolt's own aiohttp server (``AsyncApp.web_app``), with a ``GET /healthz`` added so the
benchmarks can wait for it like for ``valuesbot serve``::

    SLACK_BOT_TOKEN=... SLACK_SIGNING_SECRET=... SLACK_API_URL=http://127.0.0.1:PORT/api/ \\
        .venv/bin/python -m bench.peers.bolt_help --port 3000
"""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from aiohttp import web
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_sdk.web.async_client import AsyncWebClient

THANKS = "Thank you: your answers are in."
HELP = (
    "valuesbot helps you live the organisation's vision and values: /valueslens, /barometer, "
    "/commitment, /casestudy."
)


def build(token: str, secret: str, api_url: str, *, thanks: bool = False) -> AsyncApp:
    """The app: one command handler and, with ``thanks``, one button handler; nothing else."""
    app = AsyncApp(
        token=token,
        signing_secret=secret,
        client=AsyncWebClient(token=token, base_url=api_url),
    )

    @app.command("/values")
    async def values(ack: AsyncAck, say: AsyncSay, command: dict[str, Any]) -> None:
        await ack()
        await say(HELP)

    if thanks:

        @app.action(re.compile(".+"))
        async def clicked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
            await ack()
            await client.chat_update(
                channel=body["channel"]["id"],
                ts=body["message"]["ts"],
                text=THANKS,
                blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": THANKS}}],
            )

    return app


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    options = argparse.ArgumentParser(description="A minimal Bolt app answering /values.")
    options.add_argument("--port", type=int, default=3000)
    options.add_argument(
        "--thanks", action="store_true", help="also answer a button's click by updating its card"
    )
    args = options.parse_args()
    app = build(
        os.environ["SLACK_BOT_TOKEN"],
        os.environ["SLACK_SIGNING_SECRET"],
        os.environ.get("SLACK_API_URL", "https://slack.com/api/"),
        thanks=args.thanks,
    )
    server = app.web_app(path="/slack/events", port=args.port)
    server.router.add_get("/healthz", healthz)
    web.run_app(server, host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
