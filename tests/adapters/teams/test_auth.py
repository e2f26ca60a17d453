"""With a bot identity configured, only requests carrying a valid Bot Framework token get in.

The tokens are signed here with a key made for the test, and the SDK's ``JwtTokenValidator``
downloads the signing keys from a JWKS endpoint on 127.0.0.1 instead of the Bot Framework's
(the test points the SDK's key cache for that URL at the local endpoint). Everything else is
the SDK's own validation, behind valuesbot's handler: every failure must be a 401 that changes
nothing, never a 500.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt import PyJWKClient
from microsoft_agents.hosting.core.authorization import AuthenticationConstants
from microsoft_agents.hosting.core.authorization.jwt import JwtTokenValidator
from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
    _JwkClientCacheEntry,
)

from adapters.teams.app import TeamsConnector
from bot.app import build_app
from bot.clock import ManualClock
from bot.outbound import TemporarySendError
from bot.ui import Card
from storage.people import PersonKey
from tests.adapters.teams.conftest import (
    ALICE,
    APP_ID,
    CREDENTIALS,
    LOCAL_TOKEN,
    TENANT,
    LocalTokens,
    TeamsWorld,
    local_connections,
    start_world,
)
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector

KID = "local-test-key"
BOT_FRAMEWORK = "https://api.botframework.com"


class Keys:
    """A signing key of our own, published on a local JWKS endpoint."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        self.jwks = {"keys": [jwk | {"kid": KID, "use": "sig", "alg": "RS256"}]}
        self.url = ""

    def token(
        self,
        *,
        service_url: str,
        key: Any = None,
        kid: str | None = KID,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        now = int(time.time())
        payload = {
            "iss": BOT_FRAMEWORK,
            "aud": APP_ID,
            "nbf": now - 60,
            "exp": now + 3600,
            "serviceurl": service_url,
            **claims,
        }
        headers = {"kid": kid} if kid else {}
        if algorithm == "none":
            return jwt.encode(payload, None, algorithm="none", headers=headers)
        return jwt.encode(payload, key or self.private, algorithm=algorithm, headers=headers)


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture
async def jwks(keys: Keys) -> AsyncIterator[str]:
    """The local JWKS endpoint."""
    web_app = web.Application()

    async def serve(_: web.Request) -> web.Response:
        return web.json_response(keys.jwks)

    web_app.router.add_get("/v1/.well-known/keys", serve)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1/.well-known/keys"
    await runner.cleanup()


@pytest.fixture
def local_keys(jwks: str) -> Iterator[None]:
    """The SDK fetches Bot Framework (and Entra) signing keys from the local endpoint."""
    cache = JwtTokenValidator._jwk_client_manager._cache
    saved = dict(cache)
    for url in (
        AuthenticationConstants.PUBLIC_ABS_JWKS_URL,
        f"https://login.microsoftonline.com/{TENANT}/discovery/v2.0/keys",
    ):
        cache[url] = _JwkClientCacheEntry(PyJWKClient(jwks), threading.Lock())
    yield
    cache.clear()
    cache.update(saved)


@pytest.fixture
async def secured(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector, local_keys: None
) -> AsyncIterator[TeamsWorld]:
    """valuesbot with Teams credentials configured (outbound tokens from a local provider)."""
    app = await build_app(make_settings(sqlite_url, **CREDENTIALS), clock=clock, prepare=False)
    world = await start_world(app, connector, credentials=True)
    yield world
    await world.client.close()
    await app.close()


async def nothing_changed(world: TeamsWorld) -> None:
    assert await rows(world.app, "SELECT COUNT(*) FROM processed_events") == [(0,)]
    assert await rows(world.app, "SELECT COUNT(*) FROM people") == [(0,)]
    assert await rows(world.app, "SELECT COUNT(*) FROM conversations") == [(0,)]
    assert world.connector.calls == []


async def test_a_valid_token_gets_in_and_the_reply_carries_the_bots_token(
    secured: TeamsWorld, keys: Keys
) -> None:
    token = keys.token(service_url=secured.connector.url)
    response = await secured.post(
        secured.activity("personal_message", text="values"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 202
    await secured.bot.settled()
    (reply,) = secured.connector.posts()
    assert reply.headers["Authorization"] == f"Bearer {LOCAL_TOKEN}"
    assert "values bot" in secured.last(ALICE.direct)


def forged(keys: Keys, service_url: str) -> dict[str, str | None]:
    return {
        "no header": None,
        "empty": "",
        "basic scheme": "Basic dXNlcjpwYXNz",
        "bearer without token": "Bearer",
        "two tokens": "Bearer abc def",
        "not a jwt": "Bearer not.a.jwt",
        "garbage": "Bearer %%%%",
        "unsigned": "Bearer " + keys.token(service_url=service_url, algorithm="none"),
        "no key id": "Bearer " + keys.token(service_url=service_url, kid=None),
        "unknown key id": "Bearer " + keys.token(service_url=service_url, kid="nope"),
        "signed by someone else": "Bearer " + keys.token(service_url=service_url, key=keys.other),
        "another bot": "Bearer " + keys.token(service_url=service_url, aud="another-app"),
        "expired": "Bearer "
        + keys.token(service_url=service_url, exp=int(time.time()) - 3600, nbf=0),
        "not yet valid": "Bearer "
        + keys.token(service_url=service_url, nbf=int(time.time()) + 3600),
        "foreign issuer": "Bearer " + keys.token(service_url=service_url, iss="https://evil.test"),
        "other service url": "Bearer "
        + keys.token(service_url="https://smba.attacker.example/uk/"),
        "hs256 with the public key": "Bearer "
        + jwt.encode(
            {"aud": APP_ID, "iss": BOT_FRAMEWORK},
            "a-shared-secret-that-is-long-enough-for-hs256",
            algorithm="HS256",
            headers={"kid": KID},
        ),
    }


async def test_every_request_without_a_valid_token_is_a_401_that_changes_nothing(
    secured: TeamsWorld, keys: Keys
) -> None:
    for case, header in forged(keys, secured.connector.url).items():
        headers = {"Authorization": header} if header is not None else {}
        response = await secured.post(
            secured.activity("personal_message", text="valueslens"), headers=headers
        )
        assert response.status == 401, case
        assert await response.json() == {"error": "unauthorized"}, case
    await secured.bot.settled()
    await nothing_changed(secured)


async def test_a_malformed_body_with_a_valid_token_is_a_400(
    secured: TeamsWorld, keys: Keys
) -> None:
    header = {"Authorization": "Bearer " + keys.token(service_url=secured.connector.url)}
    for body in (
        "{not json",
        "[]",
        json.dumps({"type": "message"}),
        json.dumps({"type": "message", "conversation": "x", "serviceUrl": secured.connector.url}),
    ):
        response = await secured.post(body, headers=header)
        assert response.status == 400, body
    await secured.bot.settled()
    await nothing_changed(secured)


async def test_an_unauthenticated_malformed_body_is_a_401_not_a_400(secured: TeamsWorld) -> None:
    response = await secured.post("{not json")
    assert response.status == 401


async def test_unreachable_signing_keys_are_a_503_not_a_401(
    secured: TeamsWorld, keys: Keys
) -> None:
    cache = JwtTokenValidator._jwk_client_manager._cache
    cache[AuthenticationConstants.PUBLIC_ABS_JWKS_URL] = _JwkClientCacheEntry(
        PyJWKClient("http://127.0.0.1:1/keys"), threading.Lock()
    )
    token = keys.token(service_url=secured.connector.url)
    response = await secured.post(
        secured.activity("personal_message", text="values"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 503
    await secured.bot.settled()
    await nothing_changed(secured)


async def test_a_proactive_message_is_sent_as_the_sdks_own_proactive_turn_would_send_it(
    secured: TeamsWorld, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """serve posts proactive messages on its kept connector clients without a turn of the
    SDK's; a command (no kept clients) runs the turn. Both ask for the same token and make the
    same request."""
    asked: list[tuple[str, list[str]]] = []
    original = LocalTokens.get_access_token

    async def recorded(
        tokens: LocalTokens, resource_url: str, scopes: list[str], force_refresh: bool = False
    ) -> str:
        asked.append((resource_url, list(scopes)))
        return await original(tokens, resource_url, scopes, force_refresh)

    monkeypatch.setattr(LocalTokens, "get_access_token", recorded)
    secured.headers = {"Authorization": "Bearer " + keys.token(service_url=secured.connector.url)}
    assert await secured.installs(ALICE) == 202
    await secured.bot.settled()
    secured.connector.calls.clear()
    asked.clear()
    alice = PersonKey("teams", TENANT, ALICE.id)
    card = Card(title="Staff barometer", text="This month's barometer is open.")

    assert secured.bot.connector.clients is not None  # serve's: no turn
    await secured.bot.outbound.post_direct(alice, card, key="outbox-key-1")
    asked_without_a_turn = list(asked)
    asked.clear()
    in_a_turn = TeamsConnector(secured.app.settings, connections=local_connections(secured.app))
    assert in_a_turn.clients is None
    monkeypatch.setattr(secured.bot, "connector", in_a_turn)
    await secured.bot.outbound.post_direct(alice, card, key="outbox-key-1")

    kept, turned = secured.connector.posts()
    assert kept.path == turned.path == f"/v3/conversations/{ALICE.direct}/activities"
    assert kept.body == turned.body
    assert kept.body["channelData"] == {"valuesbotOutboxKey": "outbox-key-1"}
    for header in ("Authorization", "User-Agent", "Content-Type", "Accept"):
        assert kept.headers[header] == turned.headers[header], header
    assert kept.headers["Authorization"] == f"Bearer {LOCAL_TOKEN}"
    # The turn also asks for the user token client, which a message does not use.
    assert asked_without_a_turn == [
        (
            AuthenticationConstants.AGENTS_SDK_SCOPE,
            [f"{AuthenticationConstants.AGENTS_SDK_SCOPE}/.default"],
        )
    ]
    assert asked_without_a_turn[0] in asked


async def test_a_token_that_cannot_be_had_sends_nothing_and_says_so(
    secured: TeamsWorld, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Getting the bot's token timed out: nothing was sent, so the outbox may send it again
    (not "uncertain", which would leave the person without it)."""
    secured.headers = {"Authorization": "Bearer " + keys.token(service_url=secured.connector.url)}
    assert await secured.installs(ALICE) == 202
    await secured.bot.settled()
    secured.connector.calls.clear()

    async def no_token(*_: Any, **__: Any) -> str:
        raise TimeoutError("the identity platform did not answer")

    monkeypatch.setattr(LocalTokens, "get_access_token", no_token)
    alice = PersonKey("teams", TENANT, ALICE.id)
    with pytest.raises(TemporarySendError) as raised:
        await secured.bot.outbound.post_direct(alice, Card(text="Hello"), key="outbox-key-2")
    assert raised.value.maybe_sent is False
    assert secured.connector.calls == []
