"""The pending pool's key: answers waiting for their batch, sealed so that the database alone
can neither read them nor tie them to the rows they become.

An answer is not written to the response tables when it is given: it waits in
``barometer_pending`` as one row, until enough others wait with it for a batch to be written
together (``storage.barometer.sql``). While it waits, its row holds:

- ``sealed``: the answer (values, group, comment) and the hash of its token, encrypted with
  AES-GCM under a key derived from a secret that is not in the database, padded first to one
  size (``ENTRY_SIZE``), so its length says nothing about the comment. The row's round, id and
  kind are authenticated with it: a sealed answer moved to another row does not open;
- ``lookup``: a keyed hash of the token hash, so the person's own message can find its answer
  again (to change it), while nobody without the key can match it to the token hash that the
  response rows carry once the batch is written. The two kinds (a first answer, a change of an
  answer already written) have different lookups, so they cannot be matched to each other.

The key is derived (HKDF-SHA256, one label per use) from the secret ``AnswerKey`` is given:
``VALUESBOT_ANSWER_KEY`` and its fallbacks, see ``bot.answer_key``. Two more derivations serve
the round once it has closed (``author_mark``, ``holder_mark``): with labels of their own, so no
value made with one can be matched to a value made with another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from storage.barometer.records import BarometerAnswer

# Every sealed answer is padded to a multiple of this many bytes before it is encrypted. A
# comment of 500 characters (the longest the cards take) written entirely in characters JSON
# escapes as six bytes each still fits in one block, with the values, group and token hash.
ENTRY_SIZE = 4096
_NONCE = 12
_LENGTH = 4
_LABEL = b"valuesbot barometer pending answers v1 "


class UnreadableAnswer(Exception):
    """A sealed answer does not open with this key (another key sealed it, or it was
    altered)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingAnswer:
    """An answer waiting in the pool: what it becomes in the response tables, and the hash of
    its token (which the response rows carry, for the person's own message to change it)."""

    token_hash: str
    answer: BarometerAnswer


def _derive(secret: bytes, use: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_LABEL + use).derive(secret)


class AnswerKey:
    """Seals and opens answers waiting in the pool, and makes their lookups.

    Only a derivation of the secret is kept; ``fingerprint`` names the key (to check at start-up
    that every instance sharing a database uses the same one) and says nothing about it."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the answer key's secret needs at least 16 bytes")
        self._aead = AESGCM(_derive(secret, b"seal"))
        self._lookup = _derive(secret, b"lookup")
        self._author = _derive(secret, b"comment author")
        self._holder = _derive(secret, b"card holder")
        self.fingerprint = _derive(secret, b"fingerprint").hex()

    @classmethod
    def from_text(cls, secret: str) -> AnswerKey:
        """The key of a secret given as text (a setting, a key file)."""
        return cls(secret.strip().encode())

    @classmethod
    def generate(cls) -> AnswerKey:
        """A key of its own, kept nowhere (for a database that lives only as long as the
        process: SQLite in memory)."""
        return cls(secrets.token_bytes(32))

    def lookup(self, token_hash: str, replaces: bool) -> str:
        """What the pool row of the answer holding ``token_hash`` is found by."""
        kind = b"change " if replaces else b"first "
        return hmac.new(self._lookup, kind + token_hash.encode(), hashlib.sha256).hexdigest()

    def author_mark(self, token_hash: str) -> str:
        """What a closed round's comment keeps of its author's token (``token_hash`` is the
        hash of the token in the author's own chat message): a keyed hash, so only someone
        holding both that message and this key can find the comment; the database alone cannot
        tie it to anything else it holds."""
        return hmac.new(self._author, token_hash.encode(), hashlib.sha256).hexdigest()

    def holder_mark(self, token_hash: str, holder: str) -> str:
        """A keyed hash of a card's token with the person it was given to (``holder``), which
        the card carries (never the database): a click on that card by anyone else, with the
        token copied, does not match it."""
        given = f"{token_hash}\x1f{holder}".encode()
        return hmac.new(self._holder, given, hashlib.sha256).hexdigest()

    def seal(self, round_id: str, entry_id: str, replaces: bool, pending: PendingAnswer) -> bytes:
        """The answer, padded to ``ENTRY_SIZE`` (or a multiple) and encrypted: a random nonce,
        then the ciphertext and its tag."""
        answer = pending.answer
        plain = json.dumps(
            {
                "t": pending.token_hash,
                "v": dict(answer.values),
                "g": answer.group,
                "c": answer.comment,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
        size = -(-(len(plain) + _LENGTH) // ENTRY_SIZE) * ENTRY_SIZE
        padded = len(plain).to_bytes(_LENGTH, "big") + plain
        padded += bytes(size - len(padded))
        nonce = secrets.token_bytes(_NONCE)
        return nonce + self._aead.encrypt(nonce, padded, _associated(round_id, entry_id, replaces))

    def open(self, round_id: str, entry_id: str, replaces: bool, sealed: bytes) -> PendingAnswer:
        """The answer a pool row holds; ``UnreadableAnswer`` if this key did not seal it for
        that row."""
        try:
            padded = self._aead.decrypt(
                sealed[:_NONCE], sealed[_NONCE:], _associated(round_id, entry_id, replaces)
            )
        except (InvalidTag, ValueError) as error:
            raise UnreadableAnswer(entry_id) from error
        length = int.from_bytes(padded[:_LENGTH], "big")
        data = json.loads(padded[_LENGTH : _LENGTH + length])
        return PendingAnswer(
            token_hash=str(data["t"]),
            answer=BarometerAnswer(
                values={str(k): str(v) for k, v in data["v"].items()},
                group=None if data["g"] is None else str(data["g"]),
                comment=str(data["c"]),
            ),
        )


def _associated(round_id: str, entry_id: str, replaces: bool) -> bytes:
    return "\x1f".join((round_id, entry_id, "change" if replaces else "first")).encode()
