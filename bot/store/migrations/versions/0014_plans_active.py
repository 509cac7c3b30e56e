"""several plans at once: a plan is active or archived; a task remembers the task of an earlier plan it continues

Revision ID: 0014
Revises: 0011
Create Date: 2026-12-04 23:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD/DROP COLUMN, not batch mode: on SQLite a batch rebuild of `plan` or `task` drops the table, which the
# foreign keys of tasks, items and files pointing at it forbid. `carried_from` has no foreign key for that reason.
def upgrade() -> None:
    op.add_column('plan', sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column('task', sa.Column('carried_from', sa.Integer(), nullable=True))


def downgrade() -> None:
    op.execute('ALTER TABLE task DROP COLUMN carried_from')
    op.execute('ALTER TABLE plan DROP COLUMN active')
