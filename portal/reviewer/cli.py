"""Reviewer-side commands: database migrations and the intake key pair.

`keys init` is the one moment the intake private key exists unwrapped: it is wrapped under a fresh
recovery passphrase at once, and the passphrase is printed once, for the head of the inspectorate
to keep offline. Nothing printed here is logged.
"""

from __future__ import annotations

import json

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlalchemy import inspect, select

from crypto import wrapping
from crypto.keys import generate_keypair, key_id, public_key_b64
from portal.db import get_db
from portal.migrate import upgrade
from portal.models import IntakeKey
from portal.workdays import today


def register_commands(app: Flask) -> None:
    app.cli.add_command(db_group)
    app.cli.add_command(keys_group)


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
