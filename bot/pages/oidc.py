"""Signing in with OpenID Connect (Microsoft Entra ID, Sign in with Slack, or any provider that
publishes a discovery document): the authorization code flow with PKCE, for a confidential
client.

``OpenIdProvider`` knows the provider from ``VALUESBOT_OIDC_ISSUER``: its discovery document
(``<issuer>/.well-known/openid-configuration``, whose ``issuer`` must be that very address) and
its signing keys (the document's ``jwks_uri``), both fetched over the server's own HTTP client
(aiohttp) with a timeout, one fetch at a time, and kept: refreshed after ``MAX_AGE``, the keys
also when a token names a key not cached (a key rotation), at most every
``REFRESH_INTERVAL``. While the provider cannot be reached, what is cached serves; with nothing
cached, sign-in answers 503.

authlib writes the authorization request (``state``, ``nonce``, the PKCE S256 challenge) and
checks the ID token's claims (``iss`` is the issuer, ``aud`` this client, ``exp`` and ``iat``
with a minute's leeway for clocks, ``nonce`` the one sent, ``azp`` and ``at_hash`` when given);
joserfc checks its signature with the provider's published keys, asymmetric algorithms only.
Then the person's tenant or workspace must be one of ``VALUESBOT_OIDC_ALLOWED``: the ``tid``
claim of Entra ID, ``https://slack.com/team_id`` of Slack.

Nothing of the tokens or claims is logged: only what kind of refusal it was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from aiohttp import BasicAuth, ClientError, ClientSession, ClientTimeout
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from bot.settings import LOOPBACK

log = logging.getLogger("valuesbot.signin")

# A fetch from the provider is given up after this long (seconds): nobody waits longer.
FETCH_TIMEOUT = 5.0
# The discovery document and keys rarely change; they are fetched again after a day.
MAX_AGE = 24 * 3600.0
# A failed fetch, or a key id not cached, starts another at most this often.
REFRESH_INTERVAL = 30.0
# Discovery documents and key sets are a few kilobytes; token responses less.
MAX_DOCUMENT_BYTES = 512 * 1024
# Clock skew allowed on the ID token's times (seconds).
LEEWAY_SECONDS = 60
SCOPE = "openid profile"
# Signatures by the provider's published keys only: never "none", never a shared secret.
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
ENTRA_TENANT = "tid"
SLACK_WORKSPACE = "https://slack.com/team_id"
MAX_NAME = 100


class SignInRefused(Exception):
    """The sign-in did not prove who the person is, or they may not sign in here; the message
    is shown to them."""

    def __init__(self, message: str, *, reason: str, status: int = 401) -> None:
        super().__init__(message)
        self.reason = reason
        """What failed, for the log line (never what the token said)."""
        self.status = status


class ProviderUnavailable(Exception):
    """The provider could not be reached, or answered what is not OpenID Connect."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Discovery:
    """What the bot uses of the provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]
    secret_in_body: bool
    """True to send the client secret in the token request's body (``client_secret_post``),
    else with HTTP Basic (``client_secret_basic``, the standard's default)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who signed in, as the ID token says."""

    subject: str
    name: str
    tenant: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Authorization:
    """Where to send the person to sign in."""

    url: str


def _address(value: object) -> str | None:
    """An endpoint from the discovery document: https (or http on this machine)."""
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    if parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK):
        return value if parts.hostname else None
    return None


def discovery_of(document: Mapping[str, Any], issuer: str) -> Discovery:
    """The parts of a discovery document the bot needs; ``ProviderUnavailable`` when it is not
    the issuer's or lacks one."""
    if document.get("issuer") != issuer:
        raise ProviderUnavailable("the discovery document is another issuer's")
    endpoints = [
        _address(document.get(key))
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri")
    ]
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(a for a in offered if isinstance(a, str) and a in ALGORITHMS)
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if any(e is None for e in endpoints) or not algorithms or not isinstance(methods, list):
        raise ProviderUnavailable("the discovery document lacks what sign-in needs")
    authorization, token, keys = (str(e) for e in endpoints)
    return Discovery(
        issuer=issuer,
        authorization_endpoint=authorization,
        token_endpoint=token,
        jwks_uri=keys,
        algorithms=algorithms,
        secret_in_body="client_secret_post" in methods,
    )


def _name(claims: Mapping[str, Any]) -> str:
    for key in ("name", "preferred_username", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= MAX_NAME else text[: MAX_NAME - 1] + "…"
    return "Signed in"


class OpenIdProvider:
    """The OpenID provider people sign in with (see the module's text).

    ``now`` is the wall clock ID tokens are checked against; ``monotonic`` paces fetches."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        allowed: Collection[str],
        now: Callable[[], datetime],
        timeout: float = FETCH_TIMEOUT,
        max_age: float = MAX_AGE,
        refresh_interval: float = REFRESH_INTERVAL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self._secret = client_secret
        self.redirect_uri = redirect_uri
        self.allowed = frozenset(allowed)
        self._now = now
        self.timeout = timeout
        self.max_age = max_age
        self.refresh_interval = refresh_interval
        self._monotonic = monotonic
        self._lock = asyncio.Lock()
        self._session: ClientSession | None = None
        self._discovery: Discovery | None = None
        self._discovered_at: float | None = None
        self._discovery_tried: float | None = None
        self._keys: KeySet | None = None
        self._keys_at: float | None = None
        self._keys_tried: float | None = None

    @property
    def label(self) -> str:
        """What people sign in with, in words ("your Microsoft account")."""
        host = urlsplit(self.issuer).hostname or ""
        if host.endswith(("microsoftonline.com", "microsoftonline.us", "microsoft.com")):
            return "your Microsoft work account"
        if host == "slack.com" or host.endswith(".slack.com"):
            return "Slack"
        return "your organisation's account"

    # Fetching

    def _http(self) -> ClientSession:
        if self._session is None or self._session.closed:
            self._session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        return self._session

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._http().get(url, allow_redirects=False) as response:
                body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
                if response.status != 200 or len(body) > MAX_DOCUMENT_BYTES:
                    raise ProviderUnavailable(f"HTTP {response.status}")
        except (ClientError, TimeoutError) as error:
            raise ProviderUnavailable(type(error).__name__) from error
        return _json_object(body)

    def _due(self, fetched: float | None, tried: float | None) -> bool:
        now = self._monotonic()
        if fetched is not None and now - fetched <= self.max_age:
            return False
        return tried is None or now - tried >= self.refresh_interval

    async def discovery(self) -> Discovery:
        """The provider's discovery document, cached."""
        if self._discovery is not None and not self._due(
            self._discovered_at, self._discovery_tried
        ):
            return self._discovery
        async with self._lock:
            if self._due(self._discovered_at, self._discovery_tried):
                self._discovery_tried = self._monotonic()
                url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
                try:
                    self._discovery = discovery_of(await self._get_json(url), self.issuer)
                    self._discovered_at = self._monotonic()
                except ProviderUnavailable as error:
                    log.warning("sign-in: the provider's discovery document: %s", error)
            if self._discovery is None:
                raise ProviderUnavailable("no discovery document")
            return self._discovery

    async def keys(self, *, rotated: bool = False) -> KeySet:
        """The provider's signing keys, cached; with ``rotated`` (a token named a key not
        cached), fetched again unless they were tried within ``refresh_interval``."""
        discovery = await self.discovery()
        if (
            self._keys is not None
            and not rotated
            and not self._due(self._keys_at, self._keys_tried)
        ):
            return self._keys
        async with self._lock:
            now = self._monotonic()
            again = self._keys_tried is None or now - self._keys_tried >= self.refresh_interval
            if (rotated and again) or self._due(self._keys_at, self._keys_tried):
                self._keys_tried = now
                try:
                    self._keys = KeySet.import_key_set(
                        await self._get_json(discovery.jwks_uri)  # type: ignore[arg-type]
                    )
                    self._keys_at = self._monotonic()
                except (ProviderUnavailable, JoseError, ValueError, KeyError, TypeError) as error:
                    log.warning("sign-in: the provider's keys: %s", type(error).__name__)
            if self._keys is None:
                raise ProviderUnavailable("no signing keys")
            return self._keys

    async def close(self) -> None:
        """Close the HTTP client."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    # Signing in

    async def authorization(self, *, state: str, nonce: str, verifier: str) -> Authorization:
        """The provider's address that asks the person to sign in and sends them back to
        ``redirect_uri`` with a code and ``state``."""
        discovery = await self.discovery()
        url = prepare_grant_uri(
            discovery.authorization_endpoint,
            self.client_id,
            "code",
            redirect_uri=self.redirect_uri,
            scope=SCOPE,
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return Authorization(url=str(url))

    async def identify(self, *, code: str, verifier: str, nonce: str) -> Identity:
        """Exchange the code for an ID token and check it; who it names, when they may sign
        in here. ``SignInRefused`` otherwise, ``ProviderUnavailable`` when the provider
        cannot be reached."""
        discovery = await self.discovery()
        tokens = await self._token(discovery, code, verifier)
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str) or not id_token:
            raise SignInRefused(
                "The sign-in service did not say who you are.", reason="no ID token"
            )
        claims = await self._verified(discovery, id_token, nonce, tokens.get("access_token"))
        tenant = claims.get(ENTRA_TENANT) or claims.get(SLACK_WORKSPACE)
        if not isinstance(tenant, str) or tenant not in self.allowed:
            raise SignInRefused(
                "Your account is not one of the organisation's: it cannot sign in here.",
                reason="tenant or workspace not allowed",
                status=403,
            )
        subject = claims["sub"]
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise SignInRefused("The sign-in did not work.", reason="malformed subject")
        return Identity(subject=subject, name=_name(claims), tenant=tenant)

    async def _token(self, discovery: Discovery, code: str, verifier: str) -> dict[str, Any]:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": verifier,
            "client_id": self.client_id,
        }
        auth = None
        if discovery.secret_in_body:
            form["client_secret"] = self._secret
        else:
            # RFC 6749 2.3.1: the id and secret are form-encoded before Basic's base64.
            auth = BasicAuth(quote(self.client_id, safe=""), quote(self._secret, safe=""))
        try:
            async with self._http().post(
                discovery.token_endpoint,
                data=form,
                auth=auth,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            ) as response:
                body = await response.content.read(MAX_DOCUMENT_BYTES + 1)
                status = response.status
        except (ClientError, TimeoutError) as error:
            log.warning("sign-in: the token endpoint: %s", type(error).__name__)
            raise ProviderUnavailable(type(error).__name__) from error
        if status >= 500:
            log.warning("sign-in: the token endpoint answered HTTP %s", status)
            raise ProviderUnavailable(f"HTTP {status}")
        if status != 200 or len(body) > MAX_DOCUMENT_BYTES:
            raise SignInRefused(
                "The sign-in service refused this sign-in.", reason=f"token endpoint {status}"
            )
        try:
            return _json_object(body)
        except ProviderUnavailable as error:
            raise SignInRefused(
                "The sign-in service refused this sign-in.", reason="token response not JSON"
            ) from error

    async def _verified(
        self, discovery: Discovery, id_token: str, nonce: str, access_token: object
    ) -> Mapping[str, Any]:
        keys = await self.keys()
        try:
            try:
                token = jwt.decode(id_token, keys, algorithms=discovery.algorithms)
            except InvalidKeyIdError:
                token = jwt.decode(
                    id_token, await self.keys(rotated=True), algorithms=discovery.algorithms
                )
            checked = CodeIDToken(
                token.claims,
                token.header,
                {
                    "iss": {"essential": True, "value": self.issuer},
                    "aud": {"essential": True, "value": self.client_id},
                    "sub": {"essential": True},
                    "exp": {"essential": True},
                    "iat": {"essential": True},
                    "nonce": {"essential": True},
                },
                {
                    "nonce": nonce,
                    "client_id": self.client_id,
                    "access_token": access_token if isinstance(access_token, str) else None,
                },
            )
            checked.validate(now=int(self._now().timestamp()), leeway=LEEWAY_SECONDS)
        except JoseError as error:
            log.info("sign-in: refused, the ID token: %s", type(error).__name__)
            raise SignInRefused(
                "The sign-in could not be checked.", reason=type(error).__name__
            ) from error
        except ValueError as error:  # a token that is not a JWT at all
            raise SignInRefused(
                "The sign-in could not be checked.", reason="malformed ID token"
            ) from error
        return dict(checked)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as error:
        raise ProviderUnavailable("not JSON") from error
    if not isinstance(value, dict):
        raise ProviderUnavailable("not a JSON object")
    return value
