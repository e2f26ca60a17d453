"""How the core sends: the ``Outbound`` each adapter implements, and what a failed send means.

Replies answer an event where it happened; posts go to a conversation on the bot's initiative
(results in a channel, a barometer card in someone's direct chat). A send that fails raises one
of the ``SendError`` kinds below, so the delivery machinery can tell "wait and retry" from "give
up on this recipient" without knowing any platform.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.events import ConversationRef, Event, MessageRef
from bot.ui import Card
from storage.people import Person, PersonKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A card to send in answer to an event.

    ``private`` replies are seen only by the person who caused the event (Slack: ephemeral;
    console: printed in their terminal only). ``replace`` replaces the card the person clicked
    instead of posting a new one. ``remember`` (a key, for a reply everyone sees) asks for the
    platform's reference to the message once it is sent: the dispatcher hands it to the
    feature (``bot.events.CardPosted``), which may change the card later.
    """

    card: Card
    private: bool = False
    replace: bool = False
    remember: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Post:
    """A card for another conversation (a channel), sent after the turn commits; ``remember``
    as for a ``Reply``."""

    place: ConversationRef
    card: Card
    remember: str | None = None


class SendError(Exception):
    """A send did not happen."""


class RateLimited(SendError):
    """The platform said "too many requests": try again after ``retry_after`` seconds."""

    def __init__(self, retry_after: float, message: str = "rate limited") -> None:
        super().__init__(f"{message} (retry after {retry_after:g}s)")
        self.retry_after = retry_after


class TemporarySendError(SendError):
    """The platform or the network failed (5xx, timeout): retrying later may work.

    ``maybe_sent`` says the request may have reached the platform even so (a timeout or a
    dropped connection after the request was written): the outbox then asks ``was_sent``
    before trying again, and sends nothing more when the platform cannot tell.
    """

    def __init__(self, message: str = "temporary failure", *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class RecipientUnreachable(SendError):
    """This recipient cannot be reached (left, archived, never met, bot removed): do not retry.

    ``reason`` is short and safe to show to comms ("user_not_found", "never met")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Outbound(Protocol):
    """How one platform sends cards. Implemented by each adapter.

    ``key`` on ``post`` and ``post_direct`` is the outbox key of a proactive message: an
    adapter attaches it to the message where the platform keeps such data (Slack: message
    metadata), so that ``was_sent`` can find the message again after a crash. Adapters whose
    platform cannot carry it ignore it. See docs/delivery.md.
    """

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        """Send the replies to an event, in order, where the event happened; where each one
        landed, in the same order (None for a reply the platform gave no reference for: a
        private one, a replaced card, one sent through a Slack response URL)."""
        ...

    async def replace(
        self, place: ConversationRef, message: MessageRef, card: Card, *, key: str | None = None
    ) -> None:
        """Change a message the bot posted in ``place`` (``message``, as a send returned it)
        into ``card``, on the bot's own initiative (``key``: the outbox key of the change).
        ``RecipientUnreachable`` when the platform will not change it (the message is gone or
        too old, the bot left the conversation); rate limits and failures as for a send."""
        ...

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        """Send a card to a conversation on the bot's own initiative."""
        ...

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        """Send a card to a person's direct chat with the bot (opening it if the platform
        allows); ``RecipientUnreachable`` when the platform cannot reach them. ``known`` is the
        person as stored, when the caller has just read it (a fan-out reads a batch's people
        together): the adapter then need not read it again."""
        ...

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        """Whether a message posted with outbox ``key`` reached ``to`` at or after ``since``:
        True or False when the platform can tell, None when it cannot (the outbox then never
        resends it). May raise ``SendError`` kinds like a send."""
        ...
