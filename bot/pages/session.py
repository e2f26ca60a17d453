"""Who is signed in to the web pages, kept in signed cookies (``VALUESBOT_WEB_ACCESS`` signed-in
or signed-in-all).

Two cookies, each a JSON object and its HMAC-SHA256, with a key derived (HKDF) from
``VALUESBOT_WEB_SECRET``; the cookie's name is signed too, so one cannot stand for the other:

- the **session** (``SESSION_COOKIE``): who signed in (subject, name for the header, tenant or
  workspace), when it ends (``VALUESBOT_WEB_SESSION_HOURS``) and the token that the sign-out form
  carries against cross-site requests;
- the **sign-in under way** (``SIGN_IN_COOKIE``, ten minutes): the ``state``, ``nonce`` and PKCE
  verifier sent to the provider, and where to return, a path of this site only.

Both are ``HttpOnly``, ``Secure``, ``SameSite=Lax`` and ``Path=/`` with the ``__Host-`` prefix
(a browser keeps them for this exact host only). Nothing is kept on the server: signing out
clears the cookies of that browser; a copied cookie is good until it ends. Pure: no HTTP here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.pages import Viewer

SESSION_COOKIE = "__Host-valuesbot-session"
SIGN_IN_COOKIE = "__Host-valuesbot-signin"
SIGN_IN_MINUTES = 10
"""How long a sign-in may take at the provider before it must start again."""
MAX_COOKIE = 4096
MAX_NEXT = 500
_NEXT = re.compile(r"^/(?![/\\])[^\\\s\x00-\x1f\x7f]*$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def token() -> str:
    """A random, unguessable value (state, nonce, the sign-out form's token)."""
    return secrets.token_urlsafe(32)


class CookieSigner:
    """Signs and checks the cookies' contents with a key derived from the web secret."""

    def __init__(self, secret: str) -> None:
        self._key = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"valuesbot web cookies v1"
        ).derive(secret.encode())

    def _mac(self, name: str, body: str) -> bytes:
        return hmac.new(self._key, f"{name}.{body}".encode(), hashlib.sha256).digest()

    def seal(self, name: str, payload: dict[str, Any]) -> str:
        """The cookie ``name``'s value holding ``payload``."""
        body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{_b64(self._mac(name, body))}"

    def open(self, name: str, value: str | None) -> dict[str, Any] | None:
        """What the cookie holds, or None when it is missing, malformed or not signed by this
        key for this name."""
        if not value or len(value) > MAX_COOKIE or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        try:
            given = _unb64(mac)
            if not hmac.compare_digest(given, self._mac(name, body)):
                return None
            payload = json.loads(_unb64(body))
        except (binascii.Error, ValueError):
            return None
        return payload if isinstance(payload, dict) else None


def _text(payload: dict[str, Any], key: str, limit: int = 512) -> str | None:
    value = payload.get(key)
    return value if isinstance(value, str) and 0 < len(value) <= limit else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A person signed in, until ``expires`` (seconds since 1970)."""

    subject: str
    name: str
    tenant: str
    csrf: str
    expires: int

    @classmethod
    def start(cls, *, subject: str, name: str, tenant: str, now: datetime, hours: float) -> Session:
        """A new session from now."""
        ends = now + timedelta(hours=hours)
        return cls(subject=subject, name=name, tenant=tenant, csrf=token(), expires=_epoch(ends))

    @classmethod
    def read(cls, signer: CookieSigner, value: str | None, now: datetime) -> Session | None:
        """The session of a cookie's value; None unless signed, whole and not ended."""
        payload = signer.open(SESSION_COOKIE, value)
        if payload is None:
            return None
        texts = [_text(payload, key) for key in ("subject", "name", "tenant", "csrf")]
        expires = payload.get("expires")
        if any(t is None for t in texts) or type(expires) is not int or expires <= _epoch(now):
            return None
        subject, name, tenant, csrf = (str(t) for t in texts)
        return cls(subject=subject, name=name, tenant=tenant, csrf=csrf, expires=expires)

    def seal(self, signer: CookieSigner) -> str:
        """The cookie's value."""
        return signer.seal(SESSION_COOKIE, asdict(self))

    def seconds_left(self, now: datetime) -> int:
        """How long the cookie should be kept."""
        return max(0, self.expires - _epoch(now))

    @property
    def viewer(self) -> Viewer:
        """Who the pages are shown to."""
        return Viewer(subject=self.subject, name=self.name, tenant=self.tenant, csrf=self.csrf)


@dataclass(frozen=True, slots=True, kw_only=True)
class SignInUnderWay:
    """What a sign-in sent the provider, kept until it comes back (``SIGN_IN_COOKIE``)."""

    state: str
    nonce: str
    verifier: str
    next: str
    expires: int

    @classmethod
    def start(cls, *, next_path: str, now: datetime) -> SignInUnderWay:
        """A new sign-in returning to ``next_path`` (a path checked by ``safe_next``)."""
        return cls(
            state=token(),
            nonce=token(),
            # RFC 7636: 43 to 128 characters of A-Z a-z 0-9 - . _ ~
            verifier=secrets.token_urlsafe(48),
            next=next_path,
            expires=_epoch(now + timedelta(minutes=SIGN_IN_MINUTES)),
        )

    @classmethod
    def read(cls, signer: CookieSigner, value: str | None, now: datetime) -> SignInUnderWay | None:
        """The sign-in of a cookie's value; None unless signed, whole and not ended."""
        payload = signer.open(SIGN_IN_COOKIE, value)
        if payload is None:
            return None
        texts = [_text(payload, key) for key in ("state", "nonce", "verifier", "next")]
        expires = payload.get("expires")
        if any(t is None for t in texts) or type(expires) is not int or expires <= _epoch(now):
            return None
        state, nonce, verifier, next_path = (str(t) for t in texts)
        checked = safe_next(next_path)
        if checked is None:
            return None
        return cls(state=state, nonce=nonce, verifier=verifier, next=checked, expires=expires)

    def seal(self, signer: CookieSigner) -> str:
        """The cookie's value."""
        return signer.seal(SIGN_IN_COOKIE, asdict(self))


def safe_next(value: str | None) -> str | None:
    """Where to return after signing in: a path of this site (``/case-studies?q=x``), else
    None. Never an address elsewhere: no scheme, no host, no ``//`` or backslash that a browser
    would read as one, no control characters, no sign-in page (it would go round)."""
    if value is None or not 1 <= len(value) <= MAX_NEXT or not _NEXT.match(value):
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    if parts.path in ("/signin", "/signout") or parts.path.startswith("/signin/"):
        return None
    return value


def _epoch(when: datetime) -> int:
    return int(when.timestamp())
