"""inbound messages ordered per chat, shared by every receiving channel

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 08:10:00

The table becomes the durable intake of all channels: a serial id orders each chat's messages (also when they
are replayed after a restart) and `chat` names the queue a message belongs to. Rows kept by 0002 (WeCom callbacks)
are carried over, in the order they were received, with the sender as their chat.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0002's rows were WeCom callbacks; their sender (FromUserName) is the chat. Read them, rebuild, put them back.
    old = sa.table('inbound', sa.column('key', sa.String), sa.column('channel', sa.String),
                   sa.column('payload', sa.JSON), sa.column('received_at', sqlmodel.sql.sqltypes.UTCDateTime),
                   sa.column('handled_at', sqlmodel.sql.sqltypes.UTCDateTime))
    conn = op.get_bind()
    rows = conn.execute(sa.select(old).order_by(old.c.received_at)).mappings().all()
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_index('ix_inbound_handled_at')
        batch_op.drop_index('ix_inbound_channel')
    op.drop_table('inbound')
    op.create_table('inbound',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chat', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('handled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('key')
    )
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_handled_at'), ['handled_at'], unique=False)
    new = sa.table('inbound', sa.column('key', sa.String), sa.column('channel', sa.String),
                   sa.column('chat', sa.String), sa.column('payload', sa.JSON),
                   sa.column('received_at', sqlmodel.sql.sqltypes.UTCDateTime),
                   sa.column('handled_at', sqlmodel.sql.sqltypes.UTCDateTime))
    for r in rows:
        payload = r['payload'] or {}
        conn.execute(new.insert().values(key=r['key'], channel=r['channel'],
                                         chat=f"{r['channel']}:{payload.get('FromUserName', '')}", payload=payload,
                                         received_at=r['received_at'], handled_at=r['handled_at']))


def downgrade() -> None:
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbound_handled_at'))
        batch_op.drop_index(batch_op.f('ix_inbound_channel'))
    op.drop_table('inbound')
    op.create_table('inbound',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('received_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.Column('handled_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inbound_channel'), ['channel'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbound_handled_at'), ['handled_at'], unique=False)
