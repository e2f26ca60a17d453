"""Plays Slack's side of a workspace: people typing and clicking, as Slack's servers send it.

Payloads start from the recorded real shapes in ``tests/fixtures/slack/`` and are signed with the
signing secret, then posted to ``POST /slack/events`` of the running aiohttp app. A click is built
from the blocks the bot really sent (as the local mock Slack API recorded them): the button's
``action_id`` and ``value``, the inputs of the message as ``state.values``, a ``response_url`` and
a ``trigger_id`` the mock knows. After each request, the adapter's background work is drained, so
a test reads the outcome straight away.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient

from adapters.slack.app import SlackAdapter
from bot.app import App
from bot.clock import ManualClock
from tests.mocks.slack_api import Message, MockSlackApi, OpenedView

FIXTURES = Path(__file__).parents[2] / "fixtures" / "slack"
FORM = "application/x-www-form-urlencoded"


def fixture(name: str) -> dict[str, Any]:
    """A recorded payload."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return data


def sign(secret: str, timestamp: str, body: str | bytes) -> str:
    """Slack's request signature: ``v0=`` HMAC-SHA256 of ``v0:timestamp:body``."""
    raw = body.encode() if isinstance(body, str) else body
    base = b"v0:" + timestamp.encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def name_of(user: str) -> str:
    """A person's Slack user name, made from their id (``U0ALICE`` is ``alice``)."""
    return user.removeprefix("U0").lower()


def direct(user: str) -> str:
    """The id of a person's direct conversation with the bot."""
    return "D" + user.removeprefix("U")  # as the mock's conversations.open answers


class SlackWorkspace:
    """People in one Slack workspace, talking to the bot."""

    def __init__(
        self,
        *,
        client: TestClient[Any, Any],
        api: MockSlackApi,
        adapter: SlackAdapter,
        app: App,
        clock: ManualClock,
        secret: str,
        team: str = "T1",
    ) -> None:
        self.client = client
        self.api = api
        self.adapter = adapter
        self.app = app
        self.clock = clock
        self.secret = secret
        self.team = team
        self._seq = itertools.count(1)

    # Requests

    async def send(
        self,
        body: str | bytes,
        *,
        content_type: str = FORM,
        timestamp: str | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
        signed: bool = True,
    ) -> ClientResponse:
        """Post a body to /slack/events, signed as Slack signs it (unless told otherwise)."""
        raw = body.encode() if isinstance(body, str) else body
        stamp = str(int(self.clock.now().timestamp())) if timestamp is None else timestamp
        sent = {"Content-Type": content_type, **(headers or {})}
        if signed:
            sent["X-Slack-Request-Timestamp"] = stamp
            sent["X-Slack-Signature"] = (
                sign(self.secret, stamp, raw) if signature is None else signature
            )
        response = await self.client.post("/slack/events", data=raw, headers=sent)
        await response.read()
        await self.adapter.drain()
        return response

    async def command(
        self,
        text: str = "",
        *,
        user: str,
        channel: str,
        command: str = "/valueslens",
        name: str | None = None,
    ) -> ClientResponse:
        """``user`` types ``command text`` in ``channel``."""
        return await self.send(
            self.command_body(text, user=user, channel=channel, command=command, name=name)
        )

    def command_body(
        self,
        text: str = "",
        *,
        user: str,
        channel: str,
        command: str = "/valueslens",
        name: str | None = None,
    ) -> str:
        """The form Slack posts when ``user`` types ``command text`` in ``channel`` (with a
        ``trigger_id`` of its own), to send once or more."""
        form = fixture("slash_command.json")
        form.update(
            team_id=self.team,
            channel_id=channel,
            channel_name="directmessage" if channel.startswith("D") else "winter-planning",
            user_id=user,
            user_name=name or name_of(user),
            command=command,
            text=text,
            response_url=self.api.response_url(channel=channel, user=user),
            trigger_id=self.api.trigger(user),
        )
        return urlencode(form)

    async def interact(
        self, payload: Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> ClientResponse:
        """Post an interaction payload as Slack does: JSON in the ``payload`` form field."""
        return await self.send(urlencode({"payload": json.dumps(payload)}), headers=headers)

    async def click(
        self,
        label: str,
        *,
        user: str,
        message: Message,
        inputs: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ClientResponse:
        """``user`` fills in ``inputs`` on ``message`` and clicks the button ``label``."""
        payload = self.click_payload(label, user=user, message=message, inputs=inputs)
        return await self.interact(payload, headers)

    def click_payload(
        self,
        label: str,
        *,
        user: str,
        message: Message,
        inputs: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The ``block_actions`` payload Slack sends for that click."""
        action_ts = f"{self.clock.now().timestamp():.0f}.{next(self._seq):06d}"
        return click_payload(self.api, self.team, user, message, label, inputs, action_ts)

    async def click_home(self, label: str, *, user: str) -> ClientResponse:
        """``user`` clicks the button ``label`` on their Home tab (as the bot last published
        it)."""
        home = self.api.homes[user]
        button, block_id = self._button(home.view["blocks"], label)
        payload = fixture("block_actions.json")
        payload.update(
            user={
                "id": user,
                "username": name_of(user),
                "name": name_of(user),
                "team_id": self.team,
            },
            team={"id": self.team, "domain": "valuesbot-test"},
            container={"type": "view", "view_id": home.id},
            view={
                "id": home.id,
                "type": "home",
                "hash": home.hash,
                "blocks": home.view["blocks"],
                "private_metadata": home.view.get("private_metadata", ""),
                "state": {"values": {}},
            },
            trigger_id=self.api.trigger(user),
            actions=[
                button_action(
                    button, block_id, f"{self.clock.now().timestamp():.0f}.{next(self._seq):06d}"
                )
            ],
        )
        for key in ("channel", "message", "state", "response_url"):
            payload.pop(key, None)
        return await self.interact(payload)

    async def submit(
        self, view: OpenedView, *, user: str, inputs: Mapping[str, str]
    ) -> ClientResponse:
        """``user`` fills in the modal ``view`` and submits it."""
        payload = fixture("view_submission.json")
        blocks = view.view["blocks"]
        payload.update(
            user={
                "id": user,
                "username": name_of(user),
                "name": name_of(user),
                "team_id": self.team,
            },
            team={"id": self.team, "domain": "valuesbot-test"},
            trigger_id=self.api.trigger(user),
        )
        payload["view"].update(
            id=view.id,
            hash=view.hash,
            blocks=blocks,
            private_metadata=view.view.get("private_metadata", ""),
            callback_id=view.view.get("callback_id", ""),
            state={"values": self.state(blocks, inputs)},
        )
        return await self.interact(payload)

    async def event(self, name: str, **changes: Any) -> ClientResponse:
        """An Events API callback from a fixture, its ``event`` changed as given."""
        envelope = fixture(name)
        envelope["team_id"] = self.team
        envelope["event"].update(changes)
        envelope["event_id"] = f"Ev{next(self._seq):010d}"
        return await self.send(json.dumps(envelope), content_type="application/json")

    async def says(self, text: str, *, user: str) -> ClientResponse:
        """``user`` types ``text`` in their direct conversation with the bot."""
        return await self.event(
            "event_message_im.json", user=user, channel=direct(user), text=_escaped(text)
        )

    async def deliver(self) -> None:
        """Run the delivery worker until nothing is due: the outbox goes out through the Slack
        outbound to the mock."""
        await self.app.delivery.drain()

    async def joins(self, channel: str, user: str) -> ClientResponse:
        """``user`` (the bot, when it is added) joins ``channel``."""
        return await self.event(
            "event_member_joined_channel.json", user=user, channel=channel, channel_type="C"
        )

    async def opens_home(self, user: str) -> ClientResponse:
        """``user`` opens the bot's Home tab."""
        return await self.event("event_app_home_opened.json", user=user, channel=direct(user))

    # Reading blocks as a Slack client does

    @staticmethod
    def _button(blocks: list[dict[str, Any]], label: str) -> tuple[dict[str, Any], str]:
        for n, block in enumerate(blocks):
            if block.get("type") != "actions":
                continue
            for element in block.get("elements", []):
                if element.get("type") == "button" and element["text"]["text"] == label:
                    return element, str(block.get("block_id", f"b{n}"))
        raise AssertionError(f"no button {label!r} in the message")

    @staticmethod
    def state(blocks: list[dict[str, Any]], inputs: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        seen = set()
        for block in blocks:
            if block.get("type") != "input":
                continue
            element = block["element"]
            name = element["action_id"]
            given = inputs.get(name)
            seen.add(name)
            if element["type"] == "plain_text_input":
                state: dict[str, Any] = {"type": element["type"], "value": given}
            elif element["type"] in {"checkboxes", "multi_static_select"}:
                # Several options, given as "listen,open" (values or labels); none given: what
                # the element shows picked (its initial options), as Slack's state does.
                picked = element.get("initial_options") or []
                if given is not None:
                    wanted = [part.strip() for part in given.split(",") if part.strip()]
                    picked = [
                        o
                        for o in element["options"]
                        if o["value"] in wanted or o["text"]["text"] in wanted
                    ]
                state = {"type": element["type"], "selected_options": picked}
            else:
                chosen = None
                if given is not None:
                    chosen = next(
                        o for o in element["options"] if given in (o["value"], o["text"]["text"])
                    )
                state = {"type": element["type"], "selected_option": chosen}
            values[block["block_id"]] = {name: state}
        missing = set(inputs) - seen
        if missing:
            raise AssertionError(f"no inputs {sorted(missing)} on the card")
        return values


def _escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def click_payload(
    api: MockSlackApi,
    team: str,
    user: str,
    message: Message,
    label: str,
    inputs: Mapping[str, str] | None,
    action_ts: str,
) -> dict[str, Any]:
    """The ``block_actions`` payload Slack sends when ``user`` of workspace ``team`` clicks
    ``label`` on ``message`` (as the mock ``api`` holds it), with ``inputs`` filled in."""
    button, block_id = SlackWorkspace._button(message.blocks, label)
    ephemeral = message.to is not None
    payload = fixture("block_actions.json")
    payload.update(
        user={"id": user, "username": name_of(user), "name": name_of(user), "team_id": team},
        team={"id": team, "domain": "valuesbot-test"},
        container={
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": ephemeral,
        },
        channel={"id": message.channel, "name": "directmessage"},
        state={"values": SlackWorkspace.state(message.blocks, inputs or {})},
        response_url=api.response_url(
            channel=message.channel, user=user, ts=message.ts, ephemeral=ephemeral
        ),
        trigger_id=api.trigger(user),
        actions=[button_action(button, block_id, action_ts)],
    )
    if ephemeral:
        del payload["message"]  # Slack sends no message for a click on an ephemeral one
    else:
        payload["message"] = {
            "type": "message",
            "subtype": "bot_message",
            "text": message.text,
            "ts": message.ts,
            "bot_id": "BVALUES",
            "blocks": message.blocks,
        }
    return payload


def button_action(button: Mapping[str, Any], block_id: str, action_ts: str) -> dict[str, Any]:
    """The ``actions`` entry of a click on ``button`` (a button element the bot sent)."""
    return {
        "action_id": button["action_id"],
        "block_id": block_id,
        "text": button["text"],
        "value": button["value"],
        "type": "button",
        "action_ts": action_ts,
    }
