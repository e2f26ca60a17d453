"""``valuesbot deliveries requeue``: failed messages sent again, said in good English."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from bot.app import App
from bot.clock import ManualClock
from bot.delivery import fan_out
from bot.ui import Card
from tests.delivery.helpers import people
from tests.dialogs.test_values_lens import rows

JOB = "barometer:2027-05"


async def test_requeue_counts_one_message_as_one(
    app: App, clock: ManualClock, sqlite_url: str, tmp_path: Path
) -> None:
    async with app.database.unit() as stores:
        await fan_out(
            stores,
            job=JOB,
            people=people("console", "test", 1),
            card=Card(title="Staff barometer", text="How is it going?"),
            now=clock.now(),
        )
    async with app.database.engine.begin() as connection:
        await connection.execute(text("UPDATE outbox SET status = 'failed'"))
    await app.close()

    done = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "valuesbot"), "deliveries", "requeue", JOB, "--failed"],
        capture_output=True,
        text=True,
        env={"DATABASE_URL": sqlite_url.replace("+aiosqlite", ""), "PATH": "/usr/bin:/bin"},
        check=False,
        timeout=60,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"1 failed message of {JOB} queued again\n"
    assert await rows(app, "SELECT status FROM outbox") == [("queued",)]
