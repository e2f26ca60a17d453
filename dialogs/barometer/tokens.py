"""The token of an answered card: the one thing that ties a chat message to an answer.

A "thank you, recorded" card holds a random token that only that chat message has. The
database keeps a hash of it on the answer's rows while the round is open (so the card can
change its answer), and once the round has closed only a keyed mark of that hash on the
comment (``AnswerKey.author_mark``), so the card can find the response to its comment. The
card itself also holds a keyed mark of the token with the person it was given to
(``AnswerKey.holder_mark``, never stored), so the card opens that response for them alone.
"""

from __future__ import annotations

import hashlib
import secrets

from storage.people import PersonKey


def new_token() -> str:
    """A card's token: 192 random bits."""
    return secrets.token_urlsafe(24)


def token_hash(token: str) -> str:
    """What the response rows keep of a card's token (the pool keeps only a keyed hash of
    this). The token is 192 random bits, so a plain hash cannot be reversed by guessing."""
    return hashlib.sha256(token.encode()).hexdigest()


def holder(person: PersonKey) -> str:
    """Who a card was given to, as ``AnswerKey.holder_mark`` takes it."""
    return f"{person.platform}:{person.tenant}:{person.user}"
