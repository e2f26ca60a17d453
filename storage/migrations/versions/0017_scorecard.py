"""scorecard: figures comms import or enter, stakeholder rounds, their links and answers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.common

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scorecard_figures",
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("respondents", sa.Integer(), nullable=True),
        sa.Column("entered_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "key", "period"),
    )
    op.create_table(
        "stakeholder_rounds",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opened_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closes_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("closed_at", storage.common.UtcDateTime(timezone=True), nullable=True),
        sa.Column("min_group", sa.Integer(), nullable=False),
        sa.Column("comment_min", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("invited", sa.Integer(), nullable=False),
        sa.Column("answered", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("period"),
    )
    with op.batch_alter_table("stakeholder_rounds", schema=None) as batch_op:
        batch_op.create_index("ix_stakeholder_rounds_status", ["status"], unique=False)

    op.create_table(
        "stakeholder_comments",
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["stakeholder_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("round_id", "id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stakeholder_links",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["stakeholder_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("token_hash"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("stakeholder_links", schema=None) as batch_op:
        batch_op.create_index("ix_stakeholder_links_round", ["round_id", "used"], unique=False)

    op.create_table(
        "stakeholder_pending",
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["stakeholder_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("round_id", "id"),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "stakeholder_responses",
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("question", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("group_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["stakeholder_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("round_id", "id"),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("stakeholder_responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_stakeholder_responses_tally",
            ["round_id", "question", "group_id", "value"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("stakeholder_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_stakeholder_responses_tally")

    op.drop_table("stakeholder_responses")
    op.drop_table("stakeholder_pending")
    with op.batch_alter_table("stakeholder_links", schema=None) as batch_op:
        batch_op.drop_index("ix_stakeholder_links_round")

    op.drop_table("stakeholder_links")
    op.drop_table("stakeholder_comments")
    with op.batch_alter_table("stakeholder_rounds", schema=None) as batch_op:
        batch_op.drop_index("ix_stakeholder_rounds_status")

    op.drop_table("stakeholder_rounds")
    op.drop_table("scorecard_figures")
