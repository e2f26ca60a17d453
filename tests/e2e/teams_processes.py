"""Running ``valuesbot serve`` (and the Agents Playground) as real processes, for e2e tests."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

VALUESBOT = str(Path(sys.executable).parent / "valuesbot")


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any valuesbot, Slack or Teams settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VALUESBOT_", "DATABASE_URL", "SLACK_", "CONNECTIONS__"))
    }
    env.update(extra)
    return env


async def wait_until_healthy(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    """Poll /healthz until the server answers (bounded: a server that never comes up fails)."""
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if process.returncode is not None:
                text = await asyncio.to_thread(log.read_text)
                raise AssertionError(f"valuesbot serve exited:\n{text}")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    text = await asyncio.to_thread(log.read_text)
    raise AssertionError(f"valuesbot serve did not come up:\n{text}")


@asynccontextmanager
async def serving(
    tmp_path: Path, port: int, env: Mapping[str, str], name: str = "serve"
) -> AsyncIterator[asyncio.subprocess.Process]:
    """``valuesbot serve`` on 127.0.0.1:port until the block ends (then SIGTERM)."""
    log = tmp_path / f"{name}.log"
    async with stopping(
        [VALUESBOT, "serve", "--port", str(port)], cwd=tmp_path, env=env, log=log
    ) as process:
        await wait_until_healthy(port, process, log)
        yield process


@asynccontextmanager
async def stopping(
    command: list[str], *, cwd: Path, env: Mapping[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A process (output to ``log``) that gets SIGTERM, then SIGKILL, when the block ends."""
    out = await asyncio.to_thread(log.open, "wb")
    try:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=cwd, env=clean_env(**env), stdout=out, stderr=subprocess.STDOUT
        )
    finally:
        out.close()
    try:
        yield process
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(30):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
