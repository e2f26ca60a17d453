"""Every table valuesbot keeps, on one metadata: Alembic's target, and what the tests empty.

Each feature declares its tables in its own module; importing them all here registers every
table on ``SQLModel.metadata``. ``storage/__init__.py`` imports this module, so the metadata is
whole whichever part of storage is imported first. A new feature's module is added to the list.
"""

from __future__ import annotations

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
    meta,
    people,
    records,
    schedules,
    scorecard,
    slack_installations,
    values_lens,
)

metadata: MetaData = SQLModel.metadata
