"""The connector clients serve keeps between calls: one client and HTTP session per service URL
and token, a new one when the token changes, the old one closed once its calls have had time to
end."""

from __future__ import annotations

from typing import Any, cast

from microsoft_agents.hosting.core import ClaimsIdentity, Connections

from adapters.teams.clients import RETIRE_AFTER, ConnectorClients, KeptConnectorClient

SERVICE = "https://smba.trafficmanager.net/emea/"
OTHER_SERVICE = "https://smba.trafficmanager.net/amer/"


class Tokens:
    """A token provider whose token the test changes (they last about an hour)."""

    def __init__(self) -> None:
        self.token = "token-1"
        self.asked: list[tuple[str, list[str]]] = []

    async def get_access_token(self, audience: str, scopes: list[str], **_: Any) -> str:
        self.asked.append((audience, scopes))
        return self.token


class OneProvider:
    def __init__(self, tokens: Tokens) -> None:
        self.tokens = tokens

    def get_token_provider(self, *_: Any) -> Tokens:
        return self.tokens


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_clients_share_a_session_per_service_url_and_token_until_it_changes() -> None:
    tokens, clock = Tokens(), Clock()
    clients = ConnectorClients(cast(Connections, OneProvider(tokens)), now=clock)
    claims = ClaimsIdentity({"aud": "app"}, True)

    async def client(service_url: str = SERVICE) -> KeptConnectorClient:
        made = await clients.create_connector_client(None, claims, service_url, "audience")
        assert isinstance(made, KeptConnectorClient)
        return made

    first, second = await client(), await client()
    assert first is second  # made once: making a client reads the package metadata
    assert first.client.headers["Authorization"] == "Bearer token-1"
    await first.close()  # the end of the SDK's turn: the session stays open
    assert not second.client.closed
    elsewhere = await client(OTHER_SERVICE)
    assert elsewhere.client is not first.client
    assert clients.open_sessions == 2

    tokens.token = "token-2"
    renewed = await client()
    assert renewed.client is not first.client
    assert renewed.client.headers["Authorization"] == "Bearer token-2"
    assert not first.client.closed  # calls under way on the old token finish first
    clock.now += RETIRE_AFTER
    await client()
    assert first.client.closed
    assert clients.open_sessions == 2
    assert tokens.asked[0] == ("audience", ["https://api.botframework.com/.default"])

    await clients.close()
    assert renewed.client.closed
    assert elsewhere.client.closed
    assert clients.open_sessions == 0
