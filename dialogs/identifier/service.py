"""``/identifier``: making a values identifier, its review by comms, and what its author gets.

``Identifiers`` files a finished draft and is what review by comms (``dialogs.review``) knows
of identifiers: the review card's face, what the author is told (approved: a card with the
Word page, the print page and the badge). ``IdentifierCommands`` answers the command: a title
starts the conversation (``dialog``) in the person's direct chat; ``mine`` lists theirs,
``queue`` shows comms what waits, ``cancel`` stops a draft.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from bot.content import Content
from bot.dialogs import DialogRunner
from bot.events import ActionSubmitted, CommandReceived
from bot.router import Router
from bot.settings import Settings
from bot.text import local_date, shorten
from bot.turn import Turn
from bot.ui import Card, Choice, ChoiceStyle, Field, commands_typed_with
from dialogs.identifier.dialog import NAME, Draft, line
from dialogs.review import Review
from storage.identifiers import Identifier, IdentifierStatus, IdentifierStore
from storage.people import PersonKey
from storage.stores import Stores

KIND = "identifier"
KEY = "identifier"
EDIT = "identifier.edit"
MINE_SIZE = 10
HINT = "To make one for a publication, use /identifier followed by its title: comms will review it."
STATUS_WORDS: dict[str, str] = {
    IdentifierStatus.PENDING: "waiting for comms",
    IdentifierStatus.CHANGES_REQUESTED: "comms asked for changes",
    IdentifierStatus.APPROVED: "approved and published",
    IdentifierStatus.REJECTED: "not accepted",
}


def links(base: str | None, identifier_id: str) -> dict[str, str]:
    """The addresses of an approved identifier's outputs (paths when the bot does not know its
    own address)."""
    page = f"{(base or '').rstrip('/')}/identifier/{identifier_id}"
    return {
        "page": page,
        "docx": f"{page}.docx",
        "svg": f"{page}.svg",
        "png": f"{page}.png",
    }


class Identifiers:
    """Filing a finished identifier and asking comms to review it; the cards involved."""

    kind = KIND
    noun = "values identifier"
    nouns = "values identifiers"
    key = KEY
    short = "identifier"
    command = "identifier"
    hint = HINT

    def __init__(self, *, content: Content, settings: Settings) -> None:
        self.content = content
        self.settings = settings
        self.review: Review[Identifier] = Review(self, settings)

    async def submit(
        self,
        stores: Stores,
        *,
        author: PersonKey,
        author_name: str,
        draft: Draft,
        draft_id: str,
        identifier_id: str,
        now: datetime,
    ) -> Card:
        """File a finished draft (new, or the next revision of ``identifier_id``) and queue its
        review by comms; the card to show its author."""
        if identifier_id:
            stored = await stores.identifiers.resubmit(
                identifier_id,
                author,
                title=draft.title,
                statements=draft.statements,
                vision=draft.vision,
                owner=draft.owner,
                intended=draft.intended,
                now=now,
            )
        else:
            stored = await self.review.add(
                stores,
                Identifier(
                    id=draft_id,
                    author=author,
                    title=draft.title,
                    statements=draft.statements,
                    vision=draft.vision,
                    owner=draft.owner,
                    intended=draft.intended,
                    source=draft.source,
                    submitted_at=now,
                ),
            )
        if stored is None:
            return self.review.not_filed(edited=bool(identifier_id))
        await self.review.ask_comms(stores, stored, author_name, now)
        return Card(
            title="Thank you: it is with comms",
            text=f'The values identifier for "{stored.title}" is waiting for review. I will '
            "tell you here when comms have looked at it; once approved you get its Word page, "
            "print page and badge.",
            footer="See your identifiers with /identifier mine.",
        )

    # What review by comms knows of identifiers (``dialogs.review.Reviewed``)

    def store(self, stores: Stores) -> IdentifierStore:
        """Where identifiers are."""
        return stores.identifiers

    def statement_fields(self, identifier: Identifier) -> tuple[Field, ...]:
        """Each behaviour and how the publication shows it."""
        given = {s.behaviour: s.text for s in identifier.statements}
        return tuple(
            Field(label=b.short, value=given.get(b.id, "") or "Not relevant")
            for b in self.content.behaviours
        )

    def review_face(self, identifier: Identifier, author_name: str) -> Card:
        """The identifier as a moderator reads it."""
        return Card(
            title=f"Values identifier to review: {identifier.title}",
            text=f"How it helps achieve our vision: {identifier.vision}",
            fields=(
                *self.statement_fields(identifier),
                Field(label="Owner", value=identifier.owner),
                Field(
                    label="Intended publication",
                    value=f"{identifier.intended.day} {identifier.intended:%B %Y}",
                ),
                Field(label="From", value=author_name),
                Field(
                    label="Sent",
                    value=local_date(identifier.submitted_at, self.settings.zone)
                    + (f", version {identifier.revision}" if identifier.revision > 1 else ""),
                ),
            ),
            footer="Only approved identifiers are published: their page, badge and Word page, "
            "and the register of identifiers.",
        )

    def outcome_card(self, identifier: Identifier, now: datetime) -> Card:
        """What the author is told: approved, with its three links; asked for changes, with
        the note and "Edit and send again"; or not accepted."""
        note = identifier.moderator_note or ""
        said = f"\n\nFrom comms: {note}" if note else ""
        match identifier.status:
            case IdentifierStatus.APPROVED:
                return self.published_card(identifier, note)
            case IdentifierStatus.CHANGES_REQUESTED:
                return Card(
                    title="Comms asked for a change",
                    text=f'About the values identifier for "{identifier.title}":\n\n{note}',
                    choices=(
                        Choice(label="Edit and send again", action=EDIT, style=ChoiceStyle.PRIMARY),
                    ),
                    hidden={KEY: identifier.id},
                )
            case _:
                return Card(
                    title="Your values identifier was not accepted",
                    text=f'The identifier for "{identifier.title}" will not be published.{said}',
                )

    def published_card(self, identifier: Identifier, note: str = "") -> Card:
        """An approved identifier and where its Word page, print page and badge are."""
        found = links(self.settings.public_url, identifier.id)
        where = (
            ""
            if self.settings.public_url
            else "\n\nThese are addresses on the bot's web pages (ask your administrator for "
            "its address)."
        )
        return Card(
            title="Your values identifier is approved",
            text=f'The identifier for "{identifier.title}" ({identifier.reference}) is '
            "published. Put it at the front of the publication."
            + (f"\n\nFrom comms: {note}" if note else "")
            + where,
            fields=(
                Field(label="Word page (to paste at the front)", value=found["docx"]),
                Field(label="Print page (A4, one page)", value=found["page"]),
                Field(label="Badge", value=f"{found['svg']} (or {found['png']})"),
            ),
            footer=f"An administrator can put it at the front of the Word or PDF file itself: "
            f"valuesbot identifier attach {identifier.id} publication.docx -o out.docx",
        )

    def decided_text(self, status: str) -> str:
        """The review card once decided."""
        return {
            IdentifierStatus.APPROVED: "Approved: it is published, and its author gets its Word "
            "page, print page and badge.",
            IdentifierStatus.CHANGES_REQUESTED: "Sent back to the author with your note.",
            IdentifierStatus.REJECTED: "Rejected: it will not be published.",
        }[IdentifierStatus(status)]


class IdentifierCommands:
    """``/identifier``, the "Edit and send again" button and the review buttons."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        runner: DialogRunner,
        identifiers: Identifiers,
    ) -> None:
        self.content = content
        self.settings = settings
        self.runner = runner
        self.identifiers = identifiers

    def router(self) -> Router:
        """The routes of values identifiers."""
        router = Router()
        router.command("identifier", self.command)
        router.action(EDIT, self.edit)
        self.identifiers.review.route(router)
        return router

    async def command(self, turn: Turn[CommandReceived]) -> None:
        """``/identifier [<publication title> | mine | queue | cancel | help]``."""
        text = line(turn.event.text)
        word = text.lower()
        if word in {"help", "?"}:
            turn.reply(commands_typed_with(self.help_card(), turn.command_prefix), private=True)
        elif word in {"mine", "list", "my"}:
            turn.reply(await self.mine_card(turn.stores, turn.person), private=True)
        elif word == "queue":
            await self.identifiers.review.queue(turn)
        elif word == "cancel":
            state = await self.runner.active(turn)
            if state is None or state.dialog != NAME:
                turn.reply(
                    Card(title="Nothing to cancel", text="You are not making a values identifier."),
                    private=True,
                )
            else:
                await self.runner.cancel(turn, state)
        else:
            await self._start(turn, {"title": text} if word not in {"", "new"} else {})

    def help_card(self) -> Card:
        """How values identifiers work."""
        return Card(
            title="Values identifiers",
            text="A values identifier goes at the front of a key publication: how it shows each "
            "of our six behaviours and helps us achieve our vision. Make one in a short "
            "conversation (it can start from a values lens check-in of the same work); comms "
            "review it; once approved you get a Word page, a print page and a badge.",
            fields=(
                Field(label="/identifier <publication title>", value="Make one."),
                Field(label="/identifier mine", value="Yours, where each is, and their links."),
                Field(label="/identifier queue", value="(Comms) Identifiers waiting for review."),
                Field(label="/identifier cancel", value="Stop making one."),
            ),
            footer="Every approved identifier is listed on the register: /identifiers on the "
            "bot's web pages.",
        )

    async def _start(self, turn: Turn[Any], start: Mapping[str, str]) -> None:
        if not turn.event.conversation.is_direct:
            turn.reply(
                Card(
                    title="Let's do this in a direct chat",
                    text="Open a direct chat with me and type /identifier followed by the "
                    "publication's title: I will ask a few questions, and nothing is published "
                    "until comms approve it.",
                ),
                private=True,
            )
            return
        await self.runner.start(turn, NAME, start)

    async def edit(self, turn: Turn[ActionSubmitted]) -> None:
        """ "Edit and send again", after comms asked for changes."""
        identifier = await turn.stores.identifiers.get(turn.event.values.get(KEY, ""))
        if identifier is None or identifier.author != turn.person:
            turn.reply(
                Card(title="Not found", text="That identifier is not one of yours."), private=True
            )
            return
        if identifier.status not in {IdentifierStatus.CHANGES_REQUESTED, IdentifierStatus.PENDING}:
            turn.reply(
                Card(
                    title="It cannot be changed now",
                    text=f'Comms have already decided on the identifier for "{identifier.title}".',
                ),
                private=True,
            )
            return
        await self._start(turn, {KEY: identifier.id})

    async def mine_card(self, stores: Stores, author: PersonKey) -> Card:
        """The person's identifiers, where each one is, and the links of the approved ones."""
        found = await stores.identifiers.for_author(author, MINE_SIZE)
        if not found:
            return Card(
                title="Your values identifiers",
                text="You have not made a values identifier yet. Make one with /identifier "
                "followed by the publication's title.",
            )
        zone = self.settings.zone
        fields = []
        for n, identifier in enumerate(found, start=1):
            value = (
                f"{STATUS_WORDS.get(identifier.status, identifier.status)} · sent "
                f"{local_date(identifier.submitted_at, zone)}"
            )
            if identifier.status == IdentifierStatus.APPROVED:
                value += f" · {links(self.settings.public_url, identifier.id)['page']}"
            elif identifier.moderator_note:
                value += f" · note from comms: {identifier.moderator_note}"
            fields.append(Field(label=f"{n}. {shorten(identifier.title, 90)}", value=value))
        return Card(
            title="Your values identifiers",
            text="Newest first. Only approved ones are published.",
            fields=tuple(fields),
            footer="Each approved one's page links its Word page and badge.",
        )
