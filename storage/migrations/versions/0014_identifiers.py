"""values identifiers: the statement at the front of a key publication, from draft to review

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.common

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identifiers",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("statements", sa.JSON(), nullable=False),
        sa.Column("vision", sa.Text(), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("intended", sa.Date(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("moderator", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("moderator_note", sa.Text(), nullable=True),
        sa.Column("submitted_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.common.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_identifiers_author", ["platform", "tenant", "author", "submitted_at"], unique=False
        )
        batch_op.create_index("ix_identifiers_status", ["status", "decided_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("identifiers", schema=None) as batch_op:
        batch_op.drop_index("ix_identifiers_status")
        batch_op.drop_index("ix_identifiers_author")

    op.drop_table("identifiers")
