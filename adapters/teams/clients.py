"""Connector clients that keep their HTTP connections between turns.

The Agents SDK makes a connector client, with an HTTP session of its own, for every turn and
closes it when the turn ends; a proactive message was a turn, so each message the delivery
worker sent to Teams opened (and closed) a new connection to the Bot Connector. This factory
gives out one kept client per service URL and token instead, to the SDK's turns and to serve's
messages sent without a turn (``TeamsConnector.call``): calls reuse pooled connections, and a
client's session is closed when the token changes (after the calls under way on it have had
time to finish) or when the bot stops.

Requests the SDK treats differently (agentic identities, Copilot Studio connector users) get
the SDK's own clients.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import ClientSession
from microsoft_agents.activity import RoleTypes
from microsoft_agents.hosting.core import (
    ClaimsIdentity,
    Connections,
    RestChannelServiceClientFactory,
    TurnContext,
)
from microsoft_agents.hosting.core.authorization import (
    AccessTokenProviderBase,
    AnonymousTokenProvider,
)
from microsoft_agents.hosting.core.connector import ConnectorClientBase, TeamsConnectorClient

# A session replaced by one with a new token is closed this long after (seconds): longer than
# any call may take (VALUESBOT_SEND_TIMEOUT is at most 120 s).
RETIRE_AFTER = 300.0


class KeptConnectorClient(TeamsConnectorClient):
    """A connector client on a session the factory keeps: the end of a turn leaves it open."""

    async def close(self) -> None:
        """Nothing: ``ConnectorClients.close`` closes the session when the bot stops."""


class ConnectorClients(RestChannelServiceClientFactory):
    """The SDK's connector client factory, with one kept HTTP session per service URL and
    token (see the module's text)."""

    def __init__(
        self, connections: Connections, *, now: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__(connections)
        self.connections = connections
        self._now = now
        self._clients: dict[tuple[str, str], KeptConnectorClient] = {}
        self._retired: list[tuple[float, ClientSession]] = []
        self._closed = False

    async def create_connector_client(
        self,
        context: TurnContext | None,
        claims_identity: ClaimsIdentity,
        service_url: str,
        audience: str,
        scopes: list[str] | None = None,
        use_anonymous: bool = False,
    ) -> ConnectorClientBase:
        activity = context.activity if context is not None else None
        if (
            self._closed  # stopping: a last call gets a client the SDK closes after the turn
            or not service_url
            or not audience
            or (activity is not None and activity.is_agentic_request())
            or (activity is not None and activity.recipient is not None
                and activity.recipient.role == RoleTypes.connector_user)
        ):  # fmt: skip
            return await super().create_connector_client(
                context, claims_identity, service_url, audience, scopes, use_anonymous
            )
        provider: AccessTokenProviderBase = (
            AnonymousTokenProvider()
            if use_anonymous
            else self.connections.get_token_provider(claims_identity, service_url)
        )
        token = await provider.get_access_token(
            audience, scopes or claims_identity.get_token_scope()
        )
        return await self._client(service_url, token)

    async def _client(self, service_url: str, token: str) -> KeptConnectorClient:
        """The kept client for the service URL and token: made, with its session, on the first
        call (making one sets the session's headers, the User-Agent among them, which the SDK
        finds in the installed packages' metadata: a cost worth paying once)."""
        endpoint = service_url if service_url.endswith("/") else service_url + "/"
        await self._close_retired()
        client = self._clients.get((endpoint, token))
        if client is None or client.client.closed:
            # A new token (they last about an hour): the old session finishes its calls first.
            for key in [k for k in self._clients if k[0] == endpoint]:
                self._retired.append((self._now(), self._clients.pop(key).client))
            client = KeptConnectorClient(
                endpoint=service_url, token=token, session=ClientSession(base_url=endpoint)
            )
            self._clients[(endpoint, token)] = client
        return client

    async def _close_retired(self) -> None:
        due = self._now() - RETIRE_AFTER
        while self._retired and self._retired[0][0] <= due:
            _, session = self._retired.pop(0)
            await session.close()

    @property
    def open_sessions(self) -> int:
        """HTTP sessions open now (kept and retired)."""
        return sum(not c.client.closed for c in self._clients.values()) + len(self._retired)

    async def close(self) -> None:
        """Close every session (the bot is stopping)."""
        self._closed = True
        sessions = [*(c.client for c in self._clients.values()), *(s for _, s in self._retired)]
        self._clients.clear()
        self._retired.clear()
        for session in sessions:
            await session.close()
