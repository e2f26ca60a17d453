"""The test harness: an adapter of its own that plays people talking to the bot.

``await harness.user_says("/valueslens", user="alice")`` sends what Alice typed through the real
dispatcher, router, dialogs and database; every card the bot sends is recorded with who could see
it (one person for private replies and direct chats, everyone in a channel for public replies and
posts). ``click`` presses a button on a card that person saw, with the values a platform would
send. No network, no platform.

``deliver_outbox`` plays the delivery machinery: it sends every queued outbox message (shares,
digests, nudges, direct messages to comms, changes to cards already posted) through the same
recording outbound and marks it sent, ignoring working hours. ``platform=`` plays a person on
another platform (the form-based paths of Slack and Teams) through the same recorder.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select

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
from bot.ui import Card, card_from_json, submission
from storage.delivery.tables import OutboxRow
from storage.people import Person, PersonKey

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
    message: str | None = None  # the id of the message it changed (an outbox change)


def where(user: str, channel: str | None, platform: Platform = Platform.CONSOLE) -> ConversationRef:
    """A channel, or the person's direct chat."""
    if channel:
        return ConversationRef(
            platform=platform,
            tenant=TENANT,
            conversation=channel,
            kind=ConversationKind.CHANNEL,
        )
    return ConversationRef(
        platform=platform,
        tenant=TENANT,
        conversation=f"dm-{user}",
        kind=ConversationKind.DIRECT,
    )


class HarnessOutbound:
    """Records what the bot sends."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        place = event.conversation
        landed: list[MessageRef | None] = []
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
            shared = not (private or reply.replace)
            landed.append(MessageRef(id=str(len(self.seen))) if shared else None)
        return landed

    async def replace(
        self, place: ConversationRef, message: MessageRef, card: Card, *, key: str | None = None
    ) -> None:
        self.seen.append(
            Seen(
                seq=len(self.seen),
                conversation=place.conversation,
                audience=None,
                card=card,
                replaced=True,
                key=key,
                message=message.id,
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
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
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
        for platform in Platform:
            app.dispatcher.connect(platform, self.outbound)

    @staticmethod
    def _who(
        user: str,
        channel: str | None,
        platform: Platform = Platform.CONSOLE,
        event_id: str | None = None,
    ) -> dict[str, Any]:
        return {
            "conversation": where(user, channel, platform),
            "actor": Actor(id=user, name=user.capitalize()),
            "event_id": event_id or uuid.uuid4().hex,
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
        self,
        text: str,
        *,
        user: str = "alice",
        channel: str | None = None,
        platform: Platform = Platform.CONSOLE,
    ) -> list[Card]:
        """The person types ``text`` (a command when it starts with ``/``)."""
        base = self._who(user, channel, platform)
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
        platform: Platform = Platform.CONSOLE,
        event_id: str | None = None,
    ) -> list[Card]:
        """The person clicks the button ``label`` on ``card`` (default: the latest card they
        saw that has it), with ``inputs`` filled in. The same ``event_id`` twice is a
        platform's retry of one click."""
        card = card or self.card_with(label, user=user, channel=channel)
        choice = next(c for c in card.choices if c.label == label)
        event = ActionSubmitted(
            action=choice.action,
            values=submission(card, choice, inputs or {}),
            source=MessageRef(id=self._message_id(card)),
            **self._who(user, channel, platform, event_id),
        )
        return await self.send(event)

    def _message_id(self, card: Card) -> str:
        """The id the recording outbound gave the message that showed ``card`` ("card" for a
        card it gave none)."""
        for s in reversed(self.outbound.seen):
            if s.card is card and s.audience is None and not s.replaced:
                return str(s.seq + 1)
        return "card"

    async def outbox(self, job: str | None = None, *, status: str | None = None) -> list[Queued]:
        """Messages in the outbox (for ``job``, or all; with ``status``, only those), oldest
        first."""
        async with self.app.database.unit() as stores:
            statement = select(OutboxRow).order_by(col(OutboxRow.id))
            if job is not None:
                statement = statement.where(col(OutboxRow.job) == job)
            if status is not None:
                statement = statement.where(col(OutboxRow.status) == status)
            rows = await stores.session.exec(statement)
            return [
                Queued(
                    key=r.key,
                    job=r.job,
                    recipient=r.recipient,
                    to_person=r.to_person,
                    card=card_from_json(r.card),
                    platform=r.platform,
                    tenant=r.tenant,
                    respect_working_hours=r.respect_working_hours,
                    counts_towards_cap=r.counts_towards_cap,
                    status=r.status,
                    replaces=r.replaces,
                )
                for r in rows
            ]

    async def inbox(self, user: str, job: str | None = None) -> list[Card]:
        """Cards queued for the person's direct chat (what the delivery worker will send)."""
        return [q.card for q in await self.outbox(job) if q.to_person and q.recipient == user]

    async def deliver_outbox(self) -> list[Queued]:
        """Send every queued outbox message, as the delivery machinery will; what was sent."""
        queued = await self.outbox(status="queued")
        for message in queued:
            if message.to_person:
                person = PersonKey(message.platform, message.tenant, message.recipient)
                await self.outbound.post_direct(person, message.card)
            else:
                place = ConversationRef(
                    platform=Platform(message.platform),
                    tenant=message.tenant,
                    conversation=message.recipient,
                    kind=ConversationKind.CHANNEL,
                )
                if message.replaces is not None:
                    changed = MessageRef(id=message.replaces)
                    await self.outbound.replace(place, changed, message.card, key=message.key)
                else:
                    await self.outbound.post(place, message.card)
            async with self.app.database.unit() as stores:
                await stores.session.exec(
                    update(OutboxRow).where(col(OutboxRow.key) == message.key).values(status="sent")
                )
        return queued

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


@dataclass(frozen=True, slots=True, kw_only=True)
class Queued:
    """A message in the outbox, as the delivery worker will send it."""

    key: str
    job: str
    recipient: str
    to_person: bool
    card: Card
    platform: str = "console"
    tenant: str = TENANT
    respect_working_hours: bool = True
    counts_towards_cap: bool = True
    status: str = "queued"
    replaces: str | None = None
