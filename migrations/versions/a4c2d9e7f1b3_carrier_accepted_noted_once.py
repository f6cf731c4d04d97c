"""a text's "passed to the carrier" step is noted once; receipts that come before their text's SID wait for it

sms_receipts_waiting keeps a signed Twilio receipt for a MessageSid no message holds yet (it
came before the attempt stored the SID), for at most an hour (services/delivery/reports.py).

A partial unique index on delivery_events (message_id) for the `carrier accepted` kind: two
copies of Twilio's `sent` callback arriving together can no longer both note it
(services/delivery/reports.py). Copies noted before are removed first, keeping the earliest.

Revision ID: a4c2d9e7f1b3
Revises: 7d3f9a1c2e5b
Create Date: 2026-12-03 06:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'a4c2d9e7f1b3'
down_revision = '7d3f9a1c2e5b'
branch_labels = None
depends_on = None

KIND = "kind = 'carrier accepted'"


def upgrade():
    op.create_table(
        "sms_receipts_waiting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_receipts_waiting")),
        sa.UniqueConstraint("provider_id", "status", name="uq_sms_receipts_waiting_provider_id_status"),
    )
    op.create_index(op.f("ix_sms_receipts_waiting_received_at"), "sms_receipts_waiting", ["received_at"])
    op.execute(
        "DELETE FROM delivery_events WHERE kind = 'carrier accepted' AND id NOT IN ("
        " SELECT min(id) FROM delivery_events WHERE kind = 'carrier accepted' GROUP BY message_id)"
    )
    op.create_index("uq_delivery_events_carrier_accepted", "delivery_events", ["message_id"], unique=True,
                    sqlite_where=sa.text(KIND), postgresql_where=sa.text(KIND))


def downgrade():
    op.drop_index(op.f("ix_sms_receipts_waiting_received_at"), table_name="sms_receipts_waiting")
    op.drop_table("sms_receipts_waiting")
    op.drop_index("uq_delivery_events_carrier_accepted", table_name="delivery_events")
