"""A turn: one event being handled, with its unit of work and the replies it will send.

Handlers and dialogs reply through the turn; the replies wait until the turn's transaction has
committed and are then handed to the platform's ``Outbound``. So a reply never describes a state
the database does not hold, and a failed turn sends nothing but an apology.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from bot.events import ConversationRef, Event, MessageRef
from bot.ui import Card
from storage.base import PersonKey, Stores

E = TypeVar("E", bound=Event, covariant=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Reply:
    """A card to send in answer to an event.

    ``private`` replies are seen only by the person who caused the event (Slack: ephemeral;
    console: printed in their terminal only). ``replace`` replaces the card the person clicked
    instead of posting a new one.
    """

    card: Card
    private: bool = False
    replace: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Post:
    """A card for another conversation (a channel), sent after the turn commits."""

    place: ConversationRef
    card: Card


class Outbound(Protocol):
    """How one platform sends cards. Implemented by each adapter."""

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> None:
        """Send the replies to an event, in order, where the event happened."""
        ...

    async def post(self, place: ConversationRef, card: Card) -> MessageRef | None:
        """Send a card to a conversation on the bot's own initiative."""
        ...


class Turn(Generic[E]):
    """One event being handled. ``reply`` answers where the event happened."""

    def __init__(self, event: E, stores: Stores, now: datetime) -> None:
        self.event = event
        self.stores = stores
        self.now = now
        self.replies: list[Reply] = []
        self.posts: list[Post] = []

    @property
    def person(self) -> PersonKey:
        """The person who caused the event."""
        return PersonKey.of(self.event)

    def reply(self, card: Card, *, private: bool = False) -> None:
        """Answer in the event's conversation (after the turn commits)."""
        self.replies.append(Reply(card=card, private=private))

    def update(self, card: Card) -> None:
        """Replace the card the person clicked; platforms that cannot, post it instead."""
        self.replies.append(Reply(card=card, replace=True))

    def post(self, place: ConversationRef, card: Card) -> None:
        """Post a card to another conversation (after the turn commits)."""
        self.posts.append(Post(place=place, card=card))
