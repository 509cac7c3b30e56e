"""one WeCom identity: the self-built app and the 智能机器人 see the same UserID, so it is one person

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00

People were keyed `wecom:zhangsan` on the self-built app and `wecom-bot:zhangsan` on the 智能机器人. From here
both are `wecom:zhangsan` (bot.core.messages.realm), and `person.via` records the channel of their last private
message, where pushes go.

- A `wecom-bot` person with no `wecom` twin becomes `wecom` (via `wecom-bot`: that is where they talk).
- Twins are merged into the `wecom` row: a bound unit wins (both bound to different units: the app's is kept and
  the other is named in a `person.merge` audit entry); coordinator is OR-ed; name and chat filled from either;
  reachable if either was; the earlier creation time. The `wecom-bot` row is deleted. Every merge is audited.
- References to `wecom-bot:` person keys are rewritten to `wecom:` wherever they are compared or shown: the audit
  actor (its `channel` column still says `wecom-bot`), evidence uploaded/withdrawn by, invites, bind failures,
  pending questions (a button pressed later must find its owner), snoozes, delay requests, progress notes, desk
  sessions (a removal ends them by the person's key), and the reminder ledger (recipient and key, so a reminder already sent is not sent again). Where the rewritten row
  would collide with the twin's (a snooze of the same task, a ledger key of the same reminder) the twin's stays.
- Left as written, because they still resolve (PeopleRepo.get reads `wecom-bot:` as `wecom:`): person keys
  inside audit details, and keys signed into upload and desk links already handed out. Outbox rows keep their
  channel: it is where the message goes, not who it is for.
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlmodel.sql.sqltypes import UTCDateTime

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD, NEW = 'wecom-bot:', 'wecom:'
# (table, column) holding person keys; the ones with a unique constraint that includes the key come with it
KEY_COLUMNS = (('audit', 'actor'), ('evidencefile', 'uploaded_by'), ('evidencefile', 'withdrawn_by'),
               ('invite', 'created_by'), ('invite', 'used_by'), ('bindfailure', 'person'), ('pending', 'person'),
               ('extension', 'requested_by'), ('extension', 'decided_by'), ('progressnote', 'author'),
               ('desksession', 'person'), ('reminderledger', 'recipient'))


def upgrade() -> None:
    op.add_column('person', sa.Column('via', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
    conn = op.get_bind()
    now = datetime.now(UTC)
    instant = UTCDateTime()
    person = sa.table('person', sa.column('id'), sa.column('channel'), sa.column('user_id'), sa.column('name'),
                      sa.column('coordinator', sa.Boolean()), sa.column('unit'), sa.column('chat_id'),
                      sa.column('unreachable_since', instant), sa.column('unreachable_reason'),
                      sa.column('created_at', instant), sa.column('via'))
    audit = sa.table('audit', sa.column('at', instant), sa.column('actor'), sa.column('channel'),
                     sa.column('action'), sa.column('detail', sa.JSON()))
    bots = conn.execute(sa.select(person).where(person.c.channel == 'wecom-bot')).mappings().all()
    for bot in bots:
        twin = conn.execute(sa.select(person).where(person.c.channel == 'wecom',
                                                    person.c.user_id == bot['user_id'])).mappings().first()
        if twin is None:
            conn.execute(person.update().where(person.c.id == bot['id'])
                         .values(channel='wecom', via='wecom-bot' if bot['chat_id'] else ''))
            continue
        merged = _merged(twin, bot)
        conn.execute(person.delete().where(person.c.id == bot['id']))
        conn.execute(person.update().where(person.c.id == twin['id']).values(**merged))
        conn.execute(audit.insert().values(at=now, actor='system', channel='migration', action='person.merge', detail={
            'person': f"{NEW}{bot['user_id']}", 'from': f"{OLD}{bot['user_id']}", 'unit': merged['unit'],
            'dropped_unit': bot['unit'] if bot['unit'] not in (None, merged['unit']) else None}))
    _rewrite_keys()


def _merged(app: sa.RowMapping, bot: sa.RowMapping) -> dict[str, object]:
    """The app's row with what the bot's row adds: a unit when the app had none, the role, a name, reachability."""
    reachable = app['unreachable_since'] is None or bot['unreachable_since'] is None
    return {
        'unit': app['unit'] if app['unit'] is not None else bot['unit'],
        'coordinator': bool(app['coordinator'] or bot['coordinator']),
        'name': app['name'] or bot['name'],
        'chat_id': app['chat_id'] or bot['chat_id'],
        'unreachable_since': None if reachable else app['unreachable_since'],
        'unreachable_reason': '' if reachable else app['unreachable_reason'],
        'created_at': min(app['created_at'], bot['created_at']),
    }


def _rewrite_keys() -> None:
    """Rewrite `wecom-bot:` person keys to `wecom:`; a row that would collide with its twin's gives way to it."""
    conn = op.get_bind()
    keys = {'new': NEW, 'start': len(OLD) + 1, 'old': f'{OLD}%', 'inner_old': f':{OLD}', 'inner_new': f':{NEW}',
            'in_key': f'%:{OLD}%'}

    def run(sql: str) -> None:
        conn.execute(sa.text(sql), keys)

    for table, col in KEY_COLUMNS:
        run(f"UPDATE {table} SET {col} = :new || substr({col}, :start) WHERE {col} LIKE :old")
    # snooze: unique (person, plan_id, task_no)
    run("DELETE FROM snooze WHERE person LIKE :old AND EXISTS (SELECT 1 FROM snooze AS s WHERE s.person = "
        ":new || substr(snooze.person, :start) AND s.plan_id = snooze.plan_id AND s.task_no = snooze.task_no)")
    run("UPDATE snooze SET person = :new || substr(person, :start) WHERE person LIKE :old")
    # reminder ledger: unique key "remind:…:<recipient>"
    run("DELETE FROM reminderledger WHERE key LIKE :in_key AND EXISTS (SELECT 1 FROM reminderledger AS r "
        "WHERE r.key = replace(reminderledger.key, :inner_old, :inner_new))")
    run("UPDATE reminderledger SET key = replace(key, :inner_old, :inner_new) WHERE key LIKE :in_key")


def downgrade() -> None:
    # The merge cannot be undone (which row a person had on which channel is gone); the column can.
    op.drop_column('person', 'via')
