"""Hostile activities on ``POST /api/messages`` (anonymous mode, as the Agents Playground
talks to the bot), made from the recorded activities with one field mutated at a time
(``tests/adapters/hostile``).

Every one is answered without a 5xx: refused with a 400, or accepted and then handled cleanly.
The test waits for the turns each accepted activity started (each gets an activity id of its
own, so none is skipped as a retry), and no ERROR record nor any traceback may be logged on the
way: not by valuesbot, not by the SDK.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.adapters.hostile import Path, Variant, to_json, under, variants, whole
from tests.adapters.teams.conftest import CHANNEL, TeamsWorld
from tests.dialogs.test_values_lens import rows


@dataclass(frozen=True)
class Base:
    """A real activity to mutate, and which of its fields to mutate."""

    make: Callable[[TeamsWorld], Awaitable[dict[str, Any]]]
    only: Callable[[Path], bool] = lambda _: True


def recorded(name: str, *, channel: str | None = None) -> Callable[[TeamsWorld], Awaitable[Any]]:
    async def make(teams: TeamsWorld) -> dict[str, Any]:
        activity = teams.activity(name, channel=channel)
        if name == "channel_mention_command":
            activity["conversation"]["id"] = f"{CHANNEL};messageid=1764495074129"
        return activity

    return make


async def click(teams: TeamsWorld) -> dict[str, Any]:
    """A click on a real card: a rating of a values lens question, with a note."""
    await teams.says("valueslens Winter planning letter")
    await teams.clicks("Partly", inputs={"note": "we asked"})
    return teams.last_click


async def team_card(teams: TeamsWorld) -> dict[str, Any]:
    """Ratings submitted from a real team check-in card in a channel."""
    await teams.says("valueslens Winter planning letter", channel=CHANNEL)
    await teams.clicks(
        "Add my ratings",
        where=CHANNEL,
        inputs={"b_patients": "strongly", "b_listen": "partly", "b_evidence": "not_yet"},
    )
    return teams.last_click


# The envelope every activity shares is mutated in the first; after that, what differs.
BASES = {
    "message in a personal chat": Base(recorded("personal_message")),
    "command in a channel": Base(
        recorded("channel_mention_command", channel=CHANNEL),
        under("text", "entities", "channelData", "conversation"),
    ),
    "click on a question": Base(click, under("value", "replyToId")),
    "ratings on a team card": Base(team_card, under("value", "conversation")),
    "card action invoke": Base(recorded("adaptive_card_action_invoke"), under("name", "value")),
    "group chat message": Base(recorded("group_chat_message"), under("conversation")),
    "app added for a person": Base(recorded("personal_install"), under("membersAdded", "type")),
    "app added to a team": Base(
        recorded("channel_install", channel=CHANNEL), under("membersAdded", "channelData")
    ),
    "member added in a channel": Base(
        recorded("channel_member_added", channel=CHANNEL), under("membersAdded")
    ),
    "installation update": Base(recorded("installation_update_add"), under("action")),
}
ID: Path = ("id",)


def renewed(variant: Variant, value: str) -> dict[str, Any]:
    """The variant's activity with an id of its own, unless the mutation was to the id."""
    if not variant.touches(ID) and "id" in variant.payload:
        variant.payload["id"] = value
    return variant.payload


def problems(records: list[logging.LogRecord]) -> Iterator[str]:
    """ERROR records and tracebacks."""
    for record in records:
        if record.levelno >= logging.ERROR or record.exc_info:
            yield f"{record.levelname} {record.name}: {record.getMessage()[:200]}"


@pytest.mark.parametrize("name", list(BASES))
async def test_hostile_activities_get_400_or_are_handled_cleanly(
    teams: TeamsWorld, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    base = BASES[name]
    activity = await base.make(teams)
    numbers = itertools.count(1)
    cases = [
        (v.name, to_json(renewed(v, f"fuzz{next(numbers):05d}")))
        for v in variants(activity, only=base.only)
    ]
    cases += whole(activity)
    failures: list[str] = []
    answered: dict[int, int] = {}
    for case, body in cases:
        caplog.clear()
        response = await teams.post(body)
        answer = await response.text()
        await teams.bot.settled()
        answered[response.status] = answered.get(response.status, 0) + 1
        found = list(problems(caplog.records))
        if response.status >= 500 or found:
            failures.append(f"{case}: {response.status} {answer[:100]} {found}")
    assert not failures, f"{len(failures)} of {len(cases)}:\n" + "\n".join(failures)
    # Both outcomes were met: the table is not all refused (or all let through).
    assert answered.get(400), answered
    assert answered.get(202) or answered.get(200), answered


async def test_an_empty_channel_id_and_a_sub_channel_conflict_get_400(
    teams: TeamsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    """Two activities the SDK's own model fails on with other than a ValidationError."""
    caplog.set_level(logging.WARNING)
    empty = teams.activity("personal_message", channelId="")
    conflict = teams.activity("personal_message", channelId="msteams:one")
    conflict["entities"].append({"type": "ProductInfo", "id": "another"})
    for activity in (empty, conflict):
        response = await teams.post(activity)
        assert response.status == 400
        assert (await response.json())["error"] == "the body is not a valid activity"
    await teams.bot.settled()
    assert not list(problems(caplog.records))
    assert teams.connector.calls == []


async def test_deep_nesting_and_bad_ids_get_400_saying_what_is_wrong(
    teams: TeamsWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    deep = await teams.post("[" * 1000 + "]" * 1000)
    assert deep.status == 400
    assert await deep.json() == {"error": "the JSON is nested too deeply"}
    inside = teams.activity("personal_message")
    inside["channelData"]["deep"] = "<nested>"
    nested = await teams.post(to_json(inside).replace('"<nested>"', "[" * 300 + "]" * 300))
    assert await nested.json() == {"error": "the JSON is nested too deeply"}
    long_id = teams.activity("personal_message")
    long_id["from"]["id"] = "29:" + "x" * 5000
    response = await teams.post(long_id)
    assert response.status == 400
    assert await response.json() == {
        "error": "the body is not a valid activity",
        "detail": "from.id is longer than 255 characters",
    }
    await teams.bot.settled()
    assert not list(problems(caplog.records))
    assert teams.connector.calls == []
    assert await rows(teams.app, "SELECT count(*) FROM processed_events") == [(0,)]
