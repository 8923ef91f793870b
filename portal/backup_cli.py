"""`flask --app wsgi:reviewer backup keygen|create|restore`: encrypted archives of the whole database.

The server holds only the backup public key (BACKUP_PUBLIC_KEY), so what it writes it cannot read back.
The private key is printed once by `keygen`, kept offline, and typed back (or given in BACKUP_PRIVATE_KEY)
only to restore. Progress goes to stderr, the summary to stdout; nothing printed here is logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup

from crypto.archives import format_private_key, parse_private_key
from crypto.keys import generate_keypair, key_id, public_key_b64
from portal import backups
from portal.db import get_db

PRIVATE_KEY_VARIABLE = "BACKUP_PRIVATE_KEY"
MIB = 1024 * 1024


@click.group("backup", cls=AppGroup, help="Encrypted backups of the whole database.")
def backup_group() -> None:
    pass


@backup_group.command("keygen", help="Make a backup key pair: print the public key and, once, the private key.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object, for scripts.")
def keygen(as_json: bool) -> None:
    pair = generate_keypair()
    public, private = public_key_b64(pair.public), format_private_key(pair.private)
    if as_json:
        click.echo(json.dumps({"key_id": key_id(pair.public), "public_key": public, "private_key": private}))
        return
    click.echo(f"Backup key {key_id(pair.public)} created. Put this line in the reviewer app's environment:")
    click.echo(f"BACKUP_PUBLIC_KEY={public}")
    click.echo("")
    click.echo("Private key (shown once; write it on paper and keep it offline, never on a server):")
    click.echo(f"    {private}")


@backup_group.command("create", help="Write one consistent, encrypted archive of the whole database.")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="The archive to write; an existing file is never overwritten.",
)
def create(output: Path) -> None:
    config = current_app.config
    if config["BACKUP_PUBLIC_KEY"] is None:
        raise click.ClickException(
            "BACKUP_PUBLIC_KEY is not set: make a key pair with `flask --app wsgi:reviewer backup keygen`"
            " and put its public key in the reviewer app's environment."
        )
    with _backup_errors():
        summary = backups.create_backup(get_db(), output, config["BACKUP_PUBLIC_KEY"], config["AUDIT_KEY"], _progress)
    click.echo(f"Backup written to {summary.path}: {summary.size / MIB:,.1f} MB, schema revision {summary.revision}.")
    _echo_rows(summary.rows)
    click.echo(f"SHA-256 of the archive (also in the audit trail): {summary.sha256}")


@backup_group.command(
    "restore",
    help=f"Restore ARCHIVE into the empty database at DATABASE_URL. The private key is read from "
    f"{PRIVATE_KEY_VARIABLE} or a hidden prompt; AUDIT_KEY must be the one of the server the backup came from.",
)
@click.argument("archive", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def restore(archive: Path) -> None:
    private_key = _private_key()
    with archive.open("rb") as file, _backup_errors():
        summary = backups.restore_backup(get_db(), file, private_key, current_app.config["AUDIT_KEY"], _progress)
    click.echo(
        f"Restored {archive} ({summary.size / MIB:,.1f} MB, made {summary.created_at} on {summary.source_dialect},"
        f" schema revision {summary.revision}; the database is now at the latest revision)."
    )
    _echo_rows(summary.rows)
    click.echo(f"SHA-256 of the archive: {summary.sha256}")


def _private_key() -> bytes:
    typed = os.environ.get(PRIVATE_KEY_VARIABLE) or click.prompt("Backup private key", hide_input=True)
    try:
        return parse_private_key(typed)
    except ValueError as error:
        raise click.ClickException(f"This is not a backup private key: {error}.") from None


@contextmanager
def _backup_errors() -> Iterator[None]:
    try:
        yield
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from None


def _progress(line: str) -> None:
    click.echo(line, err=True)


def _echo_rows(rows: dict[str, int]) -> None:
    click.echo(f"Rows ({sum(rows.values()):,} in all):")
    for name, count in rows.items():
        click.echo(f"  {name:<20}{count:>12,}")
