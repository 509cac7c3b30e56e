"""read model revision: triggers tell every process that what it caches changed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 09:00:00

Every insert, update or delete on the tables the read model caches (people, plans, tasks, their evidence, notes,
extensions) bumps a revision: the row of `readrevision` on SQLite; the sequence `duban_revision` and a
`NOTIFY duban_changed` on PostgreSQL. Writers outside duban (the CLI in another process, an administrator's SQL)
are covered too. A table added later whose rows the reads use needs its triggers in a migration of its own
(`tests/test_read_model.py` checks that every table outside `UNRELATED` has them).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ('evidencefile', 'evidenceitem', 'evidencelist', 'extension', 'note', 'person', 'plan', 'progressnote',
          'task', 'taskunit')
OPS = ('INSERT', 'UPDATE', 'DELETE')


def upgrade() -> None:
    op.create_table('readrevision',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute("INSERT INTO readrevision (id, n) VALUES (1, 0)")
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE SEQUENCE duban_revision")
        op.execute("""CREATE FUNCTION duban_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextval('duban_revision');
  PERFORM pg_notify('duban_changed', TG_TABLE_NAME);
  RETURN NULL;
END $$""")
        for table in TABLES:
            op.execute(f'CREATE TRIGGER duban_revision_{table} AFTER INSERT OR UPDATE OR DELETE ON "{table}" '
                       f'FOR EACH STATEMENT EXECUTE FUNCTION duban_revision_bump()')
        return
    for table in TABLES:
        for what in OPS:
            op.execute(f'CREATE TRIGGER duban_revision_{table}_{what.lower()} AFTER {what} ON "{table}" '
                       f'BEGIN UPDATE readrevision SET n = n + 1 WHERE id = 1; END')


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for table in TABLES:
            op.execute(f'DROP TRIGGER IF EXISTS duban_revision_{table} ON "{table}"')
        op.execute("DROP FUNCTION IF EXISTS duban_revision_bump()")
        op.execute("DROP SEQUENCE IF EXISTS duban_revision")
    else:
        for table in TABLES:
            for what in OPS:
                op.execute(f'DROP TRIGGER IF EXISTS duban_revision_{table}_{what.lower()}')
    op.drop_table('readrevision')
