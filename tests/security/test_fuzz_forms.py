"""Property-based fuzzing of the citizen forms: whatever arrives, the answer is never a 500 and
a refused report leaves nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings, strategies as st
from sqlalchemy import func, select

from crypto.keys import generate_keypair, public_key_b64
from portal import create_citizen_app
from portal.migrate import upgrade
from portal.models import Case
from portal.reports import ReportForm
from tests.helpers import VALID_REPORT, csrf_token

FIELD_NAMES = sorted(set(ReportForm.REPORT_FIELDS) | set(ReportForm.IDENTITY_FIELDS) | {"website"})
text = st.text(st.characters(codec="utf-8"), max_size=300)
values = st.one_of(
    text, st.sampled_from(["", "YES", "NO", "TO_CAO", "BRIBERY", "00190", "y"]), st.lists(text, max_size=3)
)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    url = f"sqlite:///{Path(tmp_path_factory.mktemp('fuzz')) / 'portal.db'}"
    upgrade(url)
    app = create_citizen_app(
        {
            "PORTAL_ENV": "testing",
            "DATABASE_URL": url,
            "INTAKE_PUBLIC_KEY": public_key_b64(generate_keypair().public),
            "COOKIE_SECURE": "false",
            "RATELIMIT_ENABLED": "false",
        }
    )
    yield app
    app.extensions["portal_db"].dispose()


def count_cases(app: Flask) -> int:
    with app.extensions["portal_db"].session() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=8))
def test_report_form_never_fails_and_never_half_stores(app: Flask, fields: dict[str, object]) -> None:
    client = app.test_client()
    before = count_cases(app)
    response = client.post("/vi/report", data={**VALID_REPORT, **fields, "csrf_token": csrf_token(client)})
    assert response.status_code in (201, 400)
    assert count_cases(app) == before + (1 if response.status_code == 201 else 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(receipt=st.one_of(text, st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ-oil ", min_size=18, max_size=26)))
def test_receipt_field_never_fails(app: Flask, receipt: str) -> None:
    client = app.test_client()
    token = csrf_token(client, "/vi/status")
    assert client.post("/vi/status", data={"csrf_token": token, "receipt": receipt}).status_code in (400, 404)
    response = client.post("/vi/status/message", data={"csrf_token": token, "receipt": receipt, "text": receipt})
    assert response.status_code in (400, 404)
