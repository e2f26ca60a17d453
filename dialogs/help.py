"""``/values``: what the bot is for and what it can do; the greeting; the fallbacks.

Each feature contributes its own lines of help (a ``HelpEntry``), so the help always lists
exactly the commands this installation has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.content import Content
from bot.events import CommandReceived, ConversationOpened, MemberJoined, MessageReceived
from bot.router import CommandHandler, Router
from bot.text import ECHO_LIMIT, not_understood, shorten
from bot.turn import Turn
from bot.ui import Card, Field


@dataclass(frozen=True, slots=True, kw_only=True)
class HelpEntry:
    """One command (its words, without a slash: "valueslens history") and what it does."""

    command: str
    summary: str


class Help:
    """The help card, the greeting and what the bot says when it did not understand."""

    def __init__(
        self,
        content: Content,
        entries: Sequence[HelpEntry],
        subcommands: Mapping[str, CommandHandler] | None = None,
    ) -> None:
        self.content = content
        self.entries = tuple(entries)
        self.subcommands = dict(subcommands or {})
        # The help without a problem, by command prefix: made once, so that the same card
        # object goes out every time and its drawing is found at once (``bot.ui.LastDrawn``).
        self._plain: dict[str, Card] = {}

    def router(self) -> Router:
        """``/values``, greetings and fallbacks."""
        router = Router()
        router.command("values", self.values)
        router.on_unknown_command = self.unknown_command
        router.on_message = self.message
        router.on_opened = self.opened
        router.on_joined = self.joined
        return router

    def help_card(self, problem: str = "", prefix: str = "/") -> Card:
        """What the bot can do, with the vision line on top (after ``problem``, when the person
        asked for something the bot does not know); commands as typed after ``prefix``
        (``Turn.command_prefix``)."""
        if not problem:
            card = self._plain.get(prefix)
            if card is None:
                card = self._plain[prefix] = self._help_card("", prefix)
            return card
        return self._help_card(problem, prefix)

    def _help_card(self, problem: str, prefix: str) -> Card:
        intro = f'"{self.content.vision}"\n\nI help us live our values in everyday work.'
        return Card(
            title=f"{self.content.organisation} values bot",
            text=f"{problem}\n\n{intro}" if problem else intro,
            fields=tuple(
                Field(label=f"{prefix}{e.command}", value=e.summary) for e in self.entries
            ),
            footer="Type a command to start. Type cancel to stop whatever you are doing.",
        )

    def short_help(self, turn: Turn[Any], note: str = "") -> Card:
        """The few commands to begin with, as typed where the turn happened (after a bare
        mention of the bot, an empty message, or words it did not understand)."""
        lens = turn.command("valueslens")
        others = (
            f"{turn.command('commitment')} to make a commitment, {turn.command('casestudy')} "
            f"to share a story, or {turn.command('values')} for everything I can do."
        )
        if turn.event.conversation.is_direct:
            text = f"Type {lens} to look at a piece of work through our values, {others}"
        else:
            text = (
                f"To look at a piece of work as a team, send me {lens} <the work> in the "
                "channel: everyone answers privately and the channel sees the counts. Or type "
                f"{others}"
            )
        return Card(text=f"{note} {text}".strip())

    def behaviours_card(self) -> Card:
        """The six behaviours with their definitions, and the values beneath them."""
        return Card(
            title="Our behaviours",
            text=f'"{self.content.vision}"',
            fields=tuple(Field(label=b.name, value=b.definition) for b in self.content.behaviours),
            footer="The values of the NHS Constitution underpin them: "
            + "; ".join(v.lower() for v in self.content.constitution_values)
            + ".",
        )

    async def values(self, turn: Turn[CommandReceived]) -> None:
        """``/values [help | behaviours | a feature's word]``."""
        text = " ".join(turn.event.text.split())
        word = text.lower()
        handler = self.subcommands.get(word.split(" ", 1)[0])
        if handler is not None:
            await handler(turn)
            return
        if word in {"behaviours", "behaviors", "values"}:
            turn.reply(self.behaviours_card(), private=True)
        elif word in {"", "help", "?"}:
            turn.reply(self.help_card(prefix=turn.command_prefix), private=True)
        else:
            turn.reply(
                self.help_card(not_understood(text), prefix=turn.command_prefix), private=True
            )

    async def unknown_command(self, turn: Turn[CommandReceived]) -> None:
        """A command nobody handles."""
        name = shorten(turn.event.command.strip().lstrip("/"), ECHO_LIMIT)
        turn.reply(
            Card(
                title="I don't know that command",
                text=f"I don't know /{name}. Type {turn.command('values')} to see what I can do.",
            ),
            private=True,
        )

    async def message(self, turn: Turn[MessageReceived]) -> None:
        """A message outside any conversation: point to the commands. An empty one (a bare
        mention of the bot, a card sent back without anything the bot can act on) gets the
        short help."""
        text = turn.event.text.strip().lower()
        if text in {"cancel", "stop", "quit"}:
            turn.reply(Card(text="There is nothing to cancel."), private=True)
            return
        if text in {"help", "?", "hi", "hello", "values"}:
            turn.reply(self.help_card(prefix=turn.command_prefix), private=True)
            return
        if not text:
            turn.reply(self.short_help(turn, "Hello."), private=True)
            return
        turn.reply(self.short_help(turn, "I didn't catch that."), private=True)

    async def opened(self, turn: Turn[ConversationOpened]) -> None:
        """Someone opened a conversation with the bot."""
        # The platform's name for them, never an id (Teams may not have told it yet).
        name = turn.event.actor.name
        turn.reply(
            Card(
                title=f"Hello {name}" if name else "Hello",
                text=f'"{self.content.vision}"\n\nType {turn.command("valueslens")} to look at '
                f"a piece of work through our six behaviours, {turn.command('commitment')} to "
                f"say what your contribution is, {turn.command('casestudy')} to share a story of "
                f"what good looks like, or {turn.command('values')} to see everything I can do.",
            ),
            private=True,
        )

    async def joined(self, turn: Turn[MemberJoined]) -> None:
        """Someone joined a channel the bot is in: nothing to say (no unsolicited messages)."""
