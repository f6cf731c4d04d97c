"""The application factory. Run with `flask --app app ...`; see README.md."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import register_blueprints
from blueprints.extensions import compress, csrf, db, mail, migrate
from blueprints.input_bounds import install_input_bounds
from blueprints.logs import install_log_filters, use_json_logs
from blueprints.rate_limits import RateLimits, check_limits, choose_storage_uri, limit_marked_views, serves_web_requests
from blueprints.security_headers import install_security_headers
from blueprints.static_versions import VersionedStaticFlask, install_static_versions
from config import Config, derived_settings, make_instance_folder_private, make_sqlite_files_private
from services.delivery.message_cipher import MessageCipher
from services.delivery.sms import check_twilio_config

BASE_DIR = Path(__file__).resolve().parent


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    """SQLite enforces foreign keys only when asked; WAL lets readers run beside a writer."""
    if isinstance(dbapi_connection, sqlite3.Connection):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.execute("PRAGMA secure_delete = ON")
        cursor.close()


def create_app(test_config: dict | None = None, instance_path: str | Path | None = None) -> Flask:
    app = VersionedStaticFlask(__name__, instance_path=str(instance_path or BASE_DIR / "instance"))
    make_instance_folder_private(Path(app.instance_path))
    app.config.update(Config(Path(app.instance_path)).as_mapping())
    if test_config:
        app.config.update(test_config)
    app.config.update(derived_settings(app.config))
    make_sqlite_files_private(app.config["SQLALCHEMY_DATABASE_URI"], Path(app.instance_path))
    # Before any extension is bound: a web server on a production database without shared rate-limit
    # storage refuses to start, saying why (blueprints/rate_limits.py). CLI commands never need it.
    serving = serves_web_requests()
    app.config["RATELIMIT_STORAGE_URI"] = choose_storage_uri(app.config, serving)
    if serving:
        check_limits(app.config)
    # A malformed OUTBOX_KEY stops the app (and the worker) at start, not at the first PIN issued;
    # so does a Twilio API URL that would send the auth token in clear.
    MessageCipher.from_config(app.config)
    twilio_warning = check_twilio_config(app.config)

    app.jinja_env.add_extension("jinja2.ext.do")
    install_log_filters(app.logger)
    if twilio_warning:
        app.logger.warning(twilio_warning)
    if app.config["LOG_FORMAT"] == "json":
        use_json_logs()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    mail.init_app(app)
    RateLimits(app)
    compress.init_app(app)
    install_static_versions(app)  # after compress: its after_request runs first

    if app.config["PROXY_COUNT"]:
        # Behind N trusted proxies: the client's address and scheme come from their headers
        # (rate limits and the audit trail count the client, not the proxy).
        count = int(app.config["PROXY_COUNT"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)

    install_input_bounds(app)  # before the routes: they use its `id` converter
    register_blueprints(app)
    limit_marked_views(app)
    install_security_headers(app)
    return app
