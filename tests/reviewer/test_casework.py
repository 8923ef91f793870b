"""Working a case end to end through both apps: the inspector triages, asks the reporter a
question, the reporter reads it with the receipt and answers, the inspector sees the answer; the
legal steps, their deadlines, roles, stale pages and the identity reveal."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from portal.models import AuditEvent, Case, Message
from portal.workdays import today, vietnam_calendar
from tests.helpers import csrf_token, file_report
from tests.reviewer_helpers import csrf, expected_state, log_in

QUESTION = "Ông/bà có thể cho biết số hiệu hợp đồng và thời điểm ký không?"
# What a browser posts for an untouched classification form (a select always sends its value).
UNCLASSIFIED = {"report_type": "THONG_TIN_TO_CAO", "sector": "", "ward_code": ""}
ANSWER = "Hợp đồng số 17/2026/HĐ-XD, ký ngày 3 tháng 3 năm 2026."


def post_case_form(reviewer: FlaskClient, case_id: int, path: str, **fields: str) -> object:
    page = reviewer.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    data = {"csrf_token": csrf(reviewer, f"/vi/cases/{case_id}"), "expected_state": expected_state(page), **fields}
    return reviewer.post(f"/vi/cases/{case_id}/{path}", data=data)


def move(reviewer: FlaskClient, case_id: int, target: str, **fields: str) -> object:
    prefixed = {f"{target}-{name}": value for name, value in fields.items()}
    page = reviewer.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    data = {
        "csrf_token": csrf(reviewer, f"/vi/cases/{case_id}"),
        f"{target}-expected_state": expected_state(page),
        **prefixed,
    }
    return reviewer.post(f"/vi/cases/{case_id}/transition/{target}", data=data)


def case_row(app: Flask, case_id: int = 1) -> Case:
    with app.extensions["portal_db"].session() as session:
        return session.get(Case, case_id)


def status_page(client: FlaskClient, receipt: str) -> str:
    token = csrf_token(client, "/vi/status")
    return client.post("/vi/status", data={"csrf_token": token, "receipt": receipt}).get_data(as_text=True)


def test_question_and_answer_round_trip(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    receipt = file_report(client)
    assert log_in(reviewer, staff["inspector"]).status_code == 302

    queue = reviewer.get("/vi/cases").get_data(as_text=True)
    reference = case_row(reviewer_app).reference
    assert reference in queue

    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    assert "Cán bộ địa chính phường Ô Chợ Dừa" in page  # the decrypted report

    assert move(reviewer, 1, "TRIAGE").status_code == 302
    assert move(reviewer, 1, "NEED_INFO", text=QUESTION).status_code == 302
    waiting = case_row(reviewer_app)
    assert waiting.state == "NEED_INFO" and waiting.answer_due_on is None and waiting.paused_days_left is not None

    # The reporter reads the question with the receipt, sees the coarse label, and answers.
    status = status_page(client, receipt)
    assert QUESTION in status
    assert "Thanh tra " + "demo-inspector" not in status  # never an inspector's name
    token = csrf_token(client, "/vi/status")
    client.post("/vi/status/message", data={"csrf_token": token, "receipt": receipt, "text": ANSWER})

    resumed = case_row(reviewer_app)
    assert resumed.state == "TRIAGE"
    assert resumed.answer_due_on == vietnam_calendar().add_working_days(today(), waiting.paused_days_left)

    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    assert ANSWER in page and QUESTION in page


def test_accepting_starts_the_30_day_clock_and_the_reporter_sees_the_date(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    receipt = file_report(client)
    log_in(reviewer, staff["inspector"])
    move(reviewer, 1, "TRIAGE")
    assert move(reviewer, 1, "ACCEPTED").status_code == 302
    case = case_row(reviewer_app)
    assert case.state == "ACCEPTED" and case.first_decision_on == today()
    assert (case.resolution_due_on - today()).days == 30 == (case.answer_due_on - today()).days
    assert "Đã thụ lý" in status_page(client, receipt) or "thụ lý" in status_page(client, receipt).lower()


def test_a_refusal_needs_a_lead_and_a_reason_and_the_reason_reaches_the_reporter(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    receipt = file_report(client)
    inspector, lead = reviewer_app.test_client(), reviewer_app.test_client()
    log_in(inspector, staff["inspector"])
    log_in(lead, staff["lead"])
    move(inspector, 1, "TRIAGE")
    assert move(inspector, 1, "NOT_ACCEPTED", text="Ngoài thẩm quyền").status_code == 403
    response = move(lead, 1, "NOT_ACCEPTED", text="")
    assert response.status_code == 400 and case_row(reviewer_app).state == "TRIAGE"
    reason = "Nội dung không thuộc thẩm quyền của Thanh tra thành phố (Điều 29)."
    assert move(lead, 1, "NOT_ACCEPTED", text=reason).status_code == 302
    assert case_row(reviewer_app).state == "NOT_ACCEPTED"
    assert reason in status_page(client, receipt)


def test_a_forbidden_step_is_refused_and_changes_nothing(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    log_in(reviewer, staff["lead"])
    response = move(reviewer, 1, "CONCLUDED", text="Kết luận")  # RECEIVED cannot be concluded
    assert response.status_code == 400
    assert case_row(reviewer_app).state == "RECEIVED"


def test_a_stale_page_changes_nothing(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    log_in(reviewer, staff["lead"])
    data = {"csrf_token": csrf(reviewer, "/vi/cases/1"), "TRIAGE-expected_state": "RECEIVED"}
    assert reviewer.post("/vi/cases/1/transition/TRIAGE", data=data).status_code == 302
    # The same form again, from a page shown before the first submission.
    response = reviewer.post("/vi/cases/1/transition/TRIAGE", data=data, follow_redirects=True)
    assert "thay đổi" in response.get_data(as_text=True)
    assert case_row(reviewer_app).state == "TRIAGE"


def test_extensions_follow_article_30(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    log_in(reviewer, staff["lead"])
    for target in ("TRIAGE", "ACCEPTED", "VERIFYING"):
        move(reviewer, 1, target)
    assert move(reviewer, 1, "EXTENDED", text="Phải xác minh tại ba đơn vị").status_code == 400  # kind missing
    assert move(reviewer, 1, "EXTENDED", text="Phức tạp", extension="COMPLEX").status_code == 302
    case = case_row(reviewer_app)
    assert case.complex and case.extensions == 1 and (case.resolution_due_on - today()).days == 60
    move(reviewer, 1, "VERIFYING")
    again = move(reviewer, 1, "EXTENDED", text="Lần hai", extension="COMPLEX")
    assert again.status_code == 400 and case_row(reviewer_app).extensions == 1


def test_classification_and_assignment_feed_the_queue_filters(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    file_report(client, sector="HEALTH", misconduct=["HARASSMENT"])
    lead = reviewer_app.test_client()
    log_in(lead, staff["lead"])
    response = post_case_form(
        lead,
        2,
        "classify",
        report_type="PHAN_ANH",
        categories="EMBEZZLEMENT",
        sector="HEALTH",
        ward_code="",
        urgent="y",
    )
    assert response.status_code == 302
    assert post_case_form(lead, 2, "assign", assignee=str(staff["inspector"].id)).status_code == 302

    only_health = lead.get("/vi/cases?sector=HEALTH").get_data(as_text=True)
    assert case_row(reviewer_app, 2).reference in only_health
    assert case_row(reviewer_app, 1).reference not in only_health
    urgent = lead.get("/vi/cases?flags=urgent&category=EMBEZZLEMENT").get_data(as_text=True)
    assert case_row(reviewer_app, 2).reference in urgent
    mine = lead.get(f"/vi/cases?assignee={staff['inspector'].id}").get_data(as_text=True)
    assert case_row(reviewer_app, 2).reference in mine and case_row(reviewer_app, 1).reference not in mine


def test_inspectors_see_the_triage_queue_and_their_own_cases_only(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    lead, inspector = reviewer_app.test_client(), reviewer_app.test_client()
    log_in(lead, staff["lead"])
    log_in(inspector, staff["inspector"])
    for target in ("TRIAGE", "ACCEPTED"):
        move(lead, 1, target)
    assert inspector.get("/vi/cases/1").status_code == 403
    assert case_row(reviewer_app).reference not in inspector.get("/vi/cases").get_data(as_text=True)
    post_case_form(lead, 1, "assign", assignee=str(staff["inspector"].id))
    assert inspector.get("/vi/cases/1").status_code == 200


def test_notes_stay_internal_and_messages_are_sealed(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    receipt = file_report(client)
    log_in(reviewer, staff["inspector"])
    note = "Ghi chú nội bộ: đối chiếu với hồ sơ năm 2024."
    message = "Cảm ơn ông/bà, chúng tôi đã nhận được phản ánh."
    assert post_case_form(reviewer, 1, "note", text=note).status_code == 302
    assert post_case_form(reviewer, 1, "message", text=message).status_code == 302
    status = status_page(client, receipt)
    assert message in status and note not in status
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    assert note in page and message in page
    with reviewer_app.extensions["portal_db"].session() as session:
        stored = session.scalars(select(Message)).one()
    assert message.encode() not in stored.sealed_for_intake + stored.sealed_for_reporter


def test_identity_is_shown_only_after_a_leads_reasoned_reveal(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(
        client,
        report_type="TO_CAO",
        full_name="Nguyễn Văn Dân",
        contact="0900 000 000",
        truthful="y",
    )
    lead, inspector = reviewer_app.test_client(), reviewer_app.test_client()
    log_in(lead, staff["lead"])
    log_in(inspector, staff["inspector"])
    assert "Nguyễn Văn Dân" not in lead.get("/vi/cases/1").get_data(as_text=True)
    assert post_case_form(inspector, 1, "reveal", reason="Cần liên hệ để xác minh thêm").status_code == 403
    short = post_case_form(lead, 1, "reveal", reason="Cần")
    assert short.status_code == 400
    assert post_case_form(lead, 1, "reveal", reason="Cần liên hệ người tố cáo để xác minh chứng cứ").status_code == 302
    assert "Nguyễn Văn Dân" in lead.get("/vi/cases/1").get_data(as_text=True)
    assert "Nguyễn Văn Dân" not in inspector.get("/vi/cases/1").get_data(as_text=True)  # not in charge
    with reviewer_app.extensions["portal_db"].session() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.case_id == 1)).all()
    assert "identity_revealed" in actions


def test_every_view_and_act_is_audited_and_the_trail_verifies(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    log_in(reviewer, staff["inspector"])
    reviewer.get("/vi/cases/1")
    move(reviewer, 1, "TRIAGE")
    post_case_form(reviewer, 1, "note", text="Đã xem")
    with reviewer_app.extensions["portal_db"].session() as session:
        actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions[0] == "login"
    assert {"case_viewed", "transition", "note_added"} <= set(actions)
    result = reviewer_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "verifies" in result.output


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_statistics_page_draws_its_charts_without_script(
    client: FlaskClient, reviewer: FlaskClient, staff: dict, lang: str
) -> None:
    file_report(client)
    log_in(reviewer, staff["lead"], lang=lang)
    page = reviewer.get(f"/{lang}/statistics").get_data(as_text=True)
    assert "<svg" in page and "<script" not in page and not re.search(r"\sstyle=", page)


def test_a_resubmitted_report_can_be_marked_as_a_duplicate(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    file_report(client)
    file_report(client)
    log_in(reviewer, staff["lead"])
    first = case_row(reviewer_app, 1).reference
    assert post_case_form(reviewer, 2, "classify", **UNCLASSIFIED, duplicate_of="2026-99999").status_code == 400
    assert case_row(reviewer_app, 2).duplicate_of_id is None
    response = post_case_form(reviewer, 2, "classify", **UNCLASSIFIED, duplicate_of=first)
    assert response.status_code == 302 and case_row(reviewer_app, 2).duplicate_of_id == 1
    page = reviewer.get("/vi/cases/2").get_data(as_text=True)
    assert f'value="{first}"' in page and 'href="/vi/cases/1"' in page
    assert case_row(reviewer_app, 2).reference in reviewer.get("/vi/cases?flags=duplicate").get_data(as_text=True)
