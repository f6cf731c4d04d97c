"""A practice's slug: made from its name, unique, held by the database, and filled in by the
migration for practices that existed before it (on SQLite and on PostgreSQL)."""

from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import make_url, select, text
from sqlalchemy.exc import DatabaseError

from app import create_app
from blueprints.extensions import db
from models import Practice
from models.base import utcnow
from services.practice.slugs import numbered, slug_of_name
from tests.support.app_settings import TEST_DATABASE_URL, config_for
from tests.support.builders import make_practice
from tests.support.outside_parts import require_part

BEFORE = "d2c8e5a17b40"  # the revision before practices had slugs


@pytest.mark.parametrize(("name", "slug"), [
    ("Cedar Pediatrics", "cedar-pediatrics"),
    ("Cedar Pediatrics & Family", "cedar-pediatrics-family"),
    ("  Niños Felices — Clínica ", "ninos-felices-clinica"),
    ("Dr. O'Brien's", "dr-o-brien-s"),
    ("小儿科", "practice"),
    ("A" * 60, "a" * 40),
    ("Abc " + "d" * 36 + " tail", "abc-" + "d" * 36),  # cut at 40, no trailing hyphen
])
def test_a_slug_is_lower_case_ascii_words_joined_by_hyphens(name, slug):
    assert slug_of_name(name) == slug


def test_numbered_variants_stay_within_forty_characters():
    assert numbered("cedar", 1) == "cedar" and numbered("cedar", 2) == "cedar-2"
    long = "a" * 40
    assert numbered(long, 12) == "a" * 37 + "-12" and len(numbered(long, 12)) == 40


def test_new_practices_get_a_unique_slug_from_their_name(app):
    first = make_practice(app, "Cedar Pediatrics")
    second = make_practice(app, "Cedar  Pediatrics!")
    third = make_practice(app, "cedar pediatrics?")
    with app.app_context():
        slugs = [db.session.get(Practice, p.id).slug for p in (first, second, third)]
    assert slugs == ["cedar-pediatrics", "cedar-pediatrics-2", "cedar-pediatrics-3"]


@pytest.mark.parametrize("bad", [None, "", "Cedar", "cedar pediatrics", "-cedar", "cedar-", "ce--dar", "a" * 41, "niño"])
def test_the_database_refuses_a_missing_or_malformed_slug(app, bad):
    practice = make_practice(app)
    with app.app_context():
        with pytest.raises(DatabaseError):
            db.session.execute(text("UPDATE practices SET slug = :s WHERE id = :id"), {"s": bad, "id": practice.id})
            db.session.flush()
        db.session.rollback()
        with pytest.raises(DatabaseError):
            db.session.execute(text(
                "INSERT INTO practices (name, slug, timezone, pin_lifetime_days, created_at) VALUES ('X', :s, 'UTC', 7, :n)"
            ), {"s": bad, "n": utcnow().replace(tzinfo=None)})
            db.session.flush()
        db.session.rollback()


def test_two_practices_cannot_share_a_slug(app):
    first, second = make_practice(app, "Cedar Pediatrics"), make_practice(app, "Birch Family Medicine")
    with app.app_context():
        with pytest.raises(DatabaseError):
            db.session.execute(text("UPDATE practices SET slug = 'cedar-pediatrics' WHERE id = :id"), {"id": second.id})
            db.session.flush()
        db.session.rollback()
    assert first.id != second.id


def _migration_database(kind: str, tmp_path) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'before.sqlite3'}"
    if not TEST_DATABASE_URL:
        require_part("PostgreSQL", "TEST_DATABASE_URL is not set")
    import psycopg
    from psycopg import sql

    url = make_url(TEST_DATABASE_URL)
    name = f"{url.database}_slug_migration"
    with psycopg.connect(host=url.host, port=url.port, user=url.username, password=url.password, dbname="postgres",
                         autocommit=True) as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_the_migration_gives_existing_practices_slugs_and_keeps_their_rows(kind, tmp_path, smtp):
    app = create_app(config_for(_migration_database(kind, tmp_path), smtp[0].port))
    now = utcnow().replace(tzinfo=None)
    names = ["Cedar Pediatrics", "Cedar Pediatrics!", "Niños Felices", "小儿科", "Birch " + "x" * 60, "Birch " + "x" * 61]
    with app.app_context():
        upgrade(revision=BEFORE)
        run = db.session.execute
        for number, name in enumerate(names, start=1):
            run(text("INSERT INTO practices (id, name, timezone, pin_lifetime_days, created_at)"
                     " VALUES (:id, :name, 'UTC', 7, :n)"), {"id": number, "name": name, "n": now})
        run(text(
            "INSERT INTO patients (id, practice_id, chart_number, first_name, last_name, first_name_norm, last_name_norm,"
            " date_of_birth, imported_portal_status, name_is_unofficial, created_at, updated_at)"
            " VALUES (1, 1, '1', 'A', 'B', 'a', 'b', '2018-01-01', 'unregistered', false, :n, :n)"
        ), {"n": now})
        db.session.commit()
        upgrade()
        slugs = db.session.execute(text("SELECT slug FROM practices ORDER BY id")).scalars().all()
        assert slugs == [
            "cedar-pediatrics", "cedar-pediatrics-2", "ninos-felices", "practice",
            "birch-" + "x" * 34, "birch-" + "x" * 32 + "-2",
        ]
        # Nothing under the practices went with the change (a rebuilt table would cascade).
        assert db.session.execute(text("SELECT count(*) FROM patients")).scalar() == 1
        assert db.session.scalar(select(Practice.name).where(Practice.slug == "ninos-felices")) == "Niños Felices"
        db.session.commit()
        downgrade(revision=BEFORE)
        columns = [c["name"] for c in db.inspect(db.engine).get_columns("practices")]
        assert "slug" not in columns
        assert db.session.execute(text("SELECT count(*) FROM patients")).scalar() == 1
        db.session.remove()
        db.engine.dispose()
