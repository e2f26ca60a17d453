"""A turn: one event being handled, with its unit of work and the replies it will send.

Handlers and dialogs reply through the turn; the replies wait until the turn's transaction has
committed and are then handed to the platform's ``Outbound`` (``bot.outbound``). So a reply
never describes a state the database does not hold, and a failed turn sends nothing but an
apology.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, TypeVar

from bot.events import ConversationRef, Event
from bot.outbound import Post, Reply
from bot.ui import Card
from storage.people import PersonKey
from storage.stores import Stores

E = TypeVar("E", bound=Event, covariant=True)


class Turn(Generic[E]):
    """One event being handled. ``reply`` answers where the event happened.

    ``command_prefix`` is how commands are typed on the event's platform (its adapter says so
    when it connects): "/" for slash commands, "" where the platform offers the bot's commands
    as plain words (Teams' command menu). Cards that teach a command write it with ``command``.
    """

    def __init__(
        self, event: E, stores: Stores, now: datetime, *, command_prefix: str = "/"
    ) -> None:
        self.event = event
        self.stores = stores
        self.now = now
        self.command_prefix = command_prefix
        self.replies: list[Reply] = []
        self.posts: list[Post] = []

    def command(self, text: str) -> str:
        """A command (with its words: "valueslens history") as people type it here."""
        return f"{self.command_prefix}{text}"

    @property
    def person(self) -> PersonKey:
        """The person who caused the event."""
        return PersonKey.of(self.event)

    def reply(self, card: Card, *, private: bool = False, remember: str | None = None) -> None:
        """Answer in the event's conversation (after the turn commits). With ``remember``, the
        feature hears where the card landed (``bot.events.CardPosted`` with that key)."""
        self.replies.append(Reply(card=card, private=private, remember=remember))

    def update(self, card: Card) -> None:
        """Replace the card the person clicked; platforms that cannot, post it instead."""
        self.replies.append(Reply(card=card, replace=True))

    def post(self, place: ConversationRef, card: Card, *, remember: str | None = None) -> None:
        """Post a card to another conversation (after the turn commits); ``remember`` as for
        ``reply``."""
        self.posts.append(Post(place=place, card=card, remember=remember))
