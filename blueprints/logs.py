"""Logging that carries no PHI and no secret.

Werkzeug's access log prints the request line with its query string, where searches (names,
dates of birth) and tokens ride. The filter below rewrites it to the path alone.
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


class QueryStringFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: keep it unchanged rather than lose it
            return True
        record.msg = strip_query_strings(message).replace("\r", "\\r")
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
            entry["traceback"] = [f"{frame.filename}:{frame.lineno} in {frame.name}" for frame in
                                  traceback.extract_tb(record.exc_info[2])]
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


def install_log_filters() -> None:
    global _installed
    if _installed:
        return
    query_filter = QueryStringFilter()
    for name in ("werkzeug", "gunicorn.access"):
        logging.getLogger(name).addFilter(query_filter)
    _installed = True
