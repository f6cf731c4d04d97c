"""patients have search keys free of punctuation and spaces, and a key for a surname's last part

Adds patients.first_name_key, last_name_key and last_name_part_key (models/names.py search_key,
surname_part_key): `obrien` finds O'Brien, `smith jones` Smith-Jones, `lopez` García López. The
*_norm columns stay as they are (the unofficial-name guard needs their spaces). Fills the keys of
existing patients in Python (the rule is Unicode's decomposition, which neither database has).
Results are now ordered by the keys, so the name indexes move onto them:
ix_patients_practice_last_key (practice_id, last_name_key, first_name_key) replaces
ix_patients_practice_name, ix_patients_practice_first_key (practice_id, first_name_key) replaces
ix_patients_practice_first_name, ix_patients_practice_dob_key (practice_id, date_of_birth,
last_name_key, first_name_key) replaces ix_patients_practice_dob_name, and
ix_patients_practice_last_part_key (practice_id, last_name_part_key) is new.

Plain ALTER TABLE, not batch_alter_table: on SQLite a batch "move and copy" of patients would drop
the table, and with foreign keys on (app.py) its ON DELETE CASCADE would empty portal_links and
registration_credentials. So, as migration 7d3f9a1c2e5b holds the slug rule, the keys' rule is a
trigger on both databases: a patient row without its keys (NULL, or an empty first or last name
key) is refused on INSERT and UPDATE, so a way in that forgets them fails instead of hiding the
patient from search. PostgreSQL also gets NOT NULL.

Revision ID: e632b215ed0a
Revises: 589e74b3e0fa
Create Date: 2026-12-03 06:20:00

"""
import unicodedata

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'e632b215ed0a'
down_revision = '589e74b3e0fa'
branch_labels = None
depends_on = None

KEYS = ('first_name_key', 'last_name_key', 'last_name_part_key')
OLD_INDEXES = {
    'ix_patients_practice_name': ['practice_id', 'last_name_norm', 'first_name_norm'],
    'ix_patients_practice_first_name': ['practice_id', 'first_name_norm'],
    'ix_patients_practice_dob_name': ['practice_id', 'date_of_birth', 'last_name_norm', 'first_name_norm'],
}
NEW_INDEXES = {
    'ix_patients_practice_last_key': ['practice_id', 'last_name_key', 'first_name_key'],
    'ix_patients_practice_last_part_key': ['practice_id', 'last_name_part_key'],
    'ix_patients_practice_first_key': ['practice_id', 'first_name_key'],
    'ix_patients_practice_dob_key': ['practice_id', 'date_of_birth', 'last_name_key', 'first_name_key'],
}
MESSAGE = "patients need their search keys (models/names.py search_key)"
BROKEN = ("NEW.first_name_key IS NULL OR NEW.last_name_key IS NULL OR NEW.last_name_part_key IS NULL"
          " OR NEW.first_name_key = '' OR NEW.last_name_key = ''")
POSTGRESQL_UP = [
    f"""CREATE FUNCTION patients_refuse_missing_search_keys() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF {BROKEN} THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER patients_search_keys_rule BEFORE INSERT OR UPDATE ON patients
    FOR EACH ROW EXECUTE FUNCTION patients_refuse_missing_search_keys()""",
]
POSTGRESQL_DOWN = ["DROP TRIGGER patients_search_keys_rule ON patients",
                   "DROP FUNCTION patients_refuse_missing_search_keys()"]
SQLITE_TRIGGERS = {
    "patients_search_keys_rule_insert": "BEFORE INSERT ON patients",
    "patients_search_keys_rule_update": "BEFORE UPDATE ON patients",
}


# The rules as they stood when this migration was written (models/names.py), copied so that a
# later change there cannot change what this migration does.
def _normalize_name(value):
    visible = "".join(ch for ch in value if ch.isspace() or unicodedata.category(ch) not in ("Cf", "Cc"))
    decomposed = unicodedata.normalize("NFKD", " ".join(visible.split()))
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.casefold().split())


def _search_key(value):
    normalized = _normalize_name(value)
    return "".join(ch for ch in normalized if ch.isalnum()) or normalized


def _surname_part_key(value):
    spaced = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in _normalize_name(value))
    parts = [part for part in spaced.split() if any(ch.isalnum() for ch in part)]
    return _search_key(parts[-1]) if len(parts) > 1 else ""


def _key_type():
    return sa.String(length=100).with_variant(sa.String(length=100, collation='C'), 'postgresql')


def upgrade():
    for column in KEYS:
        op.add_column('patients', sa.Column(column, _key_type(), nullable=True))
    bind = op.get_bind()
    patients = sa.table('patients', sa.column('id', sa.Integer), sa.column('first_name', sa.String),
                        sa.column('last_name', sa.String), *(sa.column(column, sa.String) for column in KEYS))
    update = (sa.update(patients).where(patients.c.id == sa.bindparam('pid'))
              .values({column: sa.bindparam(f'new_{column}') for column in KEYS}))
    rows = bind.execute(sa.select(patients.c.id, patients.c.first_name, patients.c.last_name)).all()
    for start in range(0, len(rows), 5000):
        bind.execute(update, [
            {'pid': pid, 'new_first_name_key': _search_key(first), 'new_last_name_key': _search_key(last),
             'new_last_name_part_key': _surname_part_key(last)}
            for pid, first, last in rows[start:start + 5000]
        ])
    for name in OLD_INDEXES:
        op.drop_index(name, table_name='patients')
    for name, columns in NEW_INDEXES.items():
        op.create_index(name, 'patients', columns)
    if bind.dialect.name == "postgresql":
        for column in KEYS:
            op.alter_column('patients', column, existing_type=_key_type(), nullable=False)
        for statement in POSTGRESQL_UP:
            op.execute(statement)
        return
    for name, when in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} WHEN {BROKEN} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWN:
            op.execute(statement)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    for name in NEW_INDEXES:
        op.drop_index(name, table_name='patients')
    for name, columns in OLD_INDEXES.items():
        op.create_index(name, 'patients', columns)
    # SQLite has had DROP COLUMN since 3.35, without rebuilding the table.
    for column in reversed(KEYS):
        op.drop_column('patients', column)
