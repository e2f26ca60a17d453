"""Is it an Adaptive Card 1.5 that Teams shows? Two checks, used by the Teams tests.

``problems(card)`` checks in Python what Teams needs of valuesbot's cards (version, the element
and action types of 1.5 that the renderer uses, unique input ids, required inputs labelled and
explained, the size of the whole message). ``official_problems(cards)`` asks the Adaptive Cards
JavaScript library itself (npm ``adaptivecards``, the renderer of Teams' web client and of the
Agents Playground): it parses each card as schema 1.5 and validates its properties. The library
is installed with npm into ``.cache/adaptivecards`` on first use (CI does the same on a fresh
machine); ``VALUESBOT_TEST_SKIP_NODE=1`` (or ``VALUESBOT_TEST_SKIP_PLAYGROUND=1``) skips that
half on a machine without Node.js.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from adapters.teams.render import ADAPTIVE_CARD, ENVELOPE_BYTES, MAX_MESSAGE_BYTES, size_of

LIBRARY = "adaptivecards"
LIBRARY_VERSION = "3.0.6"
ROOT = Path(__file__).parents[3]
SCRIPT = Path(__file__).with_name("validate_cards.js")

ELEMENTS = {
    "ActionSet",
    "TextBlock",
    "FactSet",
    "ColumnSet",
    "Column",
    "Container",
    "Input.Text",
    "Input.ChoiceSet",
}
ACTIONS = {"Action.Submit"}


def problems(card: dict[str, Any]) -> list[str]:
    """What is wrong with a rendered card, for Teams (empty: nothing)."""
    found = []
    if card.get("type") != "AdaptiveCard" or card.get("version") != "1.5":
        found.append("not an Adaptive Card 1.5")
    message = {"contentType": ADAPTIVE_CARD, "content": card}
    if size_of(message) > MAX_MESSAGE_BYTES - ENVELOPE_BYTES:
        found.append(f"{size_of(message)} bytes: too large for a Teams message")
    ids: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        kind = node.get("type")
        if kind == "TextBlock" and not isinstance(node.get("text"), str):
            found.append("a TextBlock without text")
        if kind in ELEMENTS and str(kind).startswith("Input."):
            ids.append(str(node.get("id")))
            if node.get("isRequired") and not (node.get("label") and node.get("errorMessage")):
                found.append(f"required input {node.get('id')} needs a label and error message")
        if kind == "Action.Submit":
            json.dumps(node.get("data"))
            if not node.get("title"):
                found.append("a button without a title")
        for key in ("body", "items", "columns", "actions"):
            children = node.get(key)
            if children is not None:
                for child in children:
                    child_kind = child.get("type")
                    allowed = ACTIONS if key == "actions" else ELEMENTS
                    if child_kind not in allowed:
                        found.append(f"{child_kind} is not used in valuesbot's cards")
                walk(children)

    walk(card)
    if len(ids) != len(set(ids)):
        found.append(f"input ids repeat: {ids}")
    return found


def library() -> Path:
    """The folder the Adaptive Cards library is installed in (installing it if need be)."""
    if "1" in (
        os.environ.get("VALUESBOT_TEST_SKIP_NODE"),
        os.environ.get("VALUESBOT_TEST_SKIP_PLAYGROUND"),
    ):
        pytest.skip("VALUESBOT_TEST_SKIP_NODE=1: no Node.js here")
    folder = Path(os.environ.get("VALUESBOT_ADAPTIVECARDS_DIR", ROOT / ".cache" / "adaptivecards"))
    installed = folder / "node_modules" / LIBRARY / "package.json"
    if installed.is_file() and json.loads(installed.read_text())["version"] == LIBRARY_VERSION:
        return folder
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        pytest.fail(
            "checking cards with the Adaptive Cards library needs Node.js and npm (apt-get "
            "install nodejs npm), or VALUESBOT_TEST_SKIP_NODE=1 to skip it on this machine"
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
            f"{LIBRARY}@{LIBRARY_VERSION}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0 or not installed.is_file():
        pytest.fail(f"npm could not install {LIBRARY}: {done.stderr[-2000:]}")
    return folder


def official_problems(cards: Sequence[dict[str, Any]]) -> list[list[str]]:
    """What the Adaptive Cards library reports for each card (empty lists: all valid)."""
    folder = library()
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, str(SCRIPT)],
        input=json.dumps(list(cards)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NODE_PATH": str(folder / "node_modules")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found: list[list[str]] = json.loads(done.stdout)
    return found


def assert_valid(cards: Sequence[dict[str, Any]]) -> None:
    """Every card is a valid Adaptive Card 1.5 within Teams' limits, by both checks."""
    unique = list({json.dumps(c, sort_keys=True): c for c in cards}.values())
    assert unique, "no cards to check"
    bad = {i: p for i, c in enumerate(unique) if (p := problems(c))}
    assert not bad, {i: (p, unique[i]) for i, p in bad.items()}
    official = official_problems(unique)
    bad = {i: p for i, p in enumerate(official) if p}
    assert not bad, {i: (p, unique[i].get("body", [{}])[0]) for i, p in bad.items()}
