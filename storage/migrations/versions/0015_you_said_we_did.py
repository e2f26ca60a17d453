"""you said, we did: responses to comments and themes, actions, the comment author's mark

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 23:07:03.607825
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import storage.common

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "barometer_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("owner", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("created_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("changed_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("barometer_actions", schema=None) as batch_op:
        batch_op.create_index("ix_barometer_actions_status", ["status", "changed_at"], unique=False)

    op.create_table(
        "barometer_action_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("changed_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["barometer_actions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("barometer_action_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_barometer_action_changes_action", ["action_id", "id"], unique=False
        )

    op.create_table(
        "barometer_action_links",
        sa.Column("action_id", sa.Integer(), nullable=False),
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reply_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["action_id"],
            ["barometer_actions.id"],
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["barometer_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("action_id", "round_id", "reply_id"),
    )
    op.create_table(
        "barometer_replies",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("theme", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("written_at", storage.common.UtcDateTime(timezone=True), nullable=False),
        sa.Column("edited_at", storage.common.UtcDateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", storage.common.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["barometer_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("barometer_replies", schema=None) as batch_op:
        batch_op.create_index("ix_barometer_replies_theme", ["round_id", "theme"], unique=True)

    op.create_table(
        "barometer_reply_comments",
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("comment_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reply_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["reply_id"],
            ["barometer_replies.id"],
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["barometer_rounds.id"],
        ),
        sa.PrimaryKeyConstraint("round_id", "comment_id"),
    )
    with op.batch_alter_table("barometer_reply_comments", schema=None) as batch_op:
        batch_op.create_index("ix_barometer_reply_comments_reply", ["reply_id"], unique=False)

    # Comments of rounds closed before this migration have no mark: their authors' cards never
    # offered to show a response.
    with op.batch_alter_table("barometer_comments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("token_mark", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
        batch_op.create_index(
            "ix_barometer_comments_mark", ["round_id", "token_mark"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("barometer_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_comments_mark")
        batch_op.drop_column("token_mark")

    with op.batch_alter_table("barometer_reply_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_reply_comments_reply")

    op.drop_table("barometer_reply_comments")
    with op.batch_alter_table("barometer_replies", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_replies_theme")

    op.drop_table("barometer_replies")
    op.drop_table("barometer_action_links")
    with op.batch_alter_table("barometer_action_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_action_changes_action")

    op.drop_table("barometer_action_changes")
    with op.batch_alter_table("barometer_actions", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_actions_status")

    op.drop_table("barometer_actions")
