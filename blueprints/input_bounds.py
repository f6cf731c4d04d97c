"""Input no validator should let reach the database: ids beyond the integer columns, and NUL bytes.

PostgreSQL's `integer` ends at 2**31-1 and SQLite's at 2**63-1: a bigger id in a URL or a form
would raise in the driver (a 500) instead of finding nothing (404). PostgreSQL also refuses a NUL
byte in any text value, so one in a query string, a form, a cookie or a header is refused here, at
the door, with 400, before any view turns it into a query."""

from __future__ import annotations

from flask import Flask, abort, request
from werkzeug.routing import IntegerConverter

# The largest id either database stores in our `integer` primary keys (PostgreSQL's limit).
MAX_ID = 2**31 - 1


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: 1..MAX_ID, anything else matches no route (404)."""

    def __init__(self, map, **kwargs) -> None:
        super().__init__(map, min=1, max=MAX_ID)


def parse_id(value: str | None) -> int | None:
    """An id typed in a form or query string, or None when it cannot be one of ours."""
    if value is None or not value.isascii() or not value.isdigit():
        return None
    digits = value.lstrip("0")
    if not digits or len(digits) > len(str(MAX_ID)):  # int() of a 100 KB string would raise
        return None
    number = int(digits)
    return number if 1 <= number <= MAX_ID else None


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def request_holds_nul() -> bool:
    """Whether any value of the request (path, query, form, JSON, cookies, headers) has a NUL."""
    if "\x00" in request.path:
        return True
    for pairs in (request.args, request.form, request.cookies, request.files):
        if any("\x00" in key or _holds_nul(value) for key, value in pairs.items(multi=True)):
            return True
    if any(_holds_nul(value) for value in request.headers.values()):
        return True
    return request.is_json and _holds_nul(request.get_json(silent=True))


def install_input_bounds(app: Flask) -> None:
    """Before any blueprint: routes are compiled with the `id` converter when they are added."""
    app.url_map.converters["id"] = IdConverter

    @app.before_request
    def refuse_nul_bytes():
        if request_holds_nul():
            abort(400)
