"""The two apps' PostgreSQL roles and exactly what each may do, as code.

Why: the citizen portal faces the public. If it is taken over, its database role must not hand the
intruder what the portal never needs: the intake copies of reports and identities, the inspectors'
accounts and sessions, internal notes, the timeline, the audit trail. So the citizen role gets
column-level privileges for exactly the statements of its requests (`portal.cases`,
`portal.attachments`) and nothing on any other table; it deletes nothing and cannot touch a sealed
column once written. The reviewer role may change every table the models define, except that the
audit trail is append-only for it (`portal.audit`). Neither role owns anything, so neither can run
DDL, TRUNCATE or hand its privileges on: those stay with the owner that runs the migrations.

`apply` is run by that owner after every migration. In one transaction it revokes everything the two
roles (and PUBLIC) hold on the tables and sequences of the schema in use, then grants exactly the
lists below: a new table or column is covered, a privilege granted by hand is gone, and the apps
never see a moment without their grants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

from sqlalchemy import Connection, Engine, text

from portal.lifecycle import Clock
from portal.models import Base

# A privilege on a whole table (None) or on the listed columns only.
Privileges = Mapping[str, Sequence[str] | None]
TABLE_DML: Privileges = {"SELECT": None, "INSERT": None, "UPDATE": None, "DELETE": None}

# The columns of a case's legal clock: written at filing, read and moved by a reporter's reply that
# reopens a waiting or archived case (`cases.add_reporter_message`).
CLOCK_COLUMNS = tuple(field.name for field in fields(Clock))

# Alembic's one-row table: the doctors compare the schema's revision with the code's, a backup records it.
SCHEMA_REVISION: Mapping[str, Privileges] = {"alembic_version": {"SELECT": None}}

CITIZEN_PRIVILEGES: Mapping[str, Privileges] = {
    **SCHEMA_REVISION,
    # Public information: the doctor checks that the configured public key is the active one.
    "intake_keys": {"SELECT": ("id", "public_key", "active")},
    # `cases.allocate_reference`: one upsert that bumps the year's counter and returns it.
    "reference_counters": {"SELECT": ("year", "last_value"), "INSERT": ("year", "last_value"), "UPDATE": ("last_value",)},
    "cases": {
        # The receipt lookup, the reporter's own copy, the status page, the clock a reply may reopen.
        "SELECT": (
            "id", "lookup_id", "report_type", "received_on", "reporter_public_key", "reporter_salt",
            "sealed_report_for_reporter", *CLOCK_COLUMNS,
        ),
        # Filing. The triage flags are listed because the model's defaults (all false) are sent with the row.
        "INSERT": (
            "reference", "lookup_id", "report_type", "anonymous", "received_on", "intake_key_id",
            "reporter_public_key", "reporter_salt", "sealed_report", "sealed_report_for_reporter", "sealed_identity",
            "urgent", "protection_requested", "complex", "especially_complex", *CLOCK_COLUMNS,
        ),
        "UPDATE": CLOCK_COLUMNS,
    },
    "messages": {
        "SELECT": ("id", "case_id", "author", "sent_on", "sealed_for_reporter"),
        "INSERT": ("case_id", "author", "sent_on", "sealed_for_intake", "sealed_for_reporter"),
    },
    "attachments": {
        "SELECT": ("id", "case_id", "message_id", "author", "sent_on", "stream_header", "sealed_for_reporter"),
        "INSERT": (
            "case_id", "message_id", "author", "inspector_id", "sent_on", "stream_header", "chunk_count",
            "sealed_for_intake", "sealed_for_reporter",
        ),
    },
    "attachment_chunks": {"SELECT": ("attachment_id", "seq", "data"), "INSERT": ("attachment_id", "seq", "data")},
    # The reopening's line in the timeline; the timeline itself stays unreadable.
    "case_events": {"INSERT": ("case_id", "occurred_on", "kind", "from_state", "to_state")},
}  # fmt: skip

# The audit trail is append-only: events are added, never changed or removed; the head row is created
# on the first append (INSERT … ON CONFLICT DO NOTHING) and then only moved forward.
AUDIT_PRIVILEGES: Mapping[str, Privileges] = {
    "audit_events": {"SELECT": None, "INSERT": None},
    "audit_head": {"SELECT": None, "INSERT": None, "UPDATE": None},
}

_ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class RoleError(Exception):
    """The roles cannot be set up as asked; the message says why and what to do."""


@dataclass(frozen=True)
class Applied:
    schema: str
    created: tuple[str, ...]


def reviewer_privileges() -> dict[str, Privileges]:
    """Every table the models define, with the audit trail narrowed to appending."""
    return {**SCHEMA_REVISION, **{table: AUDIT_PRIVILEGES.get(table, TABLE_DML) for table in Base.metadata.tables}}


def apply(engine: Engine, citizen: str, reviewer: str) -> Applied:
    """Create the roles if needed and set their grants to exactly the lists, in the schema in use."""
    if engine.dialect.name != "postgresql":
        raise RoleError("`db roles` is for PostgreSQL only: SQLite has no roles or grants.")
    for role in (citizen, reviewer):
        if not _ROLE_NAME.fullmatch(role):
            raise RoleError(f"{role!r} is not a role name: use lower-case letters, digits and underscores.")
    if citizen == reviewer:
        raise RoleError("The citizen and reviewer roles must be two different roles.")
    grants = {citizen: CITIZEN_PRIVILEGES, reviewer: reviewer_privileges()}
    with engine.begin() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one_or_none()
        if schema is None:
            raise RoleError("The connection's search_path names no schema this role may use: check DATABASE_URL.")
        _require_owner(connection, schema)
        created = tuple(role for role in (citizen, reviewer) if _create_if_missing(connection, role))
        for role in (citizen, reviewer):
            _refuse_privileged(connection, schema, role)
        _refuse_membership(connection, citizen, reviewer)
        _revoke_everything(connection, schema, (citizen, reviewer))
        for role, privileges in grants.items():
            _grant(connection, schema, role, privileges)
    return Applied(schema, created)


def _require_owner(connection: Connection, schema: str) -> None:
    """Only the owner of the schema and its tables can grant on them and keep DDL to itself."""
    tables = connection.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :schema"), {"schema": schema})
    missing = {*Base.metadata.tables, *SCHEMA_REVISION} - set(tables.scalars())
    if missing:
        raise RoleError(f"Schema {schema!r} lacks tables {sorted(missing)}: run `db upgrade` first.")
    not_ours = connection.execute(
        text(
            "SELECT pg_get_userbyid(owner) FROM ("
            " SELECT nspowner AS owner FROM pg_namespace WHERE nspname = :schema"
            " UNION SELECT c.relowner FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'S')"
            ") owners WHERE NOT pg_has_role(current_user, owner, 'USAGE')"
        ),
        {"schema": schema},
    ).scalars()
    owners = sorted(not_ours)
    if owners:
        user = connection.execute(text("SELECT current_user")).scalar_one()
        raise RoleError(
            f"Run `db roles` as the owner of schema {schema!r} and its tables (the role that runs `db upgrade`):"
            f" {user!r} is not {' or '.join(repr(owner) for owner in owners)}."
        )


def _create_if_missing(connection: Connection, role: str) -> bool:
    """A login role with no password: peer authentication over the unix socket, or the operator sets one."""
    if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :role"), {"role": role}).first():
        return False
    may_create = connection.execute(
        text("SELECT rolcreaterole OR rolsuper FROM pg_roles WHERE rolname = current_user")
    ).scalar_one()
    if not may_create:
        raise RoleError(
            f"Role {role!r} does not exist and this role may not create roles: create it as a superuser"
            f" (`createuser {role}`), then run `db roles` again."
        )
    connection.execute(text(f"CREATE ROLE {_quote(connection, role)} LOGIN"))
    return True


def _refuse_privileged(connection: Connection, schema: str, role: str) -> None:
    """A superuser, or a role that owns (or inherits from the owner of) our objects, ignores every grant."""
    bypasses = connection.execute(
        text(
            "SELECT rolsuper OR pg_has_role(:role, (SELECT nspowner FROM pg_namespace WHERE nspname = :schema), 'USAGE')"
            " OR EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = :schema AND pg_has_role(:role, tableowner, 'USAGE'))"
            " FROM pg_roles WHERE rolname = :role"
        ),
        {"role": role, "schema": schema},
    ).scalar_one()
    if bypasses:
        raise RoleError(
            f"Role {role!r} is a superuser or owns the schema's objects: no grant would limit it. Use a role of its own."
        )


def _refuse_membership(connection: Connection, citizen: str, reviewer: str) -> None:
    inherits = text("SELECT pg_has_role(:citizen, :reviewer, 'USAGE')")
    if connection.execute(inherits, {"citizen": citizen, "reviewer": reviewer}).scalar_one():
        raise RoleError(f"Role {citizen!r} is a member of {reviewer!r}: it would hold the reviewer's grants too.")


def _revoke_everything(connection: Connection, schema: str, roles: Sequence[str]) -> None:
    quoted = _quote(connection, schema)
    ours = ", ".join(_quote(connection, role) for role in roles)
    # Revoking on a table also revokes the privileges on its columns.
    connection.execute(text(f"REVOKE ALL ON ALL TABLES IN SCHEMA {quoted} FROM PUBLIC, {ours}"))
    connection.execute(text(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {quoted} FROM PUBLIC, {ours}"))
    connection.execute(text(f"REVOKE ALL ON SCHEMA {quoted} FROM {ours}"))
    # Only the owner creates objects: no table, view or function planted where the apps would find it.
    connection.execute(text(f"REVOKE CREATE ON SCHEMA {quoted} FROM PUBLIC"))


def _grant(connection: Connection, schema: str, role: str, privileges: Mapping[str, Privileges]) -> None:
    grantee = _quote(connection, role)
    connection.execute(text(f"GRANT USAGE ON SCHEMA {_quote(connection, schema)} TO {grantee}"))
    for table, table_privileges in privileges.items():
        target = f"{_quote(connection, schema)}.{_quote(connection, table)}"
        for privilege, columns in table_privileges.items():
            listed = "" if columns is None else f" ({', '.join(_quote(connection, column) for column in columns)})"
            connection.execute(text(f"GRANT {privilege}{listed} ON TABLE {target} TO {grantee}"))
    inserted = [table for table, table_privileges in privileges.items() if "INSERT" in table_privileges]
    for sequence in _sequences_of(connection, schema, inserted):
        # USAGE lets a row's id default draw the next number; nothing else about the sequence.
        target = f"{_quote(connection, schema)}.{_quote(connection, sequence)}"
        connection.execute(text(f"GRANT USAGE ON SEQUENCE {target} TO {grantee}"))


def _sequences_of(connection: Connection, schema: str, tables: Sequence[str]) -> list[str]:
    """The sequences behind the serial or identity columns of these tables."""
    rows = connection.execute(
        text(
            "SELECT DISTINCT s.relname FROM pg_class s"
            " JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid"
            " AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')"
            " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace n ON n.oid = t.relnamespace"
            " WHERE s.relkind = 'S' AND n.nspname = :schema AND t.relname = ANY(:tables) ORDER BY 1"
        ),
        {"schema": schema, "tables": list(tables)},
    )
    return list(rows.scalars())


def _quote(connection: Connection, identifier: str) -> str:
    return connection.dialect.identifier_preparer.quote_identifier(identifier)
