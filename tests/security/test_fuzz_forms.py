"""Property-based fuzzing of every form of both apps: whatever arrives, the answer is never a 500, a
refused request changes nothing, and an accepted one changes exactly what it should.

Citizen: the report form, the receipt field, the message form. Reviewer: login, first-login setup,
password change, account creation and the account buttons (admin), every act on a case
(classification, assignment, each transition target, message, note, reveal), and the filter forms of
the queue and the audit trail; the reviewer side on both engines when TEST_DATABASE_URL is set.
"Changes nothing" is checked on a dump of every table (audit events
that only record a read, and a session's last-seen time, aside), before and after each request.

Rate limits are off in these apps: fuzzing is not a flood. The inputs that found bugs (a state that does not
exist, a superscript digit, ids beyond the databases' integers, an extension sent with another step) are
pinned by a test each at the end of this file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, func, select, update
from sqlalchemy import text as sql
from werkzeug.test import TestResponse

from crypto.errors import ReceiptFormatError
from crypto.keys import KeyPair, generate_keypair, public_key_b64
from crypto.receipts import generate_receipt, parse_receipt
from portal import create_citizen_app, create_reviewer_app, lifecycle, taxonomy
from portal.accounts import USERNAME, Role
from portal.lifecycle import Extension, State
from portal.migrate import upgrade
from portal.models import AuditEvent, Base, Case, Inspector
from portal.reports import ReportForm
from portal.workdays import today
from tests.helpers import VALID_REPORT, csrf_token, file_report
from tests.reviewer_helpers import PASSWORD, Person, csrf, log_in, make_person, record_intake_key, with_setup_key

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
FIELD_NAMES = sorted(set(ReportForm.REPORT_FIELDS) | set(ReportForm.IDENTITY_FIELDS) | {"website"})
text = st.text(st.characters(codec="utf-8"), max_size=300)
values = st.one_of(
    text, st.sampled_from(["", "YES", "NO", "TO_CAO", "BRIBERY", "00190", "y"]), st.lists(text, max_size=3)
)


# The desk's fuzz runs on both engines when PostgreSQL is configured: each then gets half the examples, so
# the file's run time (under 90 s) and its total number of examples stay about the same either way.
ENGINES = 2 if POSTGRES_URL else 1


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=examples // ENGINES,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def scratch_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Thousands of commits, each synced to disk: in memory-backed storage where there is some."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() else tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    folder = scratch_folder(tmp_path_factory)
    url = f"sqlite:///{folder / 'portal.db'}"
    upgrade(url)
    app = create_citizen_app(
        {
            "PORTAL_ENV": "testing",
            "DATABASE_URL": url,
            "INTAKE_PUBLIC_KEY": public_key_b64(generate_keypair().public),
            "COOKIE_SECURE": "false",
            "RATELIMIT_ENABLED": "false",
        }
    )
    yield app
    app.extensions["portal_db"].dispose()
    shutil.rmtree(folder, ignore_errors=True)


def count_cases(app: Flask) -> int:
    with app.extensions["portal_db"].session() as session:
        return session.scalar(select(func.count()).select_from(Case)) or 0


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(FIELD_NAMES), values, max_size=8))
def test_report_form_never_fails_and_never_half_stores(app: Flask, fields: dict[str, object]) -> None:
    client = app.test_client()
    before = count_cases(app)
    response = client.post("/vi/report", data={**VALID_REPORT, **fields, "csrf_token": csrf_token(client)})
    assert response.status_code in (201, 400)
    assert count_cases(app) == before + (1 if response.status_code == 201 else 0)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(receipt=st.one_of(text, st.text("0123456789ABCDEFGHJKMNPQRSTVWXYZ-oil ", min_size=18, max_size=26)))
def test_receipt_field_never_fails(app: Flask, receipt: str) -> None:
    client = app.test_client()
    token = csrf_token(client, "/vi/status")
    assert client.post("/vi/status", data={"csrf_token": token, "receipt": receipt}).status_code in (400, 404)
    response = client.post("/vi/status/message", data={"csrf_token": token, "receipt": receipt, "text": receipt})
    assert response.status_code in (400, 404)


# --- what a request changed ----------------------------------------------------------------------

# Audit events that record a read (the case page shown again with the form's errors is a view of the
# case), and the session's last-seen time, change on every page: they are not what a form stores.
READS = frozenset({"case_viewed", "audit_viewed"})
VOLATILE = frozenset({("reviewer_sessions", "last_seen_at")})
Row = dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    tables: dict[str, dict[tuple[Any, ...], Row]]
    last_event: int


@dataclass
class Change:
    """Rows added, removed and changed per table, and the audit actions appended (reads aside)."""

    added: dict[str, list[Row]] = field(default_factory=dict)
    removed: dict[str, list[Row]] = field(default_factory=dict)
    changed: dict[str, list[tuple[Row, Row]]] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    @property
    def tables(self) -> set[str]:
        return set(self.added) | set(self.removed) | set(self.changed)

    @property
    def nothing(self) -> bool:
        return not self.tables and not self.events

    def changed_columns(self, table: str) -> set[str]:
        return {name for before, after in self.changed.get(table, []) for name in after if before[name] != after[name]}


def snapshot(app: Flask) -> Snapshot:
    tables: dict[str, dict[tuple[Any, ...], Row]] = {}
    with app.extensions["portal_db"].session() as session:
        for table in Base.metadata.sorted_tables:
            if table.name in ("audit_events", "audit_head"):
                continue  # appended to on every read: compared as the list of new events instead
            key = [column.name for column in table.primary_key.columns]
            tables[table.name] = {
                tuple(row[name] for name in key): {
                    name: value for name, value in row.items() if (table.name, name) not in VOLATILE
                }
                for row in session.execute(select(table)).mappings()
            }
        last_event = session.scalar(select(func.max(AuditEvent.id))) or 0
    return Snapshot(tables, last_event)


def since(app: Flask, before: Snapshot) -> Change:
    """What changed in the database since `before`."""
    after = snapshot(app)
    change = Change()
    for name, rows in after.tables.items():
        old = before.tables[name]
        if added := [row for key, row in rows.items() if key not in old]:
            change.added[name] = added
        if removed := [row for key, row in old.items() if key not in rows]:
            change.removed[name] = removed
        if changed := [(old[key], row) for key, row in rows.items() if key in old and old[key] != row]:
            change.changed[name] = changed
    with app.extensions["portal_db"].session() as session:
        actions = session.scalars(
            select(AuditEvent.action).where(AuditEvent.id > before.last_event).order_by(AuditEvent.id)
        )
        change.events = [action for action in actions if action not in READS]
    return change


# --- a reviewer desk: both apps on one database, staff logged in once per module -------------------

MOVING_CLOCK_COLUMNS = {
    "state",
    "state_since",
    "answer_due_on",
    "resolution_due_on",
    "paused_days_left",
    "extensions",
    "first_decision_on",
    "concluded_on",
}


@dataclass(repr=False)
class Desk:
    engine: str
    citizen: Flask
    reviewer: Flask
    keys: KeyPair
    people: dict[str, Person]
    browsers: dict[str, FlaskClient]
    tokens: dict[str, str]
    receipt: str  # of the "open" case
    cases: dict[str, int]
    references: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)  # what the password fuzz changed

    def __repr__(self) -> str:
        return f"Desk({self.engine})"  # hypothesis prints it with every failing example

    def case(self, name: str) -> Case:
        with self.reviewer.extensions["portal_db"].session() as session:
            row = session.get(Case, self.cases[name])
            assert row is not None
            return row

    def write(self, statement: Any) -> None:
        with self.reviewer.extensions["portal_db"].transaction() as session:
            session.execute(statement)

    def post(self, role: str, path: str, data: dict[str, Any], *, forged: bool = False) -> TestResponse:
        """Post as a logged-in person: never a 500, and flashed messages never pile up in the cookie."""
        browser = self.browsers[role]
        response = browser.post(path, data={**data, "csrf_token": "forged" if forged else self.tokens[role]})
        assert response.status_code != 500
        if response.status_code == 302:
            with browser.session_transaction() as cookie:
                cookie.pop("_flashes", None)
        return response


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the module's own: its fuzzing leaves thousands of rows no other test should see."""
    if request.param == "sqlite":
        folder = scratch_folder(tmp_path_factory)
        url = f"sqlite:///{folder / 'portal.db'}"
        upgrade(url)
        yield url
        shutil.rmtree(folder, ignore_errors=True)
        return
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL to fuzz the forms on it")
    schema = f"fuzz_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(sql(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    # Thousands of commits to a schema thrown away afterwards: not waiting for each to reach the disk.
    url = f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    upgrade(url)
    yield url
    with admin.begin() as connection:
        connection.execute(sql(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(scope="module")
def desk(database: str) -> Iterator[Desk]:
    keys = generate_keypair()
    env = {
        "PORTAL_ENV": "testing",
        "DATABASE_URL": database,
        "INTAKE_PUBLIC_KEY": public_key_b64(keys.public),
        "CITIZEN_SECRET_KEY": "citizen-secret-key-for-fuzzing-0123456789",
        "REVIEWER_SECRET_KEY": "reviewer-secret-key-for-fuzzing-0123456789",
        "AUDIT_KEY": "audit-key-for-fuzzing-only-0123456789abcdefghij",
        "RECEIPT_PEPPER": "receipt-pepper-for-fuzzing-only-0123456789abcd",
        "COOKIE_SECURE": "false",
        "KDF_COST": "testing",
        "RATELIMIT_ENABLED": "false",
    }
    citizen, reviewer = create_citizen_app(env), create_reviewer_app(env)
    record_intake_key(reviewer, keys)
    roles = {
        "admin": Role.ADMIN,
        "lead": Role.LEAD,
        "inspector": Role.INSPECTOR,
        "changer": Role.INSPECTOR,  # whose password the password form fuzz changes
        "target": Role.INSPECTOR,  # whom the login form fuzz tries to log in as
        "spare": Role.INSPECTOR,  # whom the admin's buttons unlock and deactivate
    }
    people = {name: make_person(reviewer, keys, f"fuzz-{name}", role) for name, role in roles.items()}
    browsers, tokens = {}, {}
    for name in ("admin", "lead", "inspector", "changer"):
        browsers[name] = reviewer.test_client()
        assert log_in(browsers[name], people[name]).status_code == 302
        tokens[name] = csrf(browsers[name], "/vi/account/password")

    filer = citizen.test_client()
    receipt = file_report(filer)
    file_report(filer, report_type="TO_CAO", full_name="Nguyễn Văn A", contact="0912 345 678", truthful="y")
    file_report(filer)
    with reviewer.extensions["portal_db"].session() as session:
        open_case, identified, moving = session.execute(select(Case.id, Case.reference).order_by(Case.id)).all()
    desk = Desk(
        engine="postgresql" if database.startswith("postgresql") else "sqlite",
        citizen=citizen,
        reviewer=reviewer,
        keys=keys,
        people=people,
        browsers=browsers,
        tokens=tokens,
        receipt=receipt,
        cases={"open": open_case.id, "identified": identified.id, "moving": moving.id},
        references={"open": open_case.reference, "identified": identified.reference, "moving": moving.reference},
        passwords={"changer": PASSWORD},
    )
    yield desk
    citizen.extensions["portal_db"].dispose()
    reviewer.extensions["portal_db"].dispose()


def mostly(valid: st.SearchStrategy[Any], junk: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A valid value four times in five: refusals are easy to reach, and acceptance must be reached too."""
    return st.integers(0, 4).flatmap(lambda draw: junk if draw == 0 else valid)


forged_csrf = st.integers(0, 9).map(lambda draw: draw == 0)  # one request in ten without a good token
case_role = st.sampled_from(["lead", "inspector"])


# --- citizen: the message form, with a real receipt ------------------------------------------------

GOOD_MESSAGES = ["Tôi có thêm hợp đồng ký ngày 12/3/2025.", "Biên bản nghiệm thu số 45/BB, bản sao đính kèm sau."]
RECEIPT_KINDS = ["right", "right, lower case", "right, spaced", "right, O for 0", "another code", "a typo"]


def typed_receipt(kind: str, receipt: str) -> str:
    """What a person (or a guesser) types in the receipt field."""
    match kind:
        case "right":
            return receipt
        case "right, lower case":
            return receipt.lower()
        case "right, spaced":
            return receipt.replace("-", " ")
        case "right, O for 0":
            return receipt.replace("0", "O")
        case "another code":
            return generate_receipt()
        case "a typo":
            return ("2" if receipt[0] != "2" else "3") + receipt[1:]
    return kind


def well_formed(typed: str) -> bool:
    try:
        parse_receipt(typed)
    except ReceiptFormatError:
        return False
    return True


def opens(typed: str, receipt: str) -> bool:
    try:
        return parse_receipt(typed) == parse_receipt(receipt)
    except ReceiptFormatError:
        return False


@fuzz(150)
@given(
    kind=mostly(st.sampled_from(RECEIPT_KINDS), text),
    message=mostly(st.sampled_from(GOOD_MESSAGES), text | st.just("x" * 10_001)),
    files=mostly(st.none(), text),  # text where the files go: only a tampered request sends that
    keep_original=st.none() | text,
)
def test_reporter_message_form_stores_exactly_one_message_or_nothing(
    desk: Desk, kind: str, message: str, files: str | None, keep_original: str | None
) -> None:
    """The reporter's message form with the receipt and text fuzzed: a message is stored with the right
    receipt and a valid text, and a wrong code, a malformed one or a bad text stores nothing."""
    client = desk.citizen.test_client()
    typed = typed_receipt(kind, desk.receipt)
    data = {"csrf_token": csrf_token(client, "/vi/status"), "receipt": typed, "text": message}
    data |= {name: value for name, value in (("files", files), ("keep_original", keep_original)) if value is not None}
    before = snapshot(desk.citizen)
    response = client.post("/vi/status/message", data=data)
    change = since(desk.citizen, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    right = opens(typed, desk.receipt)
    if response.status_code == 200:
        assert right
        assert change.tables == {"messages"} and not change.removed and not change.changed
        [stored] = change.added["messages"]
        assert stored["case_id"] == desk.cases["open"] and stored["author"] == "reporter"
    else:
        assert change.nothing
        # The right receipt with a bad text, or a malformed code: 400; a well-formed wrong code: 404.
        assert response.status_code == (404 if well_formed(typed) and not right else 400)
        good = right and message in GOOD_MESSAGES and files is None
        assert not good, "a valid message with the right receipt was refused"


# --- reviewer: login, setup, password change --------------------------------------------------------


def codes_of(person: Person) -> set[str]:
    """The person's codes around now: wide enough that a step change during the request does not matter."""
    return {person.code(step) for step in range(-2, 3)}


@fuzz(200)
@given(
    username=st.one_of(st.sampled_from(["fuzz-target", "FUZZ-TARGET", "  fuzz-target ", "nobody-here"]), text),
    password=st.one_of(st.just(PASSWORD), text),
    code=st.one_of(st.sampled_from(["now", "before", "after"]), text),
    forged=forged_csrf,
)
def test_login_form_opens_a_session_only_for_the_right_credentials(
    desk: Desk, username: str, password: str, code: str, forged: bool
) -> None:
    """Whatever is typed into the login form: a refusal writes its audit event and nothing else; a login
    needs the account's name, its password and one of its current codes."""
    target = desk.people["target"]
    # Unlocked before each attempt, so the right credentials can still get in (lockout: test_login.py).
    desk.write(update(Inspector).where(Inspector.id == target.id).values(failed_logins=0, locked_until=None))
    typed_code = {"now": target.code(), "before": target.code(-1), "after": target.code(1)}.get(code, code)
    browser = desk.reviewer.test_client()
    token = "forged" if forged else csrf(browser, "/vi/login")
    before = snapshot(desk.reviewer)
    response = browser.post(
        "/vi/login", data={"csrf_token": token, "username": username, "password": password, "code": typed_code}
    )
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    assert response.status_code in (302, 400, 401)
    if response.status_code == 400:
        assert change.nothing
    elif response.status_code == 401:
        assert change.events == ["login_failed"]
        assert change.tables <= {"inspectors"} and not change.added and not change.removed
    else:
        assert not forged and username.strip().lower() == target.username and password == target.password
        assert typed_code.strip() in codes_of(target)
        assert change.events == ["login"]
        [opened] = change.added["reviewer_sessions"]
        assert opened["inspector_id"] == target.id and opened["stage"] == "ready"


@dataclass
class Newcomer:
    """An account at its first login, in the setup stage, with a browser holding that login."""

    person: Person
    browser: FlaskClient
    token: str


@pytest.fixture(scope="module")
def newcomers(desk: Desk) -> list[Newcomer]:
    return []


def newcomer(desk: Desk, newcomers: list[Newcomer]) -> Newcomer:
    if not newcomers:
        person = make_person(
            desk.reviewer, desk.keys, f"fuzz-new-{uuid.uuid4().hex[:8]}", Role.INSPECTOR, enrolled=False
        )
        browser = desk.reviewer.test_client()
        assert log_in(browser, person, code="").status_code == 302
        person = with_setup_key(browser, person)  # the key is made at this first login
        newcomers.append(Newcomer(person, browser, csrf(browser, "/vi/setup")))
    return newcomers[-1]


GOOD_PASSWORDS = ["một câu đủ dài để nhớ 2026", "correct horse battery staple", "x" * 256]


@fuzz(120)
@given(
    new_password=mostly(st.sampled_from(GOOD_PASSWORDS), text | st.sampled_from(["x" * 257, " " * 12])),
    confirm=mostly(st.none(), text),
    code=mostly(st.sampled_from(["now", "before"]), text),
    forged=forged_csrf,
)
def test_setup_form_enrols_only_with_a_good_password_and_code(
    desk: Desk, newcomers: list[Newcomer], new_password: str, confirm: str | None, code: str, forged: bool
) -> None:
    """First login: a new password and a working code enrol the account in one step; anything else
    leaves the account exactly as the admin created it."""
    current = newcomer(desk, newcomers)
    typed_code = {"now": current.person.code(), "before": current.person.code(-1)}.get(code, code)
    data = {
        "csrf_token": "forged" if forged else current.token,
        "new_password": new_password,
        "confirm": new_password if confirm is None else confirm,
        "code": typed_code,
    }
    before = snapshot(desk.reviewer)
    response = current.browser.post("/vi/setup", data=data)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert change.nothing
        return
    newcomers.pop()  # set up: the next example needs another newcomer
    assert not forged and data["confirm"] == new_password and 12 <= len(new_password) <= 256
    assert new_password.strip() and current.person.username not in new_password.lower()
    assert typed_code.strip() in codes_of(current.person)
    assert change.events == ["password_changed", "totp_enrolled"]
    assert change.changed_columns("inspectors") == {
        "password_hash",
        "wrapped_keyring",
        "totp_enrolled",
        "totp_last_step",
        "must_change_password",
    }
    [closed], [opened] = change.removed["reviewer_sessions"], change.added["reviewer_sessions"]
    assert closed["stage"] == "setup" and opened["stage"] == "ready"
    assert change.tables == {"inspectors", "reviewer_sessions"}


@fuzz(150)
@given(
    current=mostly(st.none(), text),
    new_password=mostly(st.sampled_from(GOOD_PASSWORDS), text | st.just("fuzz-changer-1234")),
    confirm=mostly(st.none(), text),
    forged=forged_csrf,
)
def test_password_form_changes_the_password_only_when_the_current_one_is_given(
    desk: Desk, current: str | None, new_password: str, confirm: str | None, forged: bool
) -> None:
    """A mismatch or a weak new password store nothing; a wrong current password stores only a failed login
    (audited, counted towards the lockout); a change re-wraps the person's copy of the keys under the new
    password and the session goes on working."""
    real = desk.passwords["changer"]
    data = {
        "current_password": real if current is None else current,
        "new_password": new_password,
        "confirm": new_password if confirm is None else confirm,
    }
    before = snapshot(desk.reviewer)
    response = desk.post("changer", "/vi/account/password", data, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        if not change.nothing:  # the current password was wrong: the guess is a failed login
            assert current not in (None, real) and not forged
            assert change.events == ["login_failed"]
            assert change.tables == {"inspectors"}
            assert change.changed_columns("inspectors") <= {"failed_logins", "locked_until"}
        assert (
            forged
            or current not in (None, real)
            or confirm not in (None, new_password)
            or (new_password not in GOOD_PASSWORDS)
        ), "a good password change was refused"
        return
    assert not forged and data["current_password"] == real and data["confirm"] == new_password
    assert new_password.strip() and 12 <= len(new_password) <= 256 and "fuzz-changer" not in new_password.lower()
    assert change.events == ["password_changed"]
    assert change.tables == {"inspectors"}
    assert change.changed_columns("inspectors") <= {"password_hash", "wrapped_keyring"}
    desk.passwords["changer"] = new_password
    assert desk.browsers["changer"].get("/vi/statistics").status_code == 200


# --- reviewer: the admin's forms ---------------------------------------------------------------------


@fuzz(150)
@given(
    username=mostly(
        st.from_regex(USERNAME, fullmatch=True),
        st.sampled_from(["fuzz-lead", "a", "Upper", "x" * 65]) | text,
    ),
    display_name=mostly(st.sampled_from(["Trần Thị B", "  Lê Văn C  "]), st.sampled_from(["", "x" * 129]) | text),
    role=mostly(st.sampled_from([str(role) for role in Role]), text),
    forged=forged_csrf,
)
def test_account_form_creates_exactly_one_account_or_nothing(
    desk: Desk, username: str, display_name: str, role: str, forged: bool
) -> None:
    """Account creation with every field fuzzed: one new account with what was typed, or nothing."""
    data = {"username": username, "display_name": display_name, "role": role}
    before = snapshot(desk.reviewer)
    response = desk.post("admin", "/vi/admin/accounts", data, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    assert response.status_code in (201, 400)
    if response.status_code == 400:
        assert change.nothing
        return
    assert not forged and change.events == ["account_created"]
    assert change.tables == {"inspectors"} and not change.changed and not change.removed
    [created] = change.added["inspectors"]
    assert created["username"] == username and USERNAME.fullmatch(username)
    assert created["role"] == role and created["display_name"] == unicodedata.normalize("NFC", display_name).strip()
    assert not created["totp_enrolled"] and created["must_change_password"]


@fuzz(60)
@given(
    button=st.sampled_from(["unlock", "deactivate"]),
    whom=st.sampled_from(["spare", "admin", "nobody"]),
    forged=forged_csrf,
)
def test_account_buttons_change_only_the_account_they_name(desk: Desk, button: str, whom: str, forged: bool) -> None:
    """Unlock and deactivate, forged, aimed at nobody or at oneself: they touch the account they name or nothing."""
    spare = desk.people["spare"]
    desk.write(update(Inspector).where(Inspector.id == spare.id).values(active=True, failed_logins=3))
    inspector_id = desk.people[whom].id if whom in desk.people else 10**6
    before = snapshot(desk.reviewer)
    response = desk.post("admin", f"/vi/admin/accounts/{inspector_id}/{button}", {}, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    if forged or whom == "nobody" or (button == "deactivate" and whom == "admin"):
        assert response.status_code in (302, 400, 404)  # 302: "you cannot deactivate your own account"
        assert change.nothing
        return
    assert response.status_code == 302
    assert change.events == [f"account_{'unlocked' if button == 'unlock' else 'deactivated'}"]
    assert change.tables <= {"inspectors"}
    for _before, after in change.changed.get("inspectors", []):
        assert after["id"] == inspector_id
    if whom == "spare":
        with desk.reviewer.extensions["portal_db"].session() as session:
            row = session.get(Inspector, spare.id)
            assert row is not None
            assert (row.failed_logins == 0) if button == "unlock" else (not row.active and row.wrapped_keyring is None)


@fuzz(150)
@given(args=st.dictionaries(st.sampled_from(["action", "actor", "case", "before"]), text, max_size=4))
def test_audit_filter_always_answers(desk: Desk, args: dict[str, str]) -> None:
    """A hand-edited filter of the audit trail gets the trail, never an error page."""
    response = desk.browsers["admin"].get("/vi/admin/audit", query_string=args)
    assert response.status_code == 200


QUEUE_ARGS = ["states", "report_type", "category", "sector", "ward_code", "assignee", "flags", "overdue", "due_within"]


@fuzz(100)
@given(args=st.dictionaries(st.sampled_from([*QUEUE_ARGS, "page"]), st.one_of(text, st.lists(text)), max_size=6))
def test_queue_filter_always_answers(desk: Desk, args: dict[str, Any]) -> None:
    """A hand-edited queue address shows a (wider) queue, never an error page, to leads and inspectors."""
    for role in ("lead", "inspector"):
        assert desk.browsers[role].get("/vi/cases", query_string=args).status_code == 200


# --- reviewer: acts on a case -------------------------------------------------------------------------

WARDS = [ward.code for ward in taxonomy.wards()[:3]]


def saved(response: TestResponse, anchor: str) -> bool:
    return response.status_code == 302 and response.headers["Location"].endswith(f"#{anchor}")


# None: the state the page showed; otherwise a stale or tampered one.
expected_states = mostly(st.none(), st.sampled_from([*State, "", "x" * 33]))


@st.composite
def classifications(draw: st.DrawFn) -> dict[str, Any]:
    codes = {
        "report_type": mostly(st.sampled_from([choice.value for choice in taxonomy.REPORT_TYPES]), text),
        "categories": st.lists(
            mostly(st.sampled_from([choice.value for choice in taxonomy.MISCONDUCT]), text), max_size=4
        ),
        "sector": mostly(st.sampled_from(["", *(choice.value for choice in taxonomy.SECTORS)]), text),
        "ward_code": mostly(st.sampled_from(["", *WARDS]), text),
        "duplicate_of": mostly(
            st.sampled_from(["", "identified", "moving"]), st.sampled_from(["open", "2026-99999"]) | text
        ),
    }
    flags = {name: st.one_of(st.none(), st.sampled_from(["y", "", "false"]), text) for name in FLAGS}
    return {name: draw(strategy) for name, strategy in {**codes, **flags}.items()}


FLAGS = ("urgent", "protection_requested", "complex", "especially_complex")


def checked(value: str | None) -> bool:
    """What a checkbox says: absent, empty or "false" is unticked."""
    return value not in (None, "", "false")


@fuzz(200)
@given(fields=classifications(), role=case_role, expected=expected_states, forged=forged_csrf)
def test_classification_form_saves_what_was_chosen_or_nothing(
    desk: Desk, fields: dict[str, Any], role: str, expected: str | None, forged: bool
) -> None:
    """Tampered choices, a stale page or a forged token save nothing; a classification saves exactly what was ticked."""
    case = desk.case("open")
    duplicate = desk.references.get(fields["duplicate_of"], fields["duplicate_of"])
    data = {name: value for name, value in fields.items() if value is not None}
    data.update(duplicate_of=duplicate, expected_state=case.state if expected is None else expected)
    before = snapshot(desk.reviewer)
    response = desk.post(role, f"/vi/cases/{case.id}/classify", data, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    if not saved(response, "classification"):
        assert response.status_code in (302, 400)
        assert change.nothing
        return
    assert not forged and data["expected_state"] == case.state
    assert change.events == ["classification"]
    assert change.tables <= {"cases", "case_categories", "case_events"}
    [entry] = change.added["case_events"]
    assert entry["kind"] == "classification" and entry["actor_id"] == desk.people[role].id
    now = desk.case("open")
    assert now.report_type == fields["report_type"]
    assert sorted(category.category for category in now.categories) == sorted(set(fields["categories"]))
    assert (now.sector or "", now.ward_code or "") == (fields["sector"], fields["ward_code"])
    assert (now.urgent, now.protection_requested) == (
        checked(fields["urgent"]),
        checked(fields["protection_requested"]),
    )
    assert now.especially_complex == checked(fields["especially_complex"])
    assert now.complex == (checked(fields["complex"]) or checked(fields["especially_complex"]))
    assert (now.duplicate_of_id is None) == (duplicate == "")
    assert now.duplicate_of_id != case.id


@fuzz(150)
@given(
    assignee=mostly(
        st.sampled_from(["", "lead", "inspector", "target"]),
        st.sampled_from(["admin", "999999", " 1", "²", "9" * 20]) | text,
    ),
    role=st.sampled_from(["lead", "lead", "inspector"]),
    expected=expected_states,
    forged=forged_csrf,
)
def test_assign_form_assigns_a_case_inspector_or_nothing(
    desk: Desk, assignee: str, role: str, expected: str | None, forged: bool
) -> None:
    """Only a lead assigns, only to an active lead or inspector (never an admin, never an id made up)."""
    case = desk.case("open")
    typed = str(desk.people[assignee].id) if assignee in desk.people else assignee
    data = {"assignee": typed, "expected_state": case.state if expected is None else expected}
    before = snapshot(desk.reviewer)
    response = desk.post(role, f"/vi/cases/{case.id}/assign", data, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    if not saved(response, "assignment"):
        assert response.status_code in (302, 400, 403)
        assert change.nothing
        return
    assert role == "lead" and not forged and data["expected_state"] == case.state
    assert assignee in ("", "lead", "inspector", "target")  # active lead or inspector, never an admin
    assert change.events == ["assignment"]
    assert change.tables <= {"cases", "case_events"}
    assert desk.case("open").assignee_id == (desk.people[assignee].id if assignee else None)


GOOD_REASONS = ["Đề nghị Ông/Bà cung cấp bản sao quyết định cấp phép xây dựng.", "Công an thành phố Hà Nội"]
EXTENSION_LIMITS = {Extension.COMPLEX: 1, Extension.ESPECIALLY_COMPLEX: 2}


@st.composite
def moves(draw: st.DrawFn) -> tuple[State, State]:
    """A state and a target: mostly one of the steps the law allows from it, else any state at all."""
    source = draw(st.sampled_from(list(State)))
    return source, draw(
        mostly(st.sampled_from([step.target for step in lifecycle.steps_from(source)]), st.sampled_from(list(State)))
    )


@fuzz(300)
@given(
    move=moves(),
    extensions=st.integers(0, 2),
    role=case_role,
    expected=expected_states,
    reason=mostly(st.sampled_from(GOOD_REASONS), text | st.just("x" * 10_001)),
    body=mostly(st.sampled_from(GOOD_REASONS), text | st.just("x" * 301)),
    extension=mostly(st.sampled_from(list(Extension)), st.sampled_from([None, "", "LONG"])),
    forged=forged_csrf,
)
def test_transition_form_takes_exactly_the_legal_step_or_nothing(
    desk: Desk,
    move: tuple[State, State],
    extensions: int,
    role: str,
    expected: str | None,
    reason: str,
    body: str,
    extension: str | None,
    forged: bool,
) -> None:
    """Every transition target from every state, with every field fuzzed: a step the law allows from the
    state the page showed, with what it needs, moves the case; anything else changes nothing."""
    (source, target), moving, day = move, desk.cases["moving"], today()
    desk.write(
        update(Case)
        .where(Case.id == moving)
        .values(
            state=str(source),
            state_since=day,
            answer_due_on=day + timedelta(days=10),
            resolution_due_on=day + timedelta(days=30),
            paused_days_left=3,
            extensions=extensions,
            first_decision_on=None,
            concluded_on=None,
            forwarded_to=None,
            complex=False,
            especially_complex=False,
            assignee_id=desk.people["inspector"].id,
        )
    )
    fields = {"expected_state": str(source) if expected is None else expected, "text": reason, "body": body}
    if extension is not None:
        fields["extension"] = extension
    data = {f"{target}-{name}": value for name, value in fields.items()}
    before = snapshot(desk.reviewer)
    response = desk.post(role, f"/vi/cases/{moving}/transition/{target}", data, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    step = next((step for step in lifecycle.steps_from(source) if step.target == target), None)
    extension_left = extension in EXTENSION_LIMITS and extensions < EXTENSION_LIMITS[Extension(extension)]
    if not saved(response, "transition"):
        assert response.status_code in (302, 400, 403)
        assert change.nothing
        must_move = (
            not forged
            and expected is None
            and step is not None
            and (role == "lead" or not step.lead_only)
            and reason in GOOD_REASONS
            and body in GOOD_REASONS
            and (not step.needs_extension or extension_left)
            # A value that is no kind of extension is a tampered form, whatever the step.
            and extension in (None, "", *EXTENSION_LIMITS)
        )
        assert not must_move, f"a legal step {source} -> {target} was refused"
        return
    assert step is not None and not forged and fields["expected_state"] == str(source)
    assert role == "lead" or not step.lead_only
    assert not step.needs_reason or reason.strip()
    assert not step.needs_body or body.strip()
    assert not step.needs_extension or extension_left
    assert change.events == ["transition"]
    [entry] = change.added["case_events"]
    assert (entry["kind"], entry["from_state"], entry["to_state"]) == ("transition", str(source), str(target))
    told = step.tells_reporter and bool(reason.strip())
    assert len(change.added.get("messages", [])) == (1 if told else 0)
    assert change.tables <= {"cases", "case_events", "messages"}
    allowed = set(MOVING_CLOCK_COLUMNS)
    if step.needs_body:
        allowed.add("forwarded_to")
    if step.needs_extension:
        allowed |= {"complex", "especially_complex"}
    assert change.changed_columns("cases") <= allowed
    assert desk.case("moving").state == target


TEXT_ACTS = {
    # form: (field, case, tables it writes, the audit action)
    "message": ("text", "open", {"messages"}, "message_sent"),
    "note": ("text", "open", {"case_notes"}, "note_added"),
    "reveal": ("reason", "identified", {"case_events", "cases"}, "identity_revealed"),
}


@fuzz(200)
@given(
    act=st.sampled_from(sorted(TEXT_ACTS)),
    written=mostly(st.sampled_from(GOOD_REASONS), text | st.just("x" * 10_001)),
    files=mostly(st.none(), text),  # the message form takes files: text in their place is a tampered request
    role=case_role,
    expected=expected_states,
    forged=forged_csrf,
)
def test_message_note_and_reveal_forms_store_one_sealed_text_or_nothing(
    desk: Desk, act: str, written: str, files: str | None, role: str, expected: str | None, forged: bool
) -> None:
    """Each text act stores one row and its audit event, or nothing; a reveal is a lead's, with a reason."""
    name, case_name, tables, action = TEXT_ACTS[act]
    case = desk.case(case_name)
    data = {name: written, "expected_state": case.state if expected is None else expected}
    if files is not None:
        data["files"] = files
    before = snapshot(desk.reviewer)
    response = desk.post(role, f"/vi/cases/{case.id}/{act}", data, forged=forged)
    change = since(desk.reviewer, before)
    event(f"answered {response.status_code}, {'nothing stored' if change.nothing else 'stored'}")
    if not saved(response, act):
        assert response.status_code in (302, 400, 403)
        assert change.nothing
        lead_only = act == "reveal"
        must_save = (
            not forged
            and expected is None
            and written in GOOD_REASONS
            and (role == "lead" or not lead_only)
            and (files is None or act != "message")
        )
        assert not must_save, f"a good {act} was refused"
        return
    assert not forged and data["expected_state"] == case.state and written.strip()
    assert act != "message" or files is None
    assert act != "reveal" or (role == "lead" and len(written.strip()) >= 20)
    assert change.events == [action]
    assert change.tables <= tables and not change.removed
    assert sum(len(rows) for rows in change.added.values()) == 1
    if act == "reveal":
        assert change.changed_columns("cases") <= {"identity_revealed_on"}
        assert desk.case("identified").identity_revealed_on == today()


# --- inputs that once gave a 500 or a wrong change ------------------------------------------------------


def test_a_transition_from_a_state_that_does_not_exist_is_answered(desk: Desk) -> None:
    moving = desk.cases["moving"]
    desk.write(update(Case).where(Case.id == moving).values(state="TRIAGE", extensions=0))
    response = desk.post("lead", f"/vi/cases/{moving}/transition/ACCEPTED", {"ACCEPTED-expected_state": "VERIFIED"})
    assert response.status_code in (302, 400)


def test_assign_with_a_superscript_digit_is_answered(desk: Desk) -> None:
    case = desk.case("open")
    response = desk.post("lead", f"/vi/cases/{case.id}/assign", {"assignee": "²", "expected_state": case.state})
    assert response.status_code == 400


@pytest.mark.parametrize(
    "args",
    [{"case": "²"}, {"before": "²"}, {"case": "9" * 20}, {"before": "9" * 20}, {"actor": "\x00"}],
    ids=["superscript-case", "superscript-before", "huge-case", "huge-before", "nul-actor"],
)
def test_audit_filter_with_odd_numbers_or_a_nul_is_answered(desk: Desk, args: dict[str, str]) -> None:
    """Ids the databases cannot hold and a NUL in a name are filters that match nothing, not errors."""
    assert desk.browsers["admin"].get("/vi/admin/audit", query_string=args).status_code == 200


@pytest.mark.parametrize("route", ["case page", "unlock", "reporter's file"])
def test_an_id_beyond_the_databases_integers_is_not_found(desk: Desk, route: str) -> None:
    huge = 10**20
    if route == "case page":
        response = desk.browsers["lead"].get(f"/vi/cases/{huge}")
    elif route == "unlock":
        response = desk.post("admin", f"/vi/admin/accounts/{huge}/unlock", {})
    else:
        client = desk.citizen.test_client()
        token = csrf_token(client, "/vi/status")
        response = client.post(f"/vi/status/files/{huge}", data={"csrf_token": token, "receipt": desk.receipt})
    assert response.status_code == 404


def test_an_extension_sent_with_another_step_does_not_flag_the_case(desk: Desk) -> None:
    moving = desk.cases["moving"]
    desk.write(update(Case).where(Case.id == moving).values(state="TRIAGE", complex=False, especially_complex=False))
    data = {"ACCEPTED-expected_state": "TRIAGE", "ACCEPTED-extension": "ESPECIALLY_COMPLEX"}
    assert saved(desk.post("lead", f"/vi/cases/{moving}/transition/ACCEPTED", data), "transition")
    case = desk.case("moving")
    assert (case.complex, case.especially_complex) == (False, False)
