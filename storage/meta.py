"""Small facts about this installation (a generated pseudonymisation secret, say)."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Text, func
from sqlmodel import Field, SQLModel, col, select

from storage.common import SqlStore, conflict_insert


class MetaStore(Protocol):
    """Small installation facts."""

    async def get(self, key: str) -> str | None:
        """The value, if set."""
        ...

    async def put_if_absent(self, key: str, value: str) -> str:
        """Set the value unless already set; the value that is stored."""
        ...

    async def put(self, key: str, value: str) -> None:
        """Set the value."""
        ...

    async def starting_with(self, prefix: str) -> dict[str, str]:
        """Every key beginning with ``prefix``, with its value."""
        ...


class MetaRow(SQLModel, table=True):
    """Small facts about this installation (a generated pseudonymisation secret, say)."""

    __tablename__ = "meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(sa_type=Text)


class SqlMeta(SqlStore):
    """Installation facts in ``meta``."""

    async def get(self, key: str) -> str | None:
        row = await self.session.get(MetaRow, key)
        return None if row is None else row.value

    async def put_if_absent(self, key: str, value: str) -> str:
        await self.session.exec(
            conflict_insert(self.session, MetaRow)
            .values(key=key, value=value)
            .on_conflict_do_nothing()
        )
        stored = await self.session.get(MetaRow, key, populate_existing=True)
        assert stored is not None
        return stored.value

    async def put(self, key: str, value: str) -> None:
        await self.session.exec(
            conflict_insert(self.session, MetaRow)
            .values(key=key, value=value)
            .on_conflict_do_update(index_elements=["key"], set_={"value": value})
        )

    async def starting_with(self, prefix: str) -> dict[str, str]:
        rows = await self.session.exec(
            select(MetaRow).where(func.substr(col(MetaRow.key), 1, len(prefix)) == prefix)
        )
        return {r.key: r.value for r in rows}
