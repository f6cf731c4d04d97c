"""Logging that carries no PHI and no secret.

Werkzeug's access log prints the request line with its query string, where searches (names,
dates of birth) and tokens ride. The filter below rewrites it to the path alone.
"""

from __future__ import annotations

import logging
import re

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


_installed = False


def install_log_filters() -> None:
    global _installed
    if _installed:
        return
    query_filter = QueryStringFilter()
    for name in ("werkzeug", "gunicorn.access"):
        logging.getLogger(name).addFilter(query_filter)
    _installed = True
