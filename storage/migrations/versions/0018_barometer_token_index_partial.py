"""barometer token indexes: only rows that still have a token hash

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-14 10:00:00.000000

Sealed rows (a closed round's) have no token hash: with the indexes partial, closing a
national round no longer adds millions of entries to them (bench/national.py).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INDEXES = (
    ("barometer_responses", "ix_barometer_responses_token"),
    ("barometer_comments", "ix_barometer_comments_token"),
)


def upgrade() -> None:
    where = sa.text("token_hash IS NOT NULL")
    for table, name in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(
                name,
                ["round_id", "token_hash"],
                unique=False,
                sqlite_where=where,
                postgresql_where=where,
            )


def downgrade() -> None:
    for table, name in _INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
            batch_op.create_index(name, ["round_id", "token_hash"], unique=False)
