"""throttles: growing delays for repeated failures (wrong PINs by date of birth, staff sign-in by username)

A wrong PIN no longer counts against the pending PINs of patients born on the date typed (that let
anyone lock other families' PINs); failures are slowed instead, counted here per scope and keyed
HMAC of the key (services/throttle.py). A new table only: no batch rebuild of any other table.

Revision ID: f3a91c5e7d20
Revises: 5b1e0c9d2a7f
Create Date: 2026-12-02 15:30:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f3a91c5e7d20'
down_revision = "5b1e0c9d2a7f"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('throttles',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('key_digest', sa.String(length=64), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('window_started_at', sa.DateTime(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.CheckConstraint("scope IN ('birth date', 'staff username')", name=op.f('ck_throttles_scope_known')),
    sa.CheckConstraint('failures >= 1', name=op.f('ck_throttles_failures_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_throttles')),
    sa.UniqueConstraint('scope', 'key_digest', name='uq_throttles_scope_key')
    )
    op.create_index('ix_throttles_scope_window_started_at', 'throttles', ['scope', 'window_started_at'], unique=False)


def downgrade():
    op.drop_index('ix_throttles_scope_window_started_at', table_name='throttles')
    op.drop_table('throttles')
