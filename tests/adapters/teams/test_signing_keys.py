"""The Teams token signing keys: fetched once for every request waiting, within a bound, kept
and served from the cache while the key endpoint is in trouble; a key endpoint that accepts
connections and never answers holds up nothing else, and ``/healthz`` and ``/metrics`` say so.

The key endpoint is ``KeyServer`` (``signing.py``), on 127.0.0.1. The time limits below are
safety nets, not measures: the fetches give up after ``KEY_FETCH_TIMEOUT`` (a second) and every
outcome is asserted while the key endpoint is still holding its requests unanswered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from adapters.slack.app import SLACK_KEY
from adapters.slack.app import mount as slack_mount
from adapters.teams.tokens import (
    KeySourceState,
    KeysUnavailable,
    SigningKeys,
    Unauthorized,
    parse_key_set,
    same_service_url,
)
from bot.app import build_app
from bot.clock import ManualClock
from tests.adapters.slack.conftest import BOT_TOKEN, SECRET
from tests.adapters.slack.workspace import SlackWorkspace, direct
from tests.adapters.teams.conftest import (
    CREDENTIALS,
    KEY_FETCH_TIMEOUT,
    TeamsWorld,
    start_world,
)
from tests.adapters.teams.signing import KID, WEBCHAT_KID, Keys, KeyServer
from tests.conftest import make_settings
from tests.dialogs.test_values_lens import rows
from tests.mocks.bot_connector import MockBotConnector
from tests.mocks.slack_api import MockSlackApi

# How long a test lets things take before it calls them stuck (a safety net, not a measure).
SAFETY_NET = 60.0


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


class Monotonic:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def teams_request(world: TeamsWorld, keys: Keys, **claims: Any) -> Any:
    """A Teams message from Alice with a channel token (the request, not yet awaited)."""
    token = keys.token(service_url=world.connector.url, **claims)
    return world.post(
        world.activity("personal_message", text="values"),
        headers={"Authorization": f"Bearer {token}"},
    )


async def test_a_key_endpoint_that_never_answers_holds_up_nothing(
    sqlite_url: str, clock: ManualClock, connector: MockBotConnector, keys: Keys
) -> None:
    """Eight Teams requests come while the key endpoint keeps every request waiting: one fetch
    is made for all of them, each is answered 503 once it is given up, and a signed Slack
    command meanwhile is handled (its replies need a host name looked up, as slack.com does).
    ``/healthz`` stays 200 and says the key source is unreachable; so does ``/metrics``."""
    async with KeyServer(keys, hanging=True) as key_server, MockSlackApi() as slack_api:
        slack_api.url = slack_api.url.replace("127.0.0.1", "localhost")
        slack_api.wall = lambda: clock.now().timestamp()
        settings = make_settings(
            sqlite_url,
            **CREDENTIALS,
            SLACK_BOT_TOKEN=BOT_TOKEN,
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=slack_api.api_url,
        )
        app = await build_app(settings, clock=clock, prepare=False)
        world = await start_world(
            app,
            connector,
            credentials=True,
            keys_url=key_server.url,
            key_options={"refresh_interval": 3600.0},  # a fetch at most, however slow the test
            mounts=[slack_mount],
        )
        slack = SlackWorkspace(
            client=world.client,
            api=slack_api,
            adapter=world.client.server.app[SLACK_KEY],
            app=app,
            clock=clock,
            secret=SECRET,
        )
        try:
            dm = direct("U0ALICE")
            async with asyncio.timeout(SAFETY_NET):
                waiting = [asyncio.create_task(teams_request(world, keys)) for _ in range(8)]
                command = await slack.command(user="U0ALICE", channel=dm)
                lookup = await asyncio.get_running_loop().getaddrinfo("localhost", 80)
                answers = await asyncio.gather(*waiting)
            assert command.status == 200
            assert "What piece of work are you looking at?" in slack_api.last(dm).text_all()
            assert lookup
            assert [a.status for a in answers] == [503] * 8
            assert {str(await a.json()) for a in answers} == {"{'error': 'try again later'}"}
            assert (key_server.requests, key_server.answered) == (1, 0)

            health = await world.client.get("/healthz")
            assert health.status == 200
            body = await health.json()
            assert body["status"] == "ok"
            assert body["teams_keys"] == {
                "status": "unreachable",
                "cached_keys": 0,
                "since": clock.now().isoformat(),
                "error": "TimeoutError",
            }
            metrics = await (await world.client.get("/metrics")).text()
            assert "valuesbot_teams_signing_keys_reachable 0.0" in metrics
            assert "valuesbot_teams_signing_keys_cached 0.0" in metrics

            # Until a while has passed, a request is refused without another fetch.
            async with asyncio.timeout(SAFETY_NET):
                again = await teams_request(world, keys)
            assert again.status == 503
            assert (key_server.requests, key_server.answered) == (1, 0)
            await world.bot.settled()
            assert await rows(app, "SELECT COUNT(*) FROM people WHERE platform = 'teams'") == [(0,)]
            assert connector.calls == []
        finally:
            await world.client.close()
            await app.close()


@pytest.fixture
async def key_server(keys: Keys) -> AsyncIterator[KeyServer]:
    async with KeyServer(keys) as server:
        yield server


async def test_the_cached_keys_serve_while_the_key_endpoint_hangs(
    sqlite_url: str,
    clock: ManualClock,
    connector: MockBotConnector,
    key_server: KeyServer,
    keys: Keys,
) -> None:
    """Keys older than their age are refreshed in the background: while the key endpoint
    hangs, requests are let in with the cached keys, and ``/healthz`` reports the source."""
    app = await build_app(make_settings(sqlite_url, **CREDENTIALS), clock=clock, prepare=False)
    monotonic = Monotonic()
    world = await start_world(
        app,
        connector,
        credentials=True,
        keys_url=key_server.url,
        key_options={"monotonic": monotonic, "max_age": 3600.0},
    )
    try:
        health = await (await world.client.get("/healthz")).json()
        assert health["teams_keys"] == {"status": "unknown", "cached_keys": 0}
        assert (await teams_request(world, keys)).status == 202
        health = await (await world.client.get("/healthz")).json()
        assert health["teams_keys"] == {
            "status": "ok",
            "cached_keys": 2,
            "since": clock.now().isoformat(),
        }
        assert (
            "valuesbot_teams_signing_keys_reachable 1.0"
            in await (await world.client.get("/metrics")).text()
        )

        key_server.hang()
        monotonic.now += 3601
        async with asyncio.timeout(SAFETY_NET):
            answers = [await teams_request(world, keys) for _ in range(3)]
            await world.bot.settled()
        assert [a.status for a in answers] == [202] * 3
        assert (key_server.requests, key_server.answered) == (2, 1)  # one refresh, hanging
        assert len(connector.posts()) == 4

        async with asyncio.timeout(SAFETY_NET):
            await world.bot.keys.refreshed()
        health = await (await world.client.get("/healthz")).json()
        assert health["status"] == "ok"
        assert health["teams_keys"]["status"] == "unreachable"
        assert health["teams_keys"]["cached_keys"] == 2
        # Still served from the cache; a key it does not have cannot be had now: 503.
        async with asyncio.timeout(SAFETY_NET):
            assert (await teams_request(world, keys)).status == 202
            assert (await teams_request(world, keys, kid="rotated-in")).status == 503
        assert key_server.requests == 2
    finally:
        await world.client.close()
        await app.close()


def keys_from(server: KeyServer, monotonic: Monotonic, clock: ManualClock) -> SigningKeys:
    return SigningKeys(
        server.url,
        wall=clock.now,
        timeout=KEY_FETCH_TIMEOUT,
        monotonic=monotonic,
        refresh_interval=30.0,
        max_age=3600.0,
    )


async def test_every_request_waiting_for_the_keys_shares_one_fetch(
    key_server: KeyServer, clock: ManualClock
) -> None:
    key_server.hang()
    source = keys_from(key_server, Monotonic(), clock)
    try:
        async with asyncio.timeout(SAFETY_NET):
            outcomes = await asyncio.gather(
                *(source.get(KID) for _ in range(20)), return_exceptions=True
            )
        assert all(isinstance(o, KeysUnavailable) for o in outcomes)
        assert (key_server.requests, key_server.answered) == (1, 0)
        assert source.state is KeySourceState.UNREACHABLE
    finally:
        await source.close()


async def test_a_key_id_not_cached_fetches_the_keys_at_most_once_an_interval(
    key_server: KeyServer, clock: ManualClock, keys: Keys
) -> None:
    monotonic = Monotonic()
    source = keys_from(key_server, monotonic, clock)
    try:
        assert (await source.get(KID)).endorsements == frozenset({"msteams"})
        for _ in range(5):
            with pytest.raises(Unauthorized):
                await source.get("made-up")
        assert key_server.requests == 1

        # A key put in the published set later is found once the interval has passed.
        extra = dict(keys.jwks["keys"][0], kid="rotated-in")
        key_server.jwks = {"keys": [*keys.jwks["keys"], extra]}
        with pytest.raises(Unauthorized):
            await source.get("rotated-in")
        monotonic.now += 31
        assert (await source.get("rotated-in")).endorsements == frozenset({"msteams"})
        assert key_server.requests == 2
    finally:
        await source.close()


async def test_a_failed_fetch_is_tried_again_after_the_interval(
    key_server: KeyServer, clock: ManualClock
) -> None:
    monotonic = Monotonic()
    source = keys_from(key_server, monotonic, clock)
    key_server.hang()
    try:
        async with asyncio.timeout(SAFETY_NET):
            with pytest.raises(KeysUnavailable):
                await source.get(KID)
        unreachable_since = source.since
        with pytest.raises(KeysUnavailable):
            await source.get(KID)  # too early to try again: no fetch
        assert key_server.requests == 1

        key_server.serve()
        clock.advance(timedelta(minutes=1))
        monotonic.now += 31
        assert (await source.get(WEBCHAT_KID)).endorsements == frozenset({"webchat"})
        assert source.state is KeySourceState.OK
        assert source.since == clock.now() != unreachable_since
        assert source.health() == {
            "status": "ok",
            "cached_keys": 2,
            "since": clock.now().isoformat(),
        }
    finally:
        await source.close()


def test_a_key_set_keeps_only_rsa_signing_keys(keys: Keys) -> None:
    good = keys.jwks["keys"][0]
    document = {
        "keys": [
            good,
            dict(good, kid="for-encryption", use="enc"),
            dict(good, kid="another-algorithm", alg="RS512"),
            {k: v for k, v in good.items() if k != "kid"},
            {"kty": "oct", "kid": "shared-secret", "k": "c2VjcmV0"},
            dict(good, kid="broken", n="not base64!"),
            dict(good, kid="no-endorsements", endorsements=None),
            "not a key",
        ]
    }
    parsed = parse_key_set(document)
    assert set(parsed) == {KID, "no-endorsements"}
    assert parsed["no-endorsements"].endorsements is None
    for nothing in ({"keys": []}, {"keys": "x"}, [], {"keys": [{"kty": "oct", "kid": "k"}]}):
        with pytest.raises(ValueError, match="no usable signing key"):
            parse_key_set(nothing)


def test_service_urls_are_the_same_when_they_name_the_same_connector() -> None:
    smba = "https://smba.trafficmanager.net/amer/"
    for same in (
        smba,
        "https://smba.trafficmanager.net/amer",
        "HTTPS://SMBA.trafficmanager.net/amer/",
        "https://smba.trafficmanager.net:443/amer/",
    ):
        assert same_service_url(smba, same), same
    for other in (
        "https://smba.trafficmanager.net/emea/",
        "https://smba.trafficmanager.net/",
        "https://smba.trafficmanager.net/amer/x",
        "https://smba.trafficmanager.net/AMER/",
        "https://smba.trafficmanager.net:8443/amer/",
        "http://smba.trafficmanager.net/amer/",
        "https://smba.trafficmanager.net.attacker.example/amer/",
        "https://attacker.example@smba.trafficmanager.net/amer/",
        "https://smba.trafficmanager.net/amer/?x=1",
        "https://smba.trafficmanager.net/amer/#x",
        " https://smba.trafficmanager.net/amer/",
        "ftp://smba.trafficmanager.net/amer/",
        "/amer/",
        "",
        None,
        ["https://smba.trafficmanager.net/amer/"],
    ):
        assert not same_service_url(smba, other), other
    assert not same_service_url(None, None)
    assert not same_service_url("https://x:99999/", "https://x:99999/")


async def test_healthz_reports_no_key_source_without_a_bot_identity(teams: TeamsWorld) -> None:
    response = await teams.client.get("/healthz")
    assert response.status == 200
    assert "teams_keys" not in await response.json()
