"""With a bot identity configured, only requests carrying a valid Bot Framework channel token
get in, and only for the service URL the token names.

The tokens are signed here with keys made for the test (``tests/adapters/teams/signing.py``),
published on a JWKS endpoint on 127.0.0.1 that the bot fetches its signing keys from instead of
the Bot Framework's. Every failure must be a 401 that changes nothing and sends nothing (the
bot's own token least of all), never a 500.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import jwt
import pytest
from microsoft_agents.hosting.core.authorization import AuthenticationConstants

from adapters.teams.app import TeamsConnector, auth_configuration, channel_service
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
from tests.adapters.teams.signing import BOT_FRAMEWORK, KID, WEBCHAT_KID, Keys, KeyServer
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector

ENTRA_V2 = f"https://login.microsoftonline.com/{TENANT}/v2.0"
ENTRA_V1 = f"https://sts.windows.net/{TENANT}/"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


@pytest.fixture
async def key_server(keys: Keys) -> AsyncIterator[KeyServer]:
    """The channel service's key endpoint, on 127.0.0.1."""
    async with KeyServer(keys) as server:
        yield server


async def secure_world(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector, keys_url: str
) -> TeamsWorld:
    """valuesbot with Teams credentials configured (outbound tokens from a local provider),
    its signing keys from ``keys_url``."""
    app = await build_app(make_settings(sqlite_url, **CREDENTIALS), clock=clock, prepare=False)
    # Fetched once at most in a test, however long it takes (the pacing has tests of its own).
    options = {"refresh_interval": 3600.0}
    return await start_world(
        app, connector, credentials=True, keys_url=keys_url, key_options=options
    )


@pytest.fixture
async def secured(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector, key_server: KeyServer
) -> AsyncIterator[TeamsWorld]:
    """valuesbot with Teams credentials, its signing keys from the local key endpoint."""
    world = await secure_world(sqlite_url, clock, connector, key_server.url)
    yield world
    await world.client.close()
    await world.app.close()


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
        "no service url claim": "Bearer " + keys.token(service_url=None),
        "empty service url claim": "Bearer " + keys.token(service_url=""),
        "service url claim not a string": "Bearer "
        + keys.token(service_url=None, serviceurl=[service_url]),
        "same host, another path": "Bearer " + keys.token(service_url=f"{service_url}emea/"),
        "same host, another port": "Bearer "
        + keys.token(service_url=service_url.rsplit(":", 1)[0] + ":1/"),
        "issued by the bot's tenant": "Bearer "
        + keys.token(service_url=None, iss=ENTRA_V2, tid=TENANT),
        "issued by the bot's tenant, with the service url": "Bearer "
        + keys.token(service_url=service_url, iss=ENTRA_V2, tid=TENANT),
        "issued by the bot's tenant (v1)": "Bearer "
        + keys.token(service_url=service_url, iss=ENTRA_V1, tid=TENANT),
        "signed by a key endorsed for another channel": "Bearer "
        + keys.token(service_url=service_url, kid=WEBCHAT_KID),
        "no expiry": "Bearer " + keys.token(service_url=service_url, exp=None),
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


async def test_a_token_without_the_activitys_service_url_sends_the_bots_token_nowhere(
    sqlite_url: str,
    clock: ManualClock,
    connector: MockBotConnector,
    key_server: KeyServer,
    keys: Keys,
) -> None:
    """A token for the bot's app id that names no service URL (or another one), or that the
    bot's own tenant issued, gets nobody in: not a person, not a comms member. Nothing is
    stored and the bot sends nothing, neither to the activity's service URL nor to the real
    connector."""
    comms = f"teams:{ALICE.id}"
    app = await build_app(
        make_settings(sqlite_url, **CREDENTIALS, VALUESBOT_COMMS=comms),
        clock=clock,
        prepare=False,
    )
    world = await start_world(app, connector, credentials=True, keys_url=key_server.url)
    try:
        async with MockBotConnector() as elsewhere:
            tokens = {
                "no service url claim": keys.token(service_url=None),
                "the real connector's service url": keys.token(service_url=connector.url),
                "issued by the bot's tenant": keys.token(
                    service_url=None, iss=ENTRA_V2, tid=TENANT
                ),
                "issued by the bot's tenant, naming that service url": keys.token(
                    service_url=elsewhere.url, iss=ENTRA_V2, tid=TENANT
                ),
            }
            for case, token in tokens.items():
                for activity in (
                    world.activity("personal_install"),
                    world.activity("installation_update_add"),
                    world.activity("personal_message", text="digest"),
                    world.activity("personal_message", text="values"),
                ):
                    activity["serviceUrl"] = elsewhere.url
                    response = await world.post(
                        activity, headers={"Authorization": f"Bearer {token}"}
                    )
                    assert response.status == 401, case
            await world.bot.settled()
            assert elsewhere.calls == []
        await nothing_changed(world)
    finally:
        await world.client.close()
        await app.close()


async def test_the_service_url_kept_is_the_one_the_token_names(
    secured: TeamsWorld, keys: Keys
) -> None:
    """A trailing slash, or the letter case of the scheme, is no difference; what is stored and
    replied to is the token's own service URL."""
    claimed = secured.connector.url.removesuffix("/")
    activity = secured.activity("personal_install")
    activity["serviceUrl"] = "HTTP" + secured.connector.url.removeprefix("http")
    response = await secured.post(
        activity, headers={"Authorization": "Bearer " + keys.token(service_url=claimed)}
    )
    assert response.status == 202
    await secured.bot.settled()
    assert await rows(secured.app, "SELECT user_id, service_url FROM people") == [
        (ALICE.id, claimed)
    ]
    assert await rows(secured.app, "SELECT service_url FROM conversations") == [(claimed,)]
    (welcome,) = secured.connector.posts()
    assert welcome.path == f"/v3/conversations/{ALICE.direct}/activities"


async def test_a_token_is_checked_even_where_requests_without_one_are_let_in(
    teams: TeamsWorld, keys: Keys
) -> None:
    """Anonymous local use (no bot identity) lets requests without a token in; one that carries
    a token is checked, and no token can be valid without a bot identity."""
    token = keys.token(service_url=teams.connector.url)
    response = await teams.post(
        teams.activity("personal_message", text="values"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status == 401
    await teams.bot.settled()
    await nothing_changed(teams)
    assert await teams.send(teams.activity("personal_message", text="values")) == 202
    assert "values bot" in teams.last(ALICE.direct)


async def test_unreachable_signing_keys_are_a_503_not_a_401(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector, keys: Keys
) -> None:
    world = await secure_world(sqlite_url, clock, connector, "http://127.0.0.1:1/keys")
    try:
        token = keys.token(service_url=world.connector.url)
        response = await world.post(
            world.activity("personal_message", text="values"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 503
        assert await response.json() == {"error": "try again later"}
        await world.bot.settled()
        await nothing_changed(world)
    finally:
        await world.client.close()
        await world.app.close()


async def test_unknown_key_ids_fetch_the_keys_no_more_than_once_in_a_while(
    secured: TeamsWorld, keys: Keys, key_server: KeyServer
) -> None:
    """Tokens with made-up key ids are refused without a fetch of the keys each."""
    for n in range(10):
        token = keys.token(service_url=secured.connector.url, kid=f"made-up-{n}")
        response = await secured.post(
            secured.activity("personal_message", text="values"),
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status == 401
    assert key_server.requests == 1
    await nothing_changed(secured)


def test_the_us_government_cloud_has_its_own_issuer_and_keys() -> None:
    public = auth_configuration({"CLIENTID": APP_ID})
    government = auth_configuration(
        {"CLIENTID": APP_ID, "AUTHORITY": f"https://login.microsoftonline.us/{TENANT}"}
    )
    assert channel_service(public) == (
        "https://api.botframework.com",
        "https://login.botframework.com/v1/.well-known/keys",
    )
    assert channel_service(government) == (
        "https://api.botframework.us",
        "https://login.botframework.azure.us/v1/.well-known/keys",
    )


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
