"""A valuesbot delivery worker and scheduler in a process of its own, sending to the mock
platform API: what ``valuesbot serve`` runs in the background, with a test adapter connected.

    python -m tests.mocks.delivery_worker --api http://127.0.0.1:PORT --platform slack --tenant T1

Settings come from the environment (``DATABASE_URL``, ``VALUESBOT_*``). It registers the
schedule kind ``test.fanout``, whose handler queues a card for ``params["people"]`` people of
the tenant, prints "ready" once running and stops cleanly on SIGTERM (tests also SIGKILL it).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from bot import logs
from bot.app import build_app
from bot.delivery import fan_out
from bot.events import Platform, ScheduleFired
from bot.settings import Settings
from bot.turn import Turn
from bot.ui import Card
from storage.people import PersonKey
from tests.mocks.platform_api import SlackLikeOutbound, TeamsLikeOutbound

DIGEST = Card(title="This week's stories", text="What good looks like, from across the teams.")


async def fanout(turn: Turn[ScheduleFired]) -> None:
    """Queue the weekly card for everyone named in the schedule's params."""
    params = turn.event.params
    count = int(params["people"])
    people = [
        PersonKey(str(params["platform"]), str(params["tenant"]), f"U{i:05d}")
        for i in range(1, count + 1)
    ]
    await fan_out(
        turn.stores, job=f"weekly:{turn.event.period}", people=people, card=DIGEST, now=turn.now
    )


async def main(api: str, platform: str, tenant: str) -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level)
    app = await build_app(settings)
    outbound: SlackLikeOutbound | TeamsLikeOutbound
    if platform == "slack":
        outbound = SlackLikeOutbound(api, tenant, timeout=2)
    else:
        outbound = TeamsLikeOutbound(api, tenant, timeout=2)
    app.dispatcher.connect(Platform(platform), outbound)
    app.dispatcher.router.schedule("test.fanout", fanout)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stop.set)
    app.start_background(interval=1.0)
    print(f"ready {app.delivery.instance}", flush=True)
    try:
        await stop.wait()
    finally:
        await app.close()
        await outbound.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--api", required=True)
    parser.add_argument("--platform", choices=["slack", "teams"], default="slack")
    parser.add_argument("--tenant", default="T1")
    args = parser.parse_args()
    asyncio.run(main(args.api, args.platform, args.tenant))
