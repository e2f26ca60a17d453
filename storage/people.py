"""People and the conversations the bot has met: who someone is across the platforms
(``PersonKey``), how to reach them directly, and where the bot can post again."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol

from sqlalchemy import JSON, Index, Row, delete, or_
from sqlalchemy import select as select_columns
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.events import Actor, ConversationKind, ConversationRef, Directory, Event, Platform
from storage.common import (
    ROWS_AT_ONCE,
    SqlStore,
    chunks,
    conflict_insert,
    keys_among,
    keys_given,
    prepared_upsert,
    utc_field,
)


@dataclass(frozen=True, slots=True)
class PersonKey:
    """Who someone is, across the platforms: a member of a workspace or tenant."""

    platform: str
    tenant: str
    user: str

    @classmethod
    def of(cls, event: Event) -> PersonKey:
        """The person who caused the event."""
        ref = event.conversation
        return cls(str(ref.platform), ref.tenant, event.actor.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """Someone the bot has met."""

    key: PersonKey
    display_name: str
    timezone: str | None
    direct_conversation: str | None
    service_url: str | None
    first_seen: datetime
    last_seen: datetime
    extra: Mapping[str, str] = field(default_factory=dict)
    directory: Directory | None = None
    """What the organisation's directory said of them (``identified``); None until asked."""


class PeopleStore(Protocol):
    """People and conversations the bot has met."""

    async def seen(self, place: ConversationRef, actor: Actor, now: datetime) -> bool:
        """Remember (or refresh) the person and the conversation; False when this process
        wrote the same arrival lately and nothing was written (``SeenLately``)."""
        ...

    async def identified(
        self, key: PersonKey, name: str, directory: Directory, now: datetime
    ) -> None:
        """Keep what the platform's directory says of the person (their name, when given, and
        their directory entry), remembering them if they are new."""
        ...

    async def get(self, key: PersonKey) -> Person | None:
        """The person, if the bot has met them."""
        ...

    async def by_directory(
        self, platform: str, tenant: str, names: Sequence[str]
    ) -> dict[str, PersonKey]:
        """The people the directory names (object id, principal name or email; any case) as
        known on this platform and tenant, by the name given."""
        ...

    async def get_many(self, keys: Sequence[PersonKey]) -> dict[PersonKey, Person]:
        """Those of the people the bot has met, by key, in a few statements."""
        ...

    async def conversation(
        self, platform: str, tenant: str, conversation: str
    ) -> ConversationRef | None:
        """A conversation the bot has been in, to post there again."""
        ...

    async def channels(self, platform: str, tenant: str) -> list[ConversationRef]:
        """The channels and group chats the bot has met in a workspace or tenant."""
        ...

    async def remember(self, place: ConversationRef, now: datetime) -> None:
        """Remember (or refresh) a conversation the bot can post in, though nobody spoke
        there (a Teams channel found in the list of a team's channels)."""
        ...

    async def everyone(self) -> list[PersonKey]:
        """Everyone the bot has met, on every platform and tenant."""
        ...

    async def in_tenant(self, platform: str, tenant: str) -> list[PersonKey]:
        """Everyone the bot has met in one workspace or tenant."""
        ...

    async def forget(self, key: PersonKey) -> Person | None:
        """Erase the person and their direct conversation with the bot; who they were."""
        ...


class PersonRow(SQLModel, table=True):
    """Someone the bot has met, and how to reach them directly."""

    __tablename__ = "people"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(primary_key=True, max_length=255)
    display_name: str = Field(default="", max_length=255)
    timezone: str | None = Field(default=None, max_length=64)
    direct_conversation: str | None = Field(default=None, max_length=255)
    service_url: str | None = Field(default=None, max_length=512)
    extra: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    """Platform details of the last conversation they were seen in (``ConversationRef.extra``),
    enough to open a direct chat with them."""
    first_seen: datetime = utc_field()
    last_seen: datetime = utc_field()
    directory_id: str | None = Field(default=None, max_length=64)
    """Their object id in the organisation's directory (Teams: Entra ID), in lower case."""
    principal_name: str | None = Field(default=None, max_length=255)
    """Their user principal name in the directory, in lower case."""
    email: str | None = Field(default=None, max_length=255)
    """Their email address as the directory gives it, in lower case."""
    directory_at: datetime | None = utc_field(nullable=True)
    """When the platform's directory was last asked about them (None: never)."""

    __table_args__ = (
        # Settings may name comms members and admins by these (VALUESBOT_COMMS).
        Index("ix_people_directory_id", "platform", "tenant", "directory_id"),
        Index("ix_people_principal_name", "platform", "tenant", "principal_name"),
        Index("ix_people_email", "platform", "tenant", "email"),
    )


class ConversationRow(SQLModel, table=True):
    """A conversation the bot is in, kept so it can post there later (proactive messages)."""

    __tablename__ = "conversations"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    conversation: str = Field(primary_key=True, max_length=255)
    kind: str = Field(max_length=16)
    service_url: str | None = Field(default=None, max_length=512)
    extra: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    """What else the platform needs to post there again (``ConversationRef.extra``)."""
    first_seen: datetime = utc_field()
    last_seen: datetime = utc_field()


@lru_cache(maxsize=2)
def _among_keys(dialect: str) -> Any:
    """The people of the keys given (``keys_given("keys", ...)``), built once: a delivery batch
    reads its recipients with it."""
    people = PersonRow.__table__  # type: ignore[attr-defined]
    key = (people.c.platform, people.c.tenant, people.c.user_id)
    return select_columns(people).where(keys_among(key, "keys", dialect))


def _person(row: PersonRow | Row[Any]) -> Person:
    return Person(
        key=PersonKey(row.platform, row.tenant, row.user_id),
        display_name=row.display_name,
        timezone=row.timezone,
        direct_conversation=row.direct_conversation,
        service_url=row.service_url,
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        extra=dict(row.extra or {}),
        directory=None
        if row.directory_at is None
        else Directory(
            object_id=row.directory_id or "",
            principal_name=row.principal_name or "",
            email=row.email or "",
        ),
    )


def _conversation(row: ConversationRow) -> ConversationRef:
    return ConversationRef(
        platform=Platform(row.platform),
        tenant=row.tenant,
        conversation=row.conversation,
        kind=ConversationKind(row.kind),
        service_url=row.service_url,
        extra=dict(row.extra or {}),
    )


# How long a person's arrival, once written, is not written again when nothing of it changed
# (seconds): their "last seen" is kept to within this.
SEEN_REFRESH = 60.0
# People and conversations remembered as written lately, per process, at most.
SEEN_REMEMBERED = 10_000


class SeenLately:
    """What this process wrote lately of people's arrivals (``SqlPeople.seen``, the lifting of a
    leaver's mark): every turn of a person wrote their row, their conversation's row and the
    lifting again, three statements of the five or six a turn makes, though nothing changed.
    Written once, the same arrival is not written again for ``refresh`` seconds. What this
    process changes of a person (erasure, a leaver's mark) forgets their arrivals here; a change
    made by another process (the CLI, another instance) is met at most ``refresh`` seconds
    later. An arrival counts as written once its unit of work committed.

    It also keeps the people it read lately (``known``), on the same terms: Teams read each
    person's row in a unit of its own before every turn, to name them and give their
    directory entry (``VALUESBOT_COMMS`` and ``VALUESBOT_ADMINS`` may name them by it)."""

    def __init__(
        self,
        refresh: float = SEEN_REFRESH,
        most: int = SEEN_REMEMBERED,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.refresh = refresh
        self.most = most
        self._now = now
        self._written: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self._known: OrderedDict[PersonKey, tuple[float, Person]] = OrderedDict()

    @staticmethod
    def arrival(place: ConversationRef, actor: Actor) -> tuple[Any, ...]:
        """Everything ``SqlPeople.seen`` writes of a person's arrival, but the time."""
        return (
            str(place.platform),
            place.tenant,
            actor.id,
            place.conversation,
            str(place.kind),
            place.service_url,
            tuple(sorted(place.extra.items())),
            actor.name,
            actor.timezone,
        )

    def fresh(self, arrival: tuple[Any, ...]) -> bool:
        """Written less than ``refresh`` seconds ago."""
        written = self._written.get(arrival)
        return written is not None and self._now() - written < self.refresh

    def written(self, arrival: tuple[Any, ...]) -> None:
        self._keep(self._written, arrival, self._now())

    def known(self, key: PersonKey) -> Person | None:
        """The person as read less than ``refresh`` seconds ago (``knew``), if they were."""
        found = self._known.get(key)
        if found is None or self._now() - found[0] >= self.refresh:
            return None
        return found[1]

    def knew(self, person: Person) -> None:
        """Keep the person as just read."""
        self._keep(self._known, person.key, (self._now(), person))

    def _keep(self, kept: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        """Put ``key`` last in ``kept``, and let the least recent go beyond ``most``."""
        kept[key] = value
        kept.move_to_end(key)
        while len(kept) > self.most:
            kept.popitem(last=False)

    def forget(self, person: PersonKey) -> None:
        """The person changed here: their next arrival is written, and they are read again."""
        for arrival in [
            a for a in self._written if a[:3] == (person.platform, person.tenant, person.user)
        ]:
            del self._written[arrival]
        self._known.pop(person, None)


PERSON_KEY = ("platform", "tenant", "user_id")
CONVERSATION_KEY = ("platform", "tenant", "conversation")


class SqlPeople(SqlStore):
    """People and conversations in ``people`` and ``conversations``. ``lately``: this
    process's memory of arrivals written (none: every arrival is written); ``committed``: what
    the unit of work runs once it has committed (``SqlStores.committed``)."""

    def __init__(
        self,
        session: AsyncSession,
        lately: SeenLately | None = None,
        committed: list[Callable[[], None]] | None = None,
    ) -> None:
        super().__init__(session)
        self.lately = lately
        self.committed = [] if committed is None else committed

    async def seen(self, place: ConversationRef, actor: Actor, now: datetime) -> bool:
        arrival = SeenLately.arrival(place, actor)
        if self.lately is not None:
            if self.lately.fresh(arrival):
                return False
            lately = self.lately
            self.committed.append(lambda: lately.written(arrival))
        updates = ["last_seen"]
        kept: tuple[str, ...] = ()
        if actor.name:
            updates.append("display_name")
        if actor.timezone:
            updates.append("timezone")
        if place.extra:
            updates.append("extra")
        if place.is_direct:
            updates.append("direct_conversation")
            if place.service_url:
                updates.append("service_url")
        elif place.service_url:
            # Met in a channel: its service URL opens a direct chat with them later, unless
            # they have one of their own (a row ``identified`` wrote first has none yet).
            updates.append("service_url")
            kept = ("service_url",)
        upsert_person = prepared_upsert(self.dialect, PersonRow, PERSON_KEY, tuple(updates), kept)
        await self.run(
            upsert_person,
            {
                "platform": str(place.platform),
                "tenant": place.tenant,
                "user_id": actor.id,
                "display_name": actor.name,
                "timezone": actor.timezone,
                "direct_conversation": place.conversation if place.is_direct else None,
                "service_url": place.service_url,
                "extra": dict(place.extra),
                "first_seen": now,
                "last_seen": now,
            },
        )
        await self.remember(place, now)
        return True

    async def remember(self, place: ConversationRef, now: datetime) -> None:
        updates = ["last_seen", "kind"]
        if place.service_url:
            updates.append("service_url")
        if place.extra:
            updates.append("extra")
        upsert_conversation = prepared_upsert(
            self.dialect, ConversationRow, CONVERSATION_KEY, tuple(updates)
        )
        await self.run(
            upsert_conversation,
            {
                "platform": str(place.platform),
                "tenant": place.tenant,
                "conversation": place.conversation,
                "kind": str(place.kind),
                "service_url": place.service_url,
                "extra": dict(place.extra),
                "first_seen": now,
                "last_seen": now,
            },
        )

    async def identified(
        self, key: PersonKey, name: str, directory: Directory, now: datetime
    ) -> None:
        found: dict[str, Any] = {
            "directory_id": directory.object_id or None,
            "principal_name": directory.principal_name or None,
            "email": directory.email or None,
            "directory_at": now,
        }
        changes = dict(found)
        if name:
            changes["display_name"] = name
        upsert = (
            conflict_insert(self.session, PersonRow)
            .values(
                platform=key.platform,
                tenant=key.tenant,
                user_id=key.user,
                display_name=name,
                extra={},
                first_seen=now,
                last_seen=now,
                **found,
            )
            .on_conflict_do_update(index_elements=["platform", "tenant", "user_id"], set_=changes)
        )
        await self.session.exec(upsert)

    async def get(self, key: PersonKey) -> Person | None:
        row = await self.session.get(PersonRow, (key.platform, key.tenant, key.user))
        return None if row is None else _person(row)

    async def by_directory(
        self, platform: str, tenant: str, names: Sequence[str]
    ) -> dict[str, PersonKey]:
        wanted = {n.strip().lower(): n for n in names if n.strip()}
        if not wanted:
            return {}
        found: dict[str, PersonKey] = {}
        for chunk in chunks(list(wanted), ROWS_AT_ONCE):
            rows = await self.session.exec(
                select(PersonRow).where(
                    col(PersonRow.platform) == platform,
                    col(PersonRow.tenant) == tenant,
                    or_(
                        col(PersonRow.directory_id).in_(chunk),
                        col(PersonRow.principal_name).in_(chunk),
                        col(PersonRow.email).in_(chunk),
                    ),
                )
            )
            for row in rows:
                key = PersonKey(row.platform, row.tenant, row.user_id)
                for name in (row.directory_id, row.principal_name, row.email):
                    if name in wanted:
                        found.setdefault(wanted[name], key)
        return found

    async def get_many(self, keys: Sequence[PersonKey]) -> dict[PersonKey, Person]:
        found: dict[PersonKey, Person] = {}
        wanted = list(dict.fromkeys((k.platform, k.tenant, k.user) for k in keys))
        for chunk in chunks(wanted, ROWS_AT_ONCE):
            rows = await self.run(
                _among_keys(self.dialect), keys_given("keys", chunk, self.dialect)
            )
            for row in rows:
                person = _person(row)
                found[person.key] = person
        return found

    async def conversation(
        self, platform: str, tenant: str, conversation: str
    ) -> ConversationRef | None:
        row = await self.session.get(ConversationRow, (platform, tenant, conversation))
        return None if row is None else _conversation(row)

    async def channels(self, platform: str, tenant: str) -> list[ConversationRef]:
        rows = await self.session.exec(
            select(ConversationRow)
            .where(
                col(ConversationRow.platform) == platform,
                col(ConversationRow.tenant) == tenant,
                col(ConversationRow.kind) != str(ConversationKind.DIRECT),
            )
            .order_by(col(ConversationRow.conversation))
        )
        return [_conversation(row) for row in rows]

    async def everyone(self) -> list[PersonKey]:
        rows = await self.session.exec(
            select(PersonRow.platform, PersonRow.tenant, PersonRow.user_id).order_by(
                col(PersonRow.platform), col(PersonRow.tenant), col(PersonRow.user_id)
            )
        )
        return [PersonKey(platform, tenant, user) for platform, tenant, user in rows]

    async def in_tenant(self, platform: str, tenant: str) -> list[PersonKey]:
        rows = await self.session.exec(
            select(PersonRow.user_id)
            .where(col(PersonRow.platform) == platform, col(PersonRow.tenant) == tenant)
            .order_by(col(PersonRow.user_id))
        )
        return [PersonKey(platform, tenant, user) for user in rows]

    async def forget(self, key: PersonKey) -> Person | None:
        if self.lately is not None:
            self.lately.forget(key)
        person = await self.get(key)
        if person is None:
            return None
        if person.direct_conversation:
            await self.session.exec(
                delete(ConversationRow)
                .where(
                    col(ConversationRow.platform) == key.platform,
                    col(ConversationRow.tenant) == key.tenant,
                    col(ConversationRow.conversation) == person.direct_conversation,
                    col(ConversationRow.kind) == str(ConversationKind.DIRECT),
                )
                .execution_options(synchronize_session=False)
            )
        await self.session.exec(
            delete(PersonRow)
            .where(
                col(PersonRow.platform) == key.platform,
                col(PersonRow.tenant) == key.tenant,
                col(PersonRow.user_id) == key.user,
            )
            .execution_options(synchronize_session=False)
        )
        return person
