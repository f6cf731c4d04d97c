"""welcome messages hold an encrypted body until sent

Revision ID: e561b62b3361
Revises: 4c0ba8279231
Create Date: 2026-11-26 17:22:55.928776

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e561b62b3361'
down_revision = '4c0ba8279231'
branch_labels = None
depends_on = None


def upgrade():
    # A message queued before this revision has no body to send: settle it, so that it neither
    # waits for a worker forever nor keeps the account page polling.
    op.execute(
        "UPDATE welcome_messages SET status = 'failed', "
        "last_error = 'Not sent: the message was not kept. Issue a new PIN to send one.' "
        "WHERE status = 'queued'"
    )
    with op.batch_alter_table('welcome_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('body_encrypted', sa.LargeBinary(), nullable=True))
        batch_op.create_index('ix_welcome_messages_status_next_attempt_at', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_check_constraint(
            op.f('ck_welcome_messages_sent_holds_no_body'), "status <> 'sent' OR body_encrypted IS NULL"
        )


def downgrade():
    with op.batch_alter_table('welcome_messages', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_welcome_messages_sent_holds_no_body'), type_='check')
        batch_op.drop_index('ix_welcome_messages_status_next_attempt_at')
        batch_op.drop_column('body_encrypted')
        batch_op.drop_column('next_attempt_at')
    # Bodies are gone with the column; a message still queued could never be sent.
    op.execute(
        "UPDATE welcome_messages SET status = 'failed', "
        "last_error = 'Not sent: the message was not kept. Issue a new PIN to send one.' "
        "WHERE status = 'queued'"
    )
