"""The one place that decides between a full page and an htmx fragment."""

from __future__ import annotations

from flask import make_response, render_template, request


def is_fragment_request() -> bool:
    """An htmx request wants a fragment, except a history restore, which needs the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_fragment_or_page(page_template: str, fragment_template: str, status: int = 200, **context):
    """Render the fragment for htmx, the page (which includes the fragment) otherwise."""
    template = fragment_template if is_fragment_request() else page_template
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    return response
