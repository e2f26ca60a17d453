"""people's own records: download links, leavers, audit trail, team rating counts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.common

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=400), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_log_actor"), ["actor"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_log_at"), ["at"], unique=False)

    op.create_table(
        "export_links",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("used_at", storage.common.UtcDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("export_links", schema=None) as batch_op:
        batch_op.create_index("ix_export_links_expires", ["expires_at"], unique=False)
        batch_op.create_index(
            "ix_export_links_person", ["platform", "tenant", "user_id"], unique=False
        )

    op.create_table(
        "leavers",
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("tenant", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("left_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("erase_after", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("platform", "tenant", "user_id"),
    )
    with op.batch_alter_table("leavers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_leavers_erase_after"), ["erase_after"], unique=False)

    op.create_table(
        "team_rating_counts",
        sa.Column("team_checkin_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("behaviour", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("rating", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["team_checkin_id"],
            ["team_checkins.id"],
        ),
        sa.PrimaryKeyConstraint("team_checkin_id", "behaviour", "rating"),
    )


def downgrade() -> None:
    op.drop_table("team_rating_counts")
    with op.batch_alter_table("leavers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_leavers_erase_after"))

    op.drop_table("leavers")
    with op.batch_alter_table("export_links", schema=None) as batch_op:
        batch_op.drop_index("ix_export_links_person")
        batch_op.drop_index("ix_export_links_expires")

    op.drop_table("export_links")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_log_at"))
        batch_op.drop_index(batch_op.f("ix_audit_log_actor"))

    op.drop_table("audit_log")
