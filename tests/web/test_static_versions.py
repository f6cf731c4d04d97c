"""Static files versioned by content (blueprints/static_versions.py): url_for adds the file's hash
as `v`, the current hash may be cached for a year, and a missing or stale one revalidates."""

from __future__ import annotations

import hashlib
import os

import pytest
from flask import url_for

from blueprints.static_versions import VersionedStaticFlask, install_static_versions

YEAR = "public, max-age=31536000"


@pytest.fixture
def static_app(tmp_path):
    (tmp_path / "static" / "css").mkdir(parents=True)
    (tmp_path / "static" / "css" / "site.css").write_text("body { color: black; }\n")
    app = VersionedStaticFlask(__name__, root_path=str(tmp_path))
    install_static_versions(app)
    return app


def _hash(app, filename: str) -> str:
    with open(os.path.join(app.static_folder, filename), "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()[:16]


def _url(app, filename: str) -> str:
    with app.test_request_context():
        return url_for("static", filename=filename)


def test_url_for_adds_the_content_hash(static_app):
    assert _url(static_app, "css/site.css") == f"/static/css/site.css?v={_hash(static_app, 'css/site.css')}"
    assert _url(static_app, "css/missing.css") == "/static/css/missing.css"  # no file, no version


def test_the_current_version_is_cached_for_a_year(static_app):
    client = static_app.test_client()
    response = client.get(_url(static_app, "css/site.css"))
    assert response.status_code == 200 and response.headers["Cache-Control"] == YEAR
    response.close()


@pytest.mark.parametrize("query", ["", "?v=0000000000000000", "?v="])
def test_a_missing_or_stale_version_revalidates(static_app, query):
    response = static_app.test_client().get(f"/static/css/site.css{query}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-cache" and response.headers["ETag"]
    response.close()


def test_a_changed_file_gets_a_new_version_and_the_old_one_goes_stale(static_app):
    old = _url(static_app, "css/site.css")
    path = os.path.join(static_app.static_folder, "css", "site.css")
    with open(path, "w") as handle:
        handle.write("body { color: navy; }\n")
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 1_000_000_000))
    new = _url(static_app, "css/site.css")
    assert new != old and new.endswith(_hash(static_app, "css/site.css"))
    client = static_app.test_client()
    for url, expected in ((old, "no-cache"), (new, YEAR)):
        response = client.get(url)
        assert response.headers["Cache-Control"] == expected
        response.close()


def test_without_install_every_file_keeps_flasks_default(tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.js").write_text("1;\n")
    app = VersionedStaticFlask(__name__, root_path=str(tmp_path))
    response = app.test_client().get("/static/a.js?v=anything")
    assert response.headers["Cache-Control"] == "no-cache"
    response.close()
