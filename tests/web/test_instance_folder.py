"""instance/ (the SQLite database with its WAL, and the generated secret key) is the owner's
alone: the folder 0700, every file directly in it 0600, whatever the umask, for a new install and
an old one."""

from __future__ import annotations

import os
import stat
from contextlib import contextmanager
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import text

from app import create_app
from blueprints.extensions import db
from tests.support.app_settings import config_for
from tests.support.builders import make_practice


@contextmanager
def umask(mask: int):
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def app_on(instance: Path, smtp_port: int):
    settings = config_for(f"sqlite:///{instance / 'portal_pins.sqlite3'}", smtp_port)
    del settings["SECRET_KEY"]  # generated into instance/, as `make run` does
    return create_app(settings, instance_path=instance)


def test_a_new_instance_folder_its_database_wal_and_key_are_private(tmp_path, smtp):
    instance = tmp_path / "instance"
    with umask(0o022):
        app = app_on(instance, smtp[0].port)
        with app.app_context():
            upgrade()
            make_practice(app)  # a write: the WAL and its index exist while the engine holds a connection
            database = instance / "portal_pins.sqlite3"
            assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            files = [database, Path(f"{database}-wal"), Path(f"{database}-shm"), instance / "secret_key"]
            assert all(path.exists() for path in files)
            assert mode(instance) == 0o700
            assert {path.name: oct(mode(path)) for path in files} == {path.name: "0o600" for path in files}
            db.session.remove()
            db.engine.dispose()


def test_an_existing_world_readable_install_is_made_private(tmp_path, smtp):
    instance = tmp_path / "instance"
    instance.mkdir(mode=0o755)
    os.chmod(instance, 0o755)
    database = instance / "portal_pins.sqlite3"
    key_file = instance / "secret_key"
    key_file.write_text("an-older-install's-secret-key")
    for path in (database, Path(f"{database}-wal"), key_file):
        path.touch()
        os.chmod(path, 0o644)
    with umask(0o022):
        app = app_on(instance, smtp[0].port)
    assert app.config["SECRET_KEY"] == "an-older-install's-secret-key", "the existing key is kept, only its mode changes"
    assert mode(instance) == 0o700
    assert {path.name: oct(mode(path)) for path in (database, Path(f"{database}-wal"), key_file)} == {
        "portal_pins.sqlite3": "0o600", "portal_pins.sqlite3-wal": "0o600", "secret_key": "0o600"
    }
    with app.app_context():
        db.engine.dispose()
