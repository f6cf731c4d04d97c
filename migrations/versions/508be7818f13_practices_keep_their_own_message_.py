"""practices keep their own message templates (email, text message, printed letter)

Revision ID: 508be7818f13
Revises: e561b62b3361
Create Date: 2026-11-26 18:25:36.645471

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '508be7818f13'
down_revision = 'e561b62b3361'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('message_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('practice_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("(kind = 'email') = (subject IS NOT NULL)", name=op.f('ck_message_templates_subject_only_for_email')),
    sa.CheckConstraint("kind IN ('email', 'text', 'letter')", name=op.f('ck_message_templates_kind_known')),
    sa.CheckConstraint('length(body) BETWEEN 1 AND 4000', name=op.f('ck_message_templates_body_length')),
    sa.ForeignKeyConstraint(['practice_id'], ['practices.id'], name=op.f('fk_message_templates_practice_id_practices'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff_users.id'], name=op.f('fk_message_templates_updated_by_id_staff_users'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_templates')),
    sa.UniqueConstraint('practice_id', 'kind', name='uq_message_templates_practice_kind')
    )


def downgrade():
    op.drop_table('message_templates')
