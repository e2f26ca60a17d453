"""Dialog states: where each person's conversation with a dialog has got to, saved by the
dialog runner after every step, with optimistic concurrency on a version number."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import JSON, delete, update
from sqlmodel import Field, SQLModel, col, select

from bot.events import Event
from storage.common import ConcurrentUpdate, SqlStore, conflict_insert, rowcount, utc_field


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


class SqlDialogs(SqlStore):
    """Dialog states in ``dialog_states``."""

    async def load(self, key: DialogKey) -> DialogState | None:
        row = await self.session.get(
            DialogStateRow, (key.platform, key.tenant, key.conversation, key.actor)
        )
        if row is None:
            return None
        return DialogState(
            dialog=row.dialog,
            step=row.step,
            data=dict(row.data),
            version=row.version,
            started_at=row.started_at,
        )

    async def save(self, key: DialogKey, state: DialogState, now: datetime) -> DialogState:
        started = state.started_at or now
        if state.version == 0:
            statement = (
                conflict_insert(self.session, DialogStateRow)
                .values(
                    platform=key.platform,
                    tenant=key.tenant,
                    conversation=key.conversation,
                    actor=key.actor,
                    dialog=state.dialog,
                    step=state.step,
                    data=state.data,
                    version=1,
                    started_at=started,
                    updated_at=now,
                )
                .on_conflict_do_nothing()
            )
        else:
            statement = (
                update(DialogStateRow)
                .where(
                    col(DialogStateRow.platform) == key.platform,
                    col(DialogStateRow.tenant) == key.tenant,
                    col(DialogStateRow.conversation) == key.conversation,
                    col(DialogStateRow.actor) == key.actor,
                    col(DialogStateRow.version) == state.version,
                )
                .values(
                    dialog=state.dialog,
                    step=state.step,
                    data=state.data,
                    version=state.version + 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        if rowcount(await self.session.exec(statement)) != 1:
            raise ConcurrentUpdate(f"dialog state of {key} changed meanwhile")
        return DialogState(
            dialog=state.dialog,
            step=state.step,
            data=state.data,
            version=state.version + 1,
            started_at=started,
        )

    async def delete(self, key: DialogKey, state: DialogState) -> None:
        if state.version == 0:
            return
        statement = (
            delete(DialogStateRow)
            .where(
                col(DialogStateRow.platform) == key.platform,
                col(DialogStateRow.tenant) == key.tenant,
                col(DialogStateRow.conversation) == key.conversation,
                col(DialogStateRow.actor) == key.actor,
                col(DialogStateRow.version) == state.version,
            )
            .execution_options(synchronize_session=False)
        )
        if rowcount(await self.session.exec(statement)) != 1:
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
        removed = await self.session.exec(
            delete(DialogStateRow)
            .where(*_actor_is(platform, tenant, actor))
            .execution_options(synchronize_session=False)
        )
        return rowcount(removed)

    async def forget_before(self, when: datetime) -> int:
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
