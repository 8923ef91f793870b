"""Retention through the apps and the command line: `cases purge` deletes exactly the ended cases past their
period with every row they own, audited; the dry run changes nothing; leads and admins see what goes within
30 days; a deleted case's receipt is any unknown receipt. Each test runs on SQLite and PostgreSQL, but the
last, which looks into SQLite's files."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from datetime import date, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select, update

from crypto.receipts import generate_receipt
from portal import audit, retention
from portal.models import Attachment, AttachmentChunk, AuditEvent, Case, CaseCategory, CaseEvent, CaseNote, Message
from portal.retention import Policy, add_years
from portal.workdays import today
from tests.app.test_evidence_files import post_multipart, receipt_of, send_report
from tests.app.test_status import look_up
from tests.helpers import CSRF_PATTERN, csrf_token
from tests.reviewer.test_access import database_dump, logged_in
from tests.reviewer.test_casework import UNCLASSIFIED, move, post_case_form

YEARS = 4  # the same in every state here, and leap days stay leap days: 29 February is a due date like any


@pytest.fixture
def env(env: dict[str, str]) -> dict[str, str]:
    years = {f"RETENTION_YEARS_{state}": str(YEARS) for state in retention.DEFAULT_RETENTION_YEARS}
    return {**env, **years}


def new_case(client: FlaskClient, reviewer_app: Flask, files: Sequence[tuple[bytes, str]] = ()) -> tuple[int, str]:
    """A report filed as a person would, with its files: its case id and receipt."""
    receipt = receipt_of(send_report(client, list(files)))
    with reviewer_app.extensions["portal_db"].session() as session:
        return session.scalar(select(func.max(Case.id))), receipt


def end(reviewer_app: Flask, case_id: int, state: str, purge_on: date) -> None:
    """The case as it is years after it entered `state`: due to go on `purge_on`."""
    with reviewer_app.extensions["portal_db"].transaction() as session:
        session.execute(
            update(Case).where(Case.id == case_id).values(state=state, state_since=add_years(purge_on, -YEARS))
        )


OWNED = {
    "messages": Message.case_id,
    "attachments": Attachment.case_id,
    "case_notes": CaseNote.case_id,
    "case_events": CaseEvent.case_id,
    "case_categories": CaseCategory.case_id,
}


def owned_rows(reviewer_app: Flask, case_id: int) -> dict[str, int]:
    """How many rows of each table belong to the case, its files' chunks included."""
    with reviewer_app.extensions["portal_db"].session() as session:
        counts = {
            name: session.scalar(select(func.count()).where(column == case_id)) or 0 for name, column in OWNED.items()
        }
        counts["attachment_chunks"] = (
            session.scalar(
                select(func.count()).select_from(AttachmentChunk).join(Attachment).where(Attachment.case_id == case_id)
            )
            or 0
        )
        counts["cases"] = session.scalar(select(func.count()).where(Case.id == case_id)) or 0
    return counts


def audit_events(reviewer_app: Flask, *actions: str) -> list[AuditEvent]:
    with reviewer_app.extensions["portal_db"].session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action.in_(actions)).order_by(AuditEvent.id)))


def purge(reviewer_app: Flask, *options: str) -> str:
    result = reviewer_app.test_cli_runner().invoke(args=["cases", "purge", *options])
    assert result.exit_code == 0, result.output
    return result.output


def worked_on(reviewer: FlaskClient, case_id: int) -> None:
    """A lead classifies the case, writes a note and moves it: categories, a note and timeline events."""
    assert post_case_form(reviewer, case_id, "classify", **{**UNCLASSIFIED, "categories": "BRIBERY"}).status_code == 302
    assert post_case_form(reviewer, case_id, "note", text="Ghi chú nội bộ.").status_code == 302
    assert move(reviewer, case_id, "TRIAGE").status_code == 302


def test_purge_deletes_exactly_the_due_cases_with_every_row_they_own(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    logged_in(reviewer, staff["lead"])
    day = today()
    closed, receipt = new_case(client, reviewer_app, [(os.urandom(200_000), "ảnh 1.bin"), (b"second", "b.txt")])
    message = {"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt, "text": "Tôi gửi thêm."}
    assert post_multipart(client, "/vi/status/message", message, [(b"more evidence", "c.txt")]).status_code == 200
    worked_on(reviewer, closed)
    refused, _ = new_case(client, reviewer_app, [(b"x" * 70_000, "d.bin")])
    worked_on(reviewer, refused)
    tomorrow, _ = new_case(client, reviewer_app, [(b"kept", "e.txt")])
    in_handling, _ = new_case(client, reviewer_app, [(b"kept too", "f.txt")])
    end(reviewer_app, closed, "CLOSED", day)
    end(reviewer_app, refused, "NOT_ACCEPTED", day - timedelta(days=3))
    end(reviewer_app, tomorrow, "ARCHIVED_INSUFFICIENT", day + timedelta(days=1))
    with reviewer_app.extensions["portal_db"].transaction() as session:  # received 30 years ago, never ended
        session.execute(update(Case).where(Case.id == in_handling).values(state_since=date(1996, 1, 1)))
    before = {case_id: owned_rows(reviewer_app, case_id) for case_id in (closed, refused, tomorrow, in_handling)}
    assert before[closed] == {
        "cases": 1, "messages": 1, "attachments": 3, "attachment_chunks": 6, "case_notes": 1, "case_events": 2,
        "case_categories": 1,
    }  # fmt: skip
    assert before[refused]["attachment_chunks"] == 2 and before[refused]["case_notes"] == 1
    with reviewer_app.extensions["portal_db"].session() as session:
        references = {row.id: row.reference for row in session.execute(select(Case.id, Case.reference))}

    output = purge(reviewer_app)

    for case_id in (closed, refused):
        assert set(owned_rows(reviewer_app, case_id).values()) == {0}, case_id
    for case_id in (tomorrow, in_handling):
        assert owned_rows(reviewer_app, case_id) == before[case_id], case_id
    assert (
        f"deleted {references[refused]} (NOT_ACCEPTED" in output and f"deleted {references[closed]} (CLOSED" in output
    )
    assert references[tomorrow] not in output and references[in_handling] not in output
    assert "Deleted 2 cases with 4 files." in output
    events = audit_events(reviewer_app, "case_purged", "case_purge_started")
    assert [(event.action, event.case_id, event.actor) for event in events] == [
        ("case_purged", refused, "(command line)"),
        ("case_purged", closed, "(command line)"),
    ]  # the longest overdue first
    assert json.loads(events[1].detail) == {
        "reference": references[closed],
        "state": "CLOSED",
        "state_since": add_years(day, -YEARS).isoformat(),
        "purge_on": day.isoformat(),
        "files": 3,
    }
    verified = reviewer_app.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output
    assert purge(reviewer_app).endswith("No case is due.\n")


def test_the_dry_run_lists_what_would_go_and_changes_nothing(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    due, _ = new_case(client, reviewer_app, [(b"evidence", "a.txt")])
    kept, _ = new_case(client, reviewer_app)
    end(reviewer_app, due, "CLOSED", today() - timedelta(days=400))
    end(reviewer_app, kept, "CLOSED", today() + timedelta(days=1))
    before = database_dump(reviewer_app)
    output = purge(reviewer_app, "--dry-run")
    assert database_dump(reviewer_app) == before
    with reviewer_app.extensions["portal_db"].session() as session:
        due_reference, kept_reference = (session.get(Case, case_id).reference for case_id in (due, kept))
    assert f"would delete {due_reference} (CLOSED since" in output
    assert kept_reference not in output
    assert "1 case would be deleted; nothing was changed." in output


def test_a_deleted_case_s_receipt_is_like_any_unknown_receipt(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    gone, receipt = new_case(client, reviewer_app, [(b"evidence", "a.txt")])
    _, other = new_case(client, reviewer_app)
    assert look_up(client, receipt).status_code == 200
    end(reviewer_app, gone, "NOT_ACCEPTED", today())
    purge(reviewer_app)
    unknown = generate_receipt()
    purged, never_issued = look_up(client, receipt), look_up(client, unknown)
    assert purged.status_code == never_issued.status_code == 404

    def seen(page: str, typed: str) -> str:  # what differs: the code the person typed, the form's token
        return CSRF_PATTERN.sub("", page.replace(typed, "<the code>"))

    assert seen(purged.get_data(as_text=True), receipt) == seen(never_issued.get_data(as_text=True), unknown)
    assert look_up(client, other).status_code == 200


def test_a_big_case_loses_its_files_in_batches_and_is_audited_from_the_start(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    size = (retention.CHUNK_BATCH + 40) * 64 * 1024
    big, receipt = new_case(client, reviewer_app, [(os.urandom(size), "video.mp4")])
    assert owned_rows(reviewer_app, big)["attachment_chunks"] > retention.CHUNK_BATCH
    end(reviewer_app, big, "CLOSED", today())
    output = purge(reviewer_app)
    assert "Deleted 1 case with 1 file." in output
    assert set(owned_rows(reviewer_app, big).values()) == {0}
    events = audit_events(reviewer_app, "case_purged", "case_purge_started")
    assert [(event.action, event.case_id) for event in events] == [("case_purge_started", big), ("case_purged", big)]
    assert events[0].detail == events[1].detail
    assert look_up(client, receipt).status_code == 404


def test_a_case_that_changed_after_it_was_listed_is_left_alone(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    reopened, _ = new_case(client, reviewer_app, [(b"evidence", "a.txt")])
    original, _ = new_case(client, reviewer_app)
    for case_id in (reopened, original):
        end(reviewer_app, case_id, "ARCHIVED_INSUFFICIENT", today())
    db = reviewer_app.extensions["portal_db"]
    policy = Policy(reviewer_app.config["RETENTION_YEARS"])
    with db.session() as session:
        listed = retention.due_by(session, policy, today())
    assert {case.id for case in listed} == {reopened, original}
    newcomer, _ = new_case(client, reviewer_app)
    with db.transaction() as session:  # meanwhile: new evidence reopens one, a new report names the other
        session.execute(update(Case).where(Case.id == reopened).values(state="TRIAGE", state_since=today()))
        session.execute(update(Case).where(Case.id == newcomer).values(duplicate_of_id=original))
    before = database_dump(reviewer_app)
    results = [retention.purge_case(db, policy, reviewer_app.config["AUDIT_KEY"], case, today()) for case in listed]
    assert [result.deleted for result in results] == [False, False]
    assert database_dump(reviewer_app) == before


def test_an_original_stays_while_a_case_naming_it_is_kept(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    logged_in(reviewer, staff["lead"])
    original, _ = new_case(client, reviewer_app)
    duplicate, _ = new_case(client, reviewer_app)
    with reviewer_app.extensions["portal_db"].session() as session:
        original_reference, duplicate_reference = (session.get(Case, id_).reference for id_ in (original, duplicate))
    response = post_case_form(reviewer, duplicate, "classify", **UNCLASSIFIED, duplicate_of=original_reference)
    assert response.status_code == 302
    end(reviewer_app, original, "CLOSED", today() - timedelta(days=100))
    assert purge(reviewer_app).endswith("No case is due.\n")  # the duplicate is still in handling
    assert original_reference not in reviewer.get("/vi/retention").get_data(as_text=True)

    in_20_days = today() + timedelta(days=20)
    end(reviewer_app, duplicate, "NOT_ACCEPTED", in_20_days)
    with reviewer_app.extensions["portal_db"].session() as session:
        listed = retention.due_by(session, Policy(reviewer_app.config["RETENTION_YEARS"]), in_20_days)
    assert {(case.reference, case.purge_on) for case in listed} == {
        (original_reference, in_20_days),
        (duplicate_reference, in_20_days),
    }

    end(reviewer_app, duplicate, "NOT_ACCEPTED", today())
    output = purge(reviewer_app)
    assert output.index(f"deleted {duplicate_reference} (") < output.index(f"deleted {original_reference} (")
    assert owned_rows(reviewer_app, original)["cases"] == owned_rows(reviewer_app, duplicate)["cases"] == 0


def test_leads_and_admins_see_what_goes_within_30_days_soonest_first_in_vietnamese(
    client: FlaskClient, reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    day = today()
    cases = {}
    for name, state, days in [
        ("in_10", "CLOSED", 10),
        ("in_40", "CLOSED", 40),
        ("overdue", "NOT_ACCEPTED", -2),
        ("in_30", "ARCHIVED_INSUFFICIENT", 30),
        ("in_31", "NOT_ACCEPTED", 31),
    ]:
        case_id, _ = new_case(client, reviewer_app)
        end(reviewer_app, case_id, state, day + timedelta(days=days))
        cases[name] = case_id
    in_handling, _ = new_case(client, reviewer_app)  # received years ago, never ended
    with reviewer_app.extensions["portal_db"].transaction() as session:
        session.execute(update(Case).where(Case.id == in_handling).values(state_since=date(2001, 1, 1)))
    with reviewer_app.extensions["portal_db"].session() as session:
        reference = {name: session.get(Case, case_id).reference for name, case_id in cases.items()}

    logged_in(reviewer, staff["lead"])
    response = reviewer.get("/vi/retention")
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'lang="vi"' in page
    assert "Hồ sơ sẽ bị xóa trong 30 ngày tới" in page and "Ngày xóa" in page and "4 năm" in page
    shown = re.findall(r'<td class="reference"[^>]*>(?:<a [^>]*>)?([^<]+)<', page)
    assert shown == [reference["overdue"], reference["in_10"], reference["in_30"]]
    assert f'href="/vi/cases/{cases["in_10"]}"' in page  # a lead can open it, audited as any view
    assert "đến hạn xóa" in page and ">10</td>" in page and ">30</td>" in page
    assert "Lưu hồ sơ – chưa đủ cơ sở" in page and "Không thụ lý" in page  # the states by their names
    assert 'href="/vi/retention" aria-current="page"' in page

    admin = logged_in(reviewer_app.test_client(), staff["admin"])
    page = admin.get("/en/retention").get_data(as_text=True)
    assert "Cases deleted within 30 days" in page and reference["in_10"] in page and reference["in_40"] not in page
    assert "/en/cases/" not in page  # admins never open cases

    inspector = logged_in(reviewer_app.test_client(), staff["inspector"])
    assert inspector.get("/vi/retention").status_code == 403
    assert "/vi/retention" not in inspector.get("/vi/cases").get_data(as_text=True)


def test_the_list_says_when_nothing_goes_and_viewing_it_records_nothing(
    reviewer: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    logged_in(reviewer, staff["lead"])
    trail = [event.id for event in audit_events(reviewer_app, *audit.Action)]
    page = reviewer.get("/vi/retention").get_data(as_text=True)
    assert "Không có hồ sơ nào bị xóa trong 30 ngày tới." in page and "<table" not in page
    assert [event.id for event in audit_events(reviewer_app, *audit.Action)] == trail


SQLITE_STOP = "BEGIN SELECT RAISE(ABORT, 'power cut'); END"
PG_STOP = "EXECUTE FUNCTION power_cut()"


def power_cut_at_second_batch(reviewer_app: Flask) -> list[str]:
    """Make the database refuse to delete any chunk past the first batch, as if the server died there."""
    batch = retention.CHUNK_BATCH
    if reviewer_app.extensions["portal_db"].is_sqlite:
        return [f"CREATE TRIGGER power_cut BEFORE DELETE ON attachment_chunks WHEN OLD.seq >= {batch} {SQLITE_STOP}"]
    return [
        "CREATE FUNCTION power_cut() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'power cut'; END $$",
        f"CREATE TRIGGER power_cut BEFORE DELETE ON attachment_chunks FOR EACH ROW WHEN (OLD.seq >= {batch}) {PG_STOP}",
    ]


def restore_power(reviewer_app: Flask) -> list[str]:
    if reviewer_app.extensions["portal_db"].is_sqlite:
        return ["DROP TRIGGER power_cut"]
    return ["DROP TRIGGER power_cut ON attachment_chunks", "DROP FUNCTION power_cut()"]


def run_sql(reviewer_app: Flask, *statements: str) -> None:
    with reviewer_app.extensions["portal_db"].engine.begin() as connection:
        for statement in statements:
            connection.exec_driver_sql(statement)


def test_a_purge_that_dies_half_way_leaves_an_audited_beginning_and_the_next_run_finishes(
    client: FlaskClient, reviewer_app: Flask, staff: dict
) -> None:
    big, receipt = new_case(client, reviewer_app, [(os.urandom((retention.CHUNK_BATCH + 40) * 64 * 1024), "v.mp4")])
    chunks = owned_rows(reviewer_app, big)["attachment_chunks"]
    end(reviewer_app, big, "CLOSED", today())
    run_sql(reviewer_app, *power_cut_at_second_batch(reviewer_app))
    try:
        crashed = reviewer_app.test_cli_runner().invoke(args=["cases", "purge"])
    finally:
        run_sql(reviewer_app, *restore_power(reviewer_app))
    assert crashed.exit_code != 0 and "power cut" in str(crashed.exception)

    # What the crash left: the beginning is in the audit trail, the case is half gone and its receipt dead.
    assert [event.action for event in audit_events(reviewer_app, "case_purged", "case_purge_started")] == [
        "case_purge_started"
    ]
    left = owned_rows(reviewer_app, big)
    assert left["cases"] == 1 and left["attachment_chunks"] == chunks - retention.CHUNK_BATCH
    assert look_up(client, receipt).status_code == 404
    assert reviewer_app.test_cli_runner().invoke(args=["audit", "verify"]).exit_code == 0

    assert "Deleted 1 case with 1 file." in purge(reviewer_app)
    assert set(owned_rows(reviewer_app, big).values()) == {0}
    assert [event.action for event in audit_events(reviewer_app, "case_purged", "case_purge_started")] == [
        "case_purge_started",
        "case_purge_started",
        "case_purged",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # PostgreSQL keeps them until VACUUM FULL
def test_on_sqlite_nothing_of_a_deleted_file_is_left_in_the_database_files(
    client: FlaskClient, reviewer_app: Flask, staff: dict, database_url: str
) -> None:
    big, _ = new_case(client, reviewer_app, [(os.urandom((retention.CHUNK_BATCH + 40) * 64 * 1024), "v.mp4")])
    with reviewer_app.extensions["portal_db"].session() as session:
        stored = session.scalars(select(AttachmentChunk.data).order_by(AttachmentChunk.seq)).all()
    pieces = [chunk[1000:1064] for chunk in stored[:: len(stored) // 20]]  # the ciphertext as it lies on disk
    database = Path(database_url.removeprefix("sqlite:///"))

    def traces() -> list[str]:
        files = [path for path in (database, database.with_name(f"{database.name}-wal")) if path.exists()]
        return [path.name for path in files for piece in pieces if piece in path.read_bytes()]

    assert traces()
    end(reviewer_app, big, "CLOSED", today())
    assert "Deleted 1 case with 1 file." in purge(reviewer_app)
    assert traces() == []
