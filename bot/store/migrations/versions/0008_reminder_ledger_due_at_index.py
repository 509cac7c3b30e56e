"""reminder ledger indexed by due_at: a sweep reads the keys due in its window by range

Revision ID: 0008
Revises: 0002
Create Date: 2026-11-30 08:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('reminderledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reminderledger_due_at'), ['due_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('reminderledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reminderledger_due_at'))
