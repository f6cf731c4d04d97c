"""staff sessions on the server, spent launch tokens, an append-only audit trail

On PostgreSQL a trigger refuses every UPDATE and DELETE of audit_events, whoever asks.

Revision ID: 984ee9d9a2f4
Revises: 388723d43560
Create Date: 2026-11-26 19:01:41.091555

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '984ee9d9a2f4'
down_revision = '388723d43560'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('staff_username', sa.String(length=150), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('action', sa.String(length=30), nullable=False),
    sa.Column('outcome', sa.String(length=10), nullable=False),
    sa.Column('detail', sa.String(length=200), nullable=True),
    sa.Column('client_ip', sa.String(length=45), nullable=True),
    sa.CheckConstraint("action IN ('search', 'view account', 'issue', 'send', 'print', 'revoke', 'redeem', 'failed redeem', 'launch', 'sign-in', 'sign-out', 'import', 'basic-info change', 'retry', 'export', 'choose practice', 'settings change')", name=op.f('ck_audit_events_action_known')),
    sa.CheckConstraint("outcome IN ('success', 'failure', 'refused')", name=op.f('ck_audit_events_outcome_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index('ix_audit_events_patient_id_occurred_at', ['patient_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_audit_events_practice_id_occurred_at', ['practice_id', 'occurred_at'], unique=False)

    op.create_table('spent_launch_tokens',
    sa.Column('jti', sa.String(length=200), nullable=False),
    sa.Column('spent_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('jti', name=op.f('pk_spent_launch_tokens'))
    )
    with op.batch_alter_table('spent_launch_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spent_launch_tokens_spent_at'), ['spent_at'], unique=False)

    op.create_table('staff_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=True),
    sa.Column('via', sa.String(length=10), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.CheckConstraint("via IN ('signin', 'launch')", name=op.f('ck_staff_sessions_via_known')),
    sa.CheckConstraint('(ended_at IS NULL) = (end_reason IS NULL)', name=op.f('ck_staff_sessions_end_has_reason')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= created_at', name=op.f('ck_staff_sessions_ends_after_start')),
    sa.CheckConstraint('last_seen_at >= created_at', name=op.f('ck_staff_sessions_seen_after_start')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_staff_sessions_practice_id_practices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['staff_id'], ['staff_users.id'], name=op.f('fk_staff_sessions_staff_id_staff_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_staff_sessions_token_hash'))
    )
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_staff_sessions_staff_id', ['staff_id'], unique=False)

    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$"
        )
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()"
        )


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER audit_events_append_only ON audit_events")
        op.execute("DROP FUNCTION audit_events_append_only()")
    with op.batch_alter_table('staff_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_staff_sessions_staff_id')

    op.drop_table('staff_sessions')
    with op.batch_alter_table('spent_launch_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spent_launch_tokens_spent_at'))

    op.drop_table('spent_launch_tokens')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_events_practice_id_occurred_at')
        batch_op.drop_index('ix_audit_events_patient_id_occurred_at')

    op.drop_table('audit_events')
