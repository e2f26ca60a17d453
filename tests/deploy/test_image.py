"""The container image, run as a platform team runs it (``scripts/test-image`` builds it and
runs this test; without an image to try, it is skipped and says how to run it).

The migrations run as a one-shot container (``db upgrade``); then the bot serves from a
read-only root filesystem, as its unprivileged user, with every capability dropped and no
privilege escalation, against the machine's PostgreSQL server and the mock Slack Web API (host
networking: both listen on 127.0.0.1). It answers ``/healthz`` (and the image's HEALTHCHECK says
healthy), answers a signed Slack command, logs one JSON object a line, and stops on SIGTERM
with status 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import time
from collections.abc import AsyncIterator
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy.engine import make_url

from tests.adapters.slack.workspace import FORM, direct, fixture, name_of, sign
from tests.conftest import PG_URL, create_pg_database, drop_pg_database
from tests.e2e.teams_processes import free_port
from tests.mocks.slack_api import MockSlackApi

IMAGE = os.environ.get("VALUESBOT_TEST_IMAGE", "")
ENGINE = os.environ.get("VALUESBOT_TEST_ENGINE", "podman")
SECRET = "image-signing-secret-0123456789ab"
TOKEN = "xoxb-1-image-token"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.skipif(
        not IMAGE,
        reason="the container image is tried by scripts/test-image (it builds the image with "
        "Podman or Docker first)",
    ),
]


def engine(
    *args: str, check: bool = True, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENGINE, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@pytest.fixture
async def database() -> AsyncIterator[str]:
    """A fresh database on the machine's PostgreSQL server, as the container reaches it."""
    name = f"valuesbot_image_{os.getpid()}_{secrets.token_hex(3)}"
    await create_pg_database(name)
    url = make_url(PG_URL).set(drivername="postgresql", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        await drop_pg_database(name)


# How a platform team runs it: nothing writable but what is mounted, no capabilities, no way
# to gain privileges, the image's own unprivileged user.
HARDENED = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


async def test_the_image_migrates_serves_answers_slack_and_stops_cleanly(database: str) -> None:
    name = f"valuesbot-test-{secrets.token_hex(3)}"
    port = free_port()
    async with MockSlackApi() as api:
        env = {
            "DATABASE_URL": database,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_API_URL": api.api_url,
            "VALUESBOT_PORT": str(port),
            "VALUESBOT_LOG_FORMAT": "json",
        }
        settings = [arg for key, value in env.items() for arg in ("--env", f"{key}={value}")]

        migrated = engine("run", "--rm", "--network", "host", *HARDENED, *settings, IMAGE,
                          "db", "upgrade")  # fmt: skip
        assert "database is up to date" in migrated.stdout

        engine("run", "--detach", "--name", name, "--network", "host", *HARDENED, *settings,
               IMAGE)  # fmt: skip
        try:
            await until_healthy(port)
            user = engine("exec", name, "id", "-u").stdout.strip()
            assert user == "10001"
            if ENGINE == "podman":
                assert engine("healthcheck", "run", name, check=False).returncode == 0

            alice = "U0ALICE"
            async with aiohttp.ClientSession() as http:
                body = command(api, alice).encode()
                stamp = str(int(time.time()))
                answer = await http.post(
                    f"http://127.0.0.1:{port}/slack/events",
                    data=body,
                    headers={
                        "Content-Type": FORM,
                        "X-Slack-Request-Timestamp": stamp,
                        "X-Slack-Signature": sign(SECRET, stamp, body),
                    },
                )
                assert answer.status == 200
            await until(lambda: bool(api.messages.get(direct(alice))), "the answer in Slack")
            assert "/valueslens" in api.last(direct(alice)).text_all()

            stopped = engine("stop", "--time", "30", name)  # SIGTERM, SIGKILL after 30 s
            assert stopped.returncode == 0
            status = engine("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
            assert status == "0"
            logged = engine("logs", name).stderr + engine("logs", name).stdout
        finally:
            engine("rm", "--force", name, check=False)
    records = [json.loads(line) for line in logged.splitlines() if line.strip()]
    assert records
    assert all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    messages = [r["message"] for r in records]
    assert any(m.startswith("serving on http://0.0.0.0:") for m in messages)
    assert any(m.startswith("stopped after") for m in messages)
    assert any(r.get("kind") == "CommandReceived" and "duration_ms" in r for r in records)


def command(api: MockSlackApi, user: str) -> str:
    form = fixture("slash_command.json")
    form.update(
        team_id="T1",
        channel_id=direct(user),
        channel_name="directmessage",
        user_id=user,
        user_name=name_of(user),
        command="/values",
        text="",
        response_url=api.response_url(channel=direct(user), user=user),
        trigger_id=api.trigger(user),
    )
    return urlencode(form)


async def until_healthy(port: int, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"the container did not answer /healthz in {limit:.0f} s")


async def until(check: object, what: str, limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)
