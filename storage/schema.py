"""Every table valuesbot keeps, on one metadata: Alembic's target, and what the tests empty.

Each feature declares its tables in its own module; importing them all here registers every
table on ``SQLModel.metadata``. ``storage/__init__.py`` imports this module, so the metadata is
whole whichever part of storage is imported first. A new feature's module is added to the list.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import MetaData
from sqlmodel import SQLModel

from storage import (  # noqa: F401  (each registers its tables)
    barometer,
    case_studies,
    commitments,
    console,
    delivery,
    dialog_states,
    digests,
    event_log,
    identifiers,
    meta,
    people,
    records,
    schedules,
    scorecard,
    slack_installations,
    values_lens,
)

metadata: MetaData = SQLModel.metadata

MIGRATION_ONLY_INDEXES = frozenset({"ix_case_studies_search"})
"""Indexes their migrations make and the metadata does not declare, left out of Alembic's
comparison of the database with the metadata: PostgreSQL-only expression indexes (the full-text
search's GIN index). Declared in the metadata, SQLite's comparison would warn that it cannot
reflect them, and PostgreSQL's would report them changed: it reads their expressions back
rewritten, with casts and brackets. ``tests/contract/test_hub_queries.py`` shows the search
uses the index."""


def include_name(name: str | None, type_: str, parent_names: Mapping[Any, str | None]) -> bool:
    """Alembic's ``include_name`` hook: everything but ``MIGRATION_ONLY_INDEXES``."""
    return not (type_ == "index" and name in MIGRATION_ONLY_INDEXES)
