"""Shared pieces of the delivery tests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from bot.app import App
from storage.delivery import DeliveryProgress
from storage.engine import Database
from storage.people import PersonKey

# Test rates are scaled up from the documented defaults so 2,000 messages take seconds.
FAST = {
    "VALUESBOT_SLACK_RATE": "200",
    "VALUESBOT_SLACK_CONVERSATION_RATE": "20",
    "VALUESBOT_TEAMS_RATE": "200",
    "VALUESBOT_TEAMS_CONVERSATION_RATE": "20",
    "VALUESBOT_WORKING_HOURS": "Mon-Sun 00:00-24:00",
    "VALUESBOT_WEEKLY_CAP": "100",
    "VALUESBOT_DELIVERY_POLL": "0.05",
    "VALUESBOT_DELIVERY_LEASE": "1",
    "VALUESBOT_DELIVERY_BACKOFF": "0.05",
    "VALUESBOT_SEND_TIMEOUT": "2",
    "VALUESBOT_DELIVERY_CONCURRENCY": "16",
}


def people(platform: str, tenant: str, count: int) -> list[PersonKey]:
    """``count`` people: U00001, U00002..."""
    return [PersonKey(platform, tenant, f"U{i:05d}") for i in range(1, count + 1)]


async def job_progress(database: Database, job: str) -> DeliveryProgress:
    """Where one job has got."""
    async with database.unit() as stores:
        (found,) = await stores.outbox.progress(datetime.now(UTC), job=job)
    return found


async def deliver_until_done(app: App, job: str, limit_seconds: float = 120) -> DeliveryProgress:
    """Run the worker's rounds until nothing of ``job`` is left to send (bounded, so a bug
    fails the test instead of hanging it)."""
    deadline = time.monotonic() + limit_seconds
    while True:
        if not await app.delivery.run_once():
            progress = await job_progress(app.database, job)
            if progress.remaining == 0:
                return progress
            if time.monotonic() > deadline:
                raise AssertionError(f"delivery did not finish: {progress}")
            await asyncio.sleep(0.05)
