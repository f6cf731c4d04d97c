"""practices have the Terms & Conditions their parents accept (Practice Settings edits them)

Adds practices.terms_text (not null), whose server default is the built-in wording: existing
practices get it, and so does every new one until its admin writes its own. Plain ALTER TABLE
ADD COLUMN on both databases (migration 7d3f9a1c2e5b says why practices is never rebuilt on SQLite).

Revision ID: 589e74b3e0fa
Revises: a4c2d9e7f1b3
Create Date: 2026-12-03 06:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '589e74b3e0fa'
down_revision = 'a4c2d9e7f1b3'
branch_labels = None
depends_on = None

# The wording as models/practice.py DEFAULT_TERMS_TEXT held it when this migration was written,
# copied so that a later change of the default does not rewrite history.
DEFAULT_TERMS_TEXT = (
    "By creating a Patient Portal account you agree to these terms.\n\n"
    "Use the portal only for yourself and for the patients the practice has linked to your account. "
    "Keep your password to yourself. If you think someone else knows it, use Forgot password? to choose a new one.\n\n"
    "The portal is not for emergencies. For an urgent medical problem, call 911 or the practice.\n\n"
    "The practice may limit what an account can see, or end its access, for example when a patient "
    "becomes a teenager or when a guardian's rights change.\n\n"
    "Questions about these terms? Ask the practice."
)


def upgrade():
    op.add_column('practices', sa.Column('terms_text', sa.Text(), nullable=False, server_default=DEFAULT_TERMS_TEXT))


def downgrade():
    # SQLite has had DROP COLUMN since 3.35, without rebuilding the table.
    op.drop_column('practices', 'terms_text')
