"""barometer tally index: the published counts from an index-only scan

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27 15:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("barometer_responses", schema=None) as batch_op:
        batch_op.create_index(
            "ix_barometer_responses_tally",
            ["round_id", "question", "group_id", "value"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("barometer_responses", schema=None) as batch_op:
        batch_op.drop_index("ix_barometer_responses_tally")
