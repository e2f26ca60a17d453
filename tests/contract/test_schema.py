"""The tables the code declares are exactly the recorded schema (``tests/fixtures/schema/``).

The DDL of every table and index of ``SQLModel.metadata``, as SQLite and PostgreSQL would create
them, is compared with a recorded copy, so a change that moves table definitions around cannot
change the schema unnoticed. A deliberate schema change comes with its migration and a new
recording: ``python -m tests.contract.test_schema`` writes it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable
from sqlmodel import SQLModel

import storage.schema  # noqa: F401  (registers every table on SQLModel.metadata)

ROOT = Path(__file__).parents[2]
RECORDED = ROOT / "tests" / "fixtures" / "schema"
DIALECTS: dict[str, Dialect] = {"sqlite": sqlite.dialect(), "postgresql": postgresql.dialect()}


def render(dialect: Dialect) -> str:
    """``CREATE TABLE`` and ``CREATE INDEX`` of every table, by table name, then index name."""
    statements: list[str] = []
    for table in sorted(SQLModel.metadata.tables.values(), key=lambda t: t.name):
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip() + ";")
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            statements.append(str(CreateIndex(index).compile(dialect=dialect)).strip() + ";")
    text = "\n\n".join(statements) + "\n"
    return "\n".join(line.rstrip() for line in text.split("\n"))


@pytest.mark.parametrize("name", sorted(DIALECTS))
def test_tables_are_the_recorded_schema(name: str) -> None:
    recorded = (RECORDED / f"{name}.sql").read_text(encoding="utf-8")
    assert render(DIALECTS[name]) == recorded


def test_the_recording_holds_every_table() -> None:
    recorded = (RECORDED / "postgresql.sql").read_text(encoding="utf-8")
    assert recorded.count("CREATE TABLE ") == len(SQLModel.metadata.tables) == 46


@pytest.mark.parametrize("module", ["storage.meta", "storage.common", "storage.engine"])
def test_importing_any_part_of_storage_registers_every_table(module: str) -> None:
    # A fresh interpreter: here every table is registered already.
    code = f"import {module}; from sqlmodel import SQLModel; print(len(SQLModel.metadata.tables))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert int(result.stdout) == len(SQLModel.metadata.tables)


if __name__ == "__main__":
    for dialect_name, dialect in DIALECTS.items():
        (RECORDED / f"{dialect_name}.sql").write_text(render(dialect), encoding="utf-8")
