"""The README's walk-through, step by step, as a person following it would: the demo inspector is
created by the command line, logs in with the one-time password, chooses a password and links the
authenticator, sees the demo reports, triages one and asks the reporter a question; the reporter
reads it with the receipt and answers; the inspector sees the answer."""

from __future__ import annotations

import json

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from crypto.keys import KeyPair
from tests.helpers import csrf_token
from tests.reviewer_helpers import RECOVERY_PASSPHRASE, SETUP_KEY_PATTERN, csrf, expected_state, record_intake_key

NEW_PASSWORD = "mật khẩu riêng của thanh tra viên"
QUESTION = "Xin ông/bà cho biết thêm số phiếu hẹn và ngày nộp hồ sơ."
ANSWER = "Phiếu hẹn số 1482/PH-MC, nộp ngày 03/6/2026."


def test_the_readme_walkthrough(
    reviewer_app: Flask,
    client: FlaskClient,
    intake_keys: KeyPair,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    record_intake_key(reviewer_app, intake_keys)
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", RECOVERY_PASSPHRASE)
    monkeypatch.setenv("RECEIPT_PEPPER", env["RECEIPT_PEPPER"])
    runner = reviewer_app.test_cli_runner()
    added = runner.invoke(args=["inspectors", "add", "demo-inspector", "--role", "inspector", "--json"])
    assert added.exit_code == 0, added.output
    account = json.loads(added.output)
    seeded = runner.invoke(args=["demo", "seed", "--json"])
    assert seeded.exit_code == 0, seeded.output
    reports = json.loads(seeded.output)

    # 1. Log in with the one-time password and no code: the app asks for the setup first.
    browser = reviewer_app.test_client()
    form = {"csrf_token": csrf(browser, "/vi/login"), "username": "demo-inspector", "password": account["password"]}
    response = browser.post("/vi/login", data={**form, "code": ""})
    assert response.headers["Location"] == "/vi/setup"

    # 2. Choose a password, link the authenticator with the key the setup page shows, enter its code.
    match = SETUP_KEY_PATTERN.search(browser.get("/vi/setup").get_data(as_text=True))
    assert match, "the setup page shows no key"
    code = pyotp.TOTP(match.group(1).replace(" ", "")).now()
    data = {"csrf_token": csrf(browser, "/vi/setup"), "new_password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert browser.post("/vi/setup", data={**data, "code": code}).status_code == 302

    # 3. The demo reports are in the queue; open one, start classifying it, ask the reporter.
    queue = browser.get("/vi/cases").get_data(as_text=True)
    assert all(report["reference"] in queue for report in reports)
    case_id = 1
    page = browser.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    assert "Dữ liệu mẫu" in page
    for target, fields in (("TRIAGE", {}), ("NEED_INFO", {"text": QUESTION})):
        page = browser.get(f"/vi/cases/{case_id}").get_data(as_text=True)
        data = {"csrf_token": csrf(browser, f"/vi/cases/{case_id}"), f"{target}-expected_state": expected_state(page)}
        data |= {f"{target}-{name}": value for name, value in fields.items()}
        assert browser.post(f"/vi/cases/{case_id}/transition/{target}", data=data).status_code == 302

    # 4. The reporter follows the report with the receipt, reads the question and answers.
    receipt = reports[0]["receipt"]
    status = client.post("/vi/status", data={"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt})
    text = status.get_data(as_text=True)
    assert QUESTION in text and "bổ sung" in text  # the question and the coarse "asked for more" label
    token = csrf_token(client, "/vi/status")
    client.post("/vi/status/message", data={"csrf_token": token, "receipt": receipt, "text": ANSWER})

    # The inspector sees the answer, and the case is back in triage.
    page = browser.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    assert ANSWER in page
    assert 'name="TRIAGE-expected_state"' not in page and 'value="TRIAGE"' in page
