"""a welcome message records until when an attempt holds its claim (Retry sends nothing while one is under way)

Revision ID: 388723d43560
Revises: 508be7818f13
Create Date: 2026-11-26 18:40:01.530853

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '388723d43560'
down_revision = '508be7818f13'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('welcome_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('claimed_until', sa.DateTime(), nullable=True))



def downgrade():
    with op.batch_alter_table('welcome_messages', schema=None) as batch_op:
        batch_op.drop_column('claimed_until')

