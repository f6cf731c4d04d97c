"""practices have the Terms & Conditions their parents accept (Practice Settings edits them)

Adds practices.terms_text (not null), whose server default is the built-in wording: existing
practices get it, and so does every new one until its admin writes its own. Plain ALTER TABLE
ADD COLUMN on both databases (migration 7d3f9a1c2e5b says why practices is never rebuilt on SQLite);
so the rule "never blank, at most 20,000 characters" is held by triggers on both, as the slug's is.

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


MAX_LENGTH = 20_000  # models/practice.py TERMS_MAX_LENGTH
MESSAGE = f"practices.terms_text must hold 1 to {MAX_LENGTH} characters, not only spaces"
POSTGRESQL_UP = [
    f"""CREATE FUNCTION practices_refuse_blank_terms() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF length(btrim(NEW.terms_text, E' \\t\\r\\n')) = 0 OR length(NEW.terms_text) > {MAX_LENGTH} THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER practices_terms_rule BEFORE INSERT OR UPDATE OF terms_text ON practices
    FOR EACH ROW EXECUTE FUNCTION practices_refuse_blank_terms()""",
]
POSTGRESQL_DOWN = ["DROP TRIGGER practices_terms_rule ON practices", "DROP FUNCTION practices_refuse_blank_terms()"]
SQLITE_BROKEN = (f"length(trim(NEW.terms_text, ' ' || char(9) || char(10) || char(13))) = 0"
                 f" OR length(NEW.terms_text) > {MAX_LENGTH}")
SQLITE_TRIGGERS = {
    "practices_terms_rule_insert": "BEFORE INSERT ON practices",
    "practices_terms_rule_update": "BEFORE UPDATE OF terms_text ON practices",
}


def upgrade():
    op.add_column('practices', sa.Column('terms_text', sa.Text(), nullable=False, server_default=DEFAULT_TERMS_TEXT))
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UP:
            op.execute(statement)
        return
    for name, when in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} WHEN {SQLITE_BROKEN} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWN:
            op.execute(statement)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    # SQLite has had DROP COLUMN since 3.35, without rebuilding the table.
    op.drop_column('practices', 'terms_text')
