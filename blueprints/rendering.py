"""The one place that decides between a full page and an htmx fragment."""

from __future__ import annotations

from flask import make_response, render_template

from blueprints.htmx import current_htmx
from blueprints.htmx import reswap as reswap_response
from blueprints.htmx import retarget as retarget_response


def is_fragment_request() -> bool:
    """An htmx request wants a fragment, except a history restore, which needs the whole page."""
    return current_htmx().wants_fragment


def render_fragment_or_page(
    page_template: str, fragment_template: str, status: int = 200, headers: dict | None = None,
    retarget: str | None = None, reswap: str | None = None, **context
):
    """Render the fragment for htmx, the page (which includes the fragment) otherwise.
    `headers`, `retarget` (a selector) and `reswap` (a swap style) go on the fragment response only."""
    fragment = is_fragment_request()
    response = make_response(render_template(fragment_template if fragment else page_template, **context), status)
    if fragment:
        if headers:
            response.headers.update(headers)
        if retarget:
            retarget_response(response, retarget)
        if reswap:
            reswap_response(response, reswap)
    response.vary.add("HX-Request")
    return response
