"""A running valuesbot with Teams mounted, a mock Bot Connector, and people who use Teams.

``teams`` is a ``TeamsWorld``: recorded Teams activities (``tests/fixtures/teams``) are adjusted
to the person, the conversation and the mock connector's service URL, posted to
``POST /api/messages`` of the real aiohttp server, and the test then waits (deterministically)
for the turns the server started in the background. What the bot sent is read back from the
connector, the way a person would see it in Teams.
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from microsoft_agents.hosting.core import (
    AgentAuthConfiguration,
    ConnectionManager,
)

from adapters.teams.app import TEAMS_KEY, TeamsBot, auth_configuration, mount
from adapters.teams.tokens import SigningKeys
from bot.app import App, build_app
from bot.clock import ManualClock
from bot.web import Mount, build_web_app
from tests.conftest import make_settings
from tests.mocks.bot_connector import Call, MockBotConnector, card_texts

FIXTURES = Path(__file__).parents[2] / "fixtures" / "teams"
TENANT = "5d2f1c3b-7a8e-4f6d-9c0b-1a2e3f4d5c6b"
APP_ID = "0d7f3a4e-6c1b-4f8e-9a2d-5b6c7d8e9f01"
BOT_ID = f"28:{APP_ID}"
CHANNEL = "19:7c1f0e9d8b7a46c5b4a3f2e1d0c9b8a7@thread.tacv2"
LOCAL_TOKEN = "local-test-token"
# The tests' key endpoints answer at once or never: a second is plenty to give up on one.
KEY_FETCH_TIMEOUT = 1.0
ANONYMOUS = {"CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED": "true"}
CREDENTIALS = {
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": APP_ID,
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": "not-a-real-secret",
    "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": TENANT,
}


@dataclass(frozen=True, slots=True)
class Person:
    """Someone in the Teams tenant."""

    id: str
    name: str
    aad: str

    @property
    def direct(self) -> str:
        """Their personal chat with the bot."""
        return f"a:1direct-{self.name.split()[0].lower()}"

    @property
    def upn(self) -> str:
        """Their user principal name (their email address too)."""
        return self.name.replace(" ", ".") + "@nhsengland.example"

    def account(self) -> dict[str, str]:
        """What the Bot Connector says of them (``GET .../members/{userId}``)."""
        given, _, surname = self.name.partition(" ")
        return {
            "id": self.id,
            "name": self.name,
            "aadObjectId": self.aad,
            "email": self.upn,
            "userPrincipalName": self.upn,
            "givenName": given,
            "surname": surname,
            "tenantId": TENANT,
            "userRole": "user",
        }


ALICE = Person("29:1aLiCe0Xq3k9T2yq8nQm4rVw7ZpB5cD6eF8gH9iJ0kL1mN2oP3q", "Alice Smith", "2f4c7a11")
BOB = Person("29:1b0B0b7Yt2Wq9Lm3Nx5Kz8Jp1Hr4Fs6Dt0Gu2Av4Cw6Ey8Iz0Ob2Q", "Bob Jones", "7a6b5c4d")
CAROL = Person("29:1cArOl5Rt7Yu9Io1Pa3Sd5Fg7Hj9Kl1Zx3Cv5Bn7Mq9We1Rt3Yu5Io", "Carol Ng", "0c1d2e3f")


def staff(count: int, start: int = 1) -> list[Person]:
    """``count`` more people of the tenant (S001 Staff, S002 Staff...)."""
    return [
        Person(f"29:1staff{n:04d}Xq3k9T2yq8nQm4rVw7Zp", f"S{n:04d} Staff", f"5aff{n:04d}")
        for n in range(start, start + count)
    ]


def fixture(name: str) -> dict[str, Any]:
    """A recorded Teams activity."""
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text())
    return loaded


class LocalTokens:
    """A token provider that never leaves the machine (the bot's outbound token in tests)."""

    def __init__(self, configuration: AgentAuthConfiguration) -> None:
        self._configuration = configuration
        self.asked = 0

    @property
    def configuration(self) -> AgentAuthConfiguration:
        return self._configuration

    async def get_access_token(
        self, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        self.asked += 1
        return LOCAL_TOKEN

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the bot asked the token provider for {name}")


def local_connections(app: App) -> ConnectionManager:
    """The SDK's connection manager, with tokens that never leave the machine."""
    return ConnectionManager(
        provider_factory=LocalTokens,
        connections_configurations={
            "SERVICE_CONNECTION": auth_configuration(app.settings.teams_connection)
        },
    )


class TeamsWorld:
    """People talking to valuesbot in Teams, through the running server."""

    def __init__(self, app: App, client: TestClient, connector: MockBotConnector) -> None:
        self.app = app
        self.client = client
        self.connector = connector
        self.bot: TeamsBot = client.server.app[TEAMS_KEY]
        self._ids = itertools.count(1_764_495_100_000)
        self.headers: dict[str, str] = {}
        self.last_click: dict[str, Any] = {}
        for person in (ALICE, BOB, CAROL):  # of the tenant, whether they wrote or not
            connector.person(person.account())

    # Building activities

    def activity(
        self,
        name: str,
        *,
        person: Person = ALICE,
        channel: str | None = None,
        thread: str | None = None,
        **changes: Any,
    ) -> dict[str, Any]:
        """A recorded activity from ``person``, in their personal chat or in ``channel``. The
        sender is named only where Teams names them (messages, not installs); the person is in
        the mock connector's directory, as everyone of the tenant is."""
        activity = copy.deepcopy(fixture(name))
        activity["id"] = str(next(self._ids))
        activity["serviceUrl"] = self.connector.url
        sender = {"id": person.id, "name": person.name, "aadObjectId": person.aad}
        if "name" not in activity.get("from", {}):
            del sender["name"]
        activity["from"] = sender
        self.connector.person(person.account())
        if channel is None:
            activity["conversation"] = {
                "conversationType": "personal",
                "tenantId": TENANT,
                "id": person.direct,
            }
        else:
            conversation_id = channel + (f";messageid={thread}" if thread else "")
            activity["conversation"] = {
                "isGroup": True,
                "conversationType": "channel",
                "tenantId": TENANT,
                "id": conversation_id,
            }
        activity.update(changes)
        return activity

    async def post(
        self, activity: Mapping[str, Any] | str | bytes, headers: Mapping[str, str] | None = None
    ) -> ClientResponse:
        """POST to /api/messages as Teams does (no waiting for the turn)."""
        data = activity if isinstance(activity, str | bytes) else json.dumps(activity)
        return await self.client.post(
            "/api/messages",
            data=data,
            headers={"Content-Type": "application/json", **self.headers, **(headers or {})},
        )

    async def send(self, activity: Mapping[str, Any]) -> int:
        """POST the activity and wait until the turns it started are done; the HTTP status."""
        response = await self.post(activity)
        await self.bot.settled()
        return response.status

    async def installs(self, person: Person = ALICE) -> int:
        """The person adds the app for themselves (a personal install)."""
        return await self.send(self.activity("personal_install", person=person))

    async def meets(self, people: list[Person]) -> None:
        """Each person adds the app for themselves; Teams tells the bot silently
        (``installationUpdate``), so the bot remembers their chat and says nothing."""
        for person in people:
            assert await self.send(self.activity("installation_update_add", person=person)) == 202

    async def says(
        self, text: str, *, person: Person = ALICE, channel: str | None = None
    ) -> dict[str, Any]:
        """The person writes ``text`` (in a channel: a new post mentioning the bot)."""
        if channel is None:
            activity = self.activity("personal_message", person=person, text=text)
        else:
            activity = self.activity("channel_mention_command", person=person, channel=channel)
            activity["text"] = f"<at>valuesbot</at>&nbsp;{text}\n"
            activity["conversation"]["id"] = f"{channel};messageid={activity['id']}"
        assert await self.send(activity) == 202
        return activity

    async def clicks(
        self,
        label: str,
        *,
        person: Person = ALICE,
        inputs: Mapping[str, str] | None = None,
        where: str | None = None,
        call: Call | None = None,
    ) -> int:
        """The person clicks ``label`` on the newest card they can see that has it (in
        ``where``: their personal chat by default), with ``inputs`` filled in."""
        call = call or self.card_call(label, where or person.direct)
        # The card as it looks now; a button it no longer has is clicked on the card as it was
        # first posted (a screen that has not refreshed yet).
        card = self.current(call)
        if card is None or not any(a.get("title") == label for a in buttons(card)):
            card = call.card
        assert card is not None
        assert call.conversation is not None
        action = next(a for a in buttons(card) if a["title"] == label)
        kind = (
            "card_submit_personal" if call.conversation.startswith("a:") else "card_submit_channel"
        )
        activity = self.activity(kind, person=person)
        activity["conversation"]["id"] = call.conversation
        if not call.conversation.startswith("a:"):
            activity["conversation"].update(isGroup=True, conversationType="channel")
            activity["conversation"].pop("tenantId", None)
            activity["conversation"]["tenantId"] = TENANT
        activity["replyToId"] = call.answered_id
        value = dict(action["data"])
        if action.get("associatedInputs") != "none":
            value.update(inputs or {})
        activity["value"] = value
        self.last_click = activity
        return await self.send(activity)

    # Reading what people see

    def card_call(self, label: str, conversation: str) -> Call:
        """The newest message in ``conversation`` (a channel counts its threads) whose card has
        a button ``label`` (as last replaced)."""
        for call in reversed(self.connector.posts(_base(conversation))):
            card = self.current(call)
            if card and any(a.get("title") == label for a in buttons(card)):
                return call
        raise AssertionError(
            f"no card with {label!r} in {conversation}: {self.texts(conversation)}"
        )

    def current(self, call: Call) -> dict[str, Any] | None:
        """The card of a posted message as it looks now (after any updates)."""
        card = call.card
        for update in self.connector.updates():
            if update.activity_id == call.answered_id and update.card is not None:
                card = update.card
        return card

    def texts(self, conversation: str) -> list[str]:
        """Everything a person reads in the conversation, message by message, as it is now."""
        return [
            "\n".join(card_texts(self.current(c)))
            for c in self.connector.posts(_base(conversation))
        ]

    def every_card(self) -> list[dict[str, Any]]:
        """Every Adaptive Card the bot posted or put in place of another."""
        return [
            c for call in [*self.connector.posts(), *self.connector.updates()] if (c := call.card)
        ]

    def last(self, conversation: str) -> str:
        """The newest message in the conversation, as text."""
        texts = self.texts(conversation)
        assert texts, f"nothing was posted in {conversation}"
        return texts[-1]


def buttons(card: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every button of a card: rows in its body (``ActionSet``), then its own actions."""
    rows = [a for e in card.get("body", ()) if e.get("type") == "ActionSet" for a in e["actions"]]
    return [*rows, *card.get("actions", ())]


def _base(conversation: str) -> str:
    return conversation.split(";messageid=", 1)[0]


async def start_world(
    app: App,
    connector: MockBotConnector,
    *,
    credentials: bool = False,
    sleep: Any = None,
    keys_url: str | None = None,
    key_options: Mapping[str, Any] | None = None,
    mounts: Sequence[Mount] = (),
) -> TeamsWorld:
    """The aiohttp server of ``valuesbot serve`` (health, metrics, Teams and ``mounts``) on
    127.0.0.1; with ``keys_url``, the token signing keys come from there (``SigningKeys`` made
    with ``key_options``)."""

    async def no_wait(_: float) -> None:
        return None

    def local_keys(app: App) -> SigningKeys:
        assert keys_url is not None
        options = {"timeout": KEY_FETCH_TIMEOUT, **(key_options or {})}
        return SigningKeys(keys_url, wall=app.clock.now, **options)

    connections = local_connections(app) if credentials else None
    teams = mount(
        connections=connections, sleep=sleep or no_wait, keys=local_keys if keys_url else None
    )
    web_app = build_web_app(app, [*mounts, teams])
    client = TestClient(TestServer(web_app, host="127.0.0.1"))
    await client.start_server()
    return TeamsWorld(app, client, connector)


@pytest.fixture
async def connector() -> AsyncIterator[MockBotConnector]:
    """A mock Bot Connector on 127.0.0.1."""
    async with MockBotConnector() as started:
        yield started


@pytest.fixture
async def teams(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector
) -> AsyncIterator[TeamsWorld]:
    """valuesbot with Teams in anonymous (local) mode, on its own SQLite database."""
    app = await build_app(make_settings(sqlite_url, **ANONYMOUS), clock=clock, prepare=False)
    world = await start_world(app, connector)
    yield world
    await world.client.close()
    await app.close()
