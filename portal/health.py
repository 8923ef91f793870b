"""`GET /healthz` on both apps: `ok` when the database answers, `unavailable` otherwise, and nothing else.

For a load balancer or a monitoring probe. It says nothing that could help an attacker or date a
request (no version, no counts, no time, no host, no reason for a failure), sets no cookie, is not
under a language prefix, is not rate-limited (no probe uses up a reporter's budget) and, in the reviewer
app, is the one page besides the login that needs no login.
"""

from __future__ import annotations

from flask import Blueprint, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from portal.db import get_db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    try:
        with get_db().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except (SQLAlchemyError, OSError):  # OSError: a SQLite folder that cannot be created
        return Response("unavailable", status=503, mimetype="text/plain")
    return Response("ok", mimetype="text/plain")
