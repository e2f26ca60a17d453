"""``valuesbot serve`` from start to stop: the HTTP server and the background work together,
and a stop that loses nothing.

Stopping (SIGTERM from an orchestrator or ``docker stop``, or Ctrl-C), within
``VALUESBOT_SHUTDOWN_GRACE`` seconds:

1. ``/readyz`` says "stopping" and the background work starts nothing new: the timer is
   disarmed and the delivery worker claims no more messages (``App.stop_work``).
2. The listening socket closes, so new connections are refused (a load balancer, or an ingress
   that retries on a refused connection, sends them to another instance), and idle keep-alive
   connections close.
3. The requests under way are answered, and the turns they started (Slack and Teams are
   acknowledged first, their turns run after) run to the end, replies and all.
4. The delivery worker's sends under way finish, and the messages it had claimed but not yet
   started go straight back to the queue for the other instances.
5. The database connections close and the process exits with status 0.

What is still running when the grace period ends is cancelled, with a warning: a send cut
short is left "sending", and the lease and recovery of the outbox settle it without sending it
twice (docs/delivery.md). A second signal stops at once the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import time

from aiohttp import web

from bot.app import App

log = logging.getLogger("valuesbot.server")

# How long the handlers still running when the grace period ends get to notice their
# cancellation.
ABANDON_SECONDS = 0.1
# The garbage collector's full pass (every object not frozen at start-up) runs after this many
# passes of the middle generation (Python's default is 10). Under a burst of thousands of
# requests waiting for their turns a full pass took up to 380 ms, every request waiting; one in
# ten as many of them kept the answer burst's acknowledgement p99 at 171-187 ms against 240 ms
# (bench.answers on PostgreSQL, two runs each, peak memory the same).
FULL_COLLECTION_EVERY = 100


class Server:
    """A valuesbot's HTTP server (``web_app``) on ``host:port``, with its background work."""

    def __init__(
        self, app: App, web_app: web.Application, *, host: str, port: int, grace: float
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.grace = grace
        self.runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=grace)
        self._site: web.TCPSite | None = None

    async def start(self) -> None:
        """Listen, and start the background work (delivery, schedules, housekeeping)."""
        await self.runner.setup()
        self._site = web.TCPSite(self.runner, self.host, self.port)
        await self._site.start()
        if self.port == 0:  # tests: the port the system gave
            self.port = self.runner.addresses[0][1]
        self.app.start_background()
        # Everything built so far lives as long as the process: keep it out of the garbage
        # collector's full passes, which otherwise walk it all and pause every request under
        # load.
        gc.collect()
        gc.freeze()
        young, middle, _ = gc.get_threshold()
        gc.set_threshold(young, middle, FULL_COLLECTION_EVERY)

    async def stop(self) -> bool:
        """Stop as the module docstring says; whether everything finished within the grace
        period."""
        started = time.monotonic()
        self.app.stop_work()
        log.info("stopping: draining requests, turns and sends for at most %.0f s", self.grace)
        try:
            async with asyncio.timeout(self.grace):
                for site in list(self.runner.sites):
                    await site.stop()  # no new connection; those under way carry on
                # Meanwhile the requests under way are being answered. The adapters the sends
                # go through close with the web application, so the sends finish first.
                await self.app.finish_sends()
                await self.runner.cleanup()
                await self.app.close(grace=0)
        except TimeoutError:
            log.warning(
                "stopping: the grace period (%.0f s) ended first; what was left is cancelled",
                self.grace,
            )
            await self._abandon()
            return False
        except asyncio.CancelledError:
            log.warning("stopping now: what was left is cancelled")
            await self._abandon()
            raise
        log.info("stopped after %.1f s", time.monotonic() - started)
        return True

    async def _abandon(self) -> None:
        """Cut the requests still being answered and cancel the background work."""
        server = self.runner.server
        if server is not None:
            # aiohttp reads a timeout of 0 as none at all: the shortest there is instead.
            with contextlib.suppress(Exception):
                await server.shutdown(ABANDON_SECONDS)
        await self.app.close(grace=0)

    async def run(self) -> bool:
        """Start, serve until SIGTERM or SIGINT, then stop (a second signal: at once).
        Whether the stop finished within the grace period."""
        await self.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        log.info(
            "serving on http://%s:%d (database %s)", self.host, self.port, self.app.database.dialect
        )
        await stop.wait()
        stop.clear()
        stopping = asyncio.create_task(self.stop())
        again = asyncio.create_task(stop.wait())
        await asyncio.wait((stopping, again), return_when=asyncio.FIRST_COMPLETED)
        if not stopping.done():
            stopping.cancel()
        again.cancel()
        try:
            return await stopping
        except asyncio.CancelledError:
            return False
        finally:
            for number in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(number)
