"""An insider with the database edits or deletes the record of what they did: `audit verify` fails and
names the event, through the same command an operator runs."""

from __future__ import annotations

from datetime import datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from portal.models import AuditEvent
from tests.helpers import file_report
from tests.reviewer_helpers import Person, log_in


def verify(app: Flask) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    return result.exit_code, result.output


@pytest.fixture
def trail(reviewer_app: Flask, reviewer: FlaskClient, client: FlaskClient, staff: dict[str, Person]) -> int:
    """A trail of a few real events: logins and a case opened; returns the number of the case view."""
    file_report(client)
    log_in(reviewer, staff["lead"])
    assert reviewer.get("/vi/cases/1").status_code == 200
    assert verify(reviewer_app)[0] == 0
    with reviewer_app.extensions["portal_db"].session() as session:
        return session.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.action == "case_viewed")) or 0


@pytest.mark.parametrize(
    "tamper",
    ["reword the detail", "blame someone else", "move it in time", "delete it"],
)
def test_editing_or_deleting_an_audit_row_makes_audit_verify_fail(reviewer_app: Flask, trail: int, tamper: str) -> None:
    with reviewer_app.extensions["portal_db"].transaction() as session:
        row = update(AuditEvent).where(AuditEvent.id == trail)
        if tamper == "reword the detail":
            session.execute(row.values(detail='{"identity_shown": false, "note": "routine"}'))
        elif tamper == "blame someone else":
            session.execute(row.values(actor="demo-inspector"))
        elif tamper == "move it in time":
            session.execute(row.values(occurred_at=datetime(2026, 1, 1, 3, 0)))
        else:
            session.execute(delete(AuditEvent).where(AuditEvent.id == trail))
    code, output = verify(reviewer_app)
    assert code != 0, output
    assert str(trail) in output
