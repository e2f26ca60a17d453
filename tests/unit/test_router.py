"""The router: names, kinds, composition."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.events import (
    ActionSubmitted,
    Actor,
    CardPosted,
    CommandReceived,
    ConversationRef,
    DeliveryFailed,
    Event,
    Failure,
    MessageReceived,
    MessageRef,
    Platform,
)
from bot.router import Router
from bot.turn import Turn

PLACE = ConversationRef(platform=Platform.CONSOLE, tenant="t", conversation="c")
ALICE = Actor(id="alice")


async def _noop(turn: Turn[object]) -> None:  # type: ignore[type-var]
    return None


def test_a_name_registered_twice_is_an_error() -> None:
    router = Router()
    router.command("/ValuesLens", _noop)
    with pytest.raises(ValueError, match="registered twice"):
        router.command("valueslens", _noop)
    other = Router()
    other.command("valueslens", _noop)
    with pytest.raises(ValueError, match="registered twice"):
        router.include(other)


async def test_dispatch_by_kind_and_name() -> None:
    called: list[str] = []
    router = Router()

    async def lens(turn: Turn[CommandReceived]) -> None:
        called.append(f"lens:{turn.event.text}")

    async def click(turn: Turn[ActionSubmitted]) -> None:
        called.append(f"click:{turn.event.values['choice']}")

    async def unknown(turn: Turn[CommandReceived]) -> None:
        called.append(f"unknown:{turn.event.command}")

    router.command("valueslens", lens)
    router.action("lens.rate", click)
    router.on_unknown_command = unknown
    now = datetime.now(UTC)

    def turn(event: Event) -> Turn[Event]:
        return Turn(event, stores=None, now=now)  # type: ignore[arg-type]

    base = {"conversation": PLACE, "actor": ALICE, "event_id": "e"}
    assert (
        await router.dispatch(turn(CommandReceived(command="VALUESLENS", text="x", **base)))
        == "valueslens"
    )  # type: ignore[arg-type]
    assert (
        await router.dispatch(
            turn(ActionSubmitted(action="lens.rate", values={"choice": "2"}, **base))
        )
        == "lens.rate"
    )  # type: ignore[arg-type]
    assert await router.dispatch(turn(CommandReceived(command="nope", **base))) == "nope"  # type: ignore[arg-type]
    assert await router.dispatch(turn(MessageReceived(text="hi", **base))) is None  # type: ignore[arg-type]
    assert called == ["lens:x", "click:2", "unknown:nope"]


async def test_undelivered_messages_go_to_the_longest_job_prefix_else_the_fallback() -> None:
    called: list[str] = []

    def recorder(name: str) -> Any:
        async def handler(turn: Turn[DeliveryFailed]) -> None:
            called.append(f"{name}:{turn.event.key}")

        return handler

    feature = Router()
    feature.undelivered("team-lens:", recorder("lens"))
    feature.undelivered("team-lens:special:", recorder("special"))
    router = Router()
    router.include(feature)
    router.on_undelivered = recorder("fallback")
    with pytest.raises(ValueError, match="registered twice"):
        router.include(feature)

    def failed(job: str) -> Turn[DeliveryFailed]:
        event = DeliveryFailed(
            conversation=PLACE,
            actor=ALICE,
            event_id=f"undelivered:{job}",
            key=f"{job}:results",
            job=job,
            to_person=False,
            failure=Failure.UNREACHABLE,
            reason="not_in_channel",
        )
        return Turn(event, stores=None, now=datetime.now(UTC))  # type: ignore[arg-type]

    assert await router.dispatch(failed("team-lens:1")) == "undelivered:team-lens:"
    assert await router.dispatch(failed("team-lens:special:2")) == "undelivered:team-lens:special:"
    assert await router.dispatch(failed("digest:3:2027-01-04")) == "undelivered"
    assert called == [
        "lens:team-lens:1:results",
        "special:team-lens:special:2:results",
        "fallback:digest:3:2027-01-04:results",
    ]
    assert await Router().dispatch(failed("team-lens:1")) is None  # nobody: nothing to do


async def test_posted_cards_go_to_the_longest_key_prefix_else_nobody() -> None:
    called: list[str] = []

    def recorder(name: str) -> Any:
        async def handler(turn: Turn[CardPosted]) -> None:
            called.append(f"{name}:{turn.event.key}:{turn.event.message.id}")

        return handler

    feature = Router()
    feature.posted("team-lens:", recorder("lens"))
    feature.posted("team-lens:special:", recorder("special"))
    router = Router()
    router.include(feature)
    with pytest.raises(ValueError, match="registered twice"):
        router.include(feature)

    def posted(key: str) -> Turn[CardPosted]:
        event = CardPosted(
            conversation=PLACE, actor=ALICE, event_id=f"posted:{key}", key=key,
            message=MessageRef(id="1700000000.000100"),
        )  # fmt: skip
        return Turn(event, stores=None, now=datetime.now(UTC))  # type: ignore[arg-type]

    assert await router.dispatch(posted("team-lens:1:card")) == "posted:team-lens:"
    assert await router.dispatch(posted("team-lens:special:2:card")) == "posted:team-lens:special:"
    assert await router.dispatch(posted("digest:3:card")) is None
    assert called == [
        "lens:team-lens:1:card:1700000000.000100",
        "special:team-lens:special:2:card:1700000000.000100",
    ]


def test_patient_actions_are_kept_when_routers_are_composed() -> None:
    feature = Router()
    feature.action("poll.answer", _noop, patient=True)
    feature.action("poll.change", _noop)
    router = Router()
    router.include(feature)
    assert router.patient_actions == {"poll.answer"}
    base = {"conversation": PLACE, "actor": ALICE, "event_id": "e"}
    assert router.patient(ActionSubmitted(action="poll.answer", **base))  # type: ignore[arg-type]
    assert not router.patient(ActionSubmitted(action="poll.change", **base))  # type: ignore[arg-type]
    assert not router.patient(CommandReceived(command="poll.answer", **base))  # type: ignore[arg-type]
