"""A valuesbot delivery worker in a process of its own, sending through the real Slack outbound
(``SLACK_API_URL`` points at a mock Slack Web API in the test's process): what
``valuesbot serve`` runs in the background, without the web server.

    python -m tests.adapters.slack.delivery_process

Settings come from the environment (``DATABASE_URL``, ``SLACK_*``, ``VALUESBOT_*``). It prints
"ready" once running and stops cleanly on SIGTERM (tests also SIGKILL it).
"""

from __future__ import annotations

import asyncio
import os
import signal

from adapters.slack.app import SlackAdapter
from bot import logs
from bot.app import build_app
from bot.events import Platform
from bot.settings import Settings


async def main() -> None:
    settings = Settings.from_env(os.environ)
    logs.configure(settings.log_level)
    app = await build_app(settings)
    adapter = SlackAdapter(app)
    app.dispatcher.connect(Platform.SLACK, adapter.outbound)
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
        await adapter.close()


if __name__ == "__main__":
    asyncio.run(main())
