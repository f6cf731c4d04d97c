"""Headers every response carries: a strict CSP that fits htmx, no sniffing, no caching of PHI."""

from __future__ import annotations

from flask import Flask, request


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


def install_security_headers(app: Flask) -> None:
    policy = content_security_policy(app.config["FRAME_ANCESTORS"])

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
