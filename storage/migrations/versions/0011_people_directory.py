"""people directory: the name, object id, principal name and email the platform's directory gives

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from storage.common import UtcDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # People met before this migration were never looked up (directory_at NULL): the Teams
    # adapter asks the connector about each of them once, the next time they use the bot.
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("directory_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("principal_name", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("directory_at", UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_people_directory_id", ["platform", "tenant", "directory_id"], unique=False
        )
        batch_op.create_index(
            "ix_people_principal_name", ["platform", "tenant", "principal_name"], unique=False
        )
        batch_op.create_index("ix_people_email", ["platform", "tenant", "email"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_index("ix_people_email")
        batch_op.drop_index("ix_people_principal_name")
        batch_op.drop_index("ix_people_directory_id")
        batch_op.drop_column("directory_at")
        batch_op.drop_column("email")
        batch_op.drop_column("principal_name")
        batch_op.drop_column("directory_id")
