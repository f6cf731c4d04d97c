"""portal sessions and password resets on the server; the audit trail records resets

A parent's portal session was only a signed cookie (valid after sign-out): now a row whose token
hash the cookie's token must match. The audit trail's action CHECK gains the two reset actions.

Revision ID: b364f354fd97
Revises: f3a91c5e7d20
Create Date: 2026-12-02 15:03:14.966415

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b364f354fd97'
down_revision = 'f3a91c5e7d20'
branch_labels = None
depends_on = None

ACTIONS = (
    "'search', 'view account', 'issue', 'send', 'print', 'revoke', 'redeem', 'failed redeem', 'launch', "
    "'sign-in', 'sign-out', 'import', 'basic-info change', 'retry', 'export', 'choose practice', 'settings change'"
)


def _audit_actions(values: str) -> None:
    # On SQLite the batch copies audit_events into a new table (it has no triggers there); on
    # PostgreSQL it is a DROP and ADD CONSTRAINT, which the append-only trigger does not see.
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_action_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_audit_events_action_known'), f"action IN ({values})")


def upgrade():
    op.create_table('password_resets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('portal_user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.Column('revoked_at', sa.DateTime(), nullable=True),
    sa.Column('body_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint('body_encrypted IS NULL OR (used_at IS NULL AND revoked_at IS NULL)', name=op.f('ck_password_resets_spent_holds_no_body')),
    sa.CheckConstraint('expires_at > created_at', name=op.f('ck_password_resets_expires_after_start')),
    sa.CheckConstraint('revoked_at IS NULL OR revoked_at >= created_at', name=op.f('ck_password_resets_revoked_after_start')),
    sa.CheckConstraint('used_at IS NULL OR revoked_at IS NULL', name=op.f('ck_password_resets_used_or_revoked')),
    sa.CheckConstraint('used_at IS NULL OR used_at >= created_at', name=op.f('ck_password_resets_used_after_start')),
    sa.ForeignKeyConstraint(['portal_user_id'], ['portal_users.id'], name=op.f('fk_password_resets_portal_user_id_portal_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_resets')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_password_resets_token_hash'))
    )
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.create_index('ix_password_resets_portal_user_id', ['portal_user_id'], unique=False)

    op.create_table('portal_sessions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('portal_user_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(), nullable=False),
    sa.Column('ended_at', sa.DateTime(), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.CheckConstraint("end_reason IS NULL OR end_reason IN ('signed out', 'replaced', 'idle', 'too old', 'password reset')", name=op.f('ck_portal_sessions_end_reason_known')),
    sa.CheckConstraint('(ended_at IS NULL) = (end_reason IS NULL)', name=op.f('ck_portal_sessions_end_has_reason')),
    sa.CheckConstraint('ended_at IS NULL OR ended_at >= created_at', name=op.f('ck_portal_sessions_ends_after_start')),
    sa.CheckConstraint('last_seen_at >= created_at', name=op.f('ck_portal_sessions_seen_after_start')),
    sa.ForeignKeyConstraint(['portal_user_id'], ['portal_users.id'], name=op.f('fk_portal_sessions_portal_user_id_portal_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_portal_sessions_token_hash'))
    )
    with op.batch_alter_table('portal_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_portal_sessions_portal_user_id', ['portal_user_id'], unique=False)

    _audit_actions(ACTIONS + ", 'password reset request', 'password reset'")


def downgrade():
    _audit_actions(ACTIONS)
    with op.batch_alter_table('portal_sessions', schema=None) as batch_op:
        batch_op.drop_index('ix_portal_sessions_portal_user_id')

    op.drop_table('portal_sessions')
    with op.batch_alter_table('password_resets', schema=None) as batch_op:
        batch_op.drop_index('ix_password_resets_portal_user_id')

    op.drop_table('password_resets')
