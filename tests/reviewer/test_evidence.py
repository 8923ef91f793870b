"""Evidence files in the reviewer app: downloaded (never rendered) byte-exact and audited, refused
when a chunk was altered, moved or cut, sent to the reporter with a message, and exported by a
lead as a ZIP that leaves out an identity nobody revealed."""

from __future__ import annotations

import io
import os
import re
import zipfile

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, select, update

from crypto.errors import DecryptionError
from portal.models import AttachmentChunk, AuditEvent
from tests.app.test_evidence_files import downloads, post_multipart, receipt_of, send_report
from tests.reviewer.test_casework import case_row
from tests.reviewer_helpers import csrf, expected_state, log_in

DOWNLOAD = re.compile(r'action="/vi/cases/(\d+)/files/(\d+)"')
EVIDENCE = os.urandom(3 * 64 * 1024 + 100)  # four chunks


def file_ids(reviewer: FlaskClient, case_id: int) -> list[int]:
    page = reviewer.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    return [int(match.group(2)) for match in DOWNLOAD.finditer(page)]


def fetch(reviewer: FlaskClient, case_id: int, file_id: int, buffered: bool = True):  # type: ignore[no-untyped-def]
    token = csrf(reviewer, f"/vi/cases/{case_id}")
    return reviewer.post(f"/vi/cases/{case_id}/files/{file_id}", data={"csrf_token": token}, buffered=buffered)


def audit_actions(app: Flask) -> list[str]:
    with app.extensions["portal_db"].session() as session:
        return list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def case_with_file(client: FlaskClient) -> str:
    return receipt_of(send_report(client, [(EVIDENCE, "sao kê.xlsx"), (b"<svg onload=alert(1)>", "x.svg")]))


def test_an_inspector_downloads_the_reporters_file_byte_exact_and_it_is_audited(
    reviewer: FlaskClient, reviewer_app: Flask, staff: dict, case_with_file: str
) -> None:
    log_in(reviewer, staff["inspector"])
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    assert "sao kê.xlsx" in page and "x.svg" in page
    first, svg = file_ids(reviewer, 1)
    response = fetch(reviewer, 1, first)
    assert response.status_code == 200 and response.data == EVIDENCE
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert "filename*=UTF-8''sao%20k%C3%AA.xlsx" in response.headers["Content-Disposition"]
    rendered = fetch(reviewer, 1, svg)
    assert rendered.headers["Content-Type"] == "application/octet-stream"
    assert rendered.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in rendered.headers["Content-Security-Policy"]
    assert audit_actions(reviewer_app).count("file_decrypted") == 2


def test_a_download_needs_the_post_and_the_right_to_see_the_case(
    reviewer: FlaskClient, reviewer_app: Flask, staff: dict, case_with_file: str, client: FlaskClient
) -> None:
    assert reviewer.get("/vi/cases/1/files/1").status_code == 405
    log_in(reviewer, staff["admin"])
    assert reviewer.post(
        "/vi/cases/1/files/1", data={"csrf_token": csrf(reviewer, "/vi/admin/accounts")}
    ).status_code in (
        403,
        404,
    )
    receipt_of(send_report(client, [(b"other", "other.txt")]))
    other = FlaskClient(reviewer_app, reviewer_app.response_class)
    log_in(other, staff["inspector"])
    # A file id of case 2 asked for under case 1 finds nothing.
    assert fetch(other, 1, 3).status_code == 404
    assert "file_decrypted" not in audit_actions(reviewer_app)


@pytest.mark.parametrize("damage", ["altered", "reordered", "truncated"])
def test_a_damaged_file_never_downloads_as_complete(
    reviewer: FlaskClient, reviewer_app: Flask, staff: dict, case_with_file: str, damage: str
) -> None:
    with reviewer_app.extensions["portal_db"].transaction() as session:
        chunks = AttachmentChunk.__table__
        if damage == "altered":
            data = session.scalar(select(chunks.c.data).where(chunks.c.attachment_id == 1, chunks.c.seq == 2))
            flipped = data[:100] + bytes([data[100] ^ 1]) + data[101:]
            session.execute(update(chunks).where(chunks.c.attachment_id == 1, chunks.c.seq == 2).values(data=flipped))
        elif damage == "reordered":
            for seq, temporary in ((1, 100), (2, 1), (100, 2)):
                where = (chunks.c.attachment_id == 1) & (chunks.c.seq == seq)
                session.execute(update(chunks).where(where).values(seq=temporary))
        else:
            session.execute(delete(chunks).where(chunks.c.attachment_id == 1, chunks.c.seq == 3))
    log_in(reviewer, staff["inspector"])
    response = fetch(reviewer, 1, 1, buffered=False)
    with pytest.raises(DecryptionError):
        b"".join(response.response)
    response.close()


def test_an_inspector_sends_a_file_the_reporter_can_download(
    reviewer: FlaskClient, client: FlaskClient, staff: dict, case_with_file: str
) -> None:
    log_in(reviewer, staff["inspector"])
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    data = {
        "csrf_token": csrf(reviewer, "/vi/cases/1"),
        "expected_state": expected_state(page),
        "text": "Mẫu đơn để ông/bà điền.",
    }
    response = post_multipart(reviewer, "/vi/cases/1/message", data, [(b"form to fill", "mau-don.txt")])
    assert response.status_code == 302
    links = downloads(client, case_with_file)
    assert "mau-don.txt" in links
    token = csrf(client, "/vi/status")
    got = client.post(links["mau-don.txt"], data={"csrf_token": token, "receipt": case_with_file})
    assert got.data == b"form to fill"


def test_a_lead_exports_the_case_as_a_zip_without_an_unrevealed_identity(
    reviewer: FlaskClient, reviewer_app: Flask, client: FlaskClient, staff: dict
) -> None:
    receipt_of(
        send_report(
            client,
            [(EVIDENCE, "sao kê.xlsx")],
            report_type="TO_CAO",
            full_name="Nguyễn Văn Bí Mật",
            contact="0900000000",
            truthful="y",
        )
    )
    log_in(reviewer, staff["inspector"])
    token = csrf(reviewer, "/vi/cases/1")
    assert reviewer.post("/vi/cases/1/export", data={"csrf_token": token}).status_code == 403

    lead = FlaskClient(reviewer_app, reviewer_app.response_class)
    log_in(lead, staff["lead"])
    response = lead.post("/vi/cases/1/export", data={"csrf_token": csrf(lead, "/vi/cases/1")})
    assert response.status_code == 200
    reference = case_row(reviewer_app).reference
    assert f'filename="{reference}.zip"' in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.testzip() is None
    names = archive.namelist()
    assert names == [f"{reference}.txt", "files/001-sao kê.xlsx"]
    assert archive.read("files/001-sao kê.xlsx") == EVIDENCE
    text = archive.read(f"{reference}.txt").decode()
    assert "Cán bộ thu tiền" in text and "Nguyễn Văn Bí Mật" not in text
    assert audit_actions(reviewer_app)[-1] == "case_exported"


def test_once_revealed_the_identity_is_in_the_export(reviewer_app: Flask, client: FlaskClient, staff: dict) -> None:
    fields = {"report_type": "TO_CAO", "full_name": "Nguyễn Văn Bí Mật", "contact": "0900000000", "truthful": "y"}
    receipt_of(send_report(client, [], **fields))
    lead = FlaskClient(reviewer_app, reviewer_app.response_class)
    log_in(lead, staff["lead"])
    page = lead.get("/vi/cases/1").get_data(as_text=True)
    data = {
        "csrf_token": csrf(lead, "/vi/cases/1"),
        "expected_state": expected_state(page),
        "reason": "Cần xác minh nhân thân người tố cáo.",
    }
    assert lead.post("/vi/cases/1/reveal", data=data).status_code == 302
    response = lead.post("/vi/cases/1/export", data={"csrf_token": csrf(lead, "/vi/cases/1")})
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    assert archive.namelist() == [f"{case_row(reviewer_app).reference}.txt"]
    assert "Nguyễn Văn Bí Mật" in archive.read(archive.namelist()[0]).decode()


def test_an_inspectors_file_over_the_limit_is_named_and_the_message_kept(
    reviewer: FlaskClient, reviewer_app: Flask, staff: dict, case_with_file: str
) -> None:
    reviewer_app.config["ATTACHMENT_FILE_BYTES"] = 1024 * 1024
    log_in(reviewer, staff["inspector"])
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    text = "Xin gửi ông/bà biên bản làm việc."
    data = {"csrf_token": csrf(reviewer, "/vi/cases/1"), "expected_state": expected_state(page), "text": text}
    response = post_multipart(reviewer, "/vi/cases/1/message", data, [(os.urandom(1_200_000), "biên bản.pdf")])
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "“biên bản.pdf” lớn hơn 1 MB" in page and text in page
    assert "message_sent" not in audit_actions(reviewer_app)
