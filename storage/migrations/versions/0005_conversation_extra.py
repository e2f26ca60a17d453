"""conversation extra: what a platform needs besides the service URL to reach a conversation again

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 12:03:38.535215
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Rows met before this migration have no extra details: an empty JSON object.
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extra", sa.JSON(), nullable=False, server_default="{}"))

    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extra", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("people", schema=None) as batch_op:
        batch_op.drop_column("extra")

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("extra")
