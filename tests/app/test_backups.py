"""Encrypted backups, round trip: a database filled through the real apps is backed up with `backup create`,
restored with `backup restore` into a new, empty database, and the restored copy answers as the original
did: the reporter's status check with messages and a byte-identical evidence file, the inspectors' case
page and download, a verifying audit trail, every row. Also: reports filed while the dump runs are wholly
in the archive or wholly out, and an archive moves between SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import create_engine, func, inspect, make_url, select, text

from crypto.archives import decrypt_archive, encrypt_archive, format_private_key
from crypto.keys import generate_keypair, public_key_b64
from portal import backups, create_citizen_app, create_reviewer_app
from portal.db import Database
from portal.migrate import current_revision, revisions, upgrade
from portal.models import Attachment, AttachmentChunk, AuditEvent, Base, Case
from tests.app.test_evidence_files import download, downloads, post_multipart, receipt_of, send_report
from tests.app.test_status import look_up, send_message
from tests.helpers import CSRF_PATTERN, file_report
from tests.reviewer.test_casework import move, post_case_form
from tests.reviewer.test_evidence import fetch, file_ids
from tests.reviewer_helpers import csrf, expected_state, log_in
from tests.servers import new_postgres_database

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKUP_KEYS = generate_keypair()
BACKUP_PRIVATE_KEY = format_private_key(BACKUP_KEYS.private)
CONTRACT = os.urandom(5 * 64 * 1024 + 123)  # six chunks
REPORTER_MESSAGE = "Tôi gửi thêm biên bản nghiệm thu số 45/BB ngày 3/3/2026."
QUESTION = "Ông/bà có bản sao quyết định cấp phép số 17/QĐ-UBND không?"
FORM = b"Mau don de nghi bao ve nguoi to cao"


# --- helpers shared with tests/security/test_backup_attacks.py -----------------------------------------


def engine_of(url: str) -> str:
    return make_url(url).get_backend_name()


@contextmanager
def empty_database(engine: str, directory: Path) -> Iterator[str]:
    """A database nobody has used: a new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{directory / f'restored-{uuid.uuid4().hex[:8]}.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL to restore into it")
    with new_postgres_database(POSTGRES_URL, "restore") as url:
        yield url


@pytest.fixture
def target_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """An empty database on the source's engine."""
    with empty_database(engine_of(database_url), tmp_path) as url:
        yield url


def with_backup_key(env: dict[str, str], public: bytes = BACKUP_KEYS.public) -> dict[str, str]:
    return {**env, "BACKUP_PUBLIC_KEY": public_key_b64(public)}


def run_cli(env: dict[str, str], *args: str, private_key: str | None = None) -> Result:
    """A reviewer command as the operator runs it, on the database of `env`."""
    app = create_reviewer_app(env)
    try:
        variables = {"BACKUP_PRIVATE_KEY": private_key} if private_key is not None else {}
        return app.test_cli_runner().invoke(args=list(args), env=variables)
    finally:
        app.extensions["portal_db"].dispose()


def create(env: dict[str, str], archive: Path) -> Result:
    return run_cli(with_backup_key(env), "backup", "create", "--output", str(archive))


def restore(env: dict[str, str], url: str, archive: Path, private_key: str = BACKUP_PRIVATE_KEY) -> Result:
    return run_cli({**env, "DATABASE_URL": url}, "backup", "restore", str(archive), private_key=private_key)


def case_column(name: str) -> int:
    return list(Case.__table__.columns.keys()).index(name)


def status_page(client: Any, receipt: str) -> str:
    """What the reporter sees, in English, without the form's one-time CSRF tokens."""
    return CSRF_PATTERN.sub("", look_up(client, receipt, lang="en").get_data(as_text=True))


def every_row(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in key order, as Python values (the same on both engines)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: [
                    tuple(row) for row in connection.execute(select(table).order_by(*table.primary_key.columns))
                ]
                for table in Base.metadata.sorted_tables
            }
    finally:
        engine.dispose()


def rows_stored(url: str) -> int:
    """Rows in every table the database has (none yet counts as empty)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            names = set(inspect(connection).get_table_names()) - {"alembic_version"}
            return sum(connection.scalar(text(f'SELECT COUNT(*) FROM "{name}"')) for name in names)
    finally:
        engine.dispose()


@contextmanager
def apps_on(env: dict[str, str], url: str) -> Iterator[tuple[Flask, Flask]]:
    target = {**env, "DATABASE_URL": url}
    citizen, reviewer = create_citizen_app(target), create_reviewer_app(target)
    try:
        yield citizen, reviewer
    finally:
        for app in (citizen, reviewer):
            app.extensions["portal_db"].dispose()


# --- round trip -----------------------------------------------------------------------------------------


def fill_through_the_apps(client: Any, reviewer: Any, staff: dict) -> tuple[str, str]:
    """Two reports (one with two files), a reporter's message, an inspector's question and file, a
    classification that points at a later case: every table gets rows, through the real routes."""
    receipt = receipt_of(send_report(client, [(CONTRACT, "hợp đồng 17-2026.pdf.bin"), (b"ghi chu", "ghi chú.txt")]))
    later = file_report(client)
    assert send_message(client, receipt, REPORTER_MESSAGE).status_code == 200
    assert log_in(reviewer, staff["inspector"]).status_code == 302
    assert move(reviewer, 1, "TRIAGE").status_code == 302
    later_reference = re.search(r"\d{4}-\d{5}", reviewer.get("/vi/cases/2").get_data(as_text=True))
    assert later_reference
    response = post_case_form(
        reviewer, 1, "classify", report_type="THONG_TIN_TO_CAO", sector="", ward_code="",
        duplicate_of=later_reference.group(0),
    )  # fmt: skip
    assert response.status_code == 302
    page = reviewer.get("/vi/cases/1").get_data(as_text=True)
    data = {"csrf_token": csrf(reviewer, "/vi/cases/1"), "expected_state": expected_state(page), "text": QUESTION}
    assert post_multipart(reviewer, "/vi/cases/1/message", data, [(FORM, "mẫu đơn.txt")]).status_code == 302
    return receipt, later


def test_a_restored_copy_answers_the_reporter_and_the_inspectors(
    env: dict[str, str], database_url: str, target_url: str, tmp_path: Path,
    client: Any, reviewer: Any, staff: dict,
) -> None:  # fmt: skip
    receipt, later = fill_through_the_apps(client, reviewer, staff)
    keygen = run_cli(env, "backup", "keygen", "--json")
    assert keygen.exit_code == 0, keygen.output
    keys = json.loads(keygen.stdout)
    before = every_row(database_url)
    assert {name for name, rows in before.items() if rows} >= {
        "intake_keys", "inspectors", "reviewer_sessions", "cases", "case_events", "messages", "attachments",
        "attachment_chunks", "audit_events",
    }  # fmt: skip
    status_before = status_page(client, receipt)

    archive = tmp_path / "portal.backup"
    created = run_cli({**env, "BACKUP_PUBLIC_KEY": keys["public_key"]}, "backup", "create", "-o", str(archive))
    assert created.exit_code == 0, created.output
    assert "attachment_chunks: 8 rows" in created.stderr  # progress, per table: 6 + 1 + 1 chunks
    assert (archive.stat().st_mode & 0o777) == 0o600
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".partial")]

    restored = restore(env, target_url, archive, private_key=keys["private_key"])
    assert restored.exit_code == 0, restored.output
    assert "schema revision" in restored.stdout and "attachment_chunks" in restored.stdout

    # Every row is back, and the trail goes on with the restore itself.
    after = every_row(target_url)
    trail, restored_trail = before.pop("audit_events"), after.pop("audit_events")
    assert restored_trail[: len(trail)] == trail
    assert [event[4] for event in restored_trail[len(trail) :]] == ["backup_restored"]
    assert after.pop("audit_head")[0][1] == len(trail) + 1
    before.pop("audit_head")
    assert after == before
    assert before["cases"][0][case_column("duplicate_of_id")] == 2  # a key to a later row of its own table

    # The reporter, on the restored copy: the same status page (state, dates, report, both messages, the files),
    # and the files byte for byte.
    with apps_on(env, target_url) as (citizen_app, reviewer_app):
        citizen = citizen_app.test_client()
        page = status_page(citizen, receipt)
        assert page == status_before
        assert "Cán bộ thu tiền ngoài biên lai" in page and REPORTER_MESSAGE in page and QUESTION in page
        links = downloads(citizen, receipt)
        assert set(links) == {"hợp đồng 17-2026.pdf.bin", "ghi chú.txt", "mẫu đơn.txt"}
        assert download(citizen, links["hợp đồng 17-2026.pdf.bin"], receipt).data == CONTRACT
        assert download(citizen, links["mẫu đơn.txt"], receipt).data == FORM
        assert look_up(citizen, later).status_code == 200

        # The inspectors: a lead who never logged in on the original opens the case and the file.
        lead = reviewer_app.test_client()
        assert log_in(lead, staff["lead"]).status_code == 302
        case_page = lead.get("/vi/cases/1").get_data(as_text=True)
        assert "Cán bộ thu tiền ngoài biên lai" in case_page and QUESTION in case_page
        assert fetch(lead, 1, file_ids(lead, 1)[0]).data == CONTRACT

        # New work continues where the original stopped: the next case gets the next id (PostgreSQL's sequences).
        file_report(citizen)

    verified = run_cli({**env, "DATABASE_URL": target_url}, "audit", "verify")
    assert verified.exit_code == 0, verified.output


def test_backup_created_is_audited_with_the_archives_hash(
    env: dict[str, str], database_url: str, tmp_path: Path, client: Any
) -> None:
    file_report(client)
    archive = tmp_path / "portal.backup"
    result = create(env, archive)
    assert result.exit_code == 0, result.output
    digest = re.search(r"SHA-256 of the archive \(also in the audit trail\): ([0-9a-f]{64})", result.stdout)
    assert digest
    engine = create_engine(database_url)
    with engine.connect() as connection:
        event = connection.execute(select(AuditEvent).where(AuditEvent.action == "backup_created")).one()
    engine.dispose()
    detail = json.loads(event.detail)
    assert detail["archive_sha256"] == digest.group(1) and detail["bytes"] == archive.stat().st_size
    assert event.actor == "(command line)"


def test_a_migrated_but_empty_database_is_a_valid_target(
    env: dict[str, str], target_url: str, tmp_path: Path, client: Any
) -> None:
    receipt = file_report(client)
    archive = tmp_path / "portal.backup"
    assert create(env, archive).exit_code == 0
    upgrade(target_url)
    assert restore(env, target_url, archive).exit_code == 0
    with apps_on(env, target_url) as (citizen_app, _reviewer):
        assert look_up(citizen_app.test_client(), receipt).status_code == 200


def as_of(plaintext: bytes, revision: str, shape: dict[str, set[str]]) -> bytes:
    """The content an older version would have written: only the tables and columns of `shape`, which must
    hold everything the current content has (the columns left out are empty, the tables have no rows)."""
    kept: list[bytes] = []
    positions: list[int] = []
    for line in plaintext.splitlines():
        record = json.loads(line)
        if isinstance(record, list):
            assert all(value is None for at, value in enumerate(record) if at not in positions), "data lost"
            record = [record[at] for at in positions]
        elif "format" in record:
            record["revision"] = revision
        elif "table" in record or "end" in record:
            name = record.get("table", record.get("end"))
            if name not in shape:
                positions = []
                continue
            if "table" in record:
                positions = [at for at, (column, _tag) in enumerate(record["columns"]) if column in shape[name]]
                record["columns"] = [record["columns"][at] for at in positions]
        elif "manifest" in record:
            record["manifest"] = {name: rows for name, rows in record["manifest"].items() if name in shape}
        kept.append(json.dumps(record, ensure_ascii=False).encode() + b"\n")
    return b"".join(kept)


def test_an_archive_of_the_previous_schema_is_restored_then_migrated(
    env: dict[str, str], target_url: str, tmp_path: Path, client: Any
) -> None:
    """What a backup made before the latest migration holds is derived from a current one: the previous
    revision's tables and columns, read from a database migrated only that far."""
    receipt = receipt_of(send_report(client, [(CONTRACT, "hợp đồng.bin")]))
    archive = tmp_path / "portal.backup"
    assert create(env, archive).exit_code == 0
    previous = revisions()[-2]
    with empty_database("sqlite", tmp_path) as scratch:
        upgrade(scratch, previous)
        engine = create_engine(scratch)
        schema = inspect(engine)
        shape = {name: {column["name"] for column in schema.get_columns(name)} for name in schema.get_table_names()}
        engine.dispose()
    older = tmp_path / "older.backup"
    content = as_of(b"".join(decrypt_archive(BACKUP_KEYS.private, [archive.read_bytes()])), previous, shape)
    older.write_bytes(b"".join(encrypt_archive(BACKUP_KEYS.public, [content])))

    result = restore(env, target_url, older)
    assert result.exit_code == 0, result.output
    assert f"schema revision {previous}" in result.stdout
    engine = create_engine(target_url)
    with engine.connect() as connection:
        assert current_revision(connection) == revisions()[-1]
    engine.dispose()
    with apps_on(env, target_url) as (citizen_app, _reviewer):
        citizen = citizen_app.test_client()
        assert download(citizen, downloads(citizen, receipt)["hợp đồng.bin"], receipt).data == CONTRACT
    assert run_cli({**env, "DATABASE_URL": target_url}, "audit", "verify").exit_code == 0


# --- consistency under concurrent filing ----------------------------------------------------------------


def test_reports_filed_while_the_dump_runs_are_wholly_in_or_wholly_out(
    env: dict[str, str], database_url: str, target_url: str, tmp_path: Path, client: Any
) -> None:
    for number in range(3):
        receipt_of(send_report(client, [(os.urandom(300_000), f"tệp {number}.bin")]))
    writer_app = create_citizen_app({**env, "RATELIMIT_ENABLED": "false"})
    filed: list[tuple[str, bytes]] = []
    more_filed = threading.Condition()
    stop = threading.Event()

    def writer() -> None:
        writer_client = writer_app.test_client()
        while not stop.is_set():
            evidence = os.urandom(200_000)
            receipt = receipt_of(send_report(writer_client, [(evidence, "bằng chứng.bin")]))
            with more_filed:
                filed.append((receipt, evidence))
                more_filed.notify_all()

    def progress(line: str) -> None:
        # Cases are dumped before their files: reports committed now must not half-appear.
        if line.startswith(("cases:", "attachments:")):
            with more_filed:
                wanted = len(filed) + 2
                assert more_filed.wait_for(lambda: len(filed) >= wanted, timeout=60)

    thread = threading.Thread(target=writer)
    thread.start()
    archive = tmp_path / "portal.backup"
    try:
        database = Database(database_url)
        summary = backups.create_backup(database, archive, BACKUP_KEYS.public, env["AUDIT_KEY"].encode(), progress)
        database.dispose()
    finally:
        stop.set()
        thread.join()
        writer_app.extensions["portal_db"].dispose()

    assert 3 <= summary.rows["cases"] < 3 + len(filed)
    assert summary.rows["attachments"] == summary.rows["cases"]
    assert restore(env, target_url, archive).exit_code == 0
    engine = create_engine(target_url)
    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Case)) == summary.rows["cases"]
        chunk_counts = connection.execute(
            select(Attachment.chunk_count, func.count(AttachmentChunk.seq))
            .join(AttachmentChunk, AttachmentChunk.attachment_id == Attachment.id)
            .group_by(Attachment.id, Attachment.chunk_count)
        ).all()
    engine.dispose()
    assert len(chunk_counts) == summary.rows["attachments"]
    assert all(expected == stored for expected, stored in chunk_counts)

    with apps_on(env, target_url) as (citizen_app, _reviewer):
        citizen = citizen_app.test_client()
        found = 0
        for receipt, evidence in filed:
            status = look_up(citizen, receipt).status_code
            assert status in (200, 404)
            if status == 200:
                found += 1
                assert download(citizen, downloads(citizen, receipt)["bằng chứng.bin"], receipt).data == evidence
    assert found == summary.rows["cases"] - 3 < len(filed)


# --- from one engine to the other -----------------------------------------------------------------------


def test_an_archive_moves_between_sqlite_and_postgresql(
    env: dict[str, str], database_url: str, tmp_path: Path, client: Any, reviewer: Any, staff: dict
) -> None:
    receipt, _later = fill_through_the_apps(client, reviewer, staff)
    archive = tmp_path / "portal.backup"
    assert create(env, archive).exit_code == 0
    other = "postgresql" if engine_of(database_url) == "sqlite" else "sqlite"
    with empty_database(other, tmp_path) as url:
        result = restore(env, url, archive)
        assert result.exit_code == 0, result.output
        assert f"on {engine_of(database_url)}" in result.stdout
        with apps_on(env, url) as (citizen_app, _reviewer):
            citizen = citizen_app.test_client()
            links = downloads(citizen, receipt)
            assert download(citizen, links["hợp đồng 17-2026.pdf.bin"], receipt).data == CONTRACT
            assert receipt_of(send_report(citizen, [(b"more", "more.txt")]))  # ids continue past the restored ones
        assert run_cli({**env, "DATABASE_URL": url}, "audit", "verify").exit_code == 0
