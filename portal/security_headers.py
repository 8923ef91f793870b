"""Security headers written by the app itself, on every response (DESIGN.md sections 6 and 7).

One policy dictionary, serialised in one after_request hook: no proxy is trusted to add them, and
Flask-Talisman is not used because it forces HSTS, which is wrong for an onion service.
"""

from __future__ import annotations

from flask import Flask, Response, request

CONTENT_SECURITY_POLICY = {
    "default-src": "'none'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self'",
    "font-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'none'",
}

PERMISSIONS_POLICY = {
    feature: "()"
    for feature in (
        "accelerometer", "camera", "display-capture", "geolocation", "gyroscope", "magnetometer",
        "microphone", "payment", "usb", "clipboard-read", "browsing-topics",
    )
}  # fmt: skip

HEADERS = {
    "Content-Security-Policy": "; ".join(f"{name} {value}" for name, value in CONTENT_SECURITY_POLICY.items()),
    "Permissions-Policy": ", ".join(f"{name}={value}" for name, value in PERMISSIONS_POLICY.items()),
    # Flask-WTF checks the Referer on HTTPS, so same-origin rather than no-referrer.
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
}

# An evidence file is never a page: if a browser rendered one anyway, it would run sandboxed, with nothing.
DOWNLOAD_POLICY = "default-src 'none'; sandbox; frame-ancestors 'none'"

# Pages may show a receipt, a report or messages: no browser or proxy cache may keep any of them.
NO_STORE = "no-store, max-age=0"


def apply(response: Response) -> Response:
    for name, value in HEADERS.items():
        response.headers[name] = value
    if response.headers.get("Content-Disposition", "").startswith("attachment"):
        response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    if request.endpoint != "static":
        response.headers["Cache-Control"] = NO_STORE
        response.headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    app.after_request(apply)
