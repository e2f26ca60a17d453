"""card updates: the team check-in's card id, outbox changes to posted messages, console updates

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Team check-ins opened before this migration have no card id: their cards turn closed
    # when next clicked, as before.
    with op.batch_alter_table("team_checkins", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("card_message", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replaces", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
    with op.batch_alter_table("console_posts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replaces", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("console_posts", schema=None) as batch_op:
        batch_op.drop_column("replaces")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("replaces")
    with op.batch_alter_table("team_checkins", schema=None) as batch_op:
        batch_op.drop_column("card_message")
