"""The schema the migrations build agrees with the models, CHECK constraints included.

Alembic's autogenerate (`flask db check`) compares tables, columns, indexes and keys, but not CHECK
constraints; the models generate theirs from the enums in models/vocabulary.py, so a member added
to an enum without a migration would pass it unnoticed. This compares them on both databases."""

from __future__ import annotations

from sqlalchemy import CheckConstraint, inspect, text

from blueprints.extensions import db


def _model_checks() -> dict[str, dict[str, str]]:
    """{table: {constraint name: SQL}} as the models declare them."""
    return {
        table.name: {c.name: str(c.sqltext) for c in table.constraints if isinstance(c, CheckConstraint)}
        for table in db.metadata.sorted_tables
    }


def _postgresql_definitions(connection, table: str) -> dict[str, str]:
    rows = connection.execute(
        text(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE contype = 'c' AND conrelid = CAST(:table AS regclass)"
        ),
        {"table": table},
    )
    return dict(rows.all())


def test_every_check_constraint_of_the_models_is_the_one_the_migrations_created(app):
    with app.app_context():
        expected = _model_checks()
        if db.engine.dialect.name == "sqlite":
            # SQLite keeps the CREATE TABLE text as written, so the texts compare as they are.
            inspector = inspect(db.engine)
            migrated = {
                table: {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table)}
                for table in expected
            }
            assert migrated == expected
            return
        # PostgreSQL keeps its own rewriting of a CHECK: let it rewrite the models' text the same
        # way, on a column-for-column copy of each table, and compare the two rewritings.
        with db.engine.connect() as connection, connection.begin() as transaction:
            for table, checks in expected.items():
                copy = f"model_{table}"
                connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {copy} (LIKE {table})")
                for name, sql in checks.items():
                    connection.exec_driver_sql(f"ALTER TABLE {copy} ADD CONSTRAINT {name} CHECK ({sql})")
                assert _postgresql_definitions(connection, table) == _postgresql_definitions(connection, copy), table
            transaction.rollback()
