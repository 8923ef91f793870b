"""Reviewer-side commands: migrations, the intake key pair, inspector accounts, the audit trail.

`keys init` is the one moment the intake private key exists unwrapped: it is wrapped under a fresh
recovery passphrase at once, and the passphrase is printed once, for the head of the inspectorate
to keep offline. Nothing printed here is logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import inspect

from crypto.keyring import Keyring
from crypto.keys import public_key_b64
from portal import accounts, audit, db_roles, intake_keys
from portal.backup_cli import backup_group
from portal.db import get_db
from portal.demo import demo_group
from portal.migrate import upgrade
from portal.models import IntakeKey
from portal.retention_cli import cases_group

RECOVERY_PASSPHRASE_VARIABLE = "INTAKE_RECOVERY_PASSPHRASE"


def register_commands(app: Flask) -> None:
    for group in (db_group, keys_group, inspectors_group, audit_group, demo_group, backup_group, cases_group):
        app.cli.add_command(group)


@click.group("db", cls=AppGroup, help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply all migrations to DATABASE_URL.")
def db_upgrade() -> None:
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("Database is up to date.")


@db_group.command("roles", help="Create the apps' roles and grant each exactly what it needs (run as the owner).")
@click.option("--citizen", default="portal_citizen", show_default=True, help="The citizen portal's role.")
@click.option("--reviewer", default="portal_reviewer", show_default=True, help="The reviewer app's role.")
def db_roles_command(citizen: str, reviewer: str) -> None:
    try:
        applied = db_roles.apply(get_db().engine, citizen, reviewer)
    except db_roles.RoleError as error:
        raise click.ClickException(str(error)) from None
    for role in applied.created:
        click.echo(f"Created role {role} (LOGIN, no password).")
    click.echo(f"Schema {applied.schema}: {citizen} and {reviewer} hold exactly their grants.")


@click.group("keys", cls=AppGroup, help="The intake key pairs.")
def keys_group() -> None:
    pass


@keys_group.command("init", help="Create the intake key pair; print its public key and the recovery passphrase once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, for scripts.")
def keys_init(as_json: bool) -> None:
    db = get_db()
    if not inspect(db.engine).has_table(IntakeKey.__tablename__):
        raise click.ClickException("The database has no schema yet: run `flask --app wsgi:reviewer db upgrade` first.")
    config = current_app.config
    try:
        created, passphrase = intake_keys.create_first(db, config["KDF_COST"], config["AUDIT_KEY"])
    except intake_keys.KeyAlreadyExists:
        raise click.ClickException(
            "An intake key pair already exists; it is never replaced silently (see `keys rotate`)."
        ) from None
    public = public_key_b64(created.pair.public)
    if as_json:
        click.echo(json.dumps({"key_id": created.id, "public_key": public, "recovery_passphrase": passphrase}))
        return
    click.echo(f"Intake key {created.id} created.")
    click.echo(f"INTAKE_PUBLIC_KEY={public}")
    _print_passphrase(passphrase)


@keys_group.command(
    "rotate",
    help="Make a new intake key pair for new reports, keep the old ones (wrapped) for old cases, and grant the new "
    "key to every active account. Needs the recovery passphrase.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, for scripts.")
def keys_rotate(as_json: bool) -> None:
    config = current_app.config
    with _recovery_errors():
        created = intake_keys.rotate(get_db(), _typed_recovery_passphrase(), config["KDF_COST"], config["AUDIT_KEY"])
    public = public_key_b64(created.pair.public)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "key_id": created.id,
                    "public_key": public,
                    "granted_to": created.granted_to,
                    "not_granted": created.not_granted,
                }
            )
        )
        return
    click.echo(f"Intake key {created.id} created; earlier keys are retired and kept for their cases.")
    click.echo(f"Granted to {len(created.granted_to)} accounts; each receives it at their next login.")
    if created.not_granted:
        click.echo(
            "Not granted (their copy predates key rotation; they must log in once, then rotate again): "
            + ", ".join(created.not_granted)
        )
    click.echo("")
    click.echo("Now put this line in the citizen portal's environment and restart it:")
    click.echo(f"INTAKE_PUBLIC_KEY={public}")


@keys_group.command("list", help="Every intake key: when it was made, whether it is the active one, its cases.")
def keys_list() -> None:
    with get_db().session() as session:
        rows = intake_keys.statuses(session)
    if not rows:
        raise click.ClickException("There is no intake key yet: run `flask --app wsgi:reviewer keys init` first.")
    click.echo(f"{'key id':<18}{'created':<12}{'state':<9}{'cases':>7}{'grants waiting':>16}")
    for row in rows:
        state = "active" if row.active else "retired"
        click.echo(f"{row.id:<18}{row.created_on.isoformat():<12}{state:<9}{row.cases:>7}{row.pending_grants:>16}")
    for row in rows:
        if row.active:
            click.echo(
                f"\nThe citizen portal's setting for the active key:\nINTAKE_PUBLIC_KEY={public_key_b64(row.public_key)}"
            )


@keys_group.command(
    "change-recovery",
    help="Re-wrap every intake key under a new recovery passphrase; print it once. Needs the current one.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, for scripts.")
def keys_change_recovery(as_json: bool) -> None:
    config = current_app.config
    with _recovery_errors():
        passphrase = intake_keys.change_recovery_passphrase(
            get_db(), _typed_recovery_passphrase(), config["KDF_COST"], config["AUDIT_KEY"]
        )
    if as_json:
        click.echo(json.dumps({"recovery_passphrase": passphrase}))
        return
    click.echo("Every intake key is now wrapped under a new recovery passphrase; the old one opens nothing here.")
    click.echo("Backups made before this still open with the old passphrase: keep or destroy them knowingly.")
    _print_passphrase(passphrase)


def _print_passphrase(passphrase: str) -> None:
    click.echo("")
    click.echo("Recovery passphrase (shown once; write it on paper and keep it offline):")
    click.echo(f"    {passphrase}")


def _typed_recovery_passphrase() -> str:
    return os.environ.get(RECOVERY_PASSPHRASE_VARIABLE) or click.prompt("Recovery passphrase", hide_input=True)


def _recovery_keyring() -> Keyring:
    """Every intake key pair, opened with the recovery passphrase from the environment or a prompt."""
    with _recovery_errors():
        return intake_keys.recovery_keyring(get_db(), _typed_recovery_passphrase())


@contextmanager
def _recovery_errors() -> Iterator[None]:
    try:
        yield
    except intake_keys.NoIntakeKey:
        raise click.ClickException(
            "There is no intake key yet: run `flask --app wsgi:reviewer keys init` first."
        ) from None
    except intake_keys.WrongRecoveryPassphrase:
        raise click.ClickException("The recovery passphrase does not open the intake keys.") from None


@click.group("inspectors", cls=AppGroup, help="Inspector accounts.")
def inspectors_group() -> None:
    pass


@inspectors_group.command("add", help="Add an account; print its one-time password and TOTP secret once.")
@click.argument("username")
@click.option("--role", type=click.Choice([str(role) for role in accounts.Role]), required=True)
@click.option("--name", "display_name", help="The person's full name (defaults to the user name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, for scripts.")
def inspectors_add(username: str, role: str, display_name: str | None, as_json: bool) -> None:
    username = username.lower()
    if not accounts.USERNAME.match(username):
        raise click.ClickException("User names are 2 to 64 lower-case letters, digits, dots, dashes or underscores.")
    keyring = _recovery_keyring()
    config = current_app.config
    account = accounts.new_account(
        username=username,
        display_name=display_name or username,
        role=accounts.Role(role),
        keyring=keyring,
        cost=config["KDF_COST"],
        app_secret_key=config["SECRET_KEY"],
    )
    try:
        accounts.store_account(get_db(), account, config["AUDIT_KEY"], actor_id=None, actor=audit.COMMAND_LINE)
    except accounts.UsernameTaken:
        raise click.ClickException(f"The user name {username!r} is already taken.") from None
    if as_json:
        click.echo(
            json.dumps(
                {
                    "username": username,
                    "role": role,
                    "password": account.one_time_password,
                }
            )
        )
        return
    click.echo(f"Account {username} ({role}) created.")
    click.echo(f"One-time password (must be changed at first login): {account.one_time_password}")
    click.echo("The authenticator key is made at the first login and shown only to the person.")


@click.group("audit", cls=AppGroup, help="The audit trail.")
def audit_group() -> None:
    pass


@audit_group.command("verify", help="Check that no audit event was edited, removed or reordered.")
def audit_verify() -> None:
    with get_db().session() as session:
        check = audit.verify(session, current_app.config["AUDIT_KEY"])
    if not check.ok:
        for problem in check.problems:
            click.echo(problem, err=True)
        raise click.ClickException(f"The audit trail does not verify ({len(check.problems)} problems).")
    click.echo(f"The audit trail verifies: {check.events} events.")
    click.echo(f"Head hash (keep a dated copy outside this server): {check.head_hash_hex}")
