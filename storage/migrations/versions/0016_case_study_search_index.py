"""case study search index: a GIN index on the full-text search's expression (PostgreSQL)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Exactly storage.case_studies.search_document: PostgreSQL uses the index only for the very same
# expression as the search's.
DOCUMENT = "to_tsvector('english'::regconfig, title || ' ' || story || ' ' || difference)"


def upgrade() -> None:
    # SQLite searches with LIKE and has no such index.
    if op.get_context().dialect.name != "postgresql":
        return
    op.create_index(
        "ix_case_studies_search",
        "case_studies",
        [sa.text(DOCUMENT)],
        unique=False,
        postgresql_using="gin",
    )


def downgrade() -> None:
    if op.get_context().dialect.name != "postgresql":
        return
    op.drop_index("ix_case_studies_search", table_name="case_studies", postgresql_using="gin")
