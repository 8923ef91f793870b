"""Custody of the intake private key: who holds a copy, under what, and what a thief of storage gets.

What this proves (DESIGN.md section 4, "A stolen database or disk at rest opens nothing"):
- after reports, accounts, first logins and logins, no table holds in clear the intake private key
  (raw, hex or base64), a password, a one-time password, a TOTP secret, a receipt, the recovery
  passphrase, a session token or a session key; on SQLite neither do the database file and its WAL;
- a session row's copy of the keys opens only with the key derived from the cookie's token, never
  with anything stored beside it;
- deactivating an account deletes its copy of the keys and its sessions: its open browser is
  logged out at the next request and it cannot log in again;
- a password change re-wraps the person's copy: the new password opens it, the old one does not;
- an admin (through the app) and the recovery passphrase (through `flask inspectors add`) can give
  a new account its own copy, and a wrong recovery passphrase creates nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, inspect, make_url, select, text

from crypto.errors import CryptoError, WrongPassphrase
from crypto.keyring import Keyring, unpack_keyring
from crypto.keys import KeyPair, key_id
from crypto.tokens import session_id, session_key
from crypto.wrapping import unwrap_with_key
from portal import accounts
from portal.accounts import Role
from portal.login_sessions import keyring_of
from portal.models import AuditEvent, Inspector, ReviewerSession
from tests.helpers import file_report
from tests.reviewer_helpers import (
    PASSWORD,
    RECOVERY_PASSPHRASE,
    Person,
    with_setup_key,
    csrf,
    inspector_row,
    log_in,
    make_person,
)

NEW_PASSWORD = "a fresh and private passphrase 9"
SECRET_PATTERN = re.compile(r'<code class="secret">([^<]+)</code>')


# --- helpers -----------------------------------------------------------------------------------


def database(app: Flask) -> Any:
    return app.extensions["portal_db"]


def as_bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def every_stored_value(app: Flask) -> list[tuple[str, bytes]]:
    """("table.column", value as bytes) for every column of every row of every table."""
    found: list[tuple[str, bytes]] = []
    with database(app).engine.connect() as connection:
        tables = inspect(connection).get_table_names()
        assert {"inspectors", "reviewer_sessions", "cases", "intake_keys", "audit_events"} <= set(tables)
        for table in tables:
            result = connection.execute(text(f'SELECT * FROM "{table}"'))
            columns = list(result.keys())
            for row in result:
                found += [(f"{table}.{column}", as_bytes(value)) for column, value in zip(columns, row, strict=True)]
    return found


def forms_of(secret: bytes | str) -> dict[str, bytes]:
    """The ways a secret could sit in a column: as is, hex, base64, base32 (TOTP secrets)."""
    if isinstance(secret, str):
        forms = {"text": secret.encode("utf-8"), "text, upper": secret.upper().encode("utf-8")}
        if "-" in secret:
            forms["text without dashes"] = secret.replace("-", "").encode("utf-8")
        return forms
    return {
        "raw": secret,
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "base64": base64.b64encode(secret),
        "base64 unpadded": base64.b64encode(secret).rstrip(b"="),
        "base64url": base64.urlsafe_b64encode(secret).rstrip(b"="),
    }


def token_of(app: Flask, browser: FlaskClient) -> str:
    """The session token, read from the browser's cookie the way the server reads it."""
    cookie = browser.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert cookie is not None
    content = app.session_interface.get_signing_serializer(app).loads(cookie.value)  # type: ignore[attr-defined]
    token = content["token"]
    assert isinstance(token, str) and len(token) >= 40
    return token


def session_row(app: Flask, token: str) -> ReviewerSession:
    with database(app).session() as session:
        row = session.get(ReviewerSession, session_id(token))
        assert row is not None
        return row


def logged_in(app: Flask, person: Person, **kwargs: Any) -> FlaskClient:
    browser = app.test_client()
    response = log_in(browser, person, **kwargs)
    assert response.status_code == 302, response.get_data(as_text=True)
    return browser


def finish_setup(browser: FlaskClient, person: Person, new_password: str) -> None:
    response = browser.post(
        "/en/setup",
        data={
            "csrf_token": csrf(browser, "/en/setup"),
            "new_password": new_password,
            "confirm": new_password,
            "code": person.code(),
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def holds_intake_key(keyring: Keyring, keys: KeyPair) -> bool:
    pair = keyring.intake.get(key_id(keys.public))
    return pair is not None and pair.private == keys.private


def count(app: Flask, model: Any, *where: Any) -> int:
    with database(app).session() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


# --- the database alone opens nothing ----------------------------------------------------------


def test_no_secret_is_stored_in_clear(
    reviewer_app: Flask, client: FlaskClient, staff: dict[str, Person], intake_keys: KeyPair
) -> None:
    receipts = [file_report(client), file_report(client, narrative="Một báo cáo khác về việc nhận hối lộ ở phường.")]
    newcomer = make_person(reviewer_app, intake_keys, "newcomer", Role.INSPECTOR, enrolled=False)
    waiting = make_person(reviewer_app, intake_keys, "waiting", Role.LEAD, enrolled=False)  # never logs in
    first = logged_in(reviewer_app, newcomer, code="")
    newcomer = with_setup_key(first, newcomer)
    finish_setup(first, newcomer, NEW_PASSWORD)
    browsers = [first] + [logged_in(reviewer_app, staff[role]) for role in ("admin", "lead", "inspector")]
    setup_stage = logged_in(reviewer_app, waiting, code="")  # a setup-stage session
    waiting = with_setup_key(setup_stage, waiting)
    browsers.append(setup_stage)
    lead = browsers[2]
    assert lead.get("/en/cases/1").status_code == 200  # a case opened (and audited)
    tokens = [token_of(reviewer_app, browser) for browser in browsers]
    assert count(reviewer_app, ReviewerSession) == len(tokens)

    secrets: dict[str, bytes | str] = {
        "intake private key": intake_keys.private,
        "recovery passphrase": RECOVERY_PASSPHRASE,
        "staff password": PASSWORD,
        "newcomer's new password": NEW_PASSWORD,
        "newcomer's one-time password": newcomer.password,
        "waiting one-time password": waiting.password,
    }
    for person in [*staff.values(), newcomer, waiting]:
        secrets[f"{person.username}'s TOTP secret"] = person.totp_secret
        secrets[f"{person.username}'s TOTP secret bytes"] = base64.b32decode(person.totp_secret)
    for number, token in enumerate(tokens):
        secrets[f"session token {number}"] = token
        secrets[f"session token {number} bytes"] = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        secrets[f"session key {number}"] = session_key(token)
    for number, receipt in enumerate(receipts):
        secrets[f"receipt {number}"] = receipt
    needles = {
        f"{name} ({form})": value for name, secret in secrets.items() for form, value in forms_of(secret).items()
    }

    stored = every_stored_value(reviewer_app)
    assert len(stored) > 100
    leaks = [(name, where) for where, value in stored for name, needle in needles.items() if needle in value]
    assert leaks == []

    url = make_url(reviewer_app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        files = [Path(url.database or ""), Path(f"{url.database}-wal")]
        contents = {path.name: path.read_bytes() for path in files if path.exists()}
        assert files[0].name in contents and sum(map(len, contents.values())) > 10_000
        leaks = [(name, file) for file, data in contents.items() for name, needle in needles.items() if needle in data]
        assert leaks == []


def test_a_session_copy_opens_only_with_the_cookies_token(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair
) -> None:
    browser = logged_in(reviewer_app, staff["lead"])
    token = token_of(reviewer_app, browser)
    row = session_row(reviewer_app, token)
    assert row.id == session_id(token) and row.id != token.encode()

    person = inspector_row(reviewer_app, staff["lead"].username)
    # Everything a thief of the table could try as a key, or derive one from.
    stored_text = [row.id.hex(), base64.b64encode(row.id).decode(), str(row.inspector_id), person.username]
    stored_text.append(base64.urlsafe_b64encode(row.id).rstrip(b"=").decode())
    guesses = [row.id, hashlib.blake2b(row.id, digest_size=32).digest(), hashlib.sha256(row.id).digest()]
    guesses += [session_key(material) for material in stored_text]
    for guess in guesses:
        with pytest.raises(CryptoError):
            unwrap_with_key(row.wrapped_keyring, guess)

    assert holds_intake_key(unpack_keyring(unwrap_with_key(row.wrapped_keyring, session_key(token))), intake_keys)
    assert holds_intake_key(keyring_of(row, token), intake_keys)
    # The copy under the session key is not the person's own copy under their password.
    assert row.wrapped_keyring != person.wrapped_keyring


# --- deactivation ------------------------------------------------------------------------------


def test_deactivation_deletes_the_copy_and_the_sessions(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair
) -> None:
    target = staff["inspector"]
    theirs = logged_in(reviewer_app, target)
    token = token_of(reviewer_app, theirs)
    assert theirs.get("/en/cases").status_code == 200
    admin = logged_in(reviewer_app, staff["admin"])

    response = admin.post(
        f"/vi/admin/accounts/{target.id}/deactivate", data={"csrf_token": csrf(admin, "/vi/admin/accounts")}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/vi/admin/accounts"
    row = inspector_row(reviewer_app, target.username)
    assert row.active is False and row.wrapped_keyring is None
    assert count(reviewer_app, ReviewerSession, ReviewerSession.inspector_id == target.id) == 0
    with pytest.raises(ValueError):
        accounts.unwrap_keyring(row, target.password)
    assert "deactivated" in admin.get("/en/admin/accounts").get_data(as_text=True)
    events = [event.detail for event in audit_rows(reviewer_app, "account_deactivated")]
    assert len(events) == 1 and target.username in events[0]

    # The open browser is logged out at its next request; the cookie's token opens nothing now.
    next_request = theirs.get("/en/cases")
    assert next_request.status_code == 302 and next_request.headers["Location"] == "/en/login"
    with database(reviewer_app).session() as session:
        assert session.get(ReviewerSession, session_id(token)) is None

    again = log_in(reviewer_app.test_client(), target, code=target.code(1), lang="en")
    assert again.status_code == 401
    assert count(reviewer_app, ReviewerSession, ReviewerSession.inspector_id == target.id) == 0
    # Other people's sessions were left alone.
    assert admin.get("/en/admin/accounts").status_code == 200


def test_an_admin_cannot_deactivate_themselves(reviewer_app: Flask, staff: dict[str, Person]) -> None:
    admin = logged_in(reviewer_app, staff["admin"])
    response = admin.post(
        f"/en/admin/accounts/{staff['admin'].id}/deactivate", data={"csrf_token": csrf(admin, "/en/admin/accounts")}
    )
    assert response.status_code == 302
    assert "You cannot deactivate your own account." in admin.get("/en/admin/accounts").get_data(as_text=True)
    assert inspector_row(reviewer_app, staff["admin"].username).wrapped_keyring is not None


def audit_rows(app: Flask, action: str) -> list[AuditEvent]:
    with database(app).session() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


# --- password change ---------------------------------------------------------------------------


def test_a_password_change_rewraps_the_copy(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair
) -> None:
    person = staff["inspector"]
    browser = logged_in(reviewer_app, person)
    before = inspector_row(reviewer_app, person.username).wrapped_keyring
    response = browser.post(
        "/en/account/password",
        data={
            "csrf_token": csrf(browser, "/en/account/password"),
            "current_password": person.password,
            "new_password": NEW_PASSWORD,
            "confirm": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    row = inspector_row(reviewer_app, person.username)
    assert row.wrapped_keyring != before
    assert holds_intake_key(accounts.unwrap_keyring(row, NEW_PASSWORD), intake_keys)
    with pytest.raises(WrongPassphrase):
        accounts.unwrap_keyring(row, person.password)


# --- giving a new account its copy -------------------------------------------------------------


def test_an_admin_adds_an_account_that_holds_its_own_copy(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair
) -> None:
    admin = logged_in(reviewer_app, staff["admin"])
    response = admin.post(
        "/en/admin/accounts",
        data={
            "csrf_token": csrf(admin, "/en/admin/accounts"),
            "username": "tran.thi.b",
            "display_name": "Trần Thị B",
            "role": "inspector",
        },
    )
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    [one_time_password] = SECRET_PATTERN.findall(page)  # the only secret the admin is shown
    assert "Account tran.thi.b created" in page
    # Shown once: the next visit to the page does not show it again.
    later = admin.get("/en/admin/accounts").get_data(as_text=True)
    assert one_time_password not in later

    row = inspector_row(reviewer_app, "tran.thi.b")
    assert row.role == "inspector" and row.must_change_password and not row.totp_enrolled
    assert holds_intake_key(accounts.unwrap_keyring(row, one_time_password), intake_keys)
    [created] = audit_rows(reviewer_app, "account_created")
    assert created.actor == "demo-admin" and "tran.thi.b" in created.detail
    assert one_time_password not in created.detail

    person = Person(row.id, "tran.thi.b", one_time_password, "")
    browser = reviewer_app.test_client()
    first = log_in(browser, person, code="", lang="en")
    assert first.status_code == 302 and first.headers["Location"] == "/en/setup"
    token = token_of(reviewer_app, browser)
    assert holds_intake_key(keyring_of(session_row(reviewer_app, token), token), intake_keys)
    person = with_setup_key(browser, person, lang="en")
    finish_setup(browser, person, NEW_PASSWORD)
    assert browser.get("/en/cases").status_code == 200

    duplicate = admin.post(
        "/en/admin/accounts",
        data={
            "csrf_token": csrf(admin, "/en/admin/accounts"),
            "username": "tran.thi.b",
            "display_name": "Someone else",
            "role": "admin",
        },
    )
    assert duplicate.status_code == 400
    assert "This user name is already taken." in duplicate.get_data(as_text=True)
    assert count(reviewer_app, Inspector, Inspector.username == "tran.thi.b") == 1


def test_the_command_line_adds_an_account_with_the_recovery_passphrase(
    reviewer_app: Flask, staff: dict[str, Person], intake_keys: KeyPair, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", RECOVERY_PASSPHRASE)
    result = reviewer_app.test_cli_runner().invoke(
        args=["inspectors", "add", "le.van.c", "--role", "inspector", "--json"]
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["username"] == "le.van.c" and printed["role"] == "inspector"
    assert set(printed) == {"username", "role", "password"}  # no authenticator key: it is made at first login
    password = printed["password"]

    row = inspector_row(reviewer_app, "le.van.c")
    assert holds_intake_key(accounts.unwrap_keyring(row, password), intake_keys)
    person = Person(row.id, "le.van.c", password, "")
    browser = reviewer_app.test_client()
    first = log_in(browser, person, code="", lang="en")
    assert first.status_code == 302 and first.headers["Location"] == "/en/setup"
    finish_setup(browser, with_setup_key(browser, person, lang="en"), NEW_PASSWORD)
    assert browser.get("/en/cases").status_code == 200
    [created] = audit_rows(reviewer_app, "account_created")
    assert created.actor == "(command line)" and "le.van.c" in created.detail


def test_a_wrong_recovery_passphrase_creates_nothing(
    reviewer_app: Flask, staff: dict[str, Person], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_RECOVERY_PASSPHRASE", "ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ-ZZZZZ")
    people = count(reviewer_app, Inspector)
    events = count(reviewer_app, AuditEvent)
    result = reviewer_app.test_cli_runner().invoke(args=["inspectors", "add", "mole", "--role", "admin", "--json"])
    assert result.exit_code != 0
    assert "The recovery passphrase does not open the intake keys." in result.output
    assert "password" not in result.output.lower().replace("passphrase", "")
    assert count(reviewer_app, Inspector) == people
    assert count(reviewer_app, Inspector, Inspector.username == "mole") == 0
    assert count(reviewer_app, AuditEvent) == events
