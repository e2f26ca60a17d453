"""A person's home page: what they have under way and what they have done, as cards.

Platforms with a home surface show these cards there (Slack's Home tab); each feature adds its
part here. Read-only: nothing on it takes typed answers, so it can be drawn whenever the person
looks; a button on it (the barometer's "Answer now") answers in the person's direct
conversation with the bot.
"""

from __future__ import annotations

from datetime import datetime

from bot.content import Content
from bot.dialogs import DialogRunner
from bot.events import Actor, ConversationRef
from bot.settings import Settings
from bot.text import local_date, local_time, shorten
from bot.ui import Card, Field
from dialogs.barometer.service import Barometer
from dialogs.values_lens import ValuesLensCommands
from storage.dialog_states import DialogKey
from storage.people import PersonKey
from storage.stores import Stores

RECENT_CHECKINS = 5
RECENT_COMMITMENTS = 5


class HomePage:
    """The cards of a person's home page."""

    def __init__(
        self,
        *,
        content: Content,
        settings: Settings,
        runner: DialogRunner,
        lens: ValuesLensCommands,
        barometer: Barometer | None = None,
    ) -> None:
        self.content = content
        self.settings = settings
        self.runner = runner
        self.lens = lens
        self.barometer = barometer

    async def cards(
        self, stores: Stores, direct: ConversationRef, actor: Actor, now: datetime
    ) -> tuple[Card, ...]:
        """The home page of ``actor``, whose direct conversation with the bot is ``direct``."""
        person = PersonKey(str(direct.platform), direct.tenant, actor.id)
        known = await stores.people.get(person)
        name = actor.name or (known.display_name if known else "")
        cards = [self._welcome(name)]
        under_way = await self._under_way(stores, direct, actor)
        if under_way is not None:
            cards.append(under_way)
        if self.barometer is not None:
            barometer = await self.barometer.home_card(stores, person, now)
            if barometer is not None:
                cards.append(barometer)
        cards.append(await self.lens.history(stores, person, RECENT_CHECKINS))
        cards.append(await self._commitments(stores, person))
        return tuple(cards)

    def _welcome(self, name: str) -> Card:
        return Card(
            title=f"Hello {name}" if name else f"{self.content.organisation} values bot",
            text=f'"{self.content.vision}"\n\n'
            "Type /valueslens in our Messages tab to look at a piece of work through our six "
            "behaviours; in a channel, /valueslens <work> starts a team check-in that everyone "
            "answers privately. /values shows everything I can do.",
        )

    async def _under_way(
        self, stores: Stores, direct: ConversationRef, actor: Actor
    ) -> Card | None:
        key = DialogKey(str(direct.platform), direct.tenant, direct.conversation, actor.id)
        state = await stores.dialogs.load(key)
        if state is None or state.dialog not in self.runner.dialogs:
            return None
        what = self.runner.dialogs[state.dialog].describe(state.data)
        started = (
            f"Started {local_time(state.started_at, self.settings.zone)}."
            if state.started_at
            else ""
        )
        return Card(
            title="Under way",
            text=f"You are in the middle of {what}. Carry on in our Messages tab: answer the "
            "last question there, or type cancel to stop.",
            footer=started,
        )

    async def _commitments(self, stores: Stores, person: PersonKey) -> Card:
        commitments = await stores.commitments.for_owner(person, RECENT_COMMITMENTS)
        if not commitments:
            return Card(
                title="Your commitments",
                text="No commitments yet. At the end of a values lens check-in you can save its "
                "action as a commitment.",
            )
        zone = self.settings.zone
        return Card(
            title="Your commitments",
            text="My contribution is to...",
            fields=tuple(
                Field(
                    label=local_date(c.created_at, zone),
                    value=shorten(c.text, 300) + ("" if c.status == "open" else f" ({c.status})"),
                )
                for c in commitments
            ),
        )
