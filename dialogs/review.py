"""Review by comms, as case studies and values identifiers share it.

A submission goes to every comms member (``VALUESBOT_COMMS``, or the admins when none are
listed) as a review card in their direct chat, through the outbox, with Approve, Ask for changes
and Reject (asking for changes needs a note); a queue command shows the same cards on demand.
The first decision wins: a second moderator clicking sees who decided, and the cards of an
older revision decide nothing. Each decision is recorded in the audit trail (who, what, on which
id) and the author is told the outcome in their direct chat, also through the outbox.

A feature says what its records are with a ``Reviewed``: its store (a
``storage.review.ReviewedStore``), the face of its review card, what the author is told.
``Review`` does the rest, the same for each, from filing a new submission to telling its
author the outcome.
Names follow the feature's ``kind``: actions ``<kind>.approve|changes|reject``, outbox jobs
``<kind>-review:<id>`` and ``<kind>-outcome``, audit actions ``<kind>.<status>``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from bot.audit import person_actor, record
from bot.router import Router
from bot.settings import Settings
from bot.text import local_date, plural
from bot.turn import Turn
from bot.ui import Card, Choice, ChoiceStyle, TextInput, card_to_json
from storage.delivery import OutboxMessage
from storage.people import PersonKey
from storage.review import (
    APPROVED,
    CHANGES_REQUESTED,
    PENDING,
    REJECTED,
    Reviewable,
    ReviewedStore,
)
from storage.stores import Stores

NOTE = "note"
REVISION = "revision"
NOTE_LIMIT = 500
QUEUE_SIZE = 10

STATUS_WORDS: dict[str, str] = {
    PENDING: "waiting for comms",
    CHANGES_REQUESTED: "comms asked for changes",
    APPROVED: "approved",
    REJECTED: "not accepted",
}


class Submission(Reviewable, Protocol):
    """What review needs of a record: the review columns every reviewed record holds, and its
    title."""

    @property
    def title(self) -> str: ...


R = TypeVar("R", bound=Submission)


class Reviewed(Protocol[R]):
    """A feature's records under review."""

    kind: str
    """The prefix of the names (``casestudy``)."""
    noun: str
    """One record, as people say it ("case study")."""
    nouns: str
    """Several ("case studies")."""
    key: str
    """The hidden value that names the record on its cards."""
    short: str
    """One record, as its author's cards name it ("case study", "identifier")."""
    command: str
    """The feature's command, without its slash (``casestudy``): ``<command> queue`` shows
    what is waiting, ``<command> mine`` an author's own."""
    hint: str
    """What someone who is not comms may do instead, after "... is for the comms team."."""

    def store(self, stores: Stores) -> ReviewedStore[R]:
        """Where the records are, in this unit of work."""
        ...

    def review_face(self, item: R, author_name: str) -> Card:
        """What a moderator reads: the record (title, text, fields, footer)."""
        ...

    def outcome_card(self, item: R, now: datetime) -> Card:
        """What the author is told once it is decided."""
        ...

    def decided_text(self, status: str) -> str:
        """What the review card says once this moderator decided ("Approved: ...")."""
        ...


def only_comms(what: str, hint: str = "") -> Card:
    """The answer to someone who is not in the comms team."""
    return Card(
        title="Only comms can do this",
        text=f"{what} is for the comms team." + (f" {hint}" if hint else ""),
    )


def decisions(kind: str) -> dict[str, str]:
    """The actions of a review card and the status each decides."""
    return {
        f"{kind}.approve": APPROVED,
        f"{kind}.changes": CHANGES_REQUESTED,
        f"{kind}.reject": REJECTED,
    }


def _paragraphs(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    return "\n".join(lines).strip()


class Review(Generic[R]):
    """Review by comms of one feature's records."""

    def __init__(self, reviewed: Reviewed[R], settings: Settings) -> None:
        self.reviewed = reviewed
        self.settings = settings
        self.decisions = decisions(reviewed.kind)

    def route(self, router: Router) -> None:
        """Register the review card's three buttons."""
        for action in self.decisions:
            router.action(action, self.decide)

    def outbox_prefixes(self, item_id: str) -> list[str]:
        """The keys of the messages about a record (to cancel them when its author is
        erased)."""
        kind = self.reviewed.kind
        return [f"{kind}-review:{item_id}:", f"{kind}-outcome:{item_id}:"]

    def card(self, item: R, author_name: str, note: str = "") -> Card:
        """The review card: the record, a note for the author, Approve / Ask for changes /
        Reject."""
        face = self.reviewed.review_face(item, author_name)
        actions = list(self.decisions)
        return replace(
            face,
            text=f"{note}\n\n{face.text}".strip() if note else face.text,
            inputs=(
                TextInput(
                    name=NOTE,
                    label="A note for the author (needed to ask for changes)",
                    multiline=True,
                    max_length=NOTE_LIMIT,
                ),
            ),
            choices=(
                Choice(label="Approve", action=actions[0], style=ChoiceStyle.PRIMARY),
                Choice(label="Ask for changes", action=actions[1]),
                Choice(label="Reject", action=actions[2], style=ChoiceStyle.DANGER),
            ),
            hidden={self.reviewed.key: item.id, REVISION: str(item.revision)},
        )

    async def ask_comms(self, stores: Stores, item: R, author_name: str, now: datetime) -> None:
        """Queue the review card for every comms member (``Settings.comms_on``), each in their
        own chat with the bot."""
        platform = item.author.platform
        tenant = item.author.tenant
        kind = self.reviewed.kind
        card = card_to_json(self.card(item, author_name)).decode()
        listed = self.settings.comms_on(platform)
        # Comms may be listed by a directory name (Teams: an Entra object id or a user
        # principal name): the person the bot knows by it gets the card.
        known = await stores.people.by_directory(platform, tenant, listed)
        members = dict.fromkeys(known[m].user if m in known else m for m in listed)
        for member in members:
            await stores.outbox.enqueue(
                OutboxMessage(
                    key=f"{kind}-review:{item.id}:r{item.revision}:{member}",
                    job=f"{kind}-review:{item.id}",
                    platform=platform,
                    tenant=tenant,
                    recipient=member,
                    to_person=True,
                    card=card,
                    respect_working_hours=True,
                    counts_towards_cap=False,
                ),
                now,
            )

    def _is_comms(self, turn: Turn[Any]) -> bool:
        event = turn.event
        return self.settings.is_comms(
            str(event.conversation.platform), event.actor.id, event.actor.aliases
        )

    async def queue(self, turn: Turn[Any]) -> None:
        """The review cards of what is waiting (comms only)."""
        reviewed = self.reviewed
        title = f"{reviewed.noun.capitalize()} queue"
        if not self._is_comms(turn):
            turn.reply(only_comms(f"The {reviewed.noun} queue", reviewed.hint), private=True)
            return
        place = turn.event.conversation
        waiting = await reviewed.store(turn.stores).pending(
            str(place.platform), place.tenant, QUEUE_SIZE + 1
        )
        if not waiting:
            turn.reply(Card(title=title, text="Nothing is waiting for review."), private=True)
            return
        more = len(waiting) > QUEUE_SIZE
        shown = waiting[:QUEUE_SIZE]
        turn.reply(
            Card(
                title=title,
                text=f"{plural(len(shown), reviewed.noun, reviewed.nouns)} waiting, oldest first"
                + (" (more after these)." if more else "."),
            ),
            private=True,
        )
        for item in shown:
            turn.reply(self.card(item, await self.name(turn.stores, item.author)), private=True)

    async def decide(self, turn: Turn[Any]) -> None:
        """Approve, Ask for changes or Reject, from a review card (comms only)."""
        reviewed = self.reviewed
        event = turn.event
        if not self._is_comms(turn):
            turn.reply(only_comms(f"Reviewing {reviewed.nouns}", reviewed.hint), private=True)
            return
        status = self.decisions[event.action]
        store = reviewed.store(turn.stores)
        item = await store.get(event.values.get(reviewed.key, ""))
        if item is None:
            turn.reply(
                Card(title="Not found", text=f"That {reviewed.noun} does not exist."),
                private=True,
            )
            return
        note = _paragraphs(event.values.get(NOTE, ""))
        revision = event.values.get(REVISION, "")
        # From here on the review card clicked is answered in its place: once decided (by
        # this click or someone else's) it offers nothing more to click.
        if item.status != PENDING or revision != str(item.revision):
            turn.update(await self.already(turn.stores, item))
            return
        author = await self.name(turn.stores, item.author)
        if status == CHANGES_REQUESTED and not note:
            turn.update(self.card(item, author, "Please write a note saying what to change."))
            return
        if len(note) > NOTE_LIMIT:
            turn.update(
                self.card(item, author, f"Please keep the note under {NOTE_LIMIT} characters.")
            )
            return
        decided = await store.decide(
            item.id, item.revision, status, event.actor.id, note or None, turn.now
        )
        if decided is None:
            fresh = await store.get(item.id) or item
            turn.update(await self.already(turn.stores, fresh))
            return
        await record(
            turn.stores,
            person_actor(turn.person),
            f"{reviewed.kind}.{status}",
            decided.id,
            turn.now,
        )
        await self.tell_author(turn.stores, decided, turn.now)
        turn.update(
            Card(
                title=decided.title,
                text=f"{reviewed.decided_text(status)} The author will be told.",
            )
        )

    async def add(self, stores: Stores, item: R) -> R | None:
        """File a new submission: the record as stored, or None when it was filed already (a
        second click on the same form)."""
        store = self.reviewed.store(stores)
        added = await store.add(item)
        stored = await store.get(item.id)
        if not added or stored is None or stored.author != item.author:
            return None
        return stored

    def not_filed(self, *, edited: bool) -> Card:
        """The answer to an author whose submission was not filed: an edit of a record that is
        not theirs or already decided, or a new one sent already."""
        reviewed = self.reviewed
        mine = f"/{reviewed.command} mine"
        if edited:
            return Card(
                title="It cannot be changed now",
                text=f"That {reviewed.short} is not yours, or comms have already decided on it. "
                f"See yours with {mine}.",
            )
        return Card(
            title="Already sent",
            text=f"That {reviewed.short} is already with comms. See it with {mine}.",
        )

    async def already(self, stores: Stores, item: R) -> Card:
        """A review card clicked after the record was decided, or changed by its author."""
        if item.status == PENDING:
            return Card(
                title="There is a newer version",
                text=f'The author changed "{item.title}" since this card was sent. See the '
                f"latest in /{self.reviewed.command} queue.",
            )
        who = "someone"
        if item.moderator:
            who = await self.name(
                stores, PersonKey(item.author.platform, item.author.tenant, item.moderator)
            )
        when = local_date(item.decided_at, self.settings.zone) if item.decided_at else ""
        words = STATUS_WORDS.get(item.status, item.status.replace("_", " "))
        return Card(
            title="Already decided",
            text=f'"{item.title}": {words} by {who} {when}'.rstrip() + ".",
        )

    async def tell_author(self, stores: Stores, item: R, now: datetime) -> None:
        """Queue the outcome for the author's direct chat."""
        kind = self.reviewed.kind
        card = self.reviewed.outcome_card(item, now)
        await stores.outbox.enqueue(
            OutboxMessage(
                key=f"{kind}-outcome:{item.id}:r{item.revision}",
                job=f"{kind}-outcome",
                platform=item.author.platform,
                tenant=item.author.tenant,
                recipient=item.author.user,
                to_person=True,
                card=card_to_json(card).decode(),
                respect_working_hours=True,
                counts_towards_cap=False,
            ),
            now,
        )

    @staticmethod
    async def name(stores: Stores, person: PersonKey) -> str:
        """A person's display name (their id when the platform gave none)."""
        found = await stores.people.get(person)
        return found.display_name if found and found.display_name else person.user
