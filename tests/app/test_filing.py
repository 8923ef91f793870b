"""Filing a report through the citizen portal, as a person and as a careless or hostile client."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from crypto.keys import KeyPair
from crypto.receipts import lookup_id, parse_receipt, reporter_keypair
from crypto.sealing import open_document
from portal import create_citizen_app
from portal.db import get_db
from portal.models import Case
from portal.workdays import today
from tests.helpers import RECEIPT_PATTERN, VALID_REPORT, csrf_token, file_report, submit_report


def stored_cases(app: Flask) -> list[Case]:
    with app.app_context(), get_db().session() as session:
        return list(session.scalars(select(Case).order_by(Case.id)))


def case_count(app: Flask) -> int:
    with app.app_context(), get_db().session() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


def test_receipt_page_shows_the_code_once_and_is_never_cached(client: FlaskClient) -> None:
    response = submit_report(client)
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    receipt = RECEIPT_PATTERN.search(page).group(1)  # type: ignore[union-attr]
    assert len(receipt) == 24 and receipt.count("-") == 4
    assert "no-store" in response.headers["Cache-Control"]
    assert 'lang="vi"' in page
    for header in response.headers.getlist("Set-Cookie"):
        assert parse_receipt(receipt) not in header and receipt not in header


def test_report_is_sealed_to_the_intake_key_and_to_the_reporter(
    client: FlaskClient, citizen_app: Flask, intake_keys: KeyPair
) -> None:
    receipt = file_report(client)
    [case] = stored_cases(citizen_app)
    report = open_document(case.sealed_report, intake_keys.private, "report")
    assert report["narrative"] == VALID_REPORT["narrative"]
    assert report["misconduct"] == ["BRIBERY", "ABUSE_OF_POSITION"]
    canonical = parse_receipt(receipt)
    reporter = reporter_keypair(canonical, case.reporter_salt)
    assert open_document(case.sealed_report_for_reporter, reporter.private, "report") == report
    assert case.reporter_public_key == reporter.public
    pepper = citizen_app.config["RECEIPT_PEPPER"]
    assert case.lookup_id == lookup_id(pepper, canonical)
    assert case.state == "RECEIVED" and case.anonymous and case.sealed_identity is None
    assert isinstance(case.received_on, date) and case.answer_due_on > case.received_on


def test_identity_is_sealed_apart_and_only_to_the_intake_key(
    client: FlaskClient, citizen_app: Flask, intake_keys: KeyPair
) -> None:
    receipt = file_report(
        client,
        report_type="TO_CAO",
        full_name="Nguyễn Văn An",
        contact="0912 345 678",
        truthful="y",
    )
    [case] = stored_cases(citizen_app)
    assert not case.anonymous
    identity = open_document(case.sealed_identity, intake_keys.private, "identity")
    assert identity["full_name"] == "Nguyễn Văn An"
    report = open_document(case.sealed_report, intake_keys.private, "report")
    assert "Nguyễn Văn An" not in str(report)
    reporter = reporter_keypair(parse_receipt(receipt), case.reporter_salt)
    with pytest.raises(Exception):
        open_document(case.sealed_identity, reporter.private, "identity")


def test_reference_numbers_follow_each_other(client: FlaskClient, citizen_app: Flask) -> None:
    for _ in range(3):
        file_report(client)
    references = [case.reference for case in stored_cases(citizen_app)]
    year = today().year
    assert references == [f"{year}-00001", f"{year}-00002", f"{year}-00003"]


def test_validation_error_keeps_everything_typed(client: FlaskClient, citizen_app: Flask) -> None:
    response = submit_report(
        client,
        narrative="Quá ngắn",
        subject_name="Trần Thị Bình",
        location="Dự án khu đô thị Tây Hồ Tây",
        misconduct=["WASTE"],
    )
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "Quá ngắn" in page
    assert 'value="Trần Thị Bình"' in page
    assert 'value="Dự án khu đô thị Tây Hồ Tây"' in page
    assert re.search(r'<input checked[^>]*value="WASTE"', page)
    assert 'aria-invalid="true"' in page
    assert case_count(citizen_app) == 0


def test_anonymous_report_refuses_to_seal_a_name(client: FlaskClient, citizen_app: Flask) -> None:
    response = submit_report(client, report_type="THONG_TIN_TO_CAO", full_name="Lê Văn Cường")
    assert response.status_code == 400
    assert 'value="Lê Văn Cường"' in response.get_data(as_text=True)
    assert case_count(citizen_app) == 0


def test_identified_denunciation_needs_name_contact_and_commitment(client: FlaskClient, citizen_app: Flask) -> None:
    response = submit_report(client, report_type="TO_CAO")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert page.count('id="full_name-error"') == 1 and 'id="truthful-error"' in page
    assert case_count(citizen_app) == 0


@pytest.mark.parametrize(
    "fields",
    [
        {"narrative": ""},
        {"narrative": "x" * 20001},
        {"narrative": "Tố cáo cán bộ phường nhận hối lộ\x00 để làm ngơ vi phạm xây dựng"},
        {"subject_name": "Nguyễn\x07 Văn A"},
        {"report_type": "NOT_A_TYPE"},
        {"ward": "99999"},
        {"misconduct": ["BRIBERY", "NOT_A_CATEGORY"]},
        {"website": "http://spam.example"},
    ],
    ids=["empty", "too-long", "nul-byte", "control-char", "bad-type", "bad-ward", "bad-category", "honeypot"],
)
def test_bad_input_gets_a_clear_400_and_stores_nothing(
    client: FlaskClient, citizen_app: Flask, fields: dict[str, object]
) -> None:
    response = submit_report(client, **fields)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'class="field-error"' in page
    assert 'lang="vi"' in page
    assert case_count(citizen_app) == 0


def test_missing_csrf_token_keeps_the_text_and_stores_nothing(client: FlaskClient, citizen_app: Flask) -> None:
    client.get("/vi/report")
    response = client.post("/vi/report", data={**VALID_REPORT, "subject_agency": "UBND phường Láng"})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert VALID_REPORT["narrative"] in page
    assert 'value="UBND phường Láng"' in page
    assert case_count(citizen_app) == 0
    # The page came back with a fresh token: sending it again works.
    token = csrf_token(client)
    assert client.post("/vi/report", data={**VALID_REPORT, "csrf_token": token}).status_code == 201


def test_invalid_utf8_is_refused_with_a_message(client: FlaskClient, citizen_app: Flask) -> None:
    token = csrf_token(client)
    body = b"csrf_token=" + token.encode() + b"&report_type=PHAN_ANH&narrative=" + b"\xff\xfe\xc3" * 20
    response = client.post("/vi/report", data=body, content_type="application/x-www-form-urlencoded")
    # Werkzeug refuses to decode the body at all, so the request reads as an expired form.
    assert response.status_code == 400
    assert 'lang="vi"' in response.get_data(as_text=True) and 'role="alert"' in response.get_data(as_text=True)
    assert case_count(citizen_app) == 0


def test_database_outage_says_nothing_was_saved_and_shows_no_receipt(env: dict[str, str]) -> None:
    app = create_citizen_app({**env, "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"})
    client = app.test_client()
    response = submit_report(client)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert 'id="receipt-code"' not in page and 'lang="vi"' in page
    app.extensions["portal_db"].dispose()


def test_oversized_request_is_refused_with_a_page(client: FlaskClient, citizen_app: Flask) -> None:
    token = csrf_token(client)
    response = client.post("/vi/report", data={**VALID_REPORT, "csrf_token": token, "harm": "x" * (3 * 1024 * 1024)})
    assert response.status_code == 413
    assert 'lang="vi"' in response.get_data(as_text=True)
    assert case_count(citizen_app) == 0


def test_english_report_form_answers_in_english(client: FlaskClient) -> None:
    response = submit_report(client, lang="en", narrative="")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'lang="en"' in page and "Please describe what happened." in page


def test_a_complaint_is_filed_and_the_person_is_told_where_complaints_go(client: FlaskClient) -> None:
    response = submit_report(client, lang="en", report_type="KHIEU_NAI")
    assert response.status_code == 201
    assert "Law on Complaints" in response.get_data(as_text=True)
