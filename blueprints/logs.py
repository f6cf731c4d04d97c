"""Logging that carries no PHI and no secret.

Werkzeug's and gunicorn's logs print the request line with its query string, where searches
(names, dates of birth) and tokens ride, and a logged exception's traceback quotes its message (a
database error quotes its SQL). The filter below rewrites the line to the path alone and the
exception to its type and frames. It sits on werkzeug's, gunicorn's and the app's loggers, and on
the handlers that gunicorn.conf.py gives gunicorn (gunicorn_logconfig).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import traceback
from datetime import UTC, datetime

_QUERY_IN_REQUEST_LINE = re.compile(r"(\"[A-Z]+ [^?\s\"]*)\?[^\s\"]*")
_QUERY_IN_TEXT = re.compile(r"(/[^?\s\"]*)\?[^\s\"]*")


def strip_query_strings(text: str) -> str:
    text = _QUERY_IN_REQUEST_LINE.sub(r"\1", text)
    return _QUERY_IN_TEXT.sub(r"\1", text)


def exception_frames(exc_info) -> list[str]:
    return [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in traceback.extract_tb(exc_info[2])]


class QueryStringFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep it unchanged rather than lose it
            return True
        message = strip_query_strings(message).replace("\r", "\\r")
        if record.exc_info and record.exc_info[0]:
            # The type and where it was raised; not its message (SQL, data) nor a formatted traceback.
            record.exception_name = record.exc_info[0].__name__
            record.exception_frames = exception_frames(record.exc_info)
            message += f" [{record.exception_name} at {' < '.join(reversed(record.exception_frames))}]"
            record.exc_info, record.exc_text = None, None
        record.msg = message
        record.args = ()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC), level, logger, message, and within a request its
    method, path (never the query string) and the staff and practice ids. Ids only: no names."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": strip_query_strings(record.getMessage()),
        }
        with contextlib.suppress(Exception):  # never lose the line itself
            entry.update(_request_fields())
        if record.exc_info and record.exc_info[0]:
            # The type and where it was raised; not the message, which may quote data (PHI).
            entry["exception"] = record.exc_info[0].__name__
            entry["traceback"] = exception_frames(record.exc_info)
        elif hasattr(record, "exception_name"):  # already reduced by QueryStringFilter
            entry["exception"] = record.exception_name
            entry["traceback"] = record.exception_frames
        return json.dumps(entry, ensure_ascii=False)


def _request_fields() -> dict:
    from flask import g, has_request_context, request

    if not has_request_context():
        return {}
    fields = {"method": request.method, "path": request.path}
    # Plain ints set by staff_required: reading an ORM object here could query the database
    # (after a commit) or fail (after a failed flush), and lose the line being logged.
    for name in ("staff_id", "practice_id"):
        if isinstance(g.get(name), int):
            fields[name] = g.get(name)
    return fields


def use_json_logs(level: int = logging.INFO) -> None:
    """LOG_FORMAT=json: the root logger writes JSON lines to stderr (for a log shipper)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


_installed = False


def install_log_filters(app_logger: logging.Logger) -> None:
    """On the loggers that write request lines or tracebacks: werkzeug's, gunicorn's and the
    app's own (Flask logs an unhandled exception there)."""
    global _installed
    if _installed:
        return
    query_filter = QueryStringFilter()
    for logger in (logging.getLogger("werkzeug"), logging.getLogger("gunicorn.access"),
                   logging.getLogger("gunicorn.error"), app_logger):
        logger.addFilter(query_filter)
    _installed = True


def gunicorn_logconfig(log_format: str | None) -> dict:
    """gunicorn's `logconfig_dict` (gunicorn.conf.py): its error and access logs, and the root
    logger the app's records reach, each through a handler that filters with QueryStringFilter and
    formats as LOG_FORMAT says. gunicorn merges this over its defaults key by key."""
    formatter = {"()": f"{__name__}.JsonFormatter"} if log_format == "json" else {
        "format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
    }
    handler = {"class": "logging.StreamHandler", "formatter": "safe", "filters": ["no_phi"]}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"no_phi": {"()": f"{__name__}.QueryStringFilter"}},
        "formatters": {"safe": formatter},
        "handlers": {
            "error_console": {**handler, "stream": "ext://sys.stderr"},
            "console": {**handler, "stream": "ext://sys.stdout"},
        },
        "root": {"level": "INFO", "handlers": ["error_console"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
        },
    }
