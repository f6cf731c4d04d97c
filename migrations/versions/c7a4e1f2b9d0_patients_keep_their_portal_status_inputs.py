"""patients keep their portal-status inputs, kept by triggers; a date-of-birth index in name order

Adds patients.portal_linked and patients.pin_active_until, and replaces ix_patients_practice_dob
with ix_patients_practice_dob_name (practice_id, date_of_birth, last_name_norm, first_name_norm).

Search filtered and showed the portal status through EXISTS subqueries on portal_links and
registration_credentials. On PostgreSQL at 1M patients those became hashed subplans over every
practice's links and PINs (65-222 ms per search; benchmarks/RESULTS.md). The two inputs now live on
the patient row and the database keeps them, whatever writes the links and credentials (ORM,
bulk UPDATEs, imports, psql):

- patients.portal_linked: a portal_links row exists for the patient;
- patients.pin_active_until: the latest expires_at of the patient's credentials that are neither
  used, revoked nor locked (failed_attempts < 5, models.credential.MAX_FAILED_ATTEMPTS), or NULL.
  Expiry needs no write: "pending" is pin_active_until > now.

On PostgreSQL the credential trigger locks the patient row before reading, so two transactions
changing one patient's credentials cannot leave a stale value. On SQLite, writes are serial.
An UPDATE fires it only when the status can change (CHANGES_STATUS below): wrong-PIN counts under
the lock do not touch patients. One lock-order conflict remains, for a single patient: a parent
redeeming a PIN (credential row, then patient row) at the instant staff re-issue for the same
patient (patient row, then credential row); PostgreSQL then aborts one of the two as a deadlock.
Beware: an Alembic batch operation that recreates registration_credentials or portal_links on
SQLite drops their triggers; recreate them (tests/conftest.py checks the columns after every test).

Revision ID: c7a4e1f2b9d0
Revises: 984ee9d9a2f4
Create Date: 2026-11-26 22:10:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'c7a4e1f2b9d0'
down_revision = '984ee9d9a2f4'
branch_labels = None
depends_on = None

LOCKED_AT = 5  # models.credential.MAX_FAILED_ATTEMPTS

# An UPDATE moves the value only when one of these changes: a wrong-PIN count that stays under
# the lock leaves patients alone. That matters on PostgreSQL, where refreshing locks the patient
# row: a wrong birth date counts against every pending PIN of that date in every practice, and
# locking all their patients would meet staff issuing for one of them (patient row, then its
# credential) in the opposite order: a deadlock.
CHANGES_STATUS = (
    "OLD.patient_id IS DISTINCT FROM NEW.patient_id OR OLD.used_at IS DISTINCT FROM NEW.used_at"
    " OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at OR OLD.expires_at IS DISTINCT FROM NEW.expires_at"
    f" OR (OLD.failed_attempts < {LOCKED_AT}) <> (NEW.failed_attempts < {LOCKED_AT})"
)

ACTIVE_UNTIL = (
    "SELECT max(c.expires_at) FROM registration_credentials c WHERE c.patient_id = {pid}"
    f" AND c.used_at IS NULL AND c.revoked_at IS NULL AND c.failed_attempts < {LOCKED_AT}"
)
LINKED = "EXISTS (SELECT 1 FROM portal_links l WHERE l.patient_id = {pid})"

POSTGRESQL_UP = [
    f"""CREATE FUNCTION patients_refresh_pin_active_until(pid integer) RETURNS void
    LANGUAGE plpgsql AS $$
    DECLARE
        until timestamp;
    BEGIN
        -- Lock first: the SELECT below then sees what every earlier writer committed.
        PERFORM 1 FROM patients WHERE id = pid FOR UPDATE;
        {ACTIVE_UNTIL.format(pid='pid').replace('SELECT max(c.expires_at)', 'SELECT max(c.expires_at) INTO until')};
        UPDATE patients SET pin_active_until = until
         WHERE id = pid AND pin_active_until IS DISTINCT FROM until;
    END $$""",
    """CREATE FUNCTION registration_credentials_keep_pin_active_until() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP <> 'INSERT' THEN
            PERFORM patients_refresh_pin_active_until(OLD.patient_id);
        END IF;
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.patient_id IS DISTINCT FROM OLD.patient_id) THEN
            PERFORM patients_refresh_pin_active_until(NEW.patient_id);
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER registration_credentials_keep_pin_active_until
    AFTER INSERT OR DELETE
    ON registration_credentials FOR EACH ROW EXECUTE FUNCTION registration_credentials_keep_pin_active_until()""",
    f"""CREATE TRIGGER registration_credentials_keep_pin_active_until_on_update
    AFTER UPDATE OF patient_id, used_at, revoked_at, failed_attempts, expires_at
    ON registration_credentials FOR EACH ROW WHEN ({CHANGES_STATUS})
    EXECUTE FUNCTION registration_credentials_keep_pin_active_until()""",
    f"""CREATE FUNCTION portal_links_keep_portal_linked() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.patient_id IS DISTINCT FROM OLD.patient_id) THEN
            UPDATE patients SET portal_linked = true WHERE id = NEW.patient_id AND NOT portal_linked;
        END IF;
        IF TG_OP <> 'INSERT' THEN
            PERFORM 1 FROM patients WHERE id = OLD.patient_id FOR UPDATE;
            UPDATE patients SET portal_linked = {LINKED.format(pid='OLD.patient_id')}
             WHERE id = OLD.patient_id;
        END IF;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER portal_links_keep_portal_linked
    AFTER INSERT OR DELETE OR UPDATE OF patient_id
    ON portal_links FOR EACH ROW EXECUTE FUNCTION portal_links_keep_portal_linked()""",
]
POSTGRESQL_DOWN = [
    "DROP TRIGGER portal_links_keep_portal_linked ON portal_links",
    "DROP FUNCTION portal_links_keep_portal_linked()",
    "DROP TRIGGER registration_credentials_keep_pin_active_until_on_update ON registration_credentials",
    "DROP TRIGGER registration_credentials_keep_pin_active_until ON registration_credentials",
    "DROP FUNCTION registration_credentials_keep_pin_active_until()",
    "DROP FUNCTION patients_refresh_pin_active_until(integer)",
]


def _sqlite_refresh_until(pid: str) -> str:
    return f"UPDATE patients SET pin_active_until = ({ACTIVE_UNTIL.format(pid=pid)}) WHERE id = {pid};"


def _sqlite_refresh_linked(pid: str) -> str:
    return f"UPDATE patients SET portal_linked = {LINKED.format(pid=pid)} WHERE id = {pid};"


SQLITE_TRIGGERS = {
    "registration_credentials_pin_active_until_insert":
        f"AFTER INSERT ON registration_credentials BEGIN {_sqlite_refresh_until('NEW.patient_id')} END",
    "registration_credentials_pin_active_until_update":
        "AFTER UPDATE OF patient_id, used_at, revoked_at, failed_attempts, expires_at ON registration_credentials"
        f" FOR EACH ROW WHEN {CHANGES_STATUS} BEGIN {_sqlite_refresh_until('OLD.patient_id')} {_sqlite_refresh_until('NEW.patient_id')} END",
    "registration_credentials_pin_active_until_delete":
        f"AFTER DELETE ON registration_credentials BEGIN {_sqlite_refresh_until('OLD.patient_id')} END",
    "portal_links_portal_linked_insert":
        f"AFTER INSERT ON portal_links BEGIN {_sqlite_refresh_linked('NEW.patient_id')} END",
    "portal_links_portal_linked_update":
        "AFTER UPDATE OF patient_id ON portal_links"
        f" BEGIN {_sqlite_refresh_linked('OLD.patient_id')} {_sqlite_refresh_linked('NEW.patient_id')} END",
    "portal_links_portal_linked_delete":
        f"AFTER DELETE ON portal_links BEGIN {_sqlite_refresh_linked('OLD.patient_id')} END",
}


def upgrade():
    # Plain ALTER TABLE, not batch_alter_table: on SQLite a batch "move and copy" of patients
    # would drop the table, and its ON DELETE CASCADE would empty portal_links and
    # registration_credentials (tests/test_portal_status_columns.py upgrades a filled database).
    op.add_column('patients', sa.Column('portal_linked', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('patients', sa.Column('pin_active_until', sa.DateTime(), nullable=True))
    op.drop_index('ix_patients_practice_dob', table_name='patients')
    op.create_index(
        'ix_patients_practice_dob_name', 'patients',
        ['practice_id', 'date_of_birth', 'last_name_norm', 'first_name_norm'], unique=False,
    )

    op.execute(
        f"UPDATE patients SET portal_linked = {LINKED.format(pid='patients.id')},"
        f" pin_active_until = ({ACTIVE_UNTIL.format(pid='patients.id')})"
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_UP:
            op.execute(statement)
    else:
        for name, body in SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRESQL_DOWN:
            op.execute(statement)
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    # Not batch (see upgrade); SQLite has had ALTER TABLE DROP COLUMN since 3.35.
    op.drop_index('ix_patients_practice_dob_name', table_name='patients')
    op.create_index('ix_patients_practice_dob', 'patients', ['practice_id', 'date_of_birth'], unique=False)
    op.drop_column('patients', 'pin_active_until')
    op.drop_column('patients', 'portal_linked')
