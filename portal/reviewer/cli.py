"""Reviewer-side commands: migrations, the intake key pair, inspector accounts, the audit trail.

`keys init` is the one moment the intake private key exists unwrapped: it is wrapped under a fresh
recovery passphrase at once, and the passphrase is printed once, for the head of the inspectorate
to keep offline. Nothing printed here is logged.
"""

from __future__ import annotations

import json
import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import inspect, select

from crypto import wrapping
from crypto.errors import DecryptionError
from crypto.keys import KeyPair, generate_keypair, key_id, public_key_b64
from portal import accounts, audit
from portal.db import get_db
from portal.demo import demo_group
from portal.migrate import upgrade
from portal.models import IntakeKey
from portal.workdays import today

RECOVERY_PASSPHRASE_VARIABLE = "INTAKE_RECOVERY_PASSPHRASE"


def register_commands(app: Flask) -> None:
    for group in (db_group, keys_group, inspectors_group, audit_group, demo_group):
        app.cli.add_command(group)


@click.group("db", cls=AppGroup, help="Database schema.")
def db_group() -> None:
    pass


@db_group.command("upgrade", help="Apply all migrations to DATABASE_URL.")
def db_upgrade() -> None:
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("Database is up to date.")


@click.group("keys", cls=AppGroup, help="The intake key pair.")
def keys_group() -> None:
    pass


@keys_group.command("init", help="Create the intake key pair; print its public key and the recovery passphrase once.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, for scripts.")
def keys_init(as_json: bool) -> None:
    db = get_db()
    if not inspect(db.engine).has_table(IntakeKey.__tablename__):
        raise click.ClickException("The database has no schema yet: run `flask --app wsgi:reviewer db upgrade` first.")
    with db.session() as session:
        if session.scalars(select(IntakeKey).where(IntakeKey.active)).first() is not None:
            raise click.ClickException("An intake key pair already exists; it is never replaced silently.")

    pair = generate_keypair()
    passphrase = wrapping.generate_recovery_passphrase()
    wrapped = wrapping.wrap_with_passphrase(pair.private, passphrase, current_app.config["KDF_COST"])
    record = IntakeKey(
        id=key_id(pair.public),
        public_key=pair.public,
        recovery_wrapped_private_key=wrapped,
        created_on=today(),
        active=True,
    )
    with db.transaction() as session:
        session.add(record)

    public = public_key_b64(pair.public)
    if as_json:
        click.echo(json.dumps({"key_id": record.id, "public_key": public, "recovery_passphrase": passphrase}))
        return
    click.echo(f"Intake key {record.id} created.")
    click.echo(f"INTAKE_PUBLIC_KEY={public}")
    click.echo("")
    click.echo("Recovery passphrase (shown once; write it on paper and keep it offline):")
    click.echo(f"    {passphrase}")


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
        accounts.store_account(get_db(), account, config["AUDIT_KEY"], actor_id=None, actor="(command line)")
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


def _recovery_keyring() -> dict[str, KeyPair]:
    """Every intake private key, opened with the recovery passphrase from the environment or a prompt."""
    with get_db().session() as session:
        records = list(session.scalars(select(IntakeKey).order_by(IntakeKey.created_on)))
    if not records:
        raise click.ClickException("There is no intake key yet: run `flask --app wsgi:reviewer keys init` first.")
    typed = os.environ.get(RECOVERY_PASSPHRASE_VARIABLE) or click.prompt("Recovery passphrase", hide_input=True)
    passphrase = wrapping.normalise_recovery_passphrase(typed)
    try:
        pairs = [
            KeyPair.from_private(wrapping.unwrap_with_passphrase(record.recovery_wrapped_private_key, passphrase))
            for record in records
        ]
    except DecryptionError:
        raise click.ClickException("The recovery passphrase does not open the intake key.") from None
    return {key_id(pair.public): pair for pair in pairs}


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
