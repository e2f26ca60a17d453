"""``valuesbot chat``: the bot in a terminal, on the same core and database as Slack and Teams.

Each terminal is one person (``--user``) in one conversation: their direct chat with the bot, or
a channel (``--channel``) that other terminals can join. Cards posted to a channel are kept in the
database and every terminal in that channel prints them, so a script can play a whole team; a
card changed later (a team check-in's card once it has closed) is printed again, marked as an
update. Private replies appear only in the terminal that asked. Input may be typed or piped.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import sys
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from adapters.console.render import render, render_question, render_update
from adapters.console.translate import Picked, action, actor, new_event_id, place, translate
from bot.app import App
from bot.dialogs import CANCEL_WORDS
from bot.events import ConversationOpened, ConversationRef, Event, MessageRef, Platform
from bot.outbound import Reply
from bot.ui import SEPARATOR, Card, ChoiceInput, TextInput, card_from_json, card_to_json
from storage.console import SEEN_PREFIX
from storage.people import Person, PersonKey
from storage.stores import Stores

POLL_SECONDS = 1.0


class LineSource(Protocol):
    """Where typed lines come from."""

    async def read(self, prompt: str) -> str | None:
        """The next line (without its newline), or None at the end of input."""
        ...


class StdinLines:
    """Lines from standard input; with a terminal, read with line editing and a prompt."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive
        if interactive:
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401  (gives input() history and editing)

    async def read(self, prompt: str) -> str | None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str | None] = loop.create_future()

        def settle(line: str | None) -> None:
            if not done.done():
                done.set_result(line)

        def work() -> None:
            line: str | None
            try:
                if self.interactive:
                    line = input(prompt)
                else:
                    raw = sys.stdin.readline()
                    line = None if raw == "" else raw.rstrip("\r\n")
            except (EOFError, OSError):
                line = None
            loop.call_soon_threadsafe(settle, line)

        # A daemon thread, so a pending read never keeps the process alive after Ctrl-C.
        threading.Thread(target=work, name="console-input", daemon=True).start()
        return await done


class ScriptedLines:
    """Lines from a list (tests)."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._lines = list(lines)

    async def read(self, prompt: str) -> str | None:
        return self._lines.pop(0) if self._lines else None


class ConsoleChat:
    """One person at one terminal."""

    def __init__(
        self,
        app: App,
        *,
        user: str,
        channel: str | None,
        source: LineSource,
        write: Callable[[str], None],
        echo: bool = False,
    ) -> None:
        self.app = app
        self.who = actor(user)
        self.where = place(user, channel)
        self.direct = place(user, None)
        self.source = source
        self.write = write
        self.echo = echo
        self.last: Card | None = None
        self.last_id = ""
        self._ids = itertools.count(1)
        self._seen: dict[str, int] = {}
        # The card each post of the feed became here, so an update to it can retire it.
        self._shown: dict[str, str] = {}
        self._drain_lock = asyncio.Lock()

    @property
    def prompt(self) -> str:
        """What the terminal shows before the cursor."""
        return f"{self.who.name}> "

    @property
    def feeds(self) -> list[str]:
        """The conversations whose posts this terminal shows."""
        return list(dict.fromkeys([self.where.conversation, self.direct.conversation]))

    async def run(self) -> None:
        """Greet, then read and handle lines until the input ends."""
        self.app.dispatcher.connect(Platform.CONSOLE, ConsoleOutbound(self))
        await self._load_seen()
        where = (
            f"#{self.where.conversation}" if not self.where.is_direct else "a direct chat with me"
        )
        self.write(
            f"valuesbot · {self.who.name} in {where}. Type /values for help; "
            "Ctrl-D (or end of input) to leave."
        )
        await self.drain()
        await self.handle(
            ConversationOpened(conversation=self.where, actor=self.who, event_id=new_event_id())
        )
        poller = asyncio.create_task(self._poll(), name="console-feed")
        try:
            while (line := await self.source.read(self.prompt)) is not None:
                if self.echo:
                    self.write(f"{self.prompt}{line}")
                await self.take(line)
        finally:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await poller

    async def take(self, line: str) -> None:
        """Handle one typed line."""
        meaning = translate(
            line, last=self.last, last_id=self.last_id, who=self.who, where=self.where
        )
        if meaning is None:
            return
        if isinstance(meaning, Picked):
            inputs = await self._fill(meaning)
            if inputs is None:
                self.write("  (stopped; nothing was sent)")
                return
            await self.handle(action(meaning, inputs, who=self.who, where=self.where))
            return
        await self.handle(meaning)

    async def handle(self, event: Event) -> None:
        """Send an event through the bot, then show what arrived in the conversation."""
        await self.app.dispatcher.handle(event)
        await self.drain()

    def show(self, card: Card, heading: str = "") -> str:
        """Print a card; cards with choices become what the next typed line answers."""
        card_id = f"console-{next(self._ids)}"
        if heading:
            self.write(heading)
        self.write(render(card))
        if card.choices:
            self.last, self.last_id = card, card_id
        return card_id

    async def drain(self) -> None:
        """Print cards posted to this terminal's conversations since it last looked."""
        async with self._drain_lock:
            for conversation in self.feeds:
                async with self.app.database.unit() as stores:
                    posts = await stores.console.since(conversation, self._seen[conversation])
                    if posts:
                        self._seen[conversation] = posts[-1].id
                        await stores.meta.put(self._seen_key(conversation), str(posts[-1].id))
                for post in posts:
                    card = card_from_json(post.card)
                    if post.replaces is not None:
                        self._update(post.replaces, card)
                        continue
                    heading = ""
                    if conversation != self.where.conversation:
                        heading = "(direct message)"
                    self._shown[str(post.id)] = self.show(card, heading)

    def _update(self, replaced: str, card: Card) -> None:
        """A card posted earlier has changed: say so; its choices no longer answer typed lines
        (the new face's do, if it has any)."""
        self.write("(a card above has changed)")
        if card.choices:
            self._shown[replaced] = self.show(card)
            return
        self.write(render_update(card))
        if self.last is not None and self.last_id == self._shown.get(replaced):
            self.last, self.last_id = None, ""

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.drain()

    def _seen_key(self, conversation: str) -> str:
        return seen_key(conversation, self.who.id)

    async def _load_seen(self) -> None:
        async with self.app.database.unit() as stores:
            for conversation in self.feeds:
                stored = await stores.meta.get(self._seen_key(conversation))
                # A first visit starts from now; a return visit shows what was missed.
                if stored is None:
                    stored = str(await stores.console.last_id(conversation))
                    await stores.meta.put(self._seen_key(conversation), stored)
                self._seen[conversation] = int(stored)

    async def _fill(self, picked: Picked) -> dict[str, str] | None:
        inputs: dict[str, str] = {}
        texts = [i for i in picked.card.inputs if isinstance(i, TextInput)]
        if picked.text and len(texts) == 1:
            inputs[texts[0].name] = picked.text
        if not picked.choice.collects_inputs:
            return inputs
        # A form (several inputs, or choices to make) is asked question by question, optional
        # ones too (Enter skips them); a lone optional box (a note) is only filled inline.
        form = len(picked.card.inputs) > 1 or any(
            isinstance(i, ChoiceInput) for i in picked.card.inputs
        )
        for question in picked.card.inputs:
            if question.name in inputs:
                continue
            if isinstance(question, TextInput) and question.optional and not form:
                continue
            answer = await self._ask(question)
            if answer is None:
                return None
            if answer:
                inputs[question.name] = answer
        return inputs

    async def _ask(self, question: ChoiceInput | TextInput) -> str | None:
        self.write(render_question(question))
        while True:
            line = await self.source.read("  > ")
            if line is None:
                return None
            if self.echo:
                self.write(f"  > {line}")
            text = line.strip()
            if text.lower() in CANCEL_WORDS:
                return None
            if isinstance(question, TextInput):
                if text or question.optional:
                    return text
                self.write("  Please type an answer (or cancel).")
                continue
            if not text and question.optional:
                return ""
            chosen = _options(question, text) if question.multiple else _option(question, text)
            if chosen is not None:
                return chosen
            if question.multiple:
                self.write(
                    f"  Please type one or more numbers from 1 to {len(question.options)} "
                    "(e.g. 1 3)."
                )
            else:
                self.write(f"  Please type a number from 1 to {len(question.options)}.")


def _option(question: ChoiceInput, text: str) -> str | None:
    if text.isdigit() and 1 <= int(text) <= len(question.options):
        return question.options[int(text) - 1].value
    for option in question.options:
        if text.lower() in (option.label.lower(), option.value.lower()):
            return option.value
    return None


def seen_key(conversation: str, user: str) -> str:
    """The meta key recording how far ``user``'s terminal has read ``conversation``: it also
    says that they joined it."""
    return f"{SEEN_PREFIX}{conversation}:{user}"


class ConsoleChannelMembers:
    """Who is in a console channel: everyone whose terminal has joined it (``--channel``)."""

    async def members(self, place: ConversationRef, stores: Stores) -> list[str]:
        prefix = seen_key(place.conversation, "")
        return sorted(key[len(prefix) :] for key in await stores.meta.starting_with(prefix))


def _options(question: ChoiceInput, text: str) -> str | None:
    """Several options typed as numbers ("1 3", "1, 3") or labels ("Inclusive, Open")."""
    parts = re.findall(r"\d+", text) if re.fullmatch(r"[\d\s,]+", text) else text.split(",")
    picked = []
    for part in parts:
        value = _option(question, part.strip())
        if value is None:
            return None
        picked.append(value)
    chosen = question.selected(SEPARATOR.join(picked))
    return SEPARATOR.join(chosen) if chosen else None


class ConsoleOutbound:
    """Replies to this terminal; posts into the database for every terminal in a channel."""

    def __init__(self, chat: ConsoleChat) -> None:
        self.chat = chat

    async def deliver(self, event: Event, replies: Sequence[Reply]) -> list[MessageRef | None]:
        landed: list[MessageRef | None] = []
        for reply in replies:
            if reply.replace and not reply.card.choices:
                self.chat.write(render_update(reply.card))
                landed.append(None)
            elif reply.private or event.conversation.is_direct:
                self.chat.show(reply.card)
                landed.append(None)
            else:
                landed.append(await self.post(event.conversation, reply.card))
        return landed

    async def replace(
        self, place: ConversationRef, message: MessageRef, card: Card, *, key: str | None = None
    ) -> None:
        """A post of the feed changed: the new face goes into the feed as an update of it,
        which every terminal in the conversation prints."""
        async with self.chat.app.database.unit() as stores:
            await stores.console.post(
                place.conversation,
                card_to_json(card).decode(),
                self.chat.app.clock.now(),
                outbox_key=key,
                replaces=message.id,
            )

    async def post(
        self, place: ConversationRef, card: Card, *, key: str | None = None
    ) -> MessageRef | None:
        async with self.chat.app.database.unit() as stores:
            post_id = await stores.console.post(
                place.conversation,
                card_to_json(card).decode(),
                self.chat.app.clock.now(),
                outbox_key=key,
            )
        return MessageRef(id=str(post_id))

    async def post_direct(
        self,
        person: PersonKey,
        card: Card,
        *,
        key: str | None = None,
        known: Person | None = None,
    ) -> MessageRef | None:
        # Every console user has a direct chat with the bot, named after them.
        return await self.post(place(person.user, None), card, key=key)

    async def was_sent(
        self, key: str, to: ConversationRef | PersonKey, since: datetime
    ) -> bool | None:
        # Console posts keep their outbox key, so the answer is always known.
        conversation = (
            place(to.user, None).conversation if isinstance(to, PersonKey) else to.conversation
        )
        async with self.chat.app.database.unit() as stores:
            return await stores.console.has_outbox_key(conversation, key)
