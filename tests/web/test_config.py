"""Configuration declared once (config.py): every key the product code reads has a default there,
the environment is read nowhere else, and the derived settings follow from the others."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask

from config import Config, derived_settings, embedded, host_origins

REPO = Path(__file__).resolve().parents[2]
NOT_PRODUCT = {".venv", "tests", "benchmarks", "migrations", "static", "instance", "node_modules"}
# config["KEY"], config.get("KEY"...), config.KEY in templates.
KEY_READ = re.compile(r"""config(?:\[|\.get\(|\.setdefault\()\s*["']([A-Z][A-Z0-9_]+)["']|config\.([A-Z][A-Z0-9_]+)""")


def _product_files(*suffixes: str) -> list[Path]:
    return [path for path in REPO.rglob("*") if path.suffix in suffixes
            and not set(path.relative_to(REPO).parts) & NOT_PRODUCT]


def _declared(tmp_path) -> set[str]:
    settings = Config(tmp_path, environ={"SECRET_KEY": "k"}).as_mapping()
    return set(settings) | set(derived_settings(settings)) | set(Flask(__name__).config)


def test_every_key_the_product_reads_is_declared(tmp_path):
    declared = _declared(tmp_path)
    read = {}
    for path in _product_files(".py", ".html"):
        for match in KEY_READ.finditer(path.read_text()):
            read.setdefault(match.group(1) or match.group(2), path.relative_to(REPO))
    assert read, "the scan found no configuration reads: the pattern is broken"
    assert {key: str(path) for key, path in read.items() if key not in declared} == {}


def test_the_environment_is_read_only_in_config_py():
    readers = [str(path.relative_to(REPO)) for path in _product_files(".py")
               if re.search(r"os\.environ|getenv\(", path.read_text())]
    assert readers == ["config.py"]


def test_derived_settings_standalone_on_sqlite(tmp_path):
    settings = Config(tmp_path, environ={"SECRET_KEY": "k"}).as_mapping()
    derived = derived_settings(settings)
    assert derived["DEV_OUTBOX"] is True
    assert len(derived["PIN_LOOKUP_KEY"]) == 32
    assert "SESSION_COOKIE_SAMESITE" not in derived and settings["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert not embedded(settings) and host_origins(settings) == []


@pytest.mark.parametrize("environ", [{"MAIL_SERVER": "smtp.example"}, {"DATABASE_URL": "postgresql://h/db"}])
def test_no_development_outbox_with_a_mail_server_or_another_database(tmp_path, environ):
    settings = Config(tmp_path, environ={"SECRET_KEY": "k", **environ}).as_mapping()
    assert derived_settings(settings)["DEV_OUTBOX"] is False


def test_embedded_makes_the_session_cookie_cross_site(tmp_path):
    environ = {"SECRET_KEY": "k", "FRAME_ANCESTORS": "'self' https://host.example https://*.example"}
    settings = Config(tmp_path, environ=environ).as_mapping()
    assert embedded(settings)
    assert host_origins(settings) == ["https://host.example"]
    derived = derived_settings(settings)
    cookie = {key: value for key, value in derived.items() if key.startswith("SESSION_COOKIE_")}
    assert cookie == {"SESSION_COOKIE_SECURE": True, "SESSION_COOKIE_SAMESITE": "None", "SESSION_COOKIE_PARTITIONED": True}


def test_the_pin_lookup_key_follows_the_secret_key(tmp_path):
    first = derived_settings(Config(tmp_path, environ={"SECRET_KEY": "one"}).as_mapping())["PIN_LOOKUP_KEY"]
    again = derived_settings(Config(tmp_path, environ={"SECRET_KEY": "one"}).as_mapping())["PIN_LOOKUP_KEY"]
    other = derived_settings(Config(tmp_path, environ={"SECRET_KEY": "two"}).as_mapping())["PIN_LOOKUP_KEY"]
    assert first == again != other


def test_outbox_key_comes_from_the_environment(tmp_path):
    assert Config(tmp_path, environ={"SECRET_KEY": "k"}).as_mapping()["OUTBOX_KEY"] is None
    assert Config(tmp_path, environ={"SECRET_KEY": "k", "OUTBOX_KEY": "a,b"}).as_mapping()["OUTBOX_KEY"] == "a,b"
