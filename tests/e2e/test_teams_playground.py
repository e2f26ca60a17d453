"""The Microsoft 365 Agents Playground against ``valuesbot serve``, end to end.

The Playground (npm ``@microsoft/m365agentsplayground``) plays Teams: it posts activities to the
bot's ``/api/messages`` without a token (the SDK's ``ANONYMOUS_ALLOWED`` mode) and runs its own
Bot Connector that the bot's replies go to. The test drives it through the same local API its
web page uses (send a message, submit a card) and reads what a person would see from its
conversation stream (a WebSocket). It is installed with npm into ``.cache/playground`` on first
use (set ``VALUESBOT_PLAYGROUND_DIR`` to use another folder); CI does the same on a fresh
machine. ``VALUESBOT_TEST_SKIP_PLAYGROUND=1`` skips it on a machine without Node.js.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.e2e.teams_processes import free_port, serving, stopping

pytestmark = pytest.mark.slow

PLAYGROUND = "@microsoft/m365agentsplayground"
PLAYGROUND_VERSION = "0.2.28"
ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="session")
def playground_cli() -> Path:
    """The Playground's command, installed with npm into a cache folder if not there yet."""
    if os.environ.get("VALUESBOT_TEST_SKIP_PLAYGROUND") == "1":
        pytest.skip("VALUESBOT_TEST_SKIP_PLAYGROUND=1")
    folder = Path(os.environ.get("VALUESBOT_PLAYGROUND_DIR", ROOT / ".cache" / "playground"))
    cli = folder / "node_modules" / "@microsoft" / "m365agentsplayground" / "cli.js"
    installed = folder / "node_modules" / "@microsoft" / "m365agentsplayground" / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == PLAYGROUND_VERSION:
        return cli
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        pytest.fail(
            "the Agents Playground test needs Node.js and npm (apt-get install nodejs npm), or "
            "VALUESBOT_TEST_SKIP_PLAYGROUND=1 to skip it on this machine"
        )
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            str(folder),
            f"{PLAYGROUND}@{PLAYGROUND_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not cli.is_file():
        pytest.fail(f"npm could not install {PLAYGROUND}: {done.stderr[-2000:]}")
    return cli


class Playground:
    """The Playground's local API and conversation stream."""

    def __init__(self, http: aiohttp.ClientSession, base: str) -> None:
        self.http = http
        self.base = base
        self.seen: list[dict[str, Any]] = []
        self._stream: aiohttp.ClientWebSocketResponse | None = None
        self.chat = ""
        self.me = ""

    async def connect(self) -> None:
        async with self.http.get(f"{self.base}/_internal/v1/config") as response:
            config = (await response.json())["config"]
        self.chat = config["personalChat"]["id"]
        self.me = config["currentUser"]["id"]
        self._stream = await self.http.ws_connect(
            self.base.replace("http", "ws", 1) + "/_ws_conversation/v1/conversations/stream"
        )

    async def close(self) -> None:
        if self._stream is not None:
            await self._stream.close()

    async def say(self, text: str) -> None:
        async with self.http.post(
            f"{self.base}/_conversation/v1/conversations/{self.chat}/messages",
            json={"from": {"id": self.me}, "text": text, "textFormat": "plain"},
        ) as response:
            assert response.status == 200, await response.text()

    async def submit(self, message: dict[str, Any], label: str, inputs: dict[str, str]) -> None:
        card = message["attachments"][0]["content"]
        action = next(a for a in card["actions"] if a["title"] == label)
        async with self.http.post(
            f"{self.base}/_conversation/v1/submit",
            json={
                "conversation": {"id": self.chat},
                "from": {"id": self.me},
                "replyToId": message["messageId"],
                "value": {**action["data"], **inputs},
            },
        ) as response:
            assert response.status == 200, await response.text()

    async def wait_for(self, action: str, title: str) -> dict[str, Any]:
        """The next message (created or updated, as ``action`` says) whose card starts with
        ``title``; waits at most a minute."""
        assert self._stream is not None
        async with asyncio.timeout(60):
            while True:
                frame = await self._stream.receive()
                if frame.type != aiohttp.WSMsgType.TEXT:
                    raise AssertionError(f"the Playground's stream ended: {frame}")
                event = json.loads(frame.data)
                self.seen.append(event)
                message = event.get("message") or {}
                texts = card_title(message)
                if event.get("action") == action and texts.startswith(title):
                    return message


def card_title(message: dict[str, Any]) -> str:
    for attachment in message.get("attachments") or ():
        body = (attachment.get("content") or {}).get("body") or ()
        return " ".join(str(b.get("text", "")) for b in body if b.get("type") == "TextBlock")
    return ""


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_the_playground_sees_the_values_lens_card_and_its_update(
    tmp_path: Path, playground_cli: Path, http: aiohttp.ClientSession
) -> None:
    port, playground_port = free_port(), free_port()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'valuesbot.db'}",
        "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true",
    }
    command = [
        shutil.which("node") or "node",
        str(playground_cli),
        "--app-endpoint",
        f"http://127.0.0.1:{port}/api/messages",
        "--channel-id",
        "msteams",
        "--port",
        str(playground_port),
        "--disable-telemetry",
    ]
    log = tmp_path / "playground.log"
    # The Playground writes its own log to a file, and opens a browser unless told not to (with
    # no browser to open, it stops).
    own_log = tmp_path / "playground-own.log"
    quiet = {"TEAMSAPPTESTER_BROWSER": "none", "M365_AGENTS_PLAYGROUND_LOGFILE": str(own_log)}
    async with (
        serving(tmp_path, port, env),
        stopping(command, cwd=tmp_path, env=quiet, log=log) as process,
    ):
        playground = Playground(http, f"http://127.0.0.1:{playground_port}")
        await until_listening(playground, process, [log, own_log])
        await playground.connect()
        try:
            await run_the_lens(playground)
        finally:
            await playground.close()

    with contextlib.closing(sqlite3.connect(tmp_path / "valuesbot.db")) as db:
        assert db.execute("SELECT step FROM dialog_states").fetchall() == [("rate",)]
        assert db.execute("SELECT kind FROM conversations").fetchall() == [("direct",)]


async def run_the_lens(playground: Playground) -> None:
    """Start a values lens in the personal chat and answer the first question on its card."""
    await playground.say("valueslens")
    card = await playground.wait_for("createMessage", "Values lens")
    assert "What piece of work" in card_title(card)

    await playground.submit(card, "Next", {"work": "Drafting the allocation guidance"})
    answered = await playground.wait_for("updateMessage", "Values lens ✓ Drafting")
    assert answered["messageId"] == card["messageId"]
    await playground.wait_for("createMessage", "We prioritise patients")


async def until_listening(
    playground: Playground, process: asyncio.subprocess.Process, logs: list[Path]
) -> None:
    """Wait (at most a minute) until the Playground answers on its port."""
    for _ in range(600):
        if process.returncode is not None:
            break
        try:
            async with playground.http.get(f"{playground.base}/_internal/v1/config") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    text = "\n".join([await asyncio.to_thread(_tail, log) for log in logs])
    raise AssertionError(f"the Agents Playground did not start:\n{text}")


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""
