"""Bot Framework channel tokens: the only credentials ``POST /api/messages`` accepts, and the
keys that sign them.

Teams reaches a bot through the Bot Framework's channel service, which signs the bearer token of
every request with one of the keys it publishes (``https://login.botframework.com/v1/.well-known
/keys``). A request gets in only with such a channel token: signed (RS256) by a published key
(endorsed for the activity's channel, when the key set lists endorsements), issued by the Bot
Framework (``https://api.botframework.com``), for the bot's app id, current (five minutes'
leeway for clocks), and carrying the ``serviceurl`` claim, the Bot Connector the activity came
through and the only place its replies may go (``same_service_url``). Tokens that Entra ID
issues, even for the bot's app id in its own tenant, are for other flows (a user or another app
calling the bot's API) and are refused: they name no service URL.

The keys (``SigningKeys``) are fetched when the first token needs them, on the event loop (no
worker thread waits on the endpoint), given up after a few seconds, once for all the requests
waiting for them, and kept: a key endpoint that is down or hangs leaves the bot serving with the
keys it has, trying again at most every ``REFRESH_INTERVAL``. Only when the token's key is not
cached and cannot be fetched is the request answered 503 (Teams tries again); the key source's
state is in ``/healthz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import jwt
from aiohttp import ClientSession, ClientTimeout
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

log = logging.getLogger("valuesbot.teams")

# A key fetch is given up after this long (seconds): a request waits no longer for keys.
KEY_FETCH_TIMEOUT = 5.0
# The keys rarely change; the cached ones are refreshed in the background after a day.
KEYS_MAX_AGE = 24 * 3600.0
# Requests start a key fetch (a key id not cached, stale keys, no keys at all) at most this often.
REFRESH_INTERVAL = 30.0
# The published key set is a few kilobytes; anything far larger is not it.
MAX_KEY_SET_BYTES = 512 * 1024
# Clock skew allowed on a token's times (the Bot Framework's own validation allows five minutes).
LEEWAY_SECONDS = 300
ALGORITHM = "RS256"


class Unauthorized(Exception):
    """The request's credentials are missing or not valid."""


class KeysUnavailable(Exception):
    """The signing keys could not be downloaded: the token cannot be checked right now."""


class KeySourceState(StrEnum):
    """What the last attempt to fetch the signing keys gave."""

    UNKNOWN = "unknown"  # not tried yet
    OK = "ok"
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A published signing key, and the channels it may sign for (its ``endorsements``;
    ``None`` when the key set lists none)."""

    key: jwt.PyJWK
    endorsements: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class ChannelToken:
    """A verified channel token: where the activity came from, and the signing key's
    endorsements (the channels it may speak for)."""

    service_url: str
    endorsements: frozenset[str] | None
    claims: Mapping[str, Any] = field(repr=False, compare=False)


def same_service_url(claimed: object, given: object) -> bool:
    """Whether two service URLs name the same Bot Connector: same scheme, host, port, path
    and query (letter case of scheme and host, a default port and a trailing slash aside)."""
    one, other = _service_url(claimed), _service_url(given)
    return one is not None and one == other


def _service_url(value: object) -> tuple[str, str, int, str, str] | None:
    if not isinstance(value, str) or not value or value != value.strip():
        return None
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname or parts.username is not None:
        return None
    if parts.password is not None or parts.fragment or any(c.isspace() for c in value):
        return None
    if port is None:
        port = 443 if scheme == "https" else 80
    return scheme, parts.hostname.lower(), port, parts.path.removesuffix("/"), parts.query


class SigningKeys:
    """The channel service's signing keys, fetched from ``url`` and cached (see the module's
    text): one fetch at a time, bounded by ``timeout``, started at most every
    ``refresh_interval`` seconds; the cached keys serve meanwhile.

    ``wall`` dates the changes of state shown in ``/healthz``; ``monotonic`` paces the fetches.
    """

    def __init__(
        self,
        url: str,
        *,
        wall: Callable[[], datetime],
        timeout: float = KEY_FETCH_TIMEOUT,
        refresh_interval: float = REFRESH_INTERVAL,
        max_age: float = KEYS_MAX_AGE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.refresh_interval = refresh_interval
        self.max_age = max_age
        self._wall = wall
        self._monotonic = monotonic
        self._keys: dict[str, SigningKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._fetch: asyncio.Task[None] | None = None
        self._session: ClientSession | None = None
        self.state = KeySourceState.UNKNOWN
        self.since: datetime | None = None
        self.error = ""

    async def get(self, kid: str) -> SigningKey:
        """The key ``kid``: ``Unauthorized`` when the key set does not have it,
        ``KeysUnavailable`` when the key set cannot be had."""
        known = self._keys.get(kid)
        if known is not None:
            if self._fetched_at is None or self._monotonic() - self._fetched_at > self.max_age:
                self._refresh()  # in the background: the cached key serves meanwhile
            return known
        fetch = self._refresh()
        if fetch is not None:
            # asyncio.wait neither raises the fetch's error nor cancels the fetch when this
            # request is cancelled: other requests wait on it too.
            await asyncio.wait([fetch])
            known = self._keys.get(kid)
            if known is not None:
                return known
        if self.state is not KeySourceState.OK:
            raise KeysUnavailable()
        raise Unauthorized("unknown key id")

    @property
    def cached(self) -> int:
        """How many keys are cached."""
        return len(self._keys)

    def health(self) -> dict[str, Any]:
        """The key source's state for ``/healthz``."""
        report: dict[str, Any] = {"status": str(self.state), "cached_keys": self.cached}
        if self.since is not None:
            report["since"] = self.since.isoformat()
        if self.error:
            report["error"] = self.error
        return report

    async def refreshed(self) -> None:
        """Wait for the fetch under way, if any, to end (fetched or given up)."""
        if self._fetch is not None:
            await asyncio.wait([self._fetch])

    async def close(self) -> None:
        """Stop a fetch under way and close the HTTP session."""
        if self._fetch is not None:
            self._fetch.cancel()
            await asyncio.wait([self._fetch])
            self._fetch = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _refresh(self) -> asyncio.Task[None] | None:
        """The fetch under way, or a new one if the last began ``refresh_interval`` ago;
        ``None`` when it is too early to try again."""
        if self._fetch is not None:
            return self._fetch
        now = self._monotonic()
        if self._attempted_at is not None and now - self._attempted_at < self.refresh_interval:
            return None
        self._attempted_at = now
        self._fetch = asyncio.create_task(self._fetch_keys(), name="teams-signing-keys")
        return self._fetch

    async def _fetch_keys(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                keys = await self._download()
        except Exception as error:  # any failure leaves the cached keys in use
            self.error = type(error).__name__
            if self.state is not KeySourceState.UNREACHABLE:
                self.state = KeySourceState.UNREACHABLE
                self.since = self._wall()
            log.error(
                "teams signing keys unreachable (%s); %d cached keys still in use",
                self.error,
                len(self._keys),
            )
        else:
            self._keys = keys
            self._fetched_at = self._monotonic()
            self.error = ""
            if self.state is not KeySourceState.OK:
                self.state = KeySourceState.OK
                self.since = self._wall()
            log.info("teams signing keys fetched: %d keys", len(keys))
        finally:
            self._fetch = None

    async def _download(self) -> dict[str, SigningKey]:
        if self._session is None:
            self._session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        async with self._session.get(self.url, allow_redirects=False) as response:
            response.raise_for_status()
            body = bytearray()
            async for chunk in response.content.iter_chunked(64 * 1024):
                body += chunk
                if len(body) > MAX_KEY_SET_BYTES:
                    raise ValueError("key set too large")
        return parse_key_set(json.loads(body))


def parse_key_set(document: object) -> dict[str, SigningKey]:
    """The RSA signing keys of a JWKS document, by key id (others are left out); ``ValueError``
    when it has none."""
    listed = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str, SigningKey] = {}
    for entry in listed if isinstance(listed, list) else []:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            continue
        endorsed = entry.get("endorsements")
        endorsements = (
            frozenset(e for e in endorsed if isinstance(e, str))
            if isinstance(endorsed, list)
            else None
        )
        keys[kid] = SigningKey(key=key, endorsements=endorsements)
    if not keys:
        raise ValueError("no usable signing key in the key set")
    return keys


class ChannelTokens:
    """Checks channel tokens for the bot ``app_id`` against the keys of ``keys``, issued by
    ``issuer`` (the Bot Framework's, of the bot's cloud)."""

    def __init__(self, keys: SigningKeys, *, app_id: str | None, issuer: str) -> None:
        self.keys = keys
        self.app_id = app_id
        self.issuer = issuer

    async def verify(self, token: str) -> ChannelToken:
        """The verified token; ``Unauthorized`` for any token that is not a valid channel
        token, ``KeysUnavailable`` when its key cannot be had."""
        if not self.app_id:
            raise Unauthorized("no bot identity to check a token against")
        try:
            header = jwt.get_unverified_header(token)
            # Read before any key is fetched, to refuse early what cannot pass; acceptance is
            # decided on the verified claims below.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as error:
            raise Unauthorized(f"malformed token ({type(error).__name__})") from error
        if header.get("alg") != ALGORITHM:
            raise Unauthorized("not signed with RS256")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise Unauthorized("no key id")
        if unverified.get("iss") != self.issuer:
            raise Unauthorized("not issued by the Bot Framework")
        signing = await self.keys.get(kid)
        try:
            claims = jwt.decode(
                token,
                signing.key,
                algorithms=[ALGORITHM],
                audience=self.app_id,
                issuer=self.issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as error:
            raise Unauthorized(f"invalid token ({type(error).__name__})") from error
        service_url = claims.get("serviceurl")
        if not isinstance(service_url, str) or _service_url(service_url) is None:
            raise Unauthorized("no service URL in the token")
        return ChannelToken(
            service_url=service_url, endorsements=signing.endorsements, claims=claims
        )


class KeySourceMetrics(Collector):
    """``/metrics`` gauges of the key source, read when scraped."""

    def __init__(self, keys: SigningKeys) -> None:
        self.keys = keys

    def collect(self) -> Iterator[Metric]:
        """``valuesbot_teams_signing_keys_reachable`` (1 when the last fetch worked) and
        ``valuesbot_teams_signing_keys_cached``."""
        reachable = GaugeMetricFamily(
            "valuesbot_teams_signing_keys_reachable",
            "1 when the last fetch of the Teams token signing keys worked, 0 when it failed "
            "or none was made yet.",
        )
        reachable.add_metric([], 1.0 if self.keys.state is KeySourceState.OK else 0.0)
        yield reachable
        cached = GaugeMetricFamily(
            "valuesbot_teams_signing_keys_cached",
            "Teams token signing keys in the cache (what tokens are checked with).",
        )
        cached.add_metric([], float(self.keys.cached))
        yield cached
