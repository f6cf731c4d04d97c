"""staff usernames are visible ASCII: 3 to 64 of A-Z a-z 0-9 . _ - @ (new or renamed logins)

The rule of models/practice.py (USERNAME_CHARACTERS), held by the database for every INSERT and
every UPDATE of staff_users.username, by triggers on both databases rather than a CHECK:
- SQLite cannot add a CHECK to a table without rebuilding it, and rebuilding staff_users with
  foreign keys on (app.py turns them on) deletes its staff_memberships and staff_sessions
  (ON DELETE CASCADE) as the old table is dropped;
- a validated CHECK would stop `db upgrade` on an install that holds a username made before the
  rule; a trigger leaves existing rows alone, and they keep signing in.
Both databases have ltrim(text, characters): what remains after stripping the allowed
characters from the left must be nothing.

Revision ID: 5b1e0c9d2a7f
Revises: c7a4e1f2b9d0
Create Date: 2026-12-02 15:30:00

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '5b1e0c9d2a7f'
down_revision = 'c7a4e1f2b9d0'
branch_labels = None
depends_on = None

ALLOWED = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-"  # models/practice.py
BROKEN = f"NOT (length(NEW.username) BETWEEN 3 AND 64 AND ltrim(NEW.username, '{ALLOWED}') = '')"
MESSAGE = "staff_users.username must be 3 to 64 of A-Z a-z 0-9 . _ - @"

POSTGRESQL_UP = [
    f"""CREATE FUNCTION staff_users_refuse_invisible_username() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF {BROKEN} THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER staff_users_username_rule BEFORE INSERT OR UPDATE OF username ON staff_users
    FOR EACH ROW EXECUTE FUNCTION staff_users_refuse_invisible_username()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER staff_users_username_rule ON staff_users",
    "DROP FUNCTION staff_users_refuse_invisible_username()",
]
SQLITE_TRIGGERS = {
    "staff_users_username_rule_insert": "BEFORE INSERT ON staff_users",
    "staff_users_username_rule_update": "BEFORE UPDATE OF username ON staff_users",
}


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UP:
            op.execute(statement)
        return
    for name, when in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} WHEN {BROKEN} BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWN:
            op.execute(statement)
        return
    for name in SQLITE_TRIGGERS:
        op.execute(f"DROP TRIGGER {name}")
