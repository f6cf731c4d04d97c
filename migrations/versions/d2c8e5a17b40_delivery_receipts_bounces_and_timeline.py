"""delivery you can trust: receipts, bounces, a timeline per PIN, and ways forward

welcome_messages gain a random token (their Message-ID names it, so a bounce finds its message
and nobody can forge one for a guessed id), the SMS service's id for texts sent through it
(channel 'sms', to an E.164 number), and the Delivered state with its time. delivery_events hold
each step of a message's journey. registration_credentials gain instead_of_id: the credential
whose undelivered message a Print/Text/Email instead replaced (one per message). The audit
trail's action CHECK gains 'delivery report'.

Revision ID: d2c8e5a17b40
Revises: b364f354fd97
Create Date: 2026-12-02 19:50:00

"""
import secrets

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'd2c8e5a17b40'
down_revision = 'b364f354fd97'
branch_labels = None
depends_on = None

ACTIONS = (
    "'search', 'view account', 'issue', 'send', 'print', 'revoke', 'redeem', 'failed redeem', 'launch', "
    "'sign-in', 'sign-out', 'import', 'basic-info change', 'retry', 'export', 'choose practice', 'settings change', "
    "'password reset request', 'password reset'"
)
EVENT_KINDS = (
    "'queued', 'handed over', 'retry later', 'failed', 'carrier accepted', 'delivered', 'undelivered', "
    "'opted out', 'bounced', 'delayed'"
)
OLD_MESSAGE_CHECKS = {
    'status_known': "status IN ('queued', 'sent', 'failed')",
    'channel_known': "channel IN ('email', 'text')",
    'sent_has_time': "status <> 'sent' OR sent_at IS NOT NULL",
    'sent_holds_no_body': "status <> 'sent' OR body_encrypted IS NULL",
}
NEW_MESSAGE_CHECKS = {
    'status_known': "status IN ('queued', 'sent', 'failed', 'delivered')",
    'channel_known': "channel IN ('email', 'text', 'sms')",
    'sent_has_time': "status NOT IN ('sent', 'delivered') OR sent_at IS NOT NULL",
    'sent_holds_no_body': "status NOT IN ('sent', 'delivered') OR body_encrypted IS NULL",
    'delivered_has_time': "status <> 'delivered' OR delivered_at IS NOT NULL",
    'recipient_fits_channel': "(channel = 'sms') = (substr(recipient, 1, 1) = '+' AND replace(recipient, '@', '') = recipient)",
}


def _audit_actions(values: str) -> None:
    # As in migration b364f354fd97: SQLite copies audit_events (no triggers there); PostgreSQL
    # drops and adds the constraint, which the append-only trigger does not see.
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_audit_events_action_known'), type_='check')
        batch_op.create_check_constraint(op.f('ck_audit_events_action_known'), f"action IN ({values})")


def upgrade():
    op.add_column('welcome_messages', sa.Column('token', sa.String(length=32), nullable=True))
    bind = op.get_bind()
    ids = bind.execute(sa.text("SELECT id FROM welcome_messages")).scalars().all()
    for message_id in ids:
        bind.execute(sa.text("UPDATE welcome_messages SET token = :token WHERE id = :id"),
                     {"token": secrets.token_hex(16), "id": message_id})
    # welcome_messages has no triggers and nothing references it yet: a batch copy on SQLite is safe.
    with op.batch_alter_table('welcome_messages', schema=None) as batch_op:
        batch_op.alter_column('token', existing_type=sa.String(length=32), nullable=False)
        batch_op.add_column(sa.Column('provider_id', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('delivered_at', sa.DateTime(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_welcome_messages_token'), ['token'])
        batch_op.create_unique_constraint(batch_op.f('uq_welcome_messages_provider_id'), ['provider_id'])
        for name in OLD_MESSAGE_CHECKS:
            batch_op.drop_constraint(op.f(f'ck_welcome_messages_{name}'), type_='check')
        for name, sql in NEW_MESSAGE_CHECKS.items():
            batch_op.create_check_constraint(op.f(f'ck_welcome_messages_{name}'), sql)

    op.create_table('delivery_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('detail', sa.String(length=500), nullable=True),
    sa.CheckConstraint(f"kind IN ({EVENT_KINDS})", name=op.f('ck_delivery_events_kind_known')),
    sa.ForeignKeyConstraint(['message_id'], ['welcome_messages.id'], name=op.f('fk_delivery_events_message_id_welcome_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_delivery_events_practice_id_practices'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events'))
    )
    op.create_index('ix_delivery_events_message_id', 'delivery_events', ['message_id'], unique=False)

    # Plain ALTER TABLE, not a batch: on SQLite a batch copy would drop the table's triggers
    # (migration c7a4e1f2b9d0); SQLite takes a new column's REFERENCES clause inline. The unique
    # rule is an index.
    fk = op.f('fk_registration_credentials_instead_of_id_registration_credentials')
    if bind.dialect.name == "postgresql":
        op.add_column('registration_credentials', sa.Column('instead_of_id', sa.Integer(), nullable=True))
        op.create_foreign_key(fk, 'registration_credentials', 'registration_credentials', ['instead_of_id'], ['id'],
                              ondelete='SET NULL')
    else:
        op.execute(
            f"ALTER TABLE registration_credentials ADD COLUMN instead_of_id INTEGER CONSTRAINT {fk}"
            " REFERENCES registration_credentials (id) ON DELETE SET NULL"
        )
    op.create_index('ix_registration_credentials_instead_of_id', 'registration_credentials', ['instead_of_id'], unique=True)
    # PINs printed instead so far say so in their idempotency key (print-instead-<message id>).
    op.execute(
        "UPDATE registration_credentials SET instead_of_id = (SELECT m.credential_id FROM welcome_messages m"
        " WHERE registration_credentials.idempotency_key = 'print-instead-' || CAST(m.id AS VARCHAR(20))"
        " AND m.practice_id = registration_credentials.practice_id)"
        " WHERE idempotency_key LIKE 'print-instead-%'"
    )

    _audit_actions(ACTIONS + ", 'delivery report'")


def downgrade():
    _audit_actions(ACTIONS)
    op.drop_index('ix_registration_credentials_instead_of_id', table_name='registration_credentials')
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f('fk_registration_credentials_instead_of_id_registration_credentials'),
                           'registration_credentials', type_='foreignkey')
    op.drop_column('registration_credentials', 'instead_of_id')
    op.drop_index('ix_delivery_events_message_id', table_name='delivery_events')
    op.drop_table('delivery_events')
    op.execute("DELETE FROM welcome_messages WHERE channel = 'sms'")
    op.execute("UPDATE welcome_messages SET status = 'sent' WHERE status = 'delivered'")
    with op.batch_alter_table('welcome_messages', schema=None) as batch_op:
        for name in NEW_MESSAGE_CHECKS:
            batch_op.drop_constraint(op.f(f'ck_welcome_messages_{name}'), type_='check')
        for name, sql in OLD_MESSAGE_CHECKS.items():
            batch_op.create_check_constraint(op.f(f'ck_welcome_messages_{name}'), sql)
        batch_op.drop_constraint(batch_op.f('uq_welcome_messages_provider_id'), type_='unique')
        batch_op.drop_constraint(batch_op.f('uq_welcome_messages_token'), type_='unique')
        batch_op.drop_column('delivered_at')
        batch_op.drop_column('provider_id')
        batch_op.drop_column('token')
