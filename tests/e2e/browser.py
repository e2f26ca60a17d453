"""Headless Chromium for the page tests (Debian's ``chromium``, which ``scripts/test`` installs
when missing), driven over the DevTools protocol: open a page, evaluate JavaScript in it,
collect console errors, take screenshots.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SKIP = os.environ.get("VALUESBOT_TEST_SKIP_BROWSER") == "1"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
]
# Bounds on waiting for the browser, so a broken browser fails the test instead of hanging it.
START_SECONDS = 60
STEP_SECONDS = 30


class DevTools:
    """A page in Chromium, spoken to over the DevTools protocol."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self.socket = socket
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self.ids)
        await self.socket.send_json({"id": number, "method": method, "params": params})
        while True:
            message = json.loads((await self.socket.receive(timeout=STEP_SECONDS)).data)
            if message.get("id") == number:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    async def until(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            message = json.loads((await self.socket.receive(timeout=STEP_SECONDS)).data)
            self.events.append(message)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def problems(self) -> list[str]:
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                found.append(json.dumps(params.get("args")))
            elif method == "Runtime.exceptionThrown":
                found.append(json.dumps(params.get("exceptionDetails")))
            elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
                found.append(params["entry"].get("text", ""))
        return found


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path) -> AsyncIterator[DevTools]:
    if SKIP:
        pytest.skip("VALUESBOT_TEST_SKIP_BROWSER=1")
    if CHROMIUM is None:
        pytest.fail(
            "Chromium is not installed: scripts/test installs it (apt-get install chromium) "
            "when run as root; or set VALUESBOT_TEST_SKIP_BROWSER=1 to skip this test."
        )
    profile = tmp_path / "chromium-profile"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        "about:blank",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        for _ in range(START_SECONDS * 10):
            if port_file.exists() and port_file.read_text().strip():
                break
            assert process.returncode is None, "Chromium stopped at start-up"
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as http:
            async with http.put(f"http://127.0.0.1:{port}/json/new?about:blank") as made:
                target = await made.json()
            async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = DevTools(ws)
                for domain in ("Runtime", "Log", "Page"):
                    await tools.call(f"{domain}.enable")
                yield tools
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STEP_SECONDS)
        except TimeoutError:
            process.kill()
            await process.wait()


AXE_VERSION = "4.14.1"
ROOT = Path(__file__).parents[2]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


NHSUK_VERSION = "10.6.1"


def npm_package(name: str, version: str) -> Path:
    """The folder of an npm package, installed into ``.cache/npm-<name>`` on first use (the test
    machines reach the npm registry; ``VALUESBOT_TEST_SKIP_NODE=1`` skips on one that
    cannot)."""
    if os.environ.get("VALUESBOT_TEST_SKIP_NODE") == "1":
        pytest.skip(f"VALUESBOT_TEST_SKIP_NODE=1: no npm here for {name}")
    # Not .cache/<name>: npm refuses a package inside a folder of the same name.
    folder = ROOT / ".cache" / f"npm-{name}"
    installed = folder / "node_modules" / name
    manifest = installed / "package.json"
    if not (manifest.is_file() and json.loads(manifest.read_text())["version"] == version):
        npm = shutil.which("npm")
        if not npm:
            pytest.fail(
                f"the page checks need npm (apt-get install npm) to install {name}, "
                "or VALUESBOT_TEST_SKIP_NODE=1 to skip them on this machine"
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
                f"{name}@{version}",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if done.returncode != 0 or not manifest.is_file():
            pytest.fail(f"npm could not install {name}: {done.stderr[-2000:]}")
    return installed


def axe_source() -> str:
    """axe-core's script (npm ``axe-core``)."""
    return (npm_package("axe-core", AXE_VERSION) / "axe.min.js").read_text(encoding="utf-8")


async def open_page(tools: DevTools, url: str) -> None:
    """Navigate and wait for the page's load event."""
    tools.events.clear()
    await tools.call("Page.navigate", url=url)
    await tools.until("Page.loadEventFired")


async def axe(tools: DevTools, source: str) -> dict[str, Any]:
    """Run axe-core on the open page with the WCAG 2.0, 2.1 and 2.2 A and AA rules: the rules
    it ran and the violations it found (rule id, impact, the elements)."""
    await tools.call("Runtime.evaluate", expression=source)
    found = await tools.call(
        "Runtime.evaluate",
        expression=f"""axe.run(document, {{runOnly: {{type: 'tag', values: {json.dumps(AXE_TAGS)}}},
          resultTypes: ['violations']}}).then(r => ({{
            rules: [...r.passes, ...r.violations, ...r.incomplete, ...r.inapplicable]
              .map(x => x.id),
            violations: r.violations.map(v => ({{id: v.id, impact: v.impact,
              nodes: v.nodes.map(n => n.html.slice(0, 200))}}))
          }}))""",
        awaitPromise=True,
        returnByValue=True,
    )
    value: dict[str, Any] = found["result"]["value"]
    return value


FOCUSED = """(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const style = getComputedStyle(e);
  const visible = style.outlineStyle !== 'none' && style.outlineWidth !== '0px'
    || style.boxShadow !== 'none' || style.backgroundColor === 'rgb(255, 235, 59)';
  return {tag: e.tagName.toLowerCase(), text: (e.textContent || e.value || '').trim().slice(0, 60),
          href: e.getAttribute('href'), name: e.getAttribute('name'), visible,
          highlighted: style.backgroundColor === 'rgb(255, 235, 59)'
            || style.outlineColor === 'rgb(255, 235, 59)'};
})()"""


async def tab_through(tools: DevTools, presses: int) -> list[dict[str, Any]]:
    """Press Tab ``presses`` times from the top of the page; what had focus after each."""
    await tools.evaluate("document.activeElement && document.activeElement.blur()")
    stops = []
    for _ in range(presses):
        for kind in ("rawKeyDown", "keyUp"):
            await tools.call(
                "Input.dispatchKeyEvent",
                type=kind,
                key="Tab",
                code="Tab",
                windowsVirtualKeyCode=9,
                nativeVirtualKeyCode=9,
            )
        stop = await tools.evaluate(FOCUSED)
        if stop is not None:
            stops.append(stop)
    return stops
