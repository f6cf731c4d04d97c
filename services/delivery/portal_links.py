"""The links a message carries, built with urllib.parse rather than by joining strings, so a
portal URL that has a query of its own (`https://portal.example/reg?src=op`) keeps it.

Every link names its practice (`?practice=SLUG`), so the parent's pages can say whose portal it
is before anything is redeemed. The email's link also carries the PIN, in the fragment
(`#pin=XXXX-XXXX`): browsers never send a fragment to a server, so the PIN stays out of every
access log, proxy and mail scanner's request, and static/js/portal_pin.js fills the PIN field
from it. Opening a link spends nothing: only the form's POST redeems.
"""

from __future__ import annotations

from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

PRACTICE_PARAMETER = "practice"
PIN_FRAGMENT_PARAMETER = "pin"


def with_query(url: str, **parameters: str) -> str:
    """`url` with `parameters` in its query: the pairs it had stay as they were written, in their
    order; a pair named like one of `parameters` gives way to it."""
    parts = urlsplit(url)
    kept = [
        pair for pair in parts.query.split("&")
        if pair and unquote_plus(pair.split("=", 1)[0]) not in parameters
    ]
    query = "&".join([*kept, urlencode(parameters)]) if parameters else "&".join(kept)
    return urlunsplit(parts._replace(query=query))


def with_fragment(url: str, **parameters: str) -> str:
    """`url` with its fragment replaced by `parameters`, written as a query is (`pin=…`)."""
    return urlunsplit(urlsplit(url)._replace(fragment=urlencode(parameters)))


def practice_link(portal_url: str, slug: str) -> str:
    """The portal URL naming the practice: `PORTAL_URL?practice=SLUG`."""
    return with_query(portal_url, **{PRACTICE_PARAMETER: slug})


def pin_link(portal_url: str, slug: str, pin: str) -> str:
    """The email's link: the practice's link with the PIN in the fragment (`#pin=XXXX-XXXX`)."""
    return with_fragment(practice_link(portal_url, slug), **{PIN_FRAGMENT_PARAMETER: pin})
