"""evidence files unique per item and hash while in force: two uploads of the same bytes at once file it once

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00

Before this index, parallel uploads of the same bytes could each pass the "already submitted" check and insert.
A database holding such duplicates gets them withdrawn first (never deleted: rows and bytes stay as history),
keeping the oldest of each (item, hash), with an audit entry per withdrawn row, so that the index can be built.
"""

import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = 'uq_evidencefile_item_sha256_in_force'
ACTOR = 'system'  # no person withdrew these: the migration did, and says so in the audit log

evidencefile = sa.table(
    'evidencefile', sa.column('id', sa.Integer), sa.column('item_id', sa.Integer), sa.column('sha256', sa.String),
    sa.column('file_name', sa.String), sa.column('uploaded_at', sqlmodel.sql.sqltypes.UTCDateTime),
    sa.column('withdrawn_at', sqlmodel.sql.sqltypes.UTCDateTime), sa.column('withdrawn_by', sa.String))
evidenceitem = sa.table('evidenceitem', sa.column('id', sa.Integer), sa.column('list_id', sa.Integer),
                        sa.column('no', sa.Integer))
task = sa.table('task', sa.column('plan_id', sa.Integer), sa.column('no', sa.Integer),
                sa.column('evidence_list_id', sa.Integer))
audit = sa.table('audit', sa.column('at', sqlmodel.sql.sqltypes.UTCDateTime), sa.column('actor', sa.String),
                 sa.column('channel', sa.String), sa.column('action', sa.String), sa.column('plan_id', sa.Integer),
                 sa.column('task_no', sa.Integer), sa.column('detail', sa.JSON))


def upgrade() -> None:
    withdraw_duplicates(op.get_bind(), dt.datetime.now(dt.UTC))
    op.create_index(INDEX, 'evidencefile', ['item_id', 'sha256'], unique=True,
                    sqlite_where=sa.text('withdrawn_at IS NULL'), postgresql_where=sa.text('withdrawn_at IS NULL'))


def downgrade() -> None:
    op.drop_index(INDEX, table_name='evidencefile')


def withdraw_duplicates(conn: sa.Connection, now: dt.datetime) -> None:
    """Withdraw every file in force that repeats an older one's bytes on the same item."""
    rows = conn.execute(
        sa.select(evidencefile.c.id, evidencefile.c.item_id, evidencefile.c.sha256, evidencefile.c.file_name,
                  evidenceitem.c.no, sa.select(task.c.plan_id).where(task.c.evidence_list_id == evidenceitem.c.list_id)
                  .order_by(task.c.no).limit(1).scalar_subquery(),
                  sa.select(task.c.no).where(task.c.evidence_list_id == evidenceitem.c.list_id)
                  .order_by(task.c.no).limit(1).scalar_subquery())
        .join(evidenceitem, evidenceitem.c.id == evidencefile.c.item_id)
        .where(evidencefile.c.withdrawn_at.is_(None))
        .order_by(evidencefile.c.item_id, evidencefile.c.sha256, evidencefile.c.uploaded_at, evidencefile.c.id)).all()
    kept: dict[tuple[int, str], int] = {}
    for file_id, item_id, sha256, file_name, item_no, plan_id, task_no in rows:
        oldest = kept.setdefault((item_id, sha256), file_id)
        if oldest == file_id:
            continue
        conn.execute(sa.update(evidencefile).where(evidencefile.c.id == file_id)
                     .values(withdrawn_at=now, withdrawn_by=ACTOR))
        conn.execute(sa.insert(audit).values(
            at=now, actor=ACTOR, channel='migration', action='evidence.withdraw', plan_id=plan_id, task_no=task_no,
            detail={'id': file_id, 'file': file_name, 'item': item_no, 'duplicate_of': oldest}))
