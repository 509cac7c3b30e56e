"""indexes the desk's task page reads by: a task's history, the tasks of an evidence list

Revision ID: 0006
Revises: 0002
Create Date: 2026-11-30 08:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.create_index('ix_audit_plan_task', ['plan_id', 'task_no'], unique=False)
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_evidence_list_id'), ['evidence_list_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('task', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_evidence_list_id'))
    with op.batch_alter_table('audit', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_plan_task')
