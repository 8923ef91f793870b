"""The reviewer app: inspectors log in, triage, open and work cases, and see the statistics.

Deny by default (`access.py`): a route without an explicit role list answers 403 even to a
logged-in admin, and every route but login and static files needs a live login.
"""

from __future__ import annotations

from portal.i18n import language_blueprint
from portal.ratelimit import RouteLimit, RouteLimits, login_limit

bp = language_blueprint("reviewer", __name__)

# The password page checks the current password: limited like the login, so it is no guessing oracle.
RATE_LIMITS: RouteLimits = {
    "reviewer.login": RouteLimit(login_limit, ["POST"]),
    "reviewer.password": RouteLimit(login_limit, ["POST"]),
}

# Importing the view modules registers their routes on `bp`.
from portal.reviewer import admin, auth, casefiles, retention  # noqa: F401
