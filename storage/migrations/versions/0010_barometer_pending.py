"""barometer pending: answers wait, sealed, for a batch of others before they are written

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "barometer_pending",
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("lookup", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("replaces", sa.Boolean(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["barometer_rounds.id"]),
        sa.PrimaryKeyConstraint("round_id", "id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("barometer_pending", schema=None) as batch_op:
        batch_op.create_index("ix_barometer_pending_lookup", ["round_id", "lookup"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("barometer_pending", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_pending_lookup")
    op.drop_table("barometer_pending")
