"""Static files versioned by content: `url_for('static', ...)` adds `?v=<the file's hash>`, and a
request carrying the current hash may be cached for a year. A browser fetches (and the server
compresses) each file once per release, and a new release changes the URL. Without (or with a
stale) `v`, the file is served as before: no-cache, revalidated by ETag."""

from __future__ import annotations

import hashlib
from pathlib import Path

from flask import Flask, request

STATIC_MAX_AGE_SECONDS = 365 * 24 * 3600
EXTENSION_KEY = "static_versions"


class StaticFileVersions:
    """Content hashes of the files under one static folder, kept while a file is unchanged."""

    def __init__(self, static_folder: str):
        self.static_folder = static_folder
        self._hashes: dict[tuple[str, int, int], str] = {}  # derived from the files; safe per process

    def version_of(self, filename: str) -> str | None:
        path = Path(self.static_folder, filename)
        try:
            stat = path.stat()
        except OSError:
            return None
        key = (filename, stat.st_mtime_ns, stat.st_size)
        if key not in self._hashes:
            self._hashes[key] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        return self._hashes[key]


class VersionedStaticFlask(Flask):
    """Flask, with a year's max-age for a static file requested by its current version.

    get_send_file_max_age is the per-file hook Flask documents for changing
    SEND_FILE_MAX_AGE_DEFAULT; every other file keeps Flask's default."""

    def get_send_file_max_age(self, filename: str | None) -> int | None:
        versions: StaticFileVersions | None = self.extensions.get(EXTENSION_KEY)
        if versions and filename and (asked := request.args.get("v")) and asked == versions.version_of(filename):
            return STATIC_MAX_AGE_SECONDS
        return super().get_send_file_max_age(filename)


def install_static_versions(app: Flask) -> None:
    """Adds `v` to static URLs, and reads static files whole (see below). Install after
    Flask-Compress, so that this after_request runs before its own."""
    versions = StaticFileVersions(app.static_folder)
    app.extensions[EXTENSION_KEY] = versions

    @app.url_defaults
    def add_static_version(endpoint: str, values: dict) -> None:
        if endpoint == "static" and "v" not in values and (version := versions.version_of(values.get("filename", ""))):
            values["v"] = version

    @app.after_request
    def read_static_file(response):
        # Our files are small (htmx is the largest, 52 KB): read them whole, so Flask-Compress
        # compresses one body (with Content-Length) instead of a stream whose file it never closes.
        if request.endpoint == "static" and response.direct_passthrough and response.status_code == 200:
            response.direct_passthrough = False
            response.make_sequence()  # reads the file; closes it when the response is closed
        return response
