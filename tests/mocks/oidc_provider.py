"""A local mock OpenID Connect provider for the sign-in tests, on 127.0.0.1.

It plays an identity provider such as Microsoft Entra ID: a discovery document
(``/.well-known/openid-configuration``), its signing keys (``/keys``, an RSA key made for the
test), an authorize endpoint that "signs the person in" at once and sends the browser back to
the client's ``redirect_uri`` with a one-time code and the ``state`` it was given, and a token
endpoint that checks the code, the redirect URI, the PKCE verifier against the challenge and the
client's secret, then returns an ID token signed with the test key.

The ID token's claims are what a real provider would put in (``iss``, ``aud``, ``sub``,
``name``, ``tid``, ``nonce``, ``iat``, ``exp``), changed by ``claims``: a test sets a claim to
another value (a wrong nonce, another audience or tenant, an expired ``exp``) or to ``None`` to
leave it out. ``sign_with`` signs with another key (one the provider never published). Every
request is recorded, so tests assert on what the bot sent.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

CLIENT_ID = "valuesbot-test-client"
CLIENT_SECRET = "test-client-secret-0123456789"
TENANT = "tenant-nhs-england"
KEY_ID = "test-key-1"
# Like Entra ID's, the issuer is a tenant's path on the provider's host.
ISSUER_PATH = f"/{TENANT}/v2.0"


@cache
def signing_key(kid: str = KEY_ID) -> RSAKey:
    """An RSA key made for the tests (one per key id, made once per run)."""
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """What an authorization request asked for, kept with its code."""

    client_id: str
    redirect_uri: str
    nonce: str | None
    challenge: str
    used: bool = False


@dataclass
class Seen:
    """A request the provider received."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    authorization: str | None


@dataclass
class MockOpenIdProvider:
    """The mock provider: ``start()`` it, use ``url`` as the issuer, ``stop()`` it."""

    now: Callable[[], datetime]
    client_id: str = CLIENT_ID
    client_secret: str = CLIENT_SECRET
    claims: dict[str, Any] = field(default_factory=dict)
    """Claims to change in the next ID tokens (``None`` leaves a claim out)."""
    sign_with: RSAKey | None = None
    published: list[RSAKey] = field(default_factory=lambda: [signing_key()])
    """The keys ``/keys`` lists (a test adds one to rotate)."""
    url: str = ""
    seen: list[Seen] = field(default_factory=list)
    grants: dict[str, Grant] = field(default_factory=dict)
    _runner: web.AppRunner | None = None

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get(ISSUER_PATH + "/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/keys", self._keys)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}{ISSUER_PATH}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def requests(self, path: str) -> list[Seen]:
        """The requests that reached ``path`` (``/token``...), in order."""
        return [s for s in self.seen if s.path.endswith(path)]

    # -- the endpoints -----------------------------------------------------------------------

    async def _record(self, request: web.Request) -> Seen:
        form = {k: str(v) for k, v in (await request.post()).items()}
        seen = Seen(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            form=form,
            authorization=request.headers.get("Authorization"),
        )
        self.seen.append(seen)
        return seen

    def _root(self) -> str:
        return self.url.removesuffix(ISSUER_PATH)

    async def _discovery(self, request: web.Request) -> web.Response:
        await self._record(request)
        root = self._root()
        return web.json_response(
            {
                "issuer": self.url,
                "authorization_endpoint": f"{root}/authorize",
                "token_endpoint": f"{root}/token",
                "jwks_uri": f"{root}/keys",
                "response_types_supported": ["code"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "client_secret_basic",
                ],
                "code_challenge_methods_supported": ["S256"],
                "scopes_supported": ["openid", "profile", "email"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        await self._record(request)
        return web.json_response({"keys": [k.as_dict(private=False) for k in self.published]})

    async def _authorize(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        asked = seen.query
        if (
            asked.get("response_type") != "code"
            or asked.get("client_id") != self.client_id
            or asked.get("code_challenge_method") != "S256"
            or not asked.get("code_challenge")
            or "openid" not in asked.get("scope", "").split()
        ):
            return web.json_response({"error": "invalid_request"}, status=400)
        code = secrets.token_urlsafe(24)
        self.grants[code] = Grant(
            client_id=asked["client_id"],
            redirect_uri=asked["redirect_uri"],
            nonce=asked.get("nonce"),
            challenge=asked["code_challenge"],
        )
        back = {"code": code, "state": asked.get("state", "")}
        raise web.HTTPFound(asked["redirect_uri"] + "?" + urlencode(back))

    def _client(self, seen: Seen) -> str | None:
        """The client the token request authenticated as, or None."""
        if seen.form.get("client_secret") is not None:
            ok = seen.form["client_secret"] == self.client_secret
            return seen.form.get("client_id") if ok else None
        if seen.authorization and seen.authorization.startswith("Basic "):
            user, _, secret = base64.b64decode(seen.authorization[6:]).decode().partition(":")
            return user if secret == self.client_secret else None
        return None

    async def _token(self, request: web.Request) -> web.Response:
        seen = await self._record(request)
        form = seen.form
        if self._client(seen) != self.client_id:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.grants.get(form.get("code", ""))
        if (
            form.get("grant_type") != "authorization_code"
            or grant is None
            or grant.used
            or grant.redirect_uri != form.get("redirect_uri")
            or _s256(form.get("code_verifier", "")) != grant.challenge
        ):
            return web.json_response({"error": "invalid_grant"}, status=400)
        grant.used = True
        now = self.now()
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": self.client_id,
            "sub": "subject-of-ann",
            "name": "Ann Archer",
            "preferred_username": "ann.archer@example.org",
            "tid": TENANT,
            "nonce": grant.nonce,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()),
        }
        claims.update(self.claims)
        claims = {k: v for k, v in claims.items() if v is not None}
        key = self.sign_with or signing_key()
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return web.json_response(
            {
                "token_type": "Bearer",
                "access_token": secrets.token_urlsafe(24),
                "expires_in": 3600,
                "id_token": id_token,
            }
        )
