"""Headers every response carries: a strict CSP that fits htmx, no sniffing, no caching of PHI.
Also, when embedded, the host origins our pages may post their height to (templates/base.html)."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, request

from config import embedded, host_origins

DEFAULT_PORTS = {"http": 80, "https": 443}


def content_security_policy(frame_ancestors: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "object-src 'none'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


def serialized_origin(source: str) -> str | None:
    """A FRAME_ANCESTORS source as a browser writes an origin (`event.origin`,
    `location.ancestorOrigins`): lower case, no path, no default port. None if it is not one."""
    try:
        parts = urlsplit(source.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != DEFAULT_PORTS[parts.scheme] else "")


def postmessage_targets(config) -> list[str]:
    """The concrete origins that may frame us, where static/js/app.js may post the page height
    (never "*"); empty when not embedded."""
    if not embedded(config):
        return []
    origins = (serialized_origin(source) for source in host_origins(config))
    return list(dict.fromkeys(origin for origin in origins if origin))


def install_security_headers(app: Flask) -> None:
    policy = content_security_policy(app.config["FRAME_ANCESTORS"])
    targets = " ".join(postmessage_targets(app.config))

    @app.context_processor
    def host_origins_meta():
        # base.html writes <meta name="host-origins"> only when this is not empty.
        return {"host_origins_meta": targets}

    @app.after_request
    def add_security_headers(response):
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Not no-referrer: Flask-WTF's HTTPS CSRF check needs a same-origin Referer.
        response.headers["Referrer-Policy"] = "same-origin"
        if not request.path.startswith("/static/"):
            # Pages show patients and PINs: never keep them in a cache.
            response.headers["Cache-Control"] = "no-store"
        return response
