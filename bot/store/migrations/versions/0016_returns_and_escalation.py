"""precise returns and the escalation ladder: a returned file keeps its reason; an item shows its return until a new
file arrives; every urge of a task is a row; 督办通知单 numbered per plan; a unit's 分管领导 is a person bound by
an invitation of their own

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain ADD/DROP COLUMN, not batch mode: a batch rebuild on SQLite drops tables other tables' foreign keys point at.
def upgrade() -> None:
    op.add_column('evidencefile', sa.Column('returned_reason', sa.String(), nullable=False, server_default=''))
    op.add_column('evidenceitem', sa.Column('returned_reason', sa.String(), nullable=False, server_default=''))
    op.add_column('evidenceitem', sa.Column('returned_at', UTCDateTime(), nullable=True))
    op.add_column('person', sa.Column('leader', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('invite', sa.Column('leader', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'urge',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('task_no', sa.Integer(), nullable=False),
        sa.Column('unit', sa.String(), nullable=False),
        sa.Column('by', sa.String(), nullable=False),
        sa.Column('channel', sa.String(), nullable=False),
        sa.Column('kind', sa.String(), nullable=False),
        sa.Column('at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_urge_task', 'urge', ['plan_id', 'task_no'])
    op.create_table(
        'notice',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('plan_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('task_no', sa.Integer(), nullable=False),
        sa.Column('unit', sa.String(), nullable=False),
        sa.Column('issued_by', sa.String(), nullable=False),
        sa.Column('channel', sa.String(), nullable=False),
        sa.Column('issued_at', UTCDateTime(), nullable=False),
        sa.Column('content', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['plan_id'], ['plan.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('plan_id', 'number'),
    )
    op.create_index('ix_notice_task', 'notice', ['plan_id', 'task_no'])


def downgrade() -> None:
    op.drop_index('ix_notice_task', table_name='notice')
    op.drop_table('notice')
    op.drop_index('ix_urge_task', table_name='urge')
    op.drop_table('urge')
    op.execute('ALTER TABLE invite DROP COLUMN leader')
    op.execute('ALTER TABLE person DROP COLUMN leader')
    op.execute('ALTER TABLE evidenceitem DROP COLUMN returned_at')
    op.execute('ALTER TABLE evidenceitem DROP COLUMN returned_reason')
    op.execute('ALTER TABLE evidencefile DROP COLUMN returned_reason')
