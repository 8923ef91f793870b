"""Demo data: every demo report is what the citizen form produces, and `demo seed` files them so
that each printed receipt opens its report in the citizen portal."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from crypto.keys import KeyPair, key_id
from crypto.sealing import open_document
from portal import taxonomy
from portal.cases import find_by_receipt
from portal.db import get_db
from portal.demo import DEMO_REPORTS, demo_group
from portal.models import Case, IntakeKey
from portal.reports import REPORT_SCHEMA, ReportForm
from portal.workdays import today

PEPPER = "demo-receipt-pepper-for-tests-only-0123456789"
RECEIPT = re.compile(r"\b[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}\b")


def form_data(report: dict[str, Any], identity: dict[str, Any] | None) -> MultiDict[str, str]:
    """What a browser posts for this report: every text field (empty ones too), checked boxes only."""
    data: MultiDict[str, str] = MultiDict()
    values = {**{name: "" for name in ReportForm.IDENTITY_FIELDS}, **(identity or {}), "website": ""}
    values.update({name: report[name] for name in ReportForm.REPORT_FIELDS})
    for name, value in values.items():
        if isinstance(value, list):
            for item in value:
                data.add(name, item)
        elif isinstance(value, bool):
            if value:
                data.add(name, "y")
        else:
            data.add(name, value)
    return data


@pytest.fixture
def runner(reviewer_app: Flask) -> FlaskCliRunner:
    if "demo" not in reviewer_app.cli.commands:  # type: ignore[attr-defined]
        reviewer_app.cli.add_command(demo_group)
    return reviewer_app.test_cli_runner()


@pytest.fixture
def active_key(reviewer_app: Flask, intake_keys: KeyPair) -> None:
    with reviewer_app.app_context(), get_db().transaction() as session:
        session.add(
            IntakeKey(
                id=key_id(intake_keys.public),
                public_key=intake_keys.public,
                recovery_wrapped_private_key=b"not-a-wrapped-key-in-this-test",
                created_on=today(),
                active=True,
            )
        )


@pytest.fixture
def pepper(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setenv("RECEIPT_PEPPER", PEPPER)
    return PEPPER.encode()


def seed(runner: CliRunner, *options: str) -> Result:
    return runner.invoke(args=["demo", "seed", *options])


def case_count(app: Flask) -> int:
    with app.app_context(), get_db().session() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


def test_demo_reports_cover_the_brief() -> None:
    assert len(DEMO_REPORTS) == 6
    kinds = [report["report_type"] for report, _ in DEMO_REPORTS]
    assert kinds.count("TO_CAO") == 1
    wards = {ward.code for ward in taxonomy.wards()}
    for report, identity in DEMO_REPORTS:
        assert set(report) == {"schema", *ReportForm.REPORT_FIELDS} and report["schema"] == REPORT_SCHEMA
        assert 400 <= len(report["narrative"]) <= 1200
        assert "Dữ liệu mẫu" in report["narrative"]
        assert report["ward"] == "" or report["ward"] in wards
        assert "giả định" in report["subject_name"]
        assert (identity is not None) == (report["report_type"] == "TO_CAO")
    [identity] = [identity for _, identity in DEMO_REPORTS if identity]
    assert set(identity) == set(ReportForm.IDENTITY_FIELDS)
    assert identity["consent_contact"] is True and identity["truthful"] is True


def test_every_demo_report_is_exactly_what_the_form_produces(citizen_app: Flask) -> None:
    for report, identity in DEMO_REPORTS:
        with citizen_app.test_request_context("/vi/report", method="POST", data=form_data(report, identity)):
            form = ReportForm(meta={"csrf": False})
            assert form.validate(), form.errors
            assert form.report_document() == report
            assert form.identity_document() == identity


def test_seed_files_every_report_and_each_receipt_opens_it(
    runner: FlaskCliRunner, reviewer_app: Flask, active_key: None, pepper: bytes, intake_keys: KeyPair
) -> None:
    result = seed(runner, "--json")
    assert result.exit_code == 0, result.output
    filed = json.loads(result.output)
    assert len(filed) == len(DEMO_REPORTS) == case_count(reviewer_app)
    year = today().year
    assert [entry["reference"] for entry in filed] == [f"{year}-{number:05d}" for number in range(1, 7)]
    with reviewer_app.app_context(), get_db().session() as session:
        for entry, (report, identity) in zip(filed, DEMO_REPORTS, strict=True):
            found = find_by_receipt(session, pepper, entry["receipt"])
            assert found is not None and found.case.reference == entry["reference"]
            assert found.report() == report
            assert found.report()["narrative"] == report["narrative"]
            assert found.case.report_type == report["report_type"]
            assert found.case.anonymous == (identity is None)
            assert found.case.intake_key_id == key_id(intake_keys.public)
            assert open_document(found.case.sealed_report, intake_keys.private, "report") == report
            if identity is not None:
                assert open_document(found.case.sealed_identity, intake_keys.private, "identity") == identity


def test_seed_prints_references_and_receipts_for_people(
    runner: FlaskCliRunner, reviewer_app: Flask, active_key: None, pepper: bytes
) -> None:
    result = seed(runner)
    assert result.exit_code == 0, result.output
    receipts = RECEIPT.findall(result.output)
    assert len(receipts) == 6
    with reviewer_app.app_context(), get_db().session() as session:
        for receipt in receipts:
            found = find_by_receipt(session, pepper, receipt)
            assert found is not None
            assert found.case.reference in result.output


def test_second_seed_refuses_unless_forced(
    runner: FlaskCliRunner, reviewer_app: Flask, active_key: None, pepper: bytes
) -> None:
    assert seed(runner).exit_code == 0
    again = seed(runner, "--json")
    assert again.exit_code != 0
    assert "already holds 6 case" in again.output and "--force" in again.output
    assert case_count(reviewer_app) == 6
    forced = seed(runner, "--json", "--force")
    assert forced.exit_code == 0, forced.output
    assert len(json.loads(forced.output)) == 6
    assert case_count(reviewer_app) == 12


def test_seed_needs_the_receipt_pepper(
    runner: FlaskCliRunner, reviewer_app: Flask, active_key: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RECEIPT_PEPPER", raising=False)
    missing = seed(runner)
    assert missing.exit_code != 0 and "RECEIPT_PEPPER is not set" in missing.output
    monkeypatch.setenv("RECEIPT_PEPPER", "too-short")
    short = seed(runner)
    assert short.exit_code != 0 and "at least 32 characters" in short.output
    assert case_count(reviewer_app) == 0


def test_seed_needs_an_intake_key(runner: FlaskCliRunner, reviewer_app: Flask, pepper: bytes) -> None:
    result = seed(runner)
    assert result.exit_code != 0
    assert "no active intake key" in result.output and "keys init" in result.output
    assert case_count(reviewer_app) == 0


def test_seed_works_with_a_key_made_by_keys_init(runner: FlaskCliRunner, reviewer_app: Flask, pepper: bytes) -> None:
    assert runner.invoke(args=["keys", "init"]).exit_code == 0
    result = seed(runner, "--json")
    assert result.exit_code == 0, result.output
    assert case_count(reviewer_app) == 6
