"""Least privilege in PostgreSQL: each app does all its work on its own role, and the citizen portal's
role, in an intruder's hands, cannot read or change what the portal never needs.

A schema of its own, owned by an ordinary (not superuser) owner role that runs the migrations and
`db roles`, as in production; the two app roles are made by the command. Roles are cluster-wide, so
their names are unique to the run and they are dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import pytest
from click.testing import Result
from flask import Flask
from sqlalchemy import Engine, create_engine, make_url, select, text
from sqlalchemy.exc import ProgrammingError

from crypto.keys import KeyPair
from crypto.receipts import lookup_id, parse_receipt
from portal import create_citizen_app, create_reviewer_app, db_roles
from portal.accounts import Role
from portal.migrate import upgrade
from portal.models import Case
from tests.app.test_evidence_files import download, downloads, post_multipart, receipt_of, send_report
from tests.app.test_status import look_up
from tests.conftest import POSTGRES_URL, close_database
from tests.helpers import csrf_token
from tests.reviewer.test_casework import move, post_case_form
from tests.reviewer.test_evidence import fetch, file_ids
from tests.reviewer_helpers import Person, csrf, expected_state, log_in, make_person, record_intake_key

INSUFFICIENT_PRIVILEGE = "42501"
PUBLIC = 0  # the grantee aclexplode() names for PUBLIC
EVIDENCE = os.urandom(150_000)  # three chunks


@dataclass(frozen=True)
class Roles:
    schema: str
    owner: str
    citizen: str
    reviewer: str

    def url(self, role: str) -> str:
        """The URL a role connects with (trust authentication on the test server), in the schema."""
        url = make_url(POSTGRES_URL).set(username=role, password=None)
        url = url.update_query_dict({"options": f"-csearch_path={self.schema}"})
        return url.render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def roles() -> Iterator[Roles]:
    """Migrated by its owner, then `db roles` as that owner, which creates the two app roles."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL only: set TEST_DATABASE_URL to test the database roles")
    prefix = f"t_{uuid.uuid4().hex[:10]}"
    names = Roles(prefix, f"{prefix}_owner", f"{prefix}_citizen", f"{prefix}_reviewer")
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE ROLE {names.owner} LOGIN CREATEROLE"))
        connection.execute(text(f"CREATE SCHEMA {names.schema} AUTHORIZATION {names.owner}"))
    try:
        upgrade(names.url(names.owner))
        owner = create_engine(names.url(names.owner))
        db_roles.apply(owner, names.citizen, names.reviewer)
        owner.dispose()
        yield names
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA IF EXISTS {names.schema} CASCADE"))
            for role in (names.citizen, names.reviewer, names.owner):
                if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).first():
                    connection.execute(text(f"DROP OWNED BY {role}"))
                    connection.execute(text(f"DROP ROLE {role}"))
        admin.dispose()


@pytest.fixture
def database_url(roles: Roles) -> str:
    """The owner's URL, for conftest's `env`: what runs `db upgrade` and `db roles` in production."""
    return roles.url(roles.owner)


@pytest.fixture
def owner_engine(roles: Roles) -> Iterator[Engine]:
    engine = create_engine(roles.url(roles.owner))
    yield engine
    engine.dispose()


@pytest.fixture
def citizen_portal(env: dict[str, str], roles: Roles) -> Iterator[Flask]:
    app = create_citizen_app({**env, "DATABASE_URL": roles.url(roles.citizen)})
    yield app
    close_database(app)


@pytest.fixture
def reviewer_portal(env: dict[str, str], roles: Roles) -> Iterator[Flask]:
    app = create_reviewer_app({**env, "DATABASE_URL": roles.url(roles.reviewer)})
    yield app
    close_database(app)


@pytest.fixture
def owner_app(env: dict[str, str]) -> Iterator[Flask]:
    app = create_reviewer_app(env)
    yield app
    close_database(app)


def person(app: Flask, keys: KeyPair, role: Role) -> Person:
    """An enrolled account made on the reviewer's role, as `inspectors add` makes it in production."""
    return make_person(app, keys, f"{role.value}-{uuid.uuid4().hex[:8]}", role)


def case_id_of(engine: Engine, pepper: str, receipt: str) -> int:
    with engine.connect() as connection:
        query = select(Case.id).where(Case.lookup_id == lookup_id(pepper.encode(), parse_receipt(receipt)))
        return connection.execute(query).scalar_one()


def state_of(engine: Engine, case_id: int) -> str:
    with engine.connect() as connection:
        return connection.execute(select(Case.state).where(Case.id == case_id)).scalar_one()


# --- sufficiency: every flow of both apps on its own role ---------------------------------------------


def test_the_citizen_portal_files_finds_answers_and_downloads_on_its_role(citizen_portal: Flask) -> None:
    client = citizen_portal.test_client()
    receipt = receipt_of(send_report(client, [(EVIDENCE, "sao kê.xlsx")]))

    assert look_up(client, receipt).status_code == 200
    answer = "Xin gửi thêm biên bản cuộc họp ngày 3 tháng 3."
    data = {"csrf_token": csrf_token(client, "/vi/status"), "receipt": receipt, "text": answer}
    sent = post_multipart(client, "/vi/status/message", data, [(b"bien ban", "biên bản.txt")])
    assert sent.status_code == 200 and answer in sent.get_data(as_text=True)

    links = downloads(client, receipt)
    assert set(links) == {"sao kê.xlsx", "biên bản.txt"}
    assert download(client, links["sao kê.xlsx"], receipt).data == EVIDENCE
    assert download(client, links["biên bản.txt"], receipt).data == b"bien ban"


def test_a_case_worked_on_the_reviewers_role_reopens_on_the_citizens(
    citizen_portal: Flask, reviewer_portal: Flask, intake_keys: KeyPair, owner_engine: Engine, env: dict[str, str]
) -> None:
    reporter = citizen_portal.test_client()
    receipt = receipt_of(send_report(reporter, [(EVIDENCE, "sao kê.xlsx")]))
    case_id = case_id_of(owner_engine, env["RECEIPT_PEPPER"], receipt)
    record_intake_key(reviewer_portal, intake_keys)
    inspector, lead = reviewer_portal.test_client(), reviewer_portal.test_client()
    assert log_in(inspector, person(reviewer_portal, intake_keys, Role.INSPECTOR)).status_code == 302
    assert log_in(lead, person(reviewer_portal, intake_keys, Role.LEAD)).status_code == 302

    assert "Cán bộ thu tiền" in inspector.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    [file_id] = file_ids(inspector, case_id)
    assert fetch(inspector, case_id, file_id).data == EVIDENCE
    assert move(inspector, case_id, "TRIAGE").status_code == 302
    assert post_case_form(inspector, case_id, "note", text="Đối chiếu với hồ sơ năm 2024.").status_code == 302
    page = inspector.get(f"/vi/cases/{case_id}").get_data(as_text=True)
    question = {"csrf_token": csrf(inspector, f"/vi/cases/{case_id}"), "expected_state": expected_state(page)}
    question["text"] = "Mẫu đơn để ông/bà điền."
    assert post_multipart(inspector, f"/vi/cases/{case_id}/message", question, [(b"mau", "mẫu.txt")]).status_code == 302
    reason = "Chưa đủ cơ sở: chưa có tài liệu chứng minh."
    assert move(lead, case_id, "ARCHIVED_INSUFFICIENT", text=reason).status_code == 302
    assert state_of(owner_engine, case_id) == "ARCHIVED_INSUFFICIENT"

    # The reporter reads the reason, downloads the inspectors' file, and new information reopens the case.
    assert reason in look_up(reporter, receipt).get_data(as_text=True)
    assert download(reporter, downloads(reporter, receipt)["mẫu.txt"], receipt).data == b"mau"
    data = {"csrf_token": csrf_token(reporter, "/vi/status"), "receipt": receipt, "text": "Tôi gửi thêm chứng cứ."}
    assert reporter.post("/vi/status/message", data=data).status_code == 200
    assert state_of(owner_engine, case_id) == "TRIAGE"
    assert "Tôi gửi thêm chứng cứ." in inspector.get(f"/vi/cases/{case_id}").get_data(as_text=True)

    token = csrf(inspector, f"/vi/cases/{case_id}")
    assert inspector.post("/vi/logout", data={"csrf_token": token}).status_code == 302
    verified = reviewer_portal.test_cli_runner().invoke(args=["audit", "verify"])
    assert verified.exit_code == 0, verified.output


# --- what an intruder holding a role cannot do ----------------------------------------------------------

CITIZEN_REFUSED = [
    "SELECT sealed_report FROM cases",
    "SELECT sealed_identity FROM cases",
    "SELECT * FROM cases",
    "SELECT count(*) FROM cases WHERE sealed_identity IS NOT NULL",
    "SELECT assignee_id, urgent, sector FROM cases",
    "UPDATE cases SET state = state RETURNING sealed_report",
    "SELECT sealed_for_intake FROM messages",
    "SELECT inspector_id FROM messages",
    "SELECT sealed_for_intake FROM attachments",
    "SELECT recovery_wrapped_private_key FROM intake_keys",
    "SELECT * FROM inspectors",
    "SELECT * FROM reviewer_sessions",
    "SELECT * FROM audit_events",
    "SELECT * FROM case_notes",
    "SELECT * FROM case_events",
    "UPDATE cases SET sealed_report_for_reporter = '\\x00'",
    "UPDATE cases SET sealed_report = '\\x00'",
    "UPDATE cases SET sealed_identity = NULL",
    "UPDATE cases SET lookup_id = '\\x00'",
    "UPDATE cases SET assignee_id = NULL",
    "UPDATE messages SET sealed_for_reporter = '\\x00'",
    "UPDATE attachment_chunks SET data = '\\x00'",
    "DELETE FROM cases",
    "DELETE FROM messages",
    "DELETE FROM attachments",
    "DELETE FROM attachment_chunks",
    "TRUNCATE cases",
    "TRUNCATE attachment_chunks",
    "CREATE TABLE planted (id integer)",
    "CREATE VIEW planted AS SELECT 1 AS one",
    "ALTER TABLE cases ADD COLUMN planted integer",
    "DROP TABLE messages",
]

REVIEWER_REFUSED = [
    "UPDATE audit_events SET detail = '{}'",
    "DELETE FROM audit_events",
    "DELETE FROM audit_head",
    "TRUNCATE audit_events",
    "TRUNCATE cases",
    "CREATE TABLE planted (id integer)",
    "DROP TABLE case_notes",
    "ALTER TABLE audit_events ADD COLUMN planted integer",
]


@pytest.fixture
def as_role(roles: Roles) -> Iterator[dict[str, Engine]]:
    engines = {role: create_engine(roles.url(role)) for role in (roles.citizen, roles.reviewer)}
    yield engines
    for engine in engines.values():
        engine.dispose()


def refused(engine: Engine, statement: str) -> str:
    """The SQLSTATE the statement fails with; nothing it did is kept."""
    with pytest.raises(ProgrammingError) as failure, engine.begin() as connection:
        connection.execute(text(statement))
    return failure.value.orig.sqlstate  # type: ignore[union-attr]


@pytest.mark.parametrize("statement", CITIZEN_REFUSED)
def test_the_citizen_role_is_refused(as_role: dict[str, Engine], roles: Roles, statement: str) -> None:
    assert refused(as_role[roles.citizen], statement) == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("statement", REVIEWER_REFUSED)
def test_the_reviewer_role_is_refused(as_role: dict[str, Engine], roles: Roles, statement: str) -> None:
    assert refused(as_role[roles.reviewer], statement) == INSUFFICIENT_PRIVILEGE


def test_the_citizen_role_reads_no_table_it_was_not_given(
    as_role: dict[str, Engine], roles: Roles, owner_engine: Engine
) -> None:
    """Deny by default: a table added later (key_grants, …) is closed to the portal until listed."""
    with owner_engine.connect() as connection:
        tables = set(
            connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")).scalars()
        )
    closed = tables - set(db_roles.CITIZEN_PRIVILEGES)
    assert {"inspectors", "audit_events", "audit_head", "case_notes", "case_categories", "reviewer_sessions"} <= closed
    for table in sorted(closed):
        assert refused(as_role[roles.citizen], f"SELECT count(*) FROM {table}") == INSUFFICIENT_PRIVILEGE, table
    with as_role[roles.citizen].connect() as connection:  # the same connection does read what it was given
        connection.execute(text("SELECT id, state, received_on, answer_due_on FROM cases"))
        connection.execute(text("SELECT id, public_key, active FROM intake_keys"))
        connection.execute(text("SELECT version_num FROM alembic_version"))


# --- the command: exact, repeatable, only for the owner -----------------------------------------------

GRANTS_HELD = """
SELECT c.relname, '', acl.privilege_type FROM pg_class c, aclexplode(c.relacl) acl
 WHERE c.relnamespace = current_schema()::regnamespace AND acl.grantee = :grantee
UNION ALL
SELECT c.relname, a.attname, acl.privilege_type FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid,
 aclexplode(a.attacl) acl WHERE c.relnamespace = current_schema()::regnamespace AND acl.grantee = :grantee
UNION ALL
SELECT n.nspname, '', acl.privilege_type FROM pg_namespace n, aclexplode(n.nspacl) acl
 WHERE n.nspname = current_schema() AND acl.grantee = :grantee
"""


def grants_held(engine: Engine, role: str | None) -> set[tuple[str, str, str]]:
    """(table, sequence or schema; column or ''; privilege) that a role (None: PUBLIC) holds in the schema."""
    with engine.connect() as connection:
        role_oid = text("SELECT oid FROM pg_roles WHERE rolname = :role")
        grantee = PUBLIC if role is None else connection.execute(role_oid, {"role": role}).scalar_one()
        return {tuple(row) for row in connection.execute(text(GRANTS_HELD), {"grantee": grantee})}


def expected_grants(
    privileges: Mapping[str, db_roles.Privileges], schema: str, sequences: set[str]
) -> set[tuple[str, str, str]]:
    expected = {(schema, "", "USAGE")} | {(sequence, "", "USAGE") for sequence in sequences}
    for table, table_privileges in privileges.items():
        for privilege, columns in table_privileges.items():
            expected |= {(table, column, privilege) for column in columns or [""]}
    return expected


def run_roles(app: Flask, citizen: str, reviewer: str) -> Result:
    return app.test_cli_runner().invoke(args=["db", "roles", "--citizen", citizen, "--reviewer", reviewer])


def test_the_grants_are_exactly_the_lists_and_a_rerun_removes_what_was_added_by_hand(
    owner_app: Flask, roles: Roles, owner_engine: Engine
) -> None:
    with owner_engine.connect() as connection:
        sequences = set(
            connection.execute(
                text(
                    "SELECT relname FROM pg_class WHERE relkind = 'S' AND relnamespace = current_schema()::regnamespace"
                )
            ).scalars()
        )
    citizen = expected_grants(
        db_roles.CITIZEN_PRIVILEGES,
        roles.schema,
        {"cases_id_seq", "messages_id_seq", "attachments_id_seq", "case_events_id_seq"},
    )
    reviewer = expected_grants(db_roles.reviewer_privileges(), roles.schema, sequences)
    assert grants_held(owner_engine, roles.citizen) == citizen
    assert grants_held(owner_engine, roles.reviewer) == reviewer
    assert ("audit_events", "", "UPDATE") not in reviewer and ("audit_head", "", "DELETE") not in reviewer

    with owner_engine.begin() as connection:
        connection.execute(text(f"GRANT DELETE ON cases TO {roles.citizen}"))
        connection.execute(text(f"GRANT SELECT (sealed_identity) ON cases TO {roles.citizen}"))
        connection.execute(text(f"GRANT TRUNCATE, DELETE ON audit_events TO {roles.reviewer}"))
        connection.execute(text("GRANT SELECT ON inspectors TO PUBLIC"))
        connection.execute(text(f"GRANT CREATE ON SCHEMA {roles.schema} TO PUBLIC, {roles.citizen}"))
    first = run_roles(owner_app, roles.citizen, roles.reviewer)
    assert first.exit_code == 0, first.output
    assert f"{roles.citizen} and {roles.reviewer} hold exactly their grants" in first.output
    assert "Created" not in first.output
    for _run in range(2):
        assert grants_held(owner_engine, roles.citizen) == citizen
        assert grants_held(owner_engine, roles.reviewer) == reviewer
        assert grants_held(owner_engine, None) == set()
        assert run_roles(owner_app, roles.citizen, roles.reviewer).exit_code == 0


def test_the_app_roles_are_plain_login_roles(owner_engine: Engine, roles: Roles) -> None:
    with owner_engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls FROM pg_roles"
                " WHERE rolname IN (:citizen, :reviewer)"
            ),
            {"citizen": roles.citizen, "reviewer": roles.reviewer},
        ).all()
    assert [tuple(row) for row in rows] == [(True, False, False, False, False)] * 2


def test_only_the_owner_may_run_it(reviewer_portal: Flask, roles: Roles, owner_engine: Engine) -> None:
    before = grants_held(owner_engine, roles.citizen)
    result = run_roles(reviewer_portal, roles.citizen, roles.reviewer)
    assert result.exit_code == 1
    assert f"Run `db roles` as the owner of schema '{roles.schema}'" in result.output
    assert f"'{roles.reviewer}' is not '{roles.owner}'" in result.output
    assert grants_held(owner_engine, roles.citizen) == before


def test_a_role_that_would_bypass_the_grants_is_refused(owner_app: Flask, roles: Roles) -> None:
    result = run_roles(owner_app, roles.owner, roles.reviewer)
    assert result.exit_code == 1
    assert f"Role '{roles.owner}' is a superuser or owns the schema's objects" in result.output


def test_a_citizen_role_that_inherits_the_reviewers_grants_is_refused(
    owner_app: Flask, roles: Roles, owner_engine: Engine
) -> None:
    before = grants_held(owner_engine, roles.citizen)
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f"GRANT {roles.reviewer} TO {roles.citizen}"))
    try:
        result = run_roles(owner_app, roles.citizen, roles.reviewer)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"REVOKE {roles.reviewer} FROM {roles.citizen}"))
        admin.dispose()
    assert result.exit_code == 1
    assert f"Role '{roles.citizen}' is a member of '{roles.reviewer}'" in result.output
    assert grants_held(owner_engine, roles.citizen) == before


def test_a_missing_role_needs_a_superuser_when_the_owner_may_not_create_roles(
    owner_app: Flask, roles: Roles, owner_engine: Engine
) -> None:
    admin = create_engine(POSTGRES_URL)
    missing = f"{roles.schema}_absent"
    with admin.begin() as connection:
        connection.execute(text(f"ALTER ROLE {roles.owner} NOCREATEROLE"))
    try:
        result = run_roles(owner_app, missing, roles.reviewer)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"ALTER ROLE {roles.owner} CREATEROLE"))
        admin.dispose()
    assert result.exit_code == 1
    assert f"createuser {missing}" in result.output
    with owner_engine.connect() as connection:
        assert connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": missing}).first() is None


def test_sqlite_is_refused() -> None:
    engine = create_engine("sqlite://")
    with pytest.raises(db_roles.RoleError, match="PostgreSQL only"):
        db_roles.apply(engine, "portal_citizen", "portal_reviewer")
    engine.dispose()
