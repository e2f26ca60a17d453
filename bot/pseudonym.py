"""Keyed hashes that stand in for people where a feature must count them but never name them."""

from __future__ import annotations

import hashlib
import hmac


class Pseudonymiser:
    """Turns a person into a stable, unguessable key within one scope (one team check-in, say).

    The same person gets a different key in every scope, so keys cannot be joined across
    features; without the secret a key cannot be traced back to anyone.
    """

    def __init__(self, secret: str) -> None:
        if len(secret) < 16:
            raise ValueError("the pseudonymisation secret needs at least 16 characters")
        self._secret = secret.encode()

    def key(self, scope: str, platform: str, tenant: str, user: str) -> str:
        """The key of ``user`` in ``scope``."""
        message = "\x1f".join((scope, platform, tenant, user)).encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:40]
