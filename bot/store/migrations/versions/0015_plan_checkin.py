"""the rhythm: a plan says how often its units report progress (进展报送): monthly, quarterly, or not at all

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 00:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD/DROP COLUMN, not batch mode (see 0014): a batch rebuild of `plan` is forbidden by the foreign keys to it.
def upgrade() -> None:
    op.add_column('plan', sa.Column('checkin', sa.String(), nullable=False, server_default='monthly'))


def downgrade() -> None:
    op.execute('ALTER TABLE plan DROP COLUMN checkin')
