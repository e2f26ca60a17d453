"""The OpenID provider's discovery document and keys: fetched once and kept, fetched again
after a day, or for a key id not cached (a rotation) at most every refresh interval; what is
cached serves while the provider is down (bot/pages/oidc.py), against the mock provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from bot.pages.oidc import (
    MAX_AGE,
    REFRESH_INTERVAL,
    Identity,
    OpenIdProvider,
    ProviderUnavailable,
    SignInRefused,
)
from tests.mocks.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    TENANT,
    MockOpenIdProvider,
    signing_key,
)

NOW = datetime(2027, 3, 22, 9, 0, tzinfo=UTC)
REDIRECT = "https://values.example.org/signin/callback"


class Ticks:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.at = 1000.0

    def __call__(self) -> float:
        return self.at


@pytest.fixture
async def mock() -> AsyncIterator[MockOpenIdProvider]:
    provider = MockOpenIdProvider(now=lambda: NOW)
    await provider.start()
    yield provider
    await provider.stop()


@pytest.fixture
async def client(mock: MockOpenIdProvider) -> AsyncIterator[tuple[OpenIdProvider, Ticks]]:
    ticks = Ticks()
    provider = OpenIdProvider(
        issuer=mock.url,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
        allowed=[TENANT],
        now=lambda: NOW,
        monotonic=ticks,
    )
    yield provider, ticks
    await provider.close()


async def sign_in(provider: OpenIdProvider) -> Identity:
    """The whole journey: the authorization address, the mock's answer, the code's exchange."""
    verifier = "v" * 50
    authorization = await provider.authorization(state="s" * 32, nonce="n" * 32, verifier=verifier)
    async with (
        aiohttp.ClientSession() as browser,
        browser.get(authorization.url, allow_redirects=False) as answered,
    ):
        code = parse_qs(urlsplit(answered.headers["Location"]).query)["code"][0]
    return await provider.identify(code=code, verifier=verifier, nonce="n" * 32)


async def test_discovery_and_keys_are_fetched_once_and_kept(
    mock: MockOpenIdProvider, client: tuple[OpenIdProvider, Ticks]
) -> None:
    provider, ticks = client
    assert await sign_in(provider) == Identity(
        subject="subject-of-ann", name="Ann Archer", tenant=TENANT
    )
    await sign_in(provider)
    assert len(mock.requests("/openid-configuration")) == 1
    assert len(mock.requests("/keys")) == 1
    ticks.at += MAX_AGE + 1  # a day on: both again
    await sign_in(provider)
    assert len(mock.requests("/openid-configuration")) == 2
    assert len(mock.requests("/keys")) == 2


async def test_a_rotated_key_is_fetched_at_most_every_refresh_interval(
    mock: MockOpenIdProvider, client: tuple[OpenIdProvider, Ticks]
) -> None:
    provider, ticks = client
    await sign_in(provider)
    rotated = signing_key("rotated-key")
    mock.published.append(rotated)
    mock.sign_with = rotated
    ticks.at += 1  # too soon after the last fetch: the new key is not looked for
    with pytest.raises(SignInRefused):
        await sign_in(provider)
    assert len(mock.requests("/keys")) == 1
    ticks.at += REFRESH_INTERVAL
    assert (await sign_in(provider)).subject == "subject-of-ann"
    assert len(mock.requests("/keys")) == 2


async def test_what_is_cached_serves_while_the_provider_is_down(
    mock: MockOpenIdProvider, client: tuple[OpenIdProvider, Ticks]
) -> None:
    provider, ticks = client
    await provider.keys()
    await mock.stop()
    ticks.at += MAX_AGE + 1  # stale, and the provider cannot be reached
    assert (await provider.authorization(state="s", nonce="n", verifier="v" * 43)).url
    assert (await provider.keys()).keys


async def test_nothing_cached_and_the_provider_down_is_unavailable(
    mock: MockOpenIdProvider, client: tuple[OpenIdProvider, Ticks]
) -> None:
    provider, _ = client
    await mock.stop()
    with pytest.raises(ProviderUnavailable):
        await provider.authorization(state="s", nonce="n", verifier="v" * 43)


async def test_a_discovery_document_of_another_issuer_is_not_used(
    mock: MockOpenIdProvider,
) -> None:
    provider = OpenIdProvider(
        issuer=mock.url + "/other",  # the document at that address names mock.url
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT,
        allowed=[TENANT],
        now=lambda: NOW,
    )
    try:
        with pytest.raises(ProviderUnavailable):
            await provider.authorization(state="s", nonce="n", verifier="v" * 43)
    finally:
        await provider.close()
