"""Dialog states: where each person's conversation with a dialog has got to, saved by the
dialog runner after every step, with optimistic concurrency on a version number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, and_, bindparam, delete, update
from sqlalchemy import select as select_columns
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.events import Event
from storage.common import ConcurrentUpdate, SqlStore, prepared_upsert, rowcount, utc_field


@dataclass(frozen=True, slots=True)
class DialogKey:
    """Which conversation state an event belongs to: one per person and conversation."""

    platform: str
    tenant: str
    conversation: str
    actor: str

    @classmethod
    def of(cls, event: Event) -> DialogKey:
        """The state key of the event's person in the event's conversation."""
        ref = event.conversation
        return cls(str(ref.platform), ref.tenant, ref.conversation, event.actor.id)


@dataclass(slots=True, kw_only=True)
class DialogState:
    """Where a dialog has got to. ``data`` must stay JSON-serialisable."""

    dialog: str
    step: str
    data: dict[str, Any] = field(default_factory=dict)
    version: int = 0
    started_at: datetime | None = None


class DialogStore(Protocol):
    """Dialog states, with optimistic concurrency on ``version``."""

    async def load(self, key: DialogKey) -> DialogState | None:
        """The state for this key, if a dialog is under way."""
        ...

    async def save(self, key: DialogKey, state: DialogState, now: datetime) -> DialogState:
        """Store ``state`` if nobody changed it since it was loaded (its ``version``); the stored
        state (next version) is returned, ``ConcurrentUpdate`` raised otherwise."""
        ...

    async def delete(self, key: DialogKey, state: DialogState) -> None:
        """End the dialog; ``ConcurrentUpdate`` if someone changed it since it was loaded."""
        ...

    async def for_person(self, platform: str, tenant: str, actor: str) -> list[DialogState]:
        """The person's dialogs under way, in any conversation (their own record)."""
        ...

    async def forget(self, platform: str, tenant: str, actor: str) -> int:
        """Erase the person's dialogs under way, everywhere; how many."""
        ...

    async def forget_before(self, when: datetime) -> int:
        """Retention: dialogs left unfinished, untouched since before ``when``, go; how
        many."""
        ...


class DialogStateRow(SQLModel, table=True):
    """Where one person's conversation with a dialog has got to (one row per conversation and
    person; deleted when the dialog ends)."""

    __tablename__ = "dialog_states"

    platform: str = Field(primary_key=True, max_length=16)
    tenant: str = Field(primary_key=True, max_length=64)
    conversation: str = Field(primary_key=True, max_length=255)
    actor: str = Field(primary_key=True, max_length=255)
    dialog: str = Field(max_length=64)
    step: str = Field(max_length=64)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    version: int = 1
    started_at: datetime = utc_field()
    updated_at: datetime = utc_field()


_STATES = DialogStateRow.__table__  # type: ignore[attr-defined]
_KEY = ("platform", "tenant", "conversation", "actor")


def _is_key(*, version: bool = False) -> Any:
    """The row of one key (and, with ``version``, still at the version read), by parameters."""
    names = (*_KEY, "version") if version else _KEY
    return and_(*(_STATES.c[name] == bindparam(f"at_{name}") for name in names))


# Every turn of a dialog loads its state and saves or deletes it: statements built once.
_COLUMNS = (
    _STATES.c.dialog,
    _STATES.c.step,
    _STATES.c.data,
    _STATES.c.version,
    _STATES.c.started_at,
)
_LOAD = select_columns(*_COLUMNS).where(_is_key())


def beside(one_row: Any) -> Any:
    """A ``SELECT`` of the subquery ``one_row`` (one row) and, beside it, the dialog state of
    the key given as parameters (``key_parameters``), its columns NULL when there is none: a
    statement that also reads the state, in the same round trip (``SqlEventLog.first_time``).
    ``state_of`` reads the state from its row."""
    return select_columns(one_row, *_COLUMNS).select_from(one_row.outerjoin(_STATES, _is_key()))


def key_parameters(key: DialogKey) -> dict[str, Any]:
    """The parameters naming ``key``'s state in ``beside``."""
    return _at(key)


def state_of(row: Any) -> DialogState | None:
    """The dialog state a row of ``_LOAD`` or ``beside`` holds (None: no dialog under way)."""
    if row is None or row.dialog is None:
        return None
    return DialogState(
        dialog=row.dialog,
        step=row.step,
        data=dict(row.data),
        version=row.version,
        started_at=row.started_at,
    )


_UPDATE = (
    update(_STATES)
    .where(_is_key(version=True))
    .values(
        dialog=bindparam("dialog"),
        step=bindparam("step"),
        data=bindparam("data"),
        version=bindparam("next_version"),
        updated_at=bindparam("updated_at"),
    )
)
_DELETE = delete(_STATES).where(_is_key(version=True))


def _at(key: DialogKey, version: int | None = None) -> dict[str, Any]:
    where: dict[str, Any] = {
        "at_platform": key.platform,
        "at_tenant": key.tenant,
        "at_conversation": key.conversation,
        "at_actor": key.actor,
    }
    if version is not None:
        where["at_version"] = version
    return where


class SqlDialogs(SqlStore):
    """Dialog states in ``dialog_states``."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(session)
        # States read in this unit by another store's statement (``read``), each kept for the
        # next ``load`` of its key.
        self._read: dict[DialogKey, DialogState | None] = {}

    def read(self, key: DialogKey, state: DialogState | None) -> None:
        """``key``'s state, as a statement of this unit has just read it (``beside``): the next
        ``load(key)`` answers it without asking the database again."""
        self._read[key] = state

    async def load(self, key: DialogKey) -> DialogState | None:
        if key in self._read:
            return self._read.pop(key)
        return state_of((await self.run(_LOAD, _at(key))).first())

    async def save(self, key: DialogKey, state: DialogState, now: datetime) -> DialogState:
        self._read.pop(key, None)
        started = state.started_at or now
        if state.version == 0:
            statement = prepared_upsert(self.dialect, DialogStateRow, _KEY, updates=None)
            parameters: dict[str, Any] = {
                "platform": key.platform,
                "tenant": key.tenant,
                "conversation": key.conversation,
                "actor": key.actor,
                "dialog": state.dialog,
                "step": state.step,
                "data": state.data,
                "version": 1,
                "started_at": started,
                "updated_at": now,
            }
        else:
            statement = _UPDATE
            parameters = {
                **_at(key, state.version),
                "dialog": state.dialog,
                "step": state.step,
                "data": state.data,
                "next_version": state.version + 1,
                "updated_at": now,
            }
        if rowcount(await self.run(statement, parameters)) != 1:
            raise ConcurrentUpdate(f"dialog state of {key} changed meanwhile")
        return DialogState(
            dialog=state.dialog,
            step=state.step,
            data=state.data,
            version=state.version + 1,
            started_at=started,
        )

    async def delete(self, key: DialogKey, state: DialogState) -> None:
        self._read.pop(key, None)
        if state.version == 0:
            return
        if rowcount(await self.run(_DELETE, _at(key, state.version))) != 1:
            raise ConcurrentUpdate(f"dialog state of {key} changed meanwhile")

    async def for_person(self, platform: str, tenant: str, actor: str) -> list[DialogState]:
        rows = await self.session.exec(
            select(DialogStateRow)
            .where(*_actor_is(platform, tenant, actor))
            .order_by(col(DialogStateRow.updated_at))
        )
        return [
            DialogState(
                dialog=r.dialog,
                step=r.step,
                data=dict(r.data),
                version=r.version,
                started_at=r.started_at,
            )
            for r in rows
        ]

    async def forget(self, platform: str, tenant: str, actor: str) -> int:
        self._read.clear()
        removed = await self.session.exec(
            delete(DialogStateRow)
            .where(*_actor_is(platform, tenant, actor))
            .execution_options(synchronize_session=False)
        )
        return rowcount(removed)

    async def forget_before(self, when: datetime) -> int:
        self._read.clear()
        removed = await self.session.exec(
            delete(DialogStateRow)
            .where(col(DialogStateRow.updated_at) < when)
            .execution_options(synchronize_session=False)
        )
        return rowcount(removed)


def _actor_is(platform: str, tenant: str, actor: str) -> tuple[Any, ...]:
    return (
        col(DialogStateRow.platform) == platform,
        col(DialogStateRow.tenant) == tenant,
        col(DialogStateRow.actor) == actor,
    )
