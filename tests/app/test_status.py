"""The reporter comes back with the receipt: status, messages, their own report."""

from __future__ import annotations

import base64
import gc
import os
import zlib

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from crypto.keys import KeyPair
from crypto.receipts import generate_receipt, parse_receipt
from crypto.sealing import open_document, seal_document
from portal import create_citizen_app
from portal.db import get_db
from portal.models import Case, CaseEvent, Message
from portal.workdays import today, vietnam_calendar
from tests.helpers import VALID_REPORT, csrf_token, file_report


def look_up(client: FlaskClient, receipt: str, lang: str = "vi"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/{lang}/status")
    return client.post(f"/{lang}/status", data={"csrf_token": token, "receipt": receipt})


def send_message(client: FlaskClient, receipt: str, text: str, lang: str = "vi"):  # type: ignore[no-untyped-def]
    token = csrf_token(client, f"/{lang}/status")
    return client.post(f"/{lang}/status/message", data={"csrf_token": token, "receipt": receipt, "text": text})


def test_status_page_shows_label_dates_and_the_report(client: FlaskClient) -> None:
    receipt = file_report(client)
    response = look_up(client, receipt, lang="en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Received, waiting for classification" in page
    assert "Received on" in page and "Next answer expected by" in page
    assert "nhận 50 triệu đồng" in page  # their own words, decrypted with the receipt's key
    assert "Bribery" in page and "Construction, planning" in page
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("typed", [str.lower, lambda r: r.replace("-", " "), lambda r: r.replace("-", "")])
def test_receipt_typed_loosely_still_works(client: FlaskClient, typed) -> None:  # type: ignore[no-untyped-def]
    receipt = file_report(client)
    assert look_up(client, typed(receipt)).status_code == 200


def test_receipt_with_o_for_zero_and_i_for_one_still_works(client: FlaskClient) -> None:
    receipt = file_report(client)
    confused = receipt.replace("0", "O").replace("1", "I")
    assert look_up(client, confused).status_code == 200


def test_a_mistyped_code_is_told_to_check_the_code(client: FlaskClient) -> None:
    receipt = file_report(client)
    position = 0
    replacement = "2" if receipt[position] != "2" else "3"
    typo = replacement + receipt[1:]
    response = look_up(client, typo, lang="en")
    assert response.status_code == 400
    assert "Check it for a typing mistake" in response.get_data(as_text=True)


def test_an_unknown_code_gets_one_generic_answer(client: FlaskClient) -> None:
    file_report(client)
    response = look_up(client, generate_receipt(), lang="en")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "No report was found for this code" in page
    assert "Received on" not in page


@pytest.mark.parametrize(
    "garbage", ["", "x", "A" * 65, "<script>alert(1)</script>", "'; DROP TABLE cases; --", "\x00" * 20]
)
def test_malformed_codes_get_a_clear_400(client: FlaskClient, garbage: str) -> None:
    response = look_up(client, garbage)
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert 'class="field-error"' in page
    assert "<script>alert(1)</script>" not in page


def test_message_is_sealed_shown_back_and_readable_by_inspectors(
    client: FlaskClient, citizen_app: Flask, intake_keys: KeyPair
) -> None:
    receipt = file_report(client)
    response = send_message(client, receipt, "Tôi có thêm hợp đồng ký ngày 12/3/2025.", lang="en")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Your message was sealed and sent" in page
    assert "Tôi có thêm hợp đồng ký ngày 12/3/2025." in page
    with citizen_app.app_context(), get_db().session() as session:
        message = session.scalars(select(Message)).one()
        assert message.author == "reporter"
        assert open_document(message.sealed_for_intake, intake_keys.private, "message") == {
            "text": "Tôi có thêm hợp đồng ký ngày 12/3/2025."
        }


def test_the_reporter_reads_the_inspectors_question(
    client: FlaskClient, citizen_app: Flask, intake_keys: KeyPair
) -> None:
    receipt = file_report(client)
    with citizen_app.app_context(), get_db().transaction() as session:
        case = session.scalars(select(Case)).one()
        for_intake, for_reporter = seal_document(
            "message",
            {"text": "Ông/Bà có bản sao quyết định cấp phép không?"},
            [intake_keys.public, case.reporter_public_key],
        )
        session.add(Message(case_id=case.id, author="inspector", sent_on=case.received_on,
                            sealed_for_intake=for_intake, sealed_for_reporter=for_reporter))  # fmt: skip
    page = look_up(client, receipt, lang="en").get_data(as_text=True)
    assert "Ông/Bà có bản sao quyết định cấp phép không?" in page
    assert "The inspectorate" in page


def test_an_empty_message_is_refused_and_the_status_stays(client: FlaskClient, citizen_app: Flask) -> None:
    receipt = file_report(client)
    response = send_message(client, receipt, "   ")
    assert response.status_code == 400
    with citizen_app.app_context(), get_db().session() as session:
        assert session.scalars(select(Message)).first() is None


def test_a_message_with_a_wrong_code_goes_nowhere(client: FlaskClient, citizen_app: Flask) -> None:
    file_report(client)
    response = send_message(client, generate_receipt(), "Thông tin bổ sung")
    assert response.status_code == 404
    with citizen_app.app_context(), get_db().session() as session:
        assert session.scalars(select(Message)).first() is None


# NEED_INFO resumes the paused triage clock (3 working days were left); an archived case gets a
# fresh 10-working-day triage period, as if newly received.
@pytest.mark.parametrize(("state", "paused_days_left", "days_due"), [("NEED_INFO", 3, 3), ("ARCHIVED_INSUFFICIENT", None, 10)])
def test_new_information_reopens_a_waiting_case(
    client: FlaskClient, citizen_app: Flask, state: str, paused_days_left: int | None, days_due: int
) -> None:
    receipt = file_report(client)
    with citizen_app.app_context(), get_db().transaction() as session:
        session.execute(update(Case).values(state=state, answer_due_on=None, paused_days_left=paused_days_left))
    send_message(client, receipt, "Đây là bằng chứng mới: biên bản nghiệm thu số 45/BB.")
    with citizen_app.app_context(), get_db().session() as session:
        case = session.scalars(select(Case)).one()
        events = session.scalars(select(CaseEvent)).all()
    assert case.state == "TRIAGE" and case.paused_days_left is None
    assert case.answer_due_on == vietnam_calendar().add_working_days(today(), days_due)
    assert [(event.from_state, event.to_state, event.actor_id) for event in events] == [(state, "TRIAGE", None)]


def test_the_receipt_never_travels_in_a_cookie(client: FlaskClient) -> None:
    receipt = file_report(client)
    responses = [look_up(client, receipt), send_message(client, receipt, "Cảm ơn")]
    canonical = parse_receipt(receipt)
    for response in responses:
        for header in response.headers.getlist("Set-Cookie"):
            value = header.split(";", 1)[0].split("=", 1)[1]
            payload = value.lstrip(".").split(".", 1)[0]
            decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            if value.startswith("."):
                decoded = zlib.decompress(decoded)
            assert canonical.encode() not in decoded and receipt.encode() not in decoded


def test_a_flood_of_lookups_is_rate_limited_in_the_users_language(client: FlaskClient) -> None:
    token = csrf_token(client, "/vi/status")
    statuses = [
        client.post("/vi/status", data={"csrf_token": token, "receipt": generate_receipt()}).status_code
        for _ in range(25)
    ]
    assert statuses[:20] == [404] * 20
    assert statuses[20:] == [429] * 5
    response = client.post("/vi/status", data={"csrf_token": token, "receipt": generate_receipt()})
    assert response.status_code == 429
    assert 'lang="vi"' in response.get_data(as_text=True)


def test_guessing_runs_out_but_a_reporter_checking_a_right_receipt_never_does(
    client: FlaskClient, citizen_app: Flask
) -> None:
    receipt = file_report(client)
    token = csrf_token(client, "/vi/status")
    for _ in range(30):  # more than the 20-a-minute limit
        assert client.post("/vi/status", data={"csrf_token": token, "receipt": receipt}).status_code == 200
    guesser = citizen_app.test_client()
    guesser.environ_base["REMOTE_ADDR"] = "203.0.113.9"  # another client than the reporter
    guess_token = csrf_token(guesser, "/vi/status")
    guesses = [
        guesser.post("/vi/status", data={"csrf_token": guess_token, "receipt": generate_receipt()}).status_code
        for _ in range(21)
    ]
    assert guesses == [404] * 20 + [429]
    # Every way of trying a receipt shares that budget.
    for path in ("/vi/status/message", "/vi/status/files/1"):
        tried = guesser.post(path, data={"csrf_token": guess_token, "receipt": generate_receipt(), "text": "x"})
        assert tried.status_code == 429, path
    # The guesser's flood is counted against the guesser: the reporter still gets in.
    assert client.post("/vi/status", data={"csrf_token": token, "receipt": receipt}).status_code == 200


def test_report_form_is_rate_limited_too(client: FlaskClient, citizen_app: Flask) -> None:
    token = csrf_token(client)
    statuses = [client.post("/vi/report", data={**VALID_REPORT, "csrf_token": token}).status_code for _ in range(11)]
    assert statuses == [201] * 10 + [429]


def test_limits_are_shared_between_workers_through_redis(env: dict[str, str]) -> None:
    """Two app instances (two gunicorn workers, or two nodes) count against one limit in Redis."""
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not redis_url:
        pytest.skip("Redis not configured: set TEST_REDIS_URL to test shared rate limits")
    redis.Redis.from_url(redis_url).flushdb()
    limited = {**env, "RATELIMIT_STORAGE_URI": redis_url, "RATELIMIT_LOOKUP": "3 per minute"}
    apps = [create_citizen_app(limited), create_citizen_app(limited)]
    first, second = (app.test_client() for app in apps)
    statuses = []
    for worker in (first, second, first, second):
        token = csrf_token(worker, "/vi/status")
        statuses.append(
            worker.post("/vi/status", data={"csrf_token": token, "receipt": generate_receipt()}).status_code
        )
    for app in apps:
        app.extensions["portal_db"].dispose()
    assert statuses == [404, 404, 404, 429]
    keys = redis.Redis.from_url(redis_url).keys("*")
    assert keys and not any(b"127.0.0.1" in key for key in keys)


def test_turning_rate_limits_off_does_not_break_the_routes(env: dict[str, str]) -> None:
    app = create_citizen_app({**env, "RATELIMIT_ENABLED": "false"})
    gc.collect()  # a limiter kept only by weak references would be gone now
    assert look_up(app.test_client(), generate_receipt()).status_code == 404
    app.extensions["portal_db"].dispose()
