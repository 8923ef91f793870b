"""The warning list: the cases `cases purge` will delete within the next 30 days, for leads and admins.

It shows plaintext columns only (reference, state, dates), like the queue, and decrypts nothing, so
viewing it is not an audited act; opening a case from it is, as always (docs/RETENTION.md).
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, render_template

from portal.accounts import Role
from portal.db import request_session
from portal.lifecycle import STATE_NAMES
from portal.retention import WARNING_DAYS, Policy, due_by
from portal.reviewer import bp
from portal.reviewer.access import allow
from portal.workdays import today


@bp.get("/retention")
@allow(Role.LEAD, Role.ADMIN)
def retention_page() -> str:
    policy = Policy(current_app.config["RETENTION_YEARS"])
    day = today()
    return render_template(
        "reviewer/retention.html",
        cases=due_by(request_session(), policy, day + timedelta(days=WARNING_DAYS)),
        policy=policy,
        today=day,
        warning_days=WARNING_DAYS,
        state_names=STATE_NAMES,
    )
