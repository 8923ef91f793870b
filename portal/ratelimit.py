"""Rate limits keyed by a rotating keyed hash of the client address, never the address itself.

The key is HMAC(secret key, day | address): the limiter's storage (memory or Redis) never sees a
raw address, and yesterday's keys cannot be recomputed from today's. Behind Tor every client is
127.0.0.1, so these limits are one layer among several (see DESIGN.md section 7).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping

from flask import Flask, current_app, request
from flask_limiter import Limiter

from portal.workdays import today


def client_key() -> str:
    message = f"{today().isoformat()}|{request.remote_addr or '-'}".encode()
    digest = hmac.new(current_app.config["SECRET_KEY"].encode(), message, hashlib.sha256)
    return digest.hexdigest()[:32]


def submit_limit() -> str:
    return current_app.config["RATELIMIT_SUBMIT"]


def lookup_limit() -> str:
    return current_app.config["RATELIMIT_LOOKUP"]


def login_limit() -> str:
    return current_app.config["RATELIMIT_LOGIN"]


# endpoint -> (limit, methods it applies to, or None for all)
RouteLimits = Mapping[str, tuple[Callable[[], str], list[str] | None]]


def init_app(app: Flask, route_limits: RouteLimits) -> Limiter:
    """One limiter per app, so two apps in one process (tests, a dev server) never share counters."""
    limiter = Limiter(key_func=client_key, strategy="moving-window")
    limiter.init_app(app)
    # Flask-Limiter's route wrappers hold only a weak reference: the app must keep the limiter alive.
    app.extensions["portal_limiter"] = limiter
    for endpoint, (limit, methods) in route_limits.items():
        app.view_functions[endpoint] = limiter.limit(limit, methods=methods)(app.view_functions[endpoint])
    return limiter
