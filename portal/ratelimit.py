"""Rate limits keyed by a rotating keyed hash of the client address, never the address itself.

The key is HMAC(secret key, day | address): the limiter's storage (memory or Redis) never sees a
raw address, and yesterday's keys cannot be recomputed from today's. Behind Tor every client is
127.0.0.1, so these limits are one layer among several (see DESIGN.md section 7).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from flask import Flask, Response, current_app, request
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


@dataclass(frozen=True)
class RouteLimit:
    limit: Callable[[], str]
    methods: list[str] | None = None  # None: every method
    # When given, only answers it accepts use up the limit: a reporter who checks a right receipt again
    # and again never runs out, while wrong guesses do.
    counts: Callable[[Response], bool] | None = None
    # Routes naming the same scope draw on one budget (every way of trying a receipt counts together).
    scope: str | None = None


RouteLimits = Mapping[str, RouteLimit]


def init_app(app: Flask, route_limits: RouteLimits) -> Limiter:
    """One limiter per app, so two apps in one process (tests, a dev server) never share counters."""
    limiter = Limiter(key_func=client_key, strategy="moving-window")
    limiter.init_app(app)
    # Flask-Limiter's route wrappers hold only a weak reference: the app must keep the limiter alive.
    app.extensions["portal_limiter"] = limiter
    for endpoint, route in route_limits.items():
        if route.scope:
            limit = limiter.shared_limit(route.limit, route.scope, methods=route.methods, deduct_when=route.counts)
        else:
            limit = limiter.limit(route.limit, methods=route.methods, deduct_when=route.counts)
        app.view_functions[endpoint] = limit(app.view_functions[endpoint])
    return limiter
