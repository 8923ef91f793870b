"""Rows written directly, as the services would leave them, for tests of code that reads nothing sealed
(the queue, the statistics)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from portal.db import Database
from portal.lifecycle import State
from portal.models import Case, CaseCategory, Inspector

TODAY = date(2026, 3, 16)


class Factory:
    """Rows as the services would leave them, written directly: the queue reads nothing sealed."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def inspector(self, username: str, role: str = "inspector") -> int:
        with self.db.transaction() as session:
            inspector = Inspector(
                username=username,
                display_name=f"Thanh tra {username}",
                role=role,
                password_hash="not-a-hash",
                encrypted_totp_secret=b"-",
                created_at=datetime(2026, 1, 1),
            )
            session.add(inspector)
            session.flush()
            return inspector.id

    def case(self, name: str, *, categories: tuple[str, ...] = (), **fields: Any) -> int:
        values: dict[str, Any] = {
            "report_type": "THONG_TIN_TO_CAO",
            "state": State.RECEIVED,
            "anonymous": True,
            "received_on": TODAY - timedelta(days=3),
            "answer_due_on": None,
            **fields,
        }
        values.setdefault("state_since", values["received_on"])
        with self.db.transaction() as session:
            case = Case(
                reference=name,
                lookup_id=f"lookup-{name}".encode(),
                intake_key_id="test-key",
                reporter_public_key=b"k" * 32,
                reporter_salt=b"s" * 16,
                sealed_report=b"sealed",
                sealed_report_for_reporter=b"sealed",
                **values,
            )
            case.categories = [CaseCategory(category=code) for code in categories]
            session.add(case)
            session.flush()
            return case.id
