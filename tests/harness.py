"""The test harness: an adapter of its own that plays people talking to the bot.

``await harness.user_says("/valueslens", user="alice")`` sends what Alice typed through the real
dispatcher, router, dialogs and database; every card the bot sends is recorded with who could see
it (one person for private replies and direct chats, everyone in a channel for public replies and
posts). ``click`` presses a button on a card that person saw, with the values a platform would
send. No network, no platform.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.app import App
from bot.events import (
    ActionSubmitted,
    Actor,
    CommandReceived,
    ConversationKind,
    ConversationOpened,
    ConversationRef,
    Event,
    MessageReceived,
    MessageRef,
    Platform,
)
from bot.outbound import Reply
from bot.ui import Card, submission
from storage.base import PersonKey

TENANT = "test"


@dataclass(frozen=True, slots=True)
class Seen:
    """A card as it reached a conversation."""

    seq: int
    conversation: str
    audience: str | None  # the one person who saw it, None for everyone in the conversation
    card: Card
    replaced: bool = False
    key: str | None = None


def where(user: str, channel: str | None) -> ConversationRef:
    """A channel, or the person's direct chat."""
    if channel:
        return ConversationRef(
            platform=Platform.CONSOLE,
            tenant=TENANT,
            conversation=channel,
            kind=ConversationKind.CHANNEL,
        )
    return ConversationRef(
        platform=Platform.CONSOLE,
        tenant=TENANT,
        conversation=f"dm-{user}",
        kind=ConversationKind.DIRECT,
    )


class HarnessOutbound:
    """Records what the bot sends."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> None:
        place = event.conversation
        for reply in replies:
            private = reply.private or place.is_direct
            self.seen.append(
                Seen(
                    seq=len(self.seen),
                    conversation=place.conversation,
                    audience=event.actor.id if private else None,
                    card=reply.card,
                    replaced=reply.replace,
                )
            )

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        self.seen.append(
            Seen(
                seq=len(self.seen),
                conversation=place.conversation,
                audience=None,
                card=card,
                key=key,
            )
        )
        return MessageRef(id=str(len(self.seen)))

    async def post_direct(
        self, person: PersonKey, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        self.seen.append(
            Seen(
                seq=len(self.seen),
                conversation=f"dm-{person.user}",
                audience=person.user,
                card=card,
                key=key,
            )
        )
        return MessageRef(id=str(len(self.seen)))

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        conversation = f"dm-{to.user}" if isinstance(to, PersonKey) else to.conversation
        return any(s.key == key and s.conversation == conversation for s in self.seen)


class Harness:
    """People talking to one valuesbot."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.outbound = HarnessOutbound()
        app.dispatcher.connect(Platform.CONSOLE, self.outbound)

    @staticmethod
    def _who(user: str, channel: str | None) -> dict[str, Any]:
        return {
            "conversation": where(user, channel),
            "actor": Actor(id=user, name=user.capitalize()),
            "event_id": uuid.uuid4().hex,
        }

    async def send(self, event: Event) -> list[Card]:
        """Send any event; the cards its sender saw as a result."""
        before = len(self.outbound.seen)
        await self.app.dispatcher.handle(event)
        user = event.actor.id
        conversation = event.conversation.conversation
        return [
            s.card
            for s in self.outbound.seen[before:]
            if s.conversation == conversation and s.audience in (None, user)
        ]

    async def user_says(
        self, text: str, *, user: str = "alice", channel: str | None = None
    ) -> list[Card]:
        """The person types ``text`` (a command when it starts with ``/``)."""
        base = self._who(user, channel)
        event: Event
        if text.startswith("/"):
            command, _, rest = text[1:].partition(" ")
            event = CommandReceived(command=command, text=rest.strip(), **base)
        else:
            event = MessageReceived(text=text, **base)
        return await self.send(event)

    async def opens(self, *, user: str = "alice", channel: str | None = None) -> list[Card]:
        """The person opens the conversation (a new terminal, App Home)."""
        return await self.send(ConversationOpened(**self._who(user, channel)))

    async def click(
        self,
        label: str,
        *,
        user: str = "alice",
        channel: str | None = None,
        inputs: Mapping[str, str] | None = None,
        card: Card | None = None,
    ) -> list[Card]:
        """The person clicks the button ``label`` on ``card`` (default: the latest card they
        saw that has it), with ``inputs`` filled in."""
        card = card or self.card_with(label, user=user, channel=channel)
        choice = next(c for c in card.choices if c.label == label)
        event = ActionSubmitted(
            action=choice.action,
            values=submission(card, choice, inputs or {}),
            source=MessageRef(id="card"),
            **self._who(user, channel),
        )
        return await self.send(event)

    def cards(self, *, user: str = "alice", channel: str | None = None) -> list[Card]:
        """Every card the person saw in the conversation, oldest first (updates included)."""
        conversation = where(user, channel).conversation
        return [
            s.card
            for s in self.outbound.seen
            if s.conversation == conversation and s.audience in (None, user)
        ]

    def last_card(self, *, user: str = "alice", channel: str | None = None) -> Card:
        """The newest card the person saw in the conversation that was not an update."""
        conversation = where(user, channel).conversation
        for s in reversed(self.outbound.seen):
            if s.conversation == conversation and s.audience in (None, user) and not s.replaced:
                return s.card
        raise AssertionError(f"{user} has seen no card in {conversation}")

    def public(self, channel: str) -> list[Card]:
        """Cards everyone in the channel saw."""
        return [
            s.card for s in self.outbound.seen if s.conversation == channel and s.audience is None
        ]

    def updates(self, *, user: str = "alice", channel: str | None = None) -> list[Card]:
        """Cards that replaced a card the person clicked."""
        conversation = where(user, channel).conversation
        return [
            s.card
            for s in self.outbound.seen
            if s.conversation == conversation and s.audience in (None, user) and s.replaced
        ]

    def card_with(self, label: str, *, user: str = "alice", channel: str | None = None) -> Card:
        """The newest card the person saw that has a button ``label``."""
        for card in reversed(self.cards(user=user, channel=channel)):
            if any(c.label == label for c in card.choices):
                return card
        raise AssertionError(f"{user} has seen no card with a {label!r} button")
