"""barometer counts: a sealed round keeps how many gave each answer, not a row per answer

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-15 10:00:00.000000

Sealing a national round wrote its 2.6 million response rows again (a trigger and three
index entries a row: most of a minute, bench/national.py); the published figures only ever
counted them. A closed round's rows become its counts here, and sealing writes counts from now
on. Downgrading writes the rows again from the counts, with new random ids.
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CLOSED = "SELECT id FROM barometer_rounds WHERE status = 'closed'"


def upgrade() -> None:
    op.create_table(
        "barometer_counts",
        sa.Column("round_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("question", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("value", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("group_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["round_id"], ["barometer_rounds.id"]),
        sa.PrimaryKeyConstraint("round_id", "id"),
        sqlite_with_rowid=False,
    )
    connection = op.get_bind()
    counted = connection.execute(
        sa.text(
            "SELECT round_id, question, group_id, value, count(*) FROM barometer_responses "
            f"WHERE round_id IN ({_CLOSED}) GROUP BY round_id, question, group_id, value"
        )
    ).all()
    rows = [
        {
            "round_id": round_id,
            "id": secrets.token_hex(16),
            "question": question,
            "value": value,
            "group_id": group,
            "n": int(n),
        }
        for round_id, question, group, value, n in counted
    ]
    if rows:
        connection.execute(
            sa.text(
                "INSERT INTO barometer_counts (round_id, id, question, value, group_id, n) "
                "VALUES (:round_id, :id, :question, :value, :group_id, :n)"
            ),
            rows,
        )
    connection.execute(sa.text(f"DELETE FROM barometer_responses WHERE round_id IN ({_CLOSED})"))


def downgrade() -> None:
    connection = op.get_bind()
    counts = connection.execute(
        sa.text("SELECT round_id, question, value, group_id, n FROM barometer_counts")
    ).all()
    rows = [
        {
            "round_id": round_id,
            "id": secrets.token_hex(16),
            "question": question,
            "value": value,
            "group_id": group,
        }
        for round_id, question, value, group, n in counts
        for _ in range(n)
    ]
    if rows:
        connection.execute(
            sa.text(
                "INSERT INTO barometer_responses (round_id, id, question, value, group_id) "
                "VALUES (:round_id, :id, :question, :value, :group_id)"
            ),
            rows,
        )
    op.drop_table("barometer_counts")
