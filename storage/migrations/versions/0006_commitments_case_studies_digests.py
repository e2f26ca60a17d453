"""commitments: done and review nudges; case studies; digest schedules, runs and items

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 12:05:49.793945
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_studies",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("author", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("story", sa.Text(), nullable=False),
        sa.Column("behaviours", sa.JSON(), nullable=False),
        sa.Column("difference", sa.Text(), nullable=False),
        sa.Column("named", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("moderator", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("moderator_note", sa.Text(), nullable=True),
        sa.Column("submitted_at", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("decided_at", storage.tables.UtcDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_studies", schema=None) as batch_op:
        batch_op.create_index(
            "ix_case_studies_author", ["platform", "tenant", "author", "submitted_at"], unique=False
        )
        batch_op.create_index(
            "ix_case_studies_status", ["platform", "tenant", "status", "decided_at"], unique=False
        )

    op.create_table(
        "digest_runs",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("schedule_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("period", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("service_url", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("claimed_at", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("as_of", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("case_studies", sa.Integer(), nullable=False),
        sa.Column("commitments", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("schedule_id", "period", name="uq_digest_runs_slot"),
    )
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_digest_runs_place",
            ["platform", "tenant", "conversation", "claimed_at"],
            unique=False,
        )

    op.create_table(
        "digest_schedules",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("service_url", sqlmodel.sql.sqltypes.AutoString(length=512), nullable=True),
        sa.Column("label", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("timezone", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("if_empty", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("active_since", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", storage.tables.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("platform", "tenant", "conversation", name="uq_digest_schedules_place"),
    )
    op.create_table(
        "digest_items",
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("conversation", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("case_study_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("run_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_study_id"],
            ["case_studies.id"],
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["digest_runs.id"],
        ),
        sa.PrimaryKeyConstraint("platform", "tenant", "conversation", "case_study_id"),
    )
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("done_at", storage.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("review_nudged_at", storage.tables.UtcDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index("ix_commitments_review", ["status", "review_on"], unique=False)
        batch_op.create_index(
            "ix_commitments_shared", ["platform", "tenant", "shared_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("commitments", schema=None) as batch_op:
        batch_op.drop_index("ix_commitments_shared")
        batch_op.drop_index("ix_commitments_review")
        batch_op.drop_column("review_nudged_at")
        batch_op.drop_column("done_at")

    op.drop_table("digest_items")
    op.drop_table("digest_schedules")
    with op.batch_alter_table("digest_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_digest_runs_place")

    op.drop_table("digest_runs")
    with op.batch_alter_table("case_studies", schema=None) as batch_op:
        batch_op.drop_index("ix_case_studies_status")
        batch_op.drop_index("ix_case_studies_author")

    op.drop_table("case_studies")
