"""FSM states in the database (a bot without Redis)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fsm_states",
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=255), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_fsm_states")),
    )
    with op.batch_alter_table("fsm_states", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fsm_states_user_id"), ["user_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("fsm_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fsm_states_user_id"))
    op.drop_table("fsm_states")
