"""outbox claim index: the claim reads the due messages of a platform in the order it takes them

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-11 10:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The claim orders the due messages of one platform by (next_attempt_at, id); on the old
    # index (status, next_attempt_at) PostgreSQL read and sorted every due message to lock the
    # first 200 (FOR UPDATE keeps the sort from stopping early): 3 s a claim at 650,000 queued.
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index(
            "ix_outbox_due", ["status", "platform", "next_attempt_at", "id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_due")
        batch_op.create_index("ix_outbox_due", ["status", "next_attempt_at"], unique=False)
