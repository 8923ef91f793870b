"""Who may open what in the reviewer app: deny by default.

Every request but the public allowlist needs a live login session; every view must declare the
roles (and the login stage) it serves with `@allow`, or it answers 403 to everyone. The session
cookie holds only a random token: the server keeps its hash and the intake keys re-wrapped under
a key derived from it, so the cookie alone is not the keys and the database alone is not a login.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from sqlalchemy import update
from werkzeug.wrappers import Response

from crypto.keyring import Keyring
from portal import audit
from portal.accounts import Role, utcnow
from portal.casework import Actor, Context
from portal.db import get_db, request_session
from portal.login_sessions import READY, SETUP, Lifetime, close_session, find_session, keyring_of, needs_touch
from portal.models import Inspector, ReviewerSession
from portal.workdays import today, vietnam_calendar

# /healthz says only whether the database answers (portal/health.py).
PUBLIC_ENDPOINTS = frozenset({"static", "reviewer.login", "root", "health.healthz"})
TOKEN = "token"
SESSION_ENDED = _l("Your session has ended. Log in again to continue.")

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role]
    stages: frozenset[str] = field(default=frozenset({READY}))


def allow(*roles: Role, stages: frozenset[str] = frozenset({READY})) -> Callable[[View], View]:
    """Declare who may use a view; a view without this answers 403."""

    def mark(view: View) -> View:
        view.access = Access(frozenset(roles), stages)  # type: ignore[attr-defined]
        return view

    return mark


ANY_ROLE = tuple(Role)
ANY_STAGE = frozenset({SETUP, READY})


@dataclass
class Login:
    row: ReviewerSession
    inspector: Inspector
    token: str

    @cached_property
    def keyring(self) -> Keyring:
        return keyring_of(self.row, self.token)

    @property
    def actor(self) -> Actor:
        return Actor.of(self.inspector)

    @property
    def role(self) -> Role:
        return Role(self.inspector.role)


def current_login() -> Login:
    return g.login


def lifetime() -> Lifetime:
    config = current_app.config
    return Lifetime(timedelta(minutes=config["SESSION_IDLE_MINUTES"]), timedelta(hours=config["SESSION_MAX_HOURS"]))


def context() -> Context:
    """What the case services need for an act by the person logged in."""
    return Context(get_db(), current_login().actor, current_app.config["AUDIT_KEY"], today(), vietnam_calendar())


def home_endpoint(role: Role) -> str:
    return "reviewer.accounts_page" if role == Role.ADMIN else "reviewer.queue"


def _load_login() -> Login | None:
    token = session.get(TOKEN)
    if not isinstance(token, str):
        return None
    now = utcnow()
    row = find_session(request_session(), token, lifetime(), now)
    inspector = request_session().get(Inspector, row.inspector_id) if row is not None else None
    if row is None or inspector is None or not inspector.active:
        _end_expired(token)
        return None
    if needs_touch(row, now):
        with get_db().transaction() as write:
            write.execute(update(ReviewerSession).where(ReviewerSession.id == row.id).values(last_seen_at=now))
    return Login(row, inspector, token)


def _end_expired(token: str) -> None:
    """Delete what is left of an expired session (its wrapped keys with it) and say so once."""
    with get_db().transaction() as write:
        inspector_id = close_session(write, token)
        if inspector_id is not None:
            audit.record(write, current_app.config["AUDIT_KEY"], audit.Action.SESSION_EXPIRED, actor_id=inspector_id)
    session.clear()
    flash(str(SESSION_ENDED))


def _enforce() -> Response | None:
    endpoint = request.endpoint
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    login = _load_login()
    if login is None:
        return redirect(url_for("reviewer.login"))
    access: Access | None = getattr(current_app.view_functions[endpoint], "access", None)
    if access is None:
        abort(403)
    if login.row.stage not in access.stages:
        if login.row.stage == SETUP:
            return redirect(url_for("reviewer.setup"))
        abort(403)
    if login.role not in access.roles:
        abort(403)
    g.login = login
    return None


def init_app(app: Flask) -> None:
    app.before_request(_enforce)
