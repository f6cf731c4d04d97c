"""The one place that decides between a full page and an htmx fragment."""

from __future__ import annotations

from flask import make_response, render_template, request


def is_fragment_request() -> bool:
    """An htmx request wants a fragment, except a history restore, which needs the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_fragment_or_page(
    page_template: str, fragment_template: str, status: int = 200, headers: dict | None = None, **context
):
    """Render the fragment for htmx, the page (which includes the fragment) otherwise.
    `headers` (e.g. HX-Retarget) go on the fragment response only."""
    fragment = is_fragment_request()
    response = make_response(render_template(fragment_template if fragment else page_template, **context), status)
    if fragment and headers:
        response.headers.update(headers)
    response.vary.add("HX-Request")
    return response
