"""htmx plumbing: one reader of the request's htmx headers and the response headers htmx acts on,
so views never spell a raw `HX-*` header."""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import unquote

from flask import Response, make_response, request

from models.header_values import breaks_a_header

# htmx's "stop polling" status: a polling element that receives it stops its timer.
STOP_POLLING = 286
# Our own header, sent by regions that refresh themselves: reading, not activity.
AUTOMATIC_REFRESH_HEADER = "X-Automatic-Refresh"

TRIGGER_HEADERS = {"receive": "HX-Trigger", "swap": "HX-Trigger-After-Swap", "settle": "HX-Trigger-After-Settle"}


class HtmxDetails:
    """What htmx says about a request (htmx's request headers, read once, here)."""

    def __init__(self, headers) -> None:
        self._headers = headers

    def _get(self, name: str) -> str | None:
        value = self._headers.get(name)
        # htmx sends a value that is not Latin-1 percent-encoded, and says so in a second header.
        if value is not None and self._headers.get(f"{name}-URI-AutoEncoded") == "true":
            value = unquote(value)
        return value

    def __bool__(self) -> bool:
        return self._get("HX-Request") == "true"

    @property
    def boosted(self) -> bool:
        return self._get("HX-Boosted") == "true"

    @property
    def current_url(self) -> str | None:
        return self._get("HX-Current-URL")

    @property
    def history_restore_request(self) -> bool:
        return self._get("HX-History-Restore-Request") == "true"

    @property
    def prompt(self) -> str | None:
        return self._get("HX-Prompt")

    @property
    def target(self) -> str | None:
        """The id of the element the response goes into."""
        return self._get("HX-Target")

    @property
    def trigger(self) -> str | None:
        """The id of the element that made the request."""
        return self._get("HX-Trigger")

    @property
    def trigger_name(self) -> str | None:
        """The name of the element that made the request."""
        return self._get("HX-Trigger-Name")

    @property
    def wants_fragment(self) -> bool:
        """An htmx request wants a fragment, except a history restore, which needs the whole page."""
        return bool(self) and not self.history_restore_request

    @property
    def automatic_refresh(self) -> bool:
        """A region refreshing itself. Only a fragment request counts: a full page is always a
        new look, whatever its headers."""
        return self.wants_fragment and self._get(AUTOMATIC_REFRESH_HEADER) == "true"


def current_htmx() -> HtmxDetails:
    """The htmx details of the request being handled."""
    return HtmxDetails(request.headers)


def _header_value(value: str) -> str:
    # A control character could split the response or smuggle a second header.
    if breaks_a_header(value):
        raise ValueError("an htmx response header value must not hold control characters")
    return value


def stop_polling(body: str = "") -> Response:
    """286: the polling element that asked stops polling (the body is swapped as usual)."""
    return make_response(body, STOP_POLLING)


def client_redirect(url: str, *, stop: bool | None = None) -> Response:
    """htmx loads `url` as a full page (HX-Redirect). A self-refreshing region also stops polling
    (286), so it cannot ask again while the page leaves; `stop` overrides that choice."""
    if stop is None:
        stop = current_htmx().automatic_refresh
    response = stop_polling() if stop else make_response("", 200)
    response.headers["HX-Redirect"] = _header_value(url)
    return response


def retarget(response: Response, selector: str) -> Response:
    """htmx swaps the response into `selector` instead of the requesting element's target."""
    response.headers["HX-Retarget"] = _header_value(selector)
    return response


def reswap(response: Response, style: str) -> Response:
    """htmx swaps the response with `style` (e.g. "outerHTML") instead of the element's hx-swap."""
    response.headers["HX-Reswap"] = _header_value(style)
    return response


def reselect(response: Response, selector: str) -> Response:
    """htmx swaps only the part of the response that `selector` picks (HX-Reselect)."""
    response.headers["HX-Reselect"] = _header_value(selector)
    return response


def _events_in(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    if value.startswith("{"):
        return json.loads(value)
    # htmx also reads a plain comma-separated list of event names, each with no detail.
    return {name.strip(): {} for name in value.split(",") if name.strip()}


def trigger_client_event(
    response: Response,
    name: str,
    params: dict[str, Any] | None = None,
    after: Literal["receive", "swap", "settle"] = "receive",
) -> Response:
    """htmx fires the event `name` (detail: `params`) on the requesting element (on <body> once that
    element has left the page) when the response is received, swapped in or settled. Events already
    on the response stay; one of the same name is replaced."""
    if after not in TRIGGER_HEADERS:
        raise ValueError(f"after must be one of {', '.join(TRIGGER_HEADERS)}, not {after!r}")
    header = TRIGGER_HEADERS[after]
    events = _events_in(response.headers.get(header))
    events[name] = {} if params is None else params
    # ensure_ascii escapes every control character (and anything not ASCII) inside the JSON.
    response.headers[header] = _header_value(json.dumps(events, ensure_ascii=True, separators=(",", ":")))
    return response
