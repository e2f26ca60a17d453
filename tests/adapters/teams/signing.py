"""Bot Framework channel tokens made by the tests, and the key endpoint that publishes their keys.

``Keys`` signs tokens with keys made for the test run: ``KID``, endorsed for Teams as the
channel service's keys are, and ``WEBCHAT_KID``, endorsed for another channel only. A
``KeyServer`` on 127.0.0.1 publishes them as a JWKS document, counts the requests it gets and,
after ``hang()``, accepts them and never answers (until ``serve()`` or the end of the test), as
a key endpoint in trouble does.
"""

from __future__ import annotations

import asyncio
import json
import time
from types import TracebackType
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.adapters.teams.conftest import APP_ID

KID = "local-test-key"
WEBCHAT_KID = "local-webchat-key"
BOT_FRAMEWORK = "https://api.botframework.com"


def _jwk(key: rsa.RSAPrivateKey, kid: str, endorsements: list[str]) -> dict[str, Any]:
    public: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return public | {"kid": kid, "use": "sig", "endorsements": endorsements}


class Keys:
    """Signing keys of our own (see the module's text), and tokens signed with them."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.webchat = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwks = {
            "keys": [
                _jwk(self.private, KID, ["msteams"]),
                _jwk(self.webchat, WEBCHAT_KID, ["webchat"]),
            ]
        }

    def token(
        self,
        *,
        service_url: str | None,
        key: Any = None,
        kid: str | None = KID,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        """A channel token for the bot's app id (``service_url=None``: without the
        ``serviceurl`` claim); ``claims`` change or add claims."""
        now = int(time.time())
        payload = {"iss": BOT_FRAMEWORK, "aud": APP_ID, "nbf": now - 60, "exp": now + 3600}
        if service_url is not None:
            payload["serviceurl"] = service_url
        payload.update(claims)
        headers = {"kid": kid} if kid else {}
        if algorithm == "none":
            return jwt.encode(payload, None, algorithm="none", headers=headers)
        if key is None:
            key = self.webchat if kid == WEBCHAT_KID else self.private
        return jwt.encode(payload, key, algorithm=algorithm, headers=headers)


class KeyServer:
    """The channel service's key endpoint, on 127.0.0.1 (see the module's text)."""

    def __init__(self, keys: Keys, *, hanging: bool = False) -> None:
        self.jwks: dict[str, Any] = keys.jwks  # what it publishes
        self.requests = 0
        self.answered = 0
        self._go = asyncio.Event()
        if not hanging:
            self._go.set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    def hang(self) -> None:
        """From now on, accept requests and keep them waiting."""
        self._go.clear()

    def serve(self) -> None:
        """Answer again (the requests kept waiting too)."""
        self._go.set()

    async def _keys(self, _: web.Request) -> web.Response:
        self.requests += 1
        await self._go.wait()
        self.answered += 1
        return web.json_response(self.jwks)

    async def __aenter__(self) -> KeyServer:
        web_app = web.Application()
        web_app.router.add_get("/v1/.well-known/keys", self._keys)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/v1/.well-known/keys"
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._go.set()
        if self._runner is not None:
            await self._runner.cleanup()
