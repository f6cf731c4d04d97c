"""practices have a slug, the name every link in a message carries (PORTAL_URL?practice=SLUG)

Adds practices.slug (unique, not null; lower-case ASCII letters and digits in words joined by
single hyphens, at most 40: models/practice.py) and fills it for existing practices from the
name, as services/practice/slugs.py does for new ones: a name that another practice's slug
already took gets -2, -3, ... in the order the practices were created.

Plain ALTER TABLE, not batch_alter_table: on SQLite a batch "move and copy" of practices would
drop the table, and with foreign keys on (app.py) its ON DELETE CASCADE would empty patients,
staff memberships and everything under them. So the rule is held as the username rule is
(migration 5b1e0c9d2a7f) on SQLite: triggers refuse a missing or malformed slug on INSERT and
UPDATE. PostgreSQL gets NOT NULL and a CHECK. Both get the unique index.

Revision ID: 7d3f9a1c2e5b
Revises: d2c8e5a17b40
Create Date: 2026-12-02 20:20:00

"""
import re
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = '7d3f9a1c2e5b'
down_revision = 'd2c8e5a17b40'
branch_labels = None
depends_on = None

MAX_LENGTH = 40  # models/practice.py SLUG_MAX_LENGTH
MESSAGE = "practices.slug must be 1 to 40 of a-z 0-9 in words joined by single hyphens"
POSTGRESQL_RULE = f"NEW.slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$' AND length(NEW.slug) <= {MAX_LENGTH}"
# A trigger on PostgreSQL too (as migration 5b1e0c9d2a7f holds the username rule), so the models
# declare no CHECK that only one database has.
POSTGRESQL_UP = [
    f"""CREATE FUNCTION practices_refuse_malformed_slug() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF NOT ({POSTGRESQL_RULE}) THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER practices_slug_rule BEFORE INSERT OR UPDATE OF slug ON practices
    FOR EACH ROW EXECUTE FUNCTION practices_refuse_malformed_slug()""",
]
POSTGRESQL_DOWN = ["DROP TRIGGER practices_slug_rule ON practices", "DROP FUNCTION practices_refuse_malformed_slug()"]
SQLITE_BROKEN = (
    f"NEW.slug IS NULL OR NOT (length(NEW.slug) BETWEEN 1 AND {MAX_LENGTH}"
    " AND ltrim(NEW.slug, 'abcdefghijklmnopqrstuvwxyz0123456789-') = ''"
    " AND substr(NEW.slug, 1, 1) <> '-' AND substr(NEW.slug, -1, 1) <> '-' AND instr(NEW.slug, '--') = 0)"
)
SQLITE_TRIGGERS = {
    "practices_slug_rule_insert": "BEFORE INSERT ON practices",
    "practices_slug_rule_update": "BEFORE UPDATE OF slug ON practices",
}


# The derivation as it stood when this migration was written (services/practice/slugs.py), copied
# so that later changes there never change what this migration does.
def _slug_of_name(name):
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")[:MAX_LENGTH].rstrip("-")
    return slug or "practice"


def _numbered(slug, number):
    if number < 2:
        return slug
    suffix = f"-{number}"
    return slug[: MAX_LENGTH - len(suffix)].rstrip("-") + suffix


def upgrade():
    op.add_column('practices', sa.Column('slug', sa.String(length=MAX_LENGTH), nullable=True))
    bind = op.get_bind()
    practices = sa.table('practices', sa.column('id', sa.Integer), sa.column('name', sa.String), sa.column('slug', sa.String))
    taken = set()
    for practice_id, name in bind.execute(sa.select(practices.c.id, practices.c.name).order_by(practices.c.id)).all():
        base, number = _slug_of_name(name), 1
        while _numbered(base, number) in taken:
            number += 1
        slug = _numbered(base, number)
        taken.add(slug)
        bind.execute(sa.update(practices).where(practices.c.id == practice_id).values(slug=slug))
    op.create_index('uq_practices_slug', 'practices', ['slug'], unique=True)
    if bind.dialect.name == "postgresql":
        op.alter_column('practices', 'slug', existing_type=sa.String(length=MAX_LENGTH), nullable=False)
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
    op.drop_index('uq_practices_slug', table_name='practices')
    # SQLite has had DROP COLUMN since 3.35, without rebuilding the table.
    op.drop_column('practices', 'slug')
