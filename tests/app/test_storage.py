"""Storage on both engines: the migrated schema is the models' schema, SQLite is durable, and
concurrent filings never collide on a reference number nor fail with "database is locked"."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections import Counter
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask import Flask
from sqlalchemy import create_engine, make_url, select, text

from crypto.keys import KeyPair
from portal import cases
from portal.models import Base, Case
from portal.workdays import today
from tests.helpers import VALID_REPORT, submit_report


def test_migrations_build_exactly_the_models_schema(database_url: str) -> None:
    engine = create_engine(database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert differences == []


def test_sqlite_is_in_wal_mode_with_full_sync(citizen_app: Flask) -> None:
    db = citizen_app.extensions["portal_db"]
    if not db.is_sqlite:
        pytest.skip("SQLite pragmas; PostgreSQL commits durably with its default synchronous_commit=on")
    with db.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_sqlite_checkpoints_the_wal_once_the_response_is_sent(citizen_app: Flask, tmp_path: Path) -> None:
    """The main database file alone holds a report filed by the previous request: the WAL was copied
    back after the response, not left to grow until a commit crossed SQLite's threshold."""
    db = citizen_app.extensions["portal_db"]
    if not db.is_sqlite:
        pytest.skip("SQLite's write-ahead log")
    response = submit_report(citizen_app.test_client())
    assert response.status_code == 201
    response.close()  # what a WSGI server does once the response is sent
    main_file = make_url(db.url).database
    copy = tmp_path / "main-file-only.db"
    shutil.copyfile(main_file, copy)  # without its -wal file, which SQLite would otherwise replay
    with sqlite3.connect(copy) as connection:
        assert connection.execute("SELECT count(*) FROM cases").fetchone() == (1,)
    connection.close()


def test_concurrent_filings_all_land_with_distinct_consecutive_references(
    citizen_app: Flask, intake_keys: KeyPair
) -> None:
    intake = cases.Intake(intake_keys.public, citizen_app.config["RECEIPT_PEPPER"])
    db = citizen_app.extensions["portal_db"]
    receipts: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(10):
            try:
                receipts.append(cases.file_report(db, intake, dict(VALID_REPORT), None))
            except BaseException as exc:  # noqa: BLE001 - every failure is a lost report
                errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(set(receipts)) == 80
    with db.session() as session:
        references = list(session.scalars(select(Case.reference)))
    assert len(references) == 80 and max(Counter(references).values()) == 1
    year = today().year
    assert sorted(references) == [f"{year}-{n:05d}" for n in range(1, 81)]


def test_a_failed_filing_leaves_nothing_behind(citizen_app: Flask, intake_keys: KeyPair) -> None:
    db = citizen_app.extensions["portal_db"]
    intake = cases.Intake(intake_keys.public, citizen_app.config["RECEIPT_PEPPER"])
    try:
        with db.transaction() as session:
            cases.allocate_reference(session, today().year)
            raise RuntimeError("power cut")
    except RuntimeError:
        pass
    cases.file_report(db, intake, dict(VALID_REPORT), None)
    with db.session() as session:
        assert list(session.scalars(select(Case.reference))) == [f"{today().year}-00001"]
        assert session.execute(text("SELECT count(*) FROM cases")).scalar() == 1
